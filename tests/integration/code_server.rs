//! The real IDE: workspaces on the offline code-server image, with Berth's per-workspace
//! secret, several projects, host-owned files and hardening on.

use crate::env::{TestEnv, docker, inspect};
use std::io::{Read, Write};
use std::sync::Once;

pub const IMAGE: &str = "berth-workspace-offline:4.99.4";

/// Builds the offline image once per run (cached: a no-op when its inputs are unchanged).
pub fn ensure_image(env: &TestEnv) {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        env.ok(&["image", "build", "workspace-offline"]);
    });
}

/// A raw HTTP/1.1 exchange on a fresh connection: (status, headers+body).
fn http(port: u16, request: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    // Upgrades never end: read what arrives, then stop.
    while let Ok(n) = s.read(&mut chunk) {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.starts_with(b"HTTP/1.1 101") && buf.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn get(port: u16, path: &str, cookie: Option<&str>) -> (u16, String) {
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    http(
        port,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{cookie}Connection: close\r\n\r\n"
        ),
    )
}

/// The status of the workbench for `cookie`: `/` redirects a logged-in user to the opened
/// workspace (`./?workspace=...`), which is followed; a redirect to the login is returned.
fn workbench(port: u16, cookie: Option<&str>) -> (u16, String) {
    let (status, head) = get(port, "/", cookie);
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("Location: ")
                .or(l.strip_prefix("location: "))
        })
        .unwrap_or("")
        .trim()
        .to_string();
    if status == 302 && !location.contains("login") && location.starts_with("./") {
        return get(port, &location[1..], cookie);
    }
    (status, head)
}

