//! The credential proxy against a real container: the container calls a fake provider on the
//! host the way Claude Code does (`POST /v1/messages`, `x-api-key`, streamed) and never holds
//! the key; tokens, budgets, revocation, other workspaces and the host are refused.

use crate::env::{docker, inspect, poll_until};
use crate::provider::{KEY, create_ide, files_containing, with_key};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

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

    // A new daemon serves the running workspace's proxy again, with its token and with the
    // day's usage it kept: the budget is still spent.
    env.stop_daemon();
    env.ok(&["ls"]);
    poll_until(
        "the proxy served again",
        30,
        Duration::from_millis(200),
        || {
            let again = call_from_inside(&container2, &base2, &token2, false, |_| {});
            status_of(&again) == 429 && again.contains("budget of 3 requests")
        },
    );
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
