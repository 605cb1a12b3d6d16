//! API keys against a real Secret Service (gnome-keyring under `scripts/with-keyring`) and the
//! credential proxy against a real container: a fake provider on the host plays Anthropic; the
//! container calls it the way Claude Code does (`POST /v1/messages`, `x-api-key`, streamed).
//! The raw key must never be found where it must not be.

use crate::env::{TestEnv, docker, inspect, poll_until};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const KEY: &str = "sk-ant-api03-REALKEY-never-in-a-container-7f3a9WXYZ";

/// What the fake provider saw, and the gate that holds its stream's last events back.
#[derive(Default)]
struct Seen {
    /// (path, x-api-key, anthropic-version) of each request.
    requests: Mutex<Vec<(String, String, String)>>,
    gate: tokio::sync::Notify,
    /// The last events went out because the gate opened (the client had the first one), not
    /// because waiting timed out.
    gate_opened: std::sync::atomic::AtomicBool,
    /// Whether streams wait at the gate at all.
    hold: std::sync::atomic::AtomicBool,
}

/// Anthropic, as far as Berth's proxy and the tests need it, on 127.0.0.1.
struct FakeProvider {
    url: String,
    seen: Arc<Seen>,
    _runtime: tokio::runtime::Runtime,
}

impl FakeProvider {
    fn start() -> FakeProvider {
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
                axum::routing::get(|| async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    ""
                }),
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