/// Logs in with `password`; the `name=value` session cookie, or None if refused.
fn login(port: u16, password: &str) -> Option<String> {
    let body = format!("password={password}");
    let (_, response) = http(
        port,
        &format!(
            "POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    response
        .lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| {
            l.strip_prefix("Set-Cookie: ")
                .or(l.strip_prefix("set-cookie: "))
        })
        .map(|c| c.split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("code-server-session=") && c.len() > "code-server-session=".len())
}

fn secret_of(env: &TestEnv, id: &str) -> String {
    std::fs::read_to_string(env.data_dir().join("secrets").join(id)).unwrap()
}

fn create(env: &TestEnv, name: &str, projects: &[&std::path::Path]) {
    let mut args = vec!["create", name, "--image", IMAGE, "--memory", "1g"];
    for p in projects {
        args.extend(["--project", p.to_str().unwrap()]);
    }
    env.ok(&args);
}

#[test]
fn code_server_with_two_projects_behind_berths_login() {
    let env = TestEnv::new();
    ensure_image(&env);
    let api = env.project("api");
    let web = env.project("web");
    create(&env, "ide", &[&api, &web]);
    let url = env.ok(&["start", "ide"]).trim().to_string();
    let ws = env.show("ide");
    let port = ws["port"].as_u64().unwrap() as u16;
    let id = ws["id"].as_str().unwrap();
    let container = ws["container_name"].as_str().unwrap();

    assert_eq!(get(port, "/healthz", None).0, 200);
    let (status, head) = get(port, "/", None);
    assert_eq!(status, 302, "no session: redirect to the login");
    assert!(head.to_lowercase().contains("location: ./login"), "{head}");

    let cookie = login(port, &secret_of(&env, id)).expect("Berth's secret logs in");
    let (status, page) = workbench(port, Some(&cookie));
    assert_eq!(
        status,
        200,
        "the workbench loads: {}",
        &page[..page.len().min(300)]
    );
    assert!(page.contains("workbench"), "not the workbench");
    let (status, _) = http(
        port,
        &format!(
            "GET /?reconnectionToken=t{id}&reconnection=false&skipWebSocketFrames=false HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n"
        ),
    );
    assert_eq!(status, 101, "WebSocket upgrade");
    assert!(url.starts_with("http://127.0.0.1:"));

    // Both projects at their paths, and the multi-root workspace that lists them.
    assert_eq!(
        docker(&["exec", container, "ls", "/workspace/api"]).trim(),
        "README.md"
    );
    assert_eq!(
        docker(&["exec", container, "ls", "/workspace/web"]).trim(),
        "README.md"
    );
    let code_workspace = docker(&["exec", container, "cat", "/workspace/ide.code-workspace"]);
    assert!(code_workspace.contains("\"api\"") && code_workspace.contains("\"web\""));
    let cmdline = docker(&[
        "exec",
        container,
        "sh",
        "-c",
        "cat /proc/*/cmdline | tr '\\0' ' '",
    ]);
    assert!(
        cmdline.contains("/workspace/ide.code-workspace"),
        "the IDE opens it"
    );

    // A file made inside belongs to the host user who runs Berth.
    docker(&[
        "exec",
        container,
        "sh",
        "-c",
        "echo hi > /workspace/api/made-inside.txt",
    ]);
    let meta = std::fs::metadata(api.join("made-inside.txt")).unwrap();
    use std::os::unix::fs::MetadataExt;
    // SAFETY: getuid/getgid have no preconditions.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    assert_eq!((meta.uid(), meta.gid()), (uid, gid));

    // Hardening stays on with the real image.
    let c = inspect(container);
    assert_eq!(c["HostConfig"]["CapDrop"], serde_json::json!(["ALL"]));
    assert_eq!(c["Config"]["User"], format!("{uid}:{gid}"));
    env.ok(&["rm", "ide"]);
    assert!(
        !env.data_dir().join("secrets").join(id).exists(),
        "secret removed with the workspace"
    );
}

#[test]
fn the_secret_never_leaks_and_a_wrong_one_is_refused() {
    let env = TestEnv::new();
    ensure_image(&env);
    create(&env, "quiet", &[&env.project("quiet")]);
    env.ok(&["start", "quiet"]);
    let ws = env.show("quiet");
    let id = ws["id"].as_str().unwrap().to_string();
    let port = ws["port"].as_u64().unwrap() as u16;
    let secret = secret_of(&env, &id);
    assert_eq!(secret.len(), 64);

    let mut seen = String::new();
    for args in [
        vec!["show", "quiet", "--json"],
        vec!["ls", "--json"],
        vec!["log", "quiet", "--json"],
        vec!["logs", "quiet"],
        vec!["start", "quiet"],
        vec!["doctor", "--json"],
    ] {
        let out = env.berth(&args);
        seen += &String::from_utf8_lossy(&out.stdout);
        seen += &String::from_utf8_lossy(&out.stderr);
    }
    seen += &String::from_utf8_lossy(
        &env.berth(&["create", "quiet", "--image", IMAGE, "--project", "/etc"])
            .stderr,
    );
    seen += &docker(&["inspect", ws["container_name"].as_str().unwrap()]);
    assert!(!seen.contains(&secret), "the secret leaked");
    assert!(
        seen.contains("HASHED_PASSWORD=$argon2id$"),
        "only its hash reaches Docker"
    );

    assert!(
        login(port, "wrong-secret").is_none(),
        "a wrong secret is refused"
    );
    assert!(login(port, &secret).is_some());
    env.ok(&["rm", "quiet"]);
}

#[test]
fn two_workspaces_stay_logged_in_side_by_side() {
    let env = TestEnv::new();
    ensure_image(&env);
    create(&env, "one", &[&env.project("one")]);
    create(&env, "two", &[&env.project("two")]);
    env.ok(&["start", "one"]);
    env.ok(&["start", "two"]);
    let (a, b) = (env.show("one"), env.show("two"));
    let port = |w: &serde_json::Value| w["port"].as_u64().unwrap() as u16;
    let id = |w: &serde_json::Value| w["id"].as_str().unwrap().to_string();
    assert_ne!(
        secret_of(&env, &id(&a)),
        secret_of(&env, &id(&b)),
        "one secret each"
    );

    // Two cookie jars, as two IDE windows with their own stores.
    let jar_a = login(port(&a), &secret_of(&env, &id(&a))).unwrap();
    let jar_b = login(port(&b), &secret_of(&env, &id(&b))).unwrap();
    let status = |p, jar| workbench(p, Some(jar)).0;
    assert_eq!(status(port(&a), &jar_a), 200, "one is still logged in");
    assert_eq!(status(port(&b), &jar_b), 200);
    // And one workspace's session opens nothing in the other.
    let (code, head) = workbench(port(&b), Some(&jar_a));
    assert_eq!(code, 302);
    assert!(head.contains("login"), "{head}");
    env.ok(&["rm", "one"]);
    env.ok(&["rm", "two"]);
}
