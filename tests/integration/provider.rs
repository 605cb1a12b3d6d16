//! A fake of Anthropic's API on the host for the key and proxy tests, and what those tests
//! share: storing a key the way a user does, and looking for a key where it must not be.

use crate::env::TestEnv;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const KEY: &str = "sk-ant-api03-REALKEY-never-in-a-container-7f3a9WXYZ";

/// What the fake provider saw, and the gate that holds its stream's last events back.
#[derive(Default)]
pub struct Seen {
    /// (path, x-api-key, anthropic-version) of each request.
    pub requests: Mutex<Vec<(String, String, String)>>,
    pub gate: tokio::sync::Notify,
    /// The last events went out because the gate opened (the client had the first one), not
    /// because waiting timed out.
    pub gate_opened: std::sync::atomic::AtomicBool,
    /// Whether streams wait at the gate at all.
    pub hold: std::sync::atomic::AtomicBool,
}

/// Anthropic, as far as Berth's proxy and the tests need it, on 127.0.0.1.
pub struct FakeProvider {
    pub url: String,
    pub seen: Arc<Seen>,
    _runtime: tokio::runtime::Runtime,
}

impl FakeProvider {
    pub fn start() -> FakeProvider {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let seen = Arc::new(Seen::default());
        let app = axum::Router::new()
            .route("/v1/models", axum::routing::get(models))
            .route("/v1/messages", axum::routing::post(messages))
            // A provider that never answers.
            .route(
                "/slow/v1/models",
                axum::routing::get(std::future::pending::<&'static str>),
            )
            .with_state(seen.clone());
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(async move { axum::serve(listener, app).await });
        FakeProvider {
            url,
            seen,
            _runtime: runtime,
        }
    }

    pub fn requests(&self) -> Vec<(String, String, String)> {
        self.seen.requests.lock().unwrap().clone()
    }
}

fn header(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

async fn models(State(seen): State<Arc<Seen>>, h: HeaderMap) -> StatusCode {
    seen.requests.lock().unwrap().push((
        "/v1/models".into(),
        header(&h, "x-api-key"),
        header(&h, "anthropic-version"),
    ));
    if header(&h, "x-api-key") == KEY {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    }
}

async fn messages(State(seen): State<Arc<Seen>>, h: HeaderMap, body: String) -> Response {
    seen.requests.lock().unwrap().push((
        "/v1/messages".into(),
        header(&h, "x-api-key"),
        header(&h, "anthropic-version"),
    ));
    if header(&h, "x-api-key") != KEY {
        return (StatusCode::UNAUTHORIZED, "{\"type\":\"error\"}").into_response();
    }
    let req: Value = serde_json::from_str(&body).unwrap_or_default();
    if req["stream"] != true {
        let answer = serde_json::json!({
            "type": "message", "content": [{"type": "text", "text": "hi"}],
            "usage": {"input_tokens": 10, "output_tokens": 5}
        });
        return axum::Json(answer).into_response();
    }
    // Anthropic's event shapes in full: Claude Code's SDK parses them.
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let delta = |text: &str| {
        event(
            "content_block_delta",
            serde_json::json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": text}}),
        )
    };
    let message = serde_json::json!({
        "id": "msg_fake", "type": "message", "role": "assistant", "model": req["model"],
        "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": 25, "output_tokens": 1}
    });
    let first = event(
        "message_start",
        serde_json::json!({"type": "message_start", "message": message}),
    ) + &event(
        "content_block_start",
        serde_json::json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
    ) + &delta("Hel");
    let last = delta("lo from the fake provider")
        + &event(
            "content_block_stop",
            serde_json::json!({"type": "content_block_stop", "index": 0}),
        )
        + &event(
            "message_delta",
            serde_json::json!({"type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                "usage": {"output_tokens": 42}}),
        )
        + &event("message_stop", serde_json::json!({"type": "message_stop"}));
    let stream = futures_util::stream::unfold(0, move |step| {
        let (seen, first, last) = (seen.clone(), first.clone(), last.clone());
        async move {
            match step {
                0 => Some((Ok::<_, std::convert::Infallible>(first), 1)),
                1 => {
                    if seen.hold.load(std::sync::atomic::Ordering::SeqCst) {
                        let opened =
                            tokio::time::timeout(Duration::from_secs(20), seen.gate.notified())
                                .await;
                        seen.gate_opened
                            .store(opened.is_ok(), std::sync::atomic::Ordering::SeqCst);
                    }
                    Some((Ok(last), 2))
                }
                _ => None,
            }
        }
    });
    (
        [("content-type", "text/event-stream")],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

/// Stores `value` as key `name` the way a user does: on stdin, never as an argument.
pub fn set_key(env: &TestEnv, name: &str, value: &str, base_url: &str) -> std::process::Output {
    let mut cmd = env.cmd();
    cmd.args(["key", "set", name, "--base-url", base_url]);
    piped(cmd, value)
}

/// Runs `cmd` with `input` on its stdin; its output.
pub fn piped(mut cmd: Command, input: &str) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A test env with the Anthropic key stored, pointing at a fake provider of its own.
pub fn with_key() -> (TestEnv, FakeProvider) {
    let env = TestEnv::new();
    let provider = FakeProvider::start();
    let out = set_key(&env, "anthropic", KEY, &provider.url);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (env, provider)
}

/// Creates `name` on Berth's code-server image (1 GiB) with `extra` arguments; `vars` reach
/// the daemon if this command starts it.
pub fn create_ide(env: &TestEnv, name: &str, extra: &[&str], vars: &[(&str, &std::ffi::OsStr)]) {
    let project = env.project(name);
    let mut args = vec![
        "create",
        name,
        "--image",
        crate::code_server::IMAGE,
        "--project",
        project.to_str().unwrap(),
        "--memory",
        "1g",
    ];
    args.extend_from_slice(extra);
    env.ok_with(&args, vars);
}

/// Every file under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in walk(dir) {
        if std::fs::read(&entry)
            .map(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
            .unwrap_or(false)
        {
            found.push(entry.display().to_string());
        }
    }
    found
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.is_file() {
            out.push(p);
        }
    }
    out
}
