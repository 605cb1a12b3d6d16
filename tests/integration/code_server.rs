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

/// A raw HTTP/1.1 exchange on a fresh connection to `addr` (`host:port`): (status,
/// headers+body).
fn http(addr: &str, request: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
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

fn get(addr: &str, path: &str, cookie: Option<&str>) -> (u16, String) {
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{cookie}Connection: close\r\n\r\n"),
    )
}

/// The gateway's address of a workspace.
fn front(ws: &serde_json::Value) -> String {
    format!("127.0.0.1:{}", ws["port"].as_u64().unwrap())
}

/// The container's own address, where code-server itself listens (no gateway in between).
fn behind(ws: &serde_json::Value) -> String {
    let c = inspect(ws["container_name"].as_str().unwrap());
    let nets = c["NetworkSettings"]["Networks"].as_object().unwrap();
    let ip = nets.values().next().unwrap()["IPAddress"].as_str().unwrap();
    format!("{ip}:8080")
}

/// The status of the workbench for `cookie`: `/` redirects a logged-in user to the opened
/// workspace (`./?workspace=...`), which is followed; a redirect to the login is returned.
fn workbench(addr: &str, cookie: Option<&str>) -> (u16, String) {
    let (status, head) = get(addr, "/", cookie);
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
        return get(addr, &location[1..], cookie);
    }
    (status, head)
}