    fn requests(&self) -> Vec<(String, String, String)> {
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
fn set_key(env: &TestEnv, name: &str, value: &str, base_url: &str) -> std::process::Output {
    let mut cmd = env.cmd();
    cmd.args(["key", "set", name, "--base-url", base_url]);
    piped(cmd, value)
}

/// Runs `cmd` with `input` on its stdin; its output.
fn piped(mut cmd: Command, input: &str) -> std::process::Output {
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
fn with_key() -> (TestEnv, FakeProvider) {
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
fn create_ide(env: &TestEnv, name: &str, extra: &[&str], vars: &[(&str, &std::ffi::OsStr)]) {
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

/// Runs `berth ARGS` on a terminal (a pty), types `input` once its prompt shows, and returns
/// everything the terminal showed.
fn at_terminal(env: &TestEnv, args: &[&str], input: &str) -> String {
    const DRIVER: &str = r#"
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:-1])
out = b""
while b"input hidden" not in out:
    out += os.read(fd, 1024)
os.write(fd, sys.argv[-1].encode() + b"\n")
while True:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
"#;
    let berth = env.cmd();
    let mut cmd = Command::new("python3");
    for (k, v) in berth.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd
        .args(["-c", DRIVER, crate::env::BERTH])
        .args(args)
        .arg(input)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
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

#[test]
fn a_key_lives_in_the_keychain_sealed_store_survives_a_restart_and_goes() {
    let (env, provider) = with_key();
    assert!(env.ok(&["key", "ls"]).contains("WXYZ"));

    // At a terminal the key is not echoed: typed after the prompt shows, it never comes back.
    let typed = at_terminal(
        &env,
        &["key", "set", "anthropic", "--base-url", &provider.url],
        KEY,
    );
    assert!(
        typed.contains("input hidden") && typed.contains("stored anthropic"),
        "{typed}"
    );
    assert!(!typed.contains(KEY), "echoed: {typed}");
    let table = env.ok(&["key", "ls"]);
    assert!(
        table.lines().any(|l| l.starts_with("anthropic ")
            && l.contains(" anthropic ")
            && l.contains("WXYZ")),
        "{table}"
    );

    // A restarted daemon opens it again with the master key from the keychain: the provider
    // gets the very key.
    env.stop_daemon();
    let ls: Value = serde_json::from_str(&env.ok(&["key", "ls", "--json"])).unwrap();
    assert_eq!(ls[0]["name"], "anthropic");
    assert_eq!(ls[0]["last4"], "WXYZ");
    assert!(!ls.to_string().contains(KEY));
    assert!(env.ok(&["key", "test", "anthropic"]).contains("accepted"));
    let (path, key, version) = provider.requests().pop().unwrap();
    assert_eq!((path.as_str(), key.as_str()), ("/v1/models", KEY));
    assert_eq!(version, "2023-06-01");
    let ls: Value = serde_json::from_str(&env.ok(&["key", "ls", "--json"])).unwrap();
    assert_eq!(ls[0]["test_result"], "ok");

    // A provider that is not there, or does not answer, is said so.
    let out = set_key(
        &env,
        "openai",
        "sk-openai-0000000000000000",
        "http://127.0.0.1:1",
    );
    assert!(out.status.success());
    let unreachable = env.fails(&["key", "test", "openai"]);
    assert!(
        unreachable.contains("cannot reach http://127.0.0.1:1") && unreachable.contains("refused"),
        "{unreachable}"
    );
    let slow = format!("{}/slow", provider.url);
    assert!(
        set_key(&env, "openai", "sk-openai-0000000000000000", &slow)
            .status
            .success()
    );
    let timeout = env.fails(&["key", "test", "openai"]);
    assert!(timeout.contains("did not answer within 15 s"), "{timeout}");
    env.ok(&["key", "rm", "openai"]);

    // A wrong key is refused by the provider and said so, exit non-zero.
    let out = set_key(
        &env,
        "anthropic",
        "sk-ant-wrong-key-0000000000",
        &provider.url,
    );
    assert!(out.status.success());
    let refused = env.fails(&["key", "test", "anthropic"]);
    assert!(refused.contains("refused the key (401"), "{refused}");
    assert!(
        !refused.contains("sk-ant-wrong"),
        "an error never quotes the key"
    );
    let out = set_key(&env, "anthropic", KEY, &provider.url);
    assert!(out.status.success());

    // Nowhere on disk in plaintext: not the database, its journal, the log, any file.
    env.stop_daemon();
    assert_eq!(files_containing(&env.data_dir(), KEY), Vec::<String>::new());
    assert_eq!(
        files_containing(&env.data_dir(), &KEY[..20]),
        Vec::<String>::new()
    );
    let log = env.ok(&["key", "log"]);
    assert!(log.contains("key set") && log.contains("key test"), "{log}");
    assert!(!log.contains(KEY));

    // Bad input loses nothing: an empty key, a key name that is none.
    let out = set_key(&env, "anthropic", "  \n", &provider.url);
    assert!(!out.status.success());
    let out = set_key(&env, "Not A Name", KEY, &provider.url);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a key name"));
    assert!(env.ok(&["key", "test", "anthropic"]).contains("accepted"));

    env.ok(&["key", "rm", "anthropic"]);
    assert!(env.ok(&["key", "ls"]).contains("no keys stored"));
    assert!(env.ok(&["key", "log"]).contains("key rm"));
    // A key is never an argument.
    assert!(
        !env.berth(&["key", "set", "anthropic", KEY])
            .status
            .success()
    );
    assert!(
        env.fails(&["key", "test", "anthropic"])
            .contains("no key named")
    );
    assert_eq!(
        env.db()
            .query_row(
                "SELECT count(*) FROM sealed WHERE id = 'key:anthropic'",
                [],
                |r| r.get::<_, i64>(0)
            )
            .unwrap(),
        0
    );
}

#[test]
fn a_tampered_or_swapped_value_fails_alone_and_clearly() {
    let env = TestEnv::new();
    let provider = FakeProvider::start();
    for (name, value) in [
        ("anthropic", KEY),
        ("openai", "sk-openai-0000000000000000"),
        ("github-token", "ghp_000000000000000000000"),
    ] {
        assert!(set_key(&env, name, value, &provider.url).status.success());
    }
    env.stop_daemon();
    let db = env.db();
    // openai's ciphertext swapped into github-token's row: AAD binds each to its row.
    db.execute(
        "UPDATE sealed SET envelope = (SELECT envelope FROM sealed WHERE id = 'key:openai')
         WHERE id = 'key:github-token'",
        [],
    )
    .unwrap();
    // One byte of anthropic's ciphertext flipped.
    let mut env_bytes: Vec<u8> = db
        .query_row(
            "SELECT envelope FROM sealed WHERE id = 'key:anthropic'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let last = env_bytes.len() - 1;
    env_bytes[last] ^= 1;
    db.execute(
        "UPDATE sealed SET envelope = ?1 WHERE id = 'key:anthropic'",
        [env_bytes],
    )
    .unwrap();
    drop(db);

    let tampered = env.fails(&["key", "test", "anthropic"]);
    assert!(!tampered.contains(KEY) && !tampered.contains(&KEY[..20]));
    assert!(
        tampered.contains("the stored key anthropic cannot be read")
            && tampered.contains("was changed, belongs to another entry"),
        "{tampered}"
    );
    assert!(
        env.fails(&["key", "test", "github-token"])
            .contains("cannot be read")
    );
    // The untouched one still opens (its test fails only at the provider: a fake one).
    let openai = env.fails(&["key", "test", "openai"]);
    assert!(openai.contains("OpenAI"), "{openai}");
}

#[test]
fn without_a_keychain_keys_fail_clearly_write_nothing_and_workspaces_still_run() {
    let env = TestEnv::new();
    // The daemon this command starts has no session bus: no Secret Service.
    let no_bus = [
        ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus"),
        ("DISPLAY", ""),
    ];
    let mut cmd = env.cmd();
    cmd.envs(no_bus).args(["key", "set", "anthropic"]);
    let out = piped(cmd, KEY);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("OS keychain unavailable or locked"),
        "{stderr}"
    );
    let count = |table: &str| -> i64 {
        env.db()
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!((count("api_keys"), count("sealed")), (0, 0));
    assert_eq!(files_containing(&env.data_dir(), KEY), Vec::<String>::new());
    assert!(env.ok(&["key", "ls"]).contains("no keys stored"));

    // Everything else works.
    env.create("plain", &env.project("plain"));
    env.ok(&["start", "plain"]);
    assert_eq!(env.show("plain")["status"], "running");
    env.ok(&["rm", "plain"]);
}

/// The proxy's address and token, as the container has them.
fn container_env(container: &str) -> (String, String) {
    let c = inspect(container);
    let vars: Vec<String> = c["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let get = |k: &str| {
        vars.iter()
            .find_map(|v| v.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k} in {vars:?}"))
            .to_string()
    };
    (get("ANTHROPIC_BASE_URL"), get("ANTHROPIC_API_KEY"))
}

/// Runs a Claude-Code-shaped call to the proxy inside `container` (busybox `nc` speaking
/// HTTP/1.1), handing each line of the answer to `line` as it arrives; the whole answer.
fn call_from_inside(
    container: &str,
    base: &str,
    token: &str,
    stream: bool,
    line: impl FnMut(&str),
) -> String {
    let body = format!(
        r#"{{"model":"claude-sonnet-4-5","max_tokens":64,"stream":{stream},"messages":[{{"role":"user","content":"hi"}}]}}"#
    );
    post_from_inside(container, base, token, "/v1/messages", &body, line)
}

/// `POST <base><path>` with `body` from inside `container`, the answer line by line.
fn post_from_inside(
    container: &str,
    base: &str,
    token: &str,
    path: &str,
    body: &str,
    mut line: impl FnMut(&str),
) -> String {
    let rest = base.strip_prefix("http://").unwrap();
    let (hostport, prefix) = rest.split_once('/').unwrap();
    let (host, port) = hostport.split_once(':').unwrap();
    let request = format!(
        "POST /{prefix}{path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\nx-api-key: {token}\r\nanthropic-version: 2023-06-01\r\ncontent-type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut child = Command::new("docker")
        .args(["exec", "-i", container, "nc", "-w", "10", host, port])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(request.as_bytes()).unwrap();
    let mut all = String::new();
    for l in BufReader::new(child.stdout.take().unwrap()).lines() {
        let l = l.unwrap();
        line(&l);
        all.push_str(&l);
        all.push('\n');
    }
    drop(stdin);
    let _ = child.wait();
    all
}

fn status_of(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_workspace_calls_its_provider_through_the_proxy_without_ever_holding_the_key() {
    let (env, provider) = with_key();
    env.create_with(
        "agent",
        &["--key", "anthropic", "--daily-requests", "3"],
        &[],
    );
    env.ok(&["start", "agent"]);
    let ws = env.show("agent");
    let container = ws["container_id"].as_str().unwrap().to_string();

    // The container holds an address and a token, not the key: not in `docker inspect`, not
    // in its environment, not in any file it can read.
    let (base, token) = container_env(&container);
    assert!(base.ends_with("/anthropic"), "{base}");
    assert!(token.starts_with("berth-proxy-"));
    assert!(!docker(&["inspect", &container]).contains(KEY));
    assert!(!docker(&["exec", &container, "env"]).contains(KEY));
    let grep = Command::new("docker")
        .args([
            "exec",
            &container,
            "grep",
            "-rl",
            "-F",
            KEY,
            "/bin",
            "/www",
            "/tmp",
            "/run",
            "/workspace",
            "/etc",
        ])
        .output()
        .unwrap();
    assert!(
        grep.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&grep.stdout)
    );
    assert!(!env.ok(&["show", "agent", "--json"]).contains(KEY));

    // A streamed answer arrives intact, in order, and as it is sent: the provider holds its
    // last events until the container has the first.
    let gate = provider.seen.clone();
    gate.hold.store(true, std::sync::atomic::Ordering::SeqCst);
    let answer = call_from_inside(&container, &base, &token, true, |l| {
        if l.contains("message_start") {
            gate.gate.notify_one();
        }
    });
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert!(
        provider
            .seen
            .gate_opened
            .load(std::sync::atomic::Ordering::SeqCst),
        "the first event did not reach the container before the last was sent: {answer}"
    );
    let order: Vec<usize> = [
        "message_start",
        "\"Hel\"",
        "\"lo from the fake provider\"",
        "message_delta",
        "message_stop",
    ]
    .iter()
    .map(|e| {
        answer
            .find(e)
            .unwrap_or_else(|| panic!("{e} missing: {answer}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{answer}");
    // The provider saw the real key and Claude Code's headers; never the token.
    let (path, key, version) = provider.requests().pop().unwrap();
    assert_eq!(
        (path.as_str(), key.as_str(), version.as_str()),
        ("/v1/messages", KEY, "2023-06-01")
    );

    // Usage as the provider reported it (25 in, 42 out), and the call as activity.
    poll_until("usage recorded", 10, Duration::from_millis(100), || {
        env.show("agent")["usage"][0]["today"]["output_tokens"] == 42
    });
    let shown = env.show("agent");
    assert_eq!(shown["usage"][0]["today"]["requests"], 1);
    assert_eq!(shown["usage"][0]["today"]["input_tokens"], 25);
    assert_eq!(shown["usage"][0]["requests_left"], 2);
    let signals = shown["activity"]["signals"].to_string();
    assert!(signals.contains("\"api\""), "{signals}");
    assert!(env.ok(&["show", "agent"]).contains("today 1 of 3 requests"));

    // A wrong token is refused before anything reaches the provider.
    let before = provider.requests().len();
    let wrong = call_from_inside(&container, &base, "berth-proxy-guess", false, |_| {});
    assert_eq!(status_of(&wrong), 401, "{wrong}");
    assert!(wrong.contains("authentication_error"));
    assert_eq!(provider.requests().len(), before);

    // Only what agents call passes: not the batches API, with the right token or not.
    let batch = post_from_inside(
        &container,
        &base,
        &token,
        "/v1/messages/batches",
        "{}",
        |_| {},
    );
    assert_eq!(status_of(&batch), 404, "{batch}");
    assert!(batch.contains("not an API Berth passes on"), "{batch}");
    assert_eq!(provider.requests().len(), before);

    // The budget: two more requests, then a clear refusal.
    for _ in 0..2 {
        let ok = call_from_inside(&container, &base, &token, false, |_| {});
        assert_eq!(status_of(&ok), 200, "{ok}");
        assert!(ok.contains("\"output_tokens\":5"));
    }
    let spent = call_from_inside(&container, &base, &token, false, |_| {});
    assert_eq!(status_of(&spent), 429, "{spent}");
    assert!(
        spent.contains("budget of 3 requests a day is spent"),
        "{spent}"
    );
    assert!(spent.contains("resets at 00:00 UTC"), "{spent}");
    assert_eq!(provider.requests().len(), before + 2);

    // A stop ends the token; the next start hands out a new one (a new container).
    env.ok(&["stop", "agent"]);
    env.ok(&["start", "agent"]);
    let container2 = env.show("agent")["container_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (base2, token2) = container_env(&container2);
    assert_ne!(token2, token);
    let revoked = call_from_inside(&container2, &base2, &token, false, |_| {});
    assert_eq!(status_of(&revoked), 401, "{revoked}");
    assert_eq!(provider.requests().len(), before + 2);

    // Another workspace's container cannot use this proxy, even with the right token.
    let other = env.project("other");
    env.create("other", &other);
    env.ok(&["start", "other"]);
    let other_id = env.show("other")["container_id"]
        .as_str()
        .unwrap()
        .to_string();
    let foreign = call_from_inside(&other_id, &base2, &token2, false, |_| {});
    assert!(
        foreign.is_empty(),
        "a connection from another network must be dropped unread: {foreign}"
    );
    assert_eq!(provider.requests().len(), before + 2);

    // The key is used: it cannot be removed from under the workspace.
    assert!(
        env.fails(&["key", "rm", "anthropic"])
            .contains("used by agent")
    );
    // Nor can a process on this machine, which reaches the address from the host's own.
    let from_host = base2
        .strip_prefix("http://")
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let mut conn = std::net::TcpStream::connect(&from_host).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = write!(
        conn,
        "GET /anthropic/v1/models HTTP/1.1\r\nHost: x\r\nx-api-key: {token2}\r\n\r\n"
    );
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut conn, &mut answer);
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    assert_eq!(provider.requests().len(), before + 2);

    // A workspace gets a key only if asked.
    assert!(!docker(&["exec", &other_id, "env"]).contains("ANTHROPIC_"));
    env.ok(&["rm", "agent"]);
    env.ok(&["rm", "other"]);
    let tokens: i64 = env
        .db()
        .query_row("SELECT count(*) FROM proxy_tokens", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tokens, 0, "a deleted workspace's token is gone");
    env.ok(&["key", "rm", "anthropic"]);
    env.stop_daemon();
    assert_eq!(files_containing(&env.data_dir(), KEY), Vec::<String>::new());
}

#[test]
fn env_mode_gives_the_key_itself_and_says_so() {
    let (env, _provider) = with_key();
    env.create_with("envmode", &["--key", "anthropic:env"], &[]);
    assert!(
        env.ok(&["show", "envmode"])
            .contains("the container can read it")
    );
    env.ok(&["start", "envmode"]);
    let container = env.show("envmode")["container_id"]
        .as_str()
        .unwrap()
        .to_string();
    let vars = docker(&["exec", &container, "env"]);
    assert!(vars.contains(&format!("ANTHROPIC_API_KEY={KEY}")));
    assert!(!vars.contains("ANTHROPIC_BASE_URL"));
    // A budget needs the proxy.
    let refused = env.fails(&[
        "create",
        "b",
        "--image",
        crate::env::IMAGE,
        "--project",
        env.project("b").to_str().unwrap(),
        "--key",
        "anthropic:env",
        "--daily-requests",
        "1",
    ]);
    assert!(refused.contains("needs proxy mode"), "{refused}");
    env.ok(&["rm", "envmode"]);
}

/// The Claude Code in Berth's image, as a user runs it in the IDE's terminal: its request
/// goes through the proxy to the provider with the real key and its answer comes back, while
/// the container never holds the key.
#[test]
fn claude_code_in_the_workspace_works_through_the_proxy() {
    let (env, provider) = with_key();
    crate::code_server::ensure_image(&env);
    create_ide(&env, "claude", &["--key", "anthropic"], &[]);
    env.ok(&["start", "claude"]);
    let container = env.show("claude")["container_id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = Command::new("docker")
        .args([
            "exec",
            // No telemetry: the machine has no internet, and the test is about the API call.
            "-e",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
            &container,
            "claude",
            "-p",
            "Say hello",
            "--output-format",
            "json",
        ])
        .output()
        .unwrap();
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "claude answered no JSON: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(answer["is_error"], false, "{answer}");
    assert_eq!(answer["result"], "Hello from the fake provider", "{answer}");
    let (path, key, _) = provider.requests().pop().unwrap();
    assert_eq!((path.as_str(), key.as_str()), ("/v1/messages", KEY));
    assert!(!docker(&["exec", &container, "env"]).contains(KEY));
    assert!(!docker(&["inspect", &container]).contains(KEY));
    poll_until("usage recorded", 10, Duration::from_millis(100), || {
        env.show("claude")["usage"][0]["today"]["output_tokens"] == 42
    });
    env.ok(&["rm", "claude"]);
}

/// Without a keychain the IDE still logs in (its password in the daemon's memory only), and
/// nothing is sealed or written as a secret file.
#[test]
fn without_a_keychain_the_ide_still_logs_in() {
    let env = TestEnv::new();
    crate::code_server::ensure_image(&env);
    let no_bus = [
        (
            "DBUS_SESSION_BUS_ADDRESS",
            std::ffi::OsStr::new("unix:path=/nonexistent/bus"),
        ),
        ("DISPLAY", std::ffi::OsStr::new("")),
    ];
    create_ide(&env, "ide", &[], &no_bus);
    env.ok(&["start", "ide"]);
    let url = env.show("ide")["url"].as_str().unwrap().to_string();
    assert_eq!(env.ide_status(&url, "ide"), 200);
    let sealed: i64 = env
        .db()
        .query_row("SELECT count(*) FROM sealed", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sealed, 0);
    assert!(!env.data_dir().join("secrets").exists());
    env.ok(&["rm", "ide"]);
}