/// Logs in to code-server itself with `password`; the `name=value` session cookie, or None
/// if refused.
fn login(addr: &str, password: &str) -> Option<String> {
    let body = format!("password={password}");
    let (_, response) = http(
        addr,
        &format!(
            "POST /login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
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

/// The workspace's IDE secret, sealed in the store (never a file of its own).
fn secret_of(env: &TestEnv, id: &str) -> String {
    assert!(
        !env.data_dir().join("secrets").exists(),
        "no plaintext secret files"
    );
    env.unseal(&format!("ide:{id}"))
        .expect("a sealed IDE secret")
}

fn create(env: &TestEnv, name: &str, projects: &[&std::path::Path]) {
    let mut args = vec!["create", name, "--image", IMAGE, "--memory", "1g"];
    for p in projects {
        args.extend(["--project", p.to_str().unwrap()]);
    }
    env.ok(&args);
}

#[test]
fn code_server_with_two_projects_behind_berths_gateway() {
    let env = TestEnv::new();
    ensure_image(&env);
    let api = env.project("api");
    let web = env.project("web");
    create(&env, "ide", &[&api, &web]);
    let url = env.ok(&["start", "ide"]).trim().to_string();
    let ws = env.show("ide");
    let id = ws["id"].as_str().unwrap();
    let container = ws["container_name"].as_str().unwrap();
    let (gateway, ide) = (front(&ws), behind(&ws));

    // Without Berth's login the gateway answers itself; nothing reaches code-server.
    assert_eq!(get(&gateway, "/healthz", None).0, 401);
    assert_eq!(get(&gateway, "/", None).0, 401);
    // Behind the gateway, code-server's own password is a second lock.
    let (status, head) = get(&ide, "/", None);
    assert_eq!(status, 302, "no session: redirect to the login");
    assert!(head.to_lowercase().contains("location: ./login"), "{head}");

    // Berth's login is all a user needs: the gateway holds code-server's session.
    let cookie = env.login("ide");
    assert!(cookie.starts_with("berth_"), "{cookie}");
    let (status, page) = workbench(&gateway, Some(&cookie));
    assert_eq!(
        status,
        200,
        "the workbench loads: {}",
        &page[..page.len().min(300)]
    );
    assert!(page.contains("workbench"), "not the workbench");
    let (status, _) = http(
        &gateway,
        &format!(
            "GET /?reconnectionToken=t{id}&reconnection=false&skipWebSocketFrames=false HTTP/1.1\r\nHost: {gateway}\r\nOrigin: http://{gateway}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n"
        ),
    );
    assert_eq!(status, 101, "WebSocket upgrade through the gateway");
    assert_eq!(url, format!("http://{gateway}/"));

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

    // Hardening stays on with the real image: read-only root, home on its volume, and
    // Docker's own health check (node, as the image's label says) turns healthy.
    let c = inspect(container);
    assert_eq!(c["HostConfig"]["CapDrop"], serde_json::json!(["ALL"]));
    assert_eq!(c["HostConfig"]["ReadonlyRootfs"], true);
    assert_eq!(c["Config"]["User"], format!("{uid}:{gid}"));
    assert_eq!(c["Config"]["Healthcheck"]["Test"][1], "node");
    env.eventually("healthy", 120, || {
        inspect(container)["State"]["Health"]["Status"] == "healthy"
    });
    env.ok(&["rm", "ide"]);
    assert!(
        env.unseal(&format!("ide:{id}")).is_none(),
        "secret removed with the workspace"
    );
}

#[test]
fn nothing_in_docker_logs_anyone_in_and_a_lost_secret_is_repaired() {
    let env = TestEnv::new();
    ensure_image(&env);
    create(&env, "quiet", &[&env.project("quiet")]);
    env.ok(&["start", "quiet"]);
    let ws = env.show("quiet");
    let id = ws["id"].as_str().unwrap().to_string();
    let container = ws["container_name"].as_str().unwrap().to_string();
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
    assert!(!seen.contains(&secret), "the secret leaked");

    // `docker inspect` and a `docker commit` of the container: no secret, no hash.
    let inspected = docker(&["inspect", &container]);
    for needle in [secret.as_str(), "$argon2id$", "PASSWORD="] {
        assert!(!inspected.contains(needle), "docker inspect shows {needle}");
    }
    let copy = format!("berth-commit-test:{}", &id[..8]);
    docker(&["commit", &container, &copy]);
    let image = docker(&["image", "inspect", &copy]);
    let found = std::process::Command::new("docker")
        .args(["run", "--rm", "--entrypoint", "grep", &copy])
        .args([
            "-rlF",
            "$argon2id$",
            "/etc",
            "/home",
            "/run",
            "/tmp",
            "/workspace",
            "/root",
        ])
        .output()
        .unwrap();
    docker(&["rmi", &copy]);
    assert!(!image.contains("$argon2id$") && !image.contains(&secret));
    assert!(
        String::from_utf8_lossy(&found.stdout).trim().is_empty(),
        "a committed copy holds the hash: {}",
        String::from_utf8_lossy(&found.stdout)
    );

    // code-server itself takes Berth's secret and nothing else.
    let ide = behind(&ws);
    assert!(
        login(&ide, "wrong-secret").is_none(),
        "a wrong secret is refused"
    );
    assert!(login(&ide, &secret).is_some());

    // The stored secret is lost (its row damaged): the next start notices code-server
    // refusing the one it makes anew, makes one more, restarts the IDE, and the user never
    // sees a login page.
    env.db()
        .execute(
            "UPDATE sealed SET envelope = zeroblob(60) WHERE id = ?1",
            [format!("ide:{id}")],
        )
        .unwrap();
    env.ok(&["restart", "quiet"]);
    let renewed = secret_of(&env, &id);
    assert_ne!(renewed, secret);
    let log = env.ok(&["log", "quiet"]);
    assert!(log.contains("ide-secret"), "{log}");
    let ws = env.show("quiet");
    let cookie = env.login("quiet");
    assert_eq!(workbench(&front(&ws), Some(&cookie)).0, 200);
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
    let id = |w: &serde_json::Value| w["id"].as_str().unwrap().to_string();
    assert_ne!(
        secret_of(&env, &id(&a)),
        secret_of(&env, &id(&b)),
        "one secret each"
    );

    // One cookie jar, as a browser has: cookies ignore ports, so both go everywhere.
    let jar = format!("{}; {}", env.login("one"), env.login("two"));
    assert_eq!(workbench(&front(&a), Some(&jar)).0, 200, "one is logged in");
    assert_eq!(workbench(&front(&b), Some(&jar)).0, 200, "and two");
    // And one workspace's login opens nothing in the other.
    let only_one = env.login("one");
    assert_eq!(workbench(&front(&b), Some(&only_one)).0, 401);
    env.ok(&["rm", "one"]);
    env.ok(&["rm", "two"]);
}
