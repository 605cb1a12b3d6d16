//! The IDE gateway, attacked from outside: a page of another site rebinding DNS to loopback,
//! a local client without Berth's login, one workspace's login tried on another, and what a
//! workspace could learn of logins from the requests it receives.

use crate::env::{TestEnv, http, http_status, request};

fn port(env: &TestEnv, name: &str) -> u16 {
    env.show(name)["port"].as_u64().unwrap() as u16
}

#[test]
fn rebinding_and_strangers_are_refused_and_logins_never_reach_a_workspace() {
    let env = TestEnv::new();
    env.create("front", &env.project("front"));
    let url = env.ok(&["start", "front"]).trim().to_string();
    let p = port(&env, "front");

    // DNS rebinding: the browser sends the attacker's name as Host.
    let rebound = http(
        &format!("{url}healthz"),
        &[("Host", &format!("rebind.example:{p}"))],
    );
    assert_eq!(rebound.status, 421, "{rebound:?}");
    let other_port = http(
        &format!("{url}healthz"),
        &[("Host", &format!("127.0.0.1:{}", p + 1))],
    );
    assert_eq!(other_port.status, 421);

    // No login: the test image has none of its own, and is still closed.
    for path in ["", "healthz", "cgi-bin/request"] {
        let answer = http(&format!("{url}{path}"), &[]);
        assert_eq!(answer.status, 401, "/{path} without a login: {answer:?}");
        assert!(answer.body.contains("berth open front"), "{}", answer.body);
    }
    // The page speaks the browser's language.
    let german = http(
        &format!("{url}healthz"),
        &[("Accept-Language", "de-DE,de;q=0.9")],
    );
    assert!(
        german.body.contains("Über Berth anmelden") && german.body.contains("berth open front")
    );
    let forged = format!(
        "{}=guess",
        berth::gateway::cookie_name(&id_of(&env, "front"))
    );
    assert_eq!(
        http(&format!("{url}healthz"), &[("Cookie", &forged)]).status,
        401
    );

    // The one-time link: works once.
    let out = env.ok(&["open", "--print-link", "front"]);
    let link = out.lines().last().unwrap();
    assert!(
        link.starts_with(&format!("{url}_berth/login?token=")),
        "{link}"
    );
    let first = http(link, &[]);
    assert_eq!(first.status, 303);
    let set = first.header("set-cookie").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert_eq!(http(link, &[]).status, 401, "a login link works once");
    let cookie = set.split(';').next().unwrap().to_string();

    // Logged in: the IDE answers, with Berth's policy on every answer.
    let page = http(&url, &[("Cookie", &cookie)]);
    assert_eq!(page.status, 200);
    // A cookie of the same name that another workspace's page set (narrower path, sent
    // first) does not shadow the login.
    let (name, _) = cookie.split_once('=').unwrap();
    let shadowed = format!("{name}=planted; {cookie}");
    assert_eq!(http(&url, &[("Cookie", &shadowed)]).status, 200);
    assert!(page.body.contains("Berth test workspace"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains(&format!(
            "connect-src 'self' ws://127.0.0.1:{p} ws://localhost:{p} "
        )),
        "{csp}"
    );
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'self'"));

    // What the workspace receives: no Berth cookie of its own or of any other workspace.
    let with_others = format!("{cookie}; berth_00000000000000000000000000000000=other; theme=dark");
    let seen = http(
        &format!("{url}cgi-bin/request"),
        &[("Cookie", &with_others)],
    );
    assert_eq!(seen.status, 200, "{seen:?}");
    assert!(seen.body.contains("cookie: theme=dark\n"), "{}", seen.body);
    assert!(!seen.body.contains("berth_"), "{}", seen.body);

    // What a page's policy blocked reaches the daemon's log (from logged-in pages only).
    let report = r#"{"csp-report":{"blocked-uri":"http://127.0.0.1:9/","violated-directive":"connect-src"}}"#;
    assert_eq!(post_report(&url, &cookie, report), 204);
    let log = std::fs::read_to_string(env.data_dir().join("logs/daemon.log")).unwrap();
    assert!(
        log.contains("front: the IDE page's policy blocked") && log.contains("127.0.0.1:9"),
        "{log}"
    );
    env.ok(&["rm", "front"]);
    assert_eq!(
        http_status(&format!("{url}healthz")),
        None,
        "rm closes the port"
    );
}

/// Posts a policy report to the workspace at `url`, logged in with `cookie`; the status.
fn post_report(url: &str, cookie: &str, report: &str) -> u16 {
    let headers = [
        ("Cookie", cookie),
        ("Content-Type", "application/csp-report"),
    ];
    request("POST", &format!("{url}_berth/csp-report"), &headers, report).status
}

fn id_of(env: &TestEnv, name: &str) -> berth::model::WorkspaceId {
    berth::model::WorkspaceId::parse(env.show(name)["id"].as_str().unwrap()).unwrap()
}

#[test]
fn one_workspaces_login_opens_nothing_in_another() {
    let env = TestEnv::new();
    env.create("left", &env.project("left"));
    env.create("right", &env.project("right"));
    let left = env.ok(&["start", "left"]).trim().to_string();
    let right = env.ok(&["start", "right"]).trim().to_string();
    let left_cookie = env.login("left");
    let right_cookie = env.login("right");
    // Cookies ignore ports: a browser sends both to both. Each opens only its own.
    let both = format!("{left_cookie}; {right_cookie}");
    assert_eq!(
        http(&format!("{left}healthz"), &[("Cookie", &both)]).status,
        200
    );
    assert_eq!(
        http(&format!("{right}healthz"), &[("Cookie", &left_cookie)]).status,
        401
    );
    assert_eq!(
        http(&format!("{left}healthz"), &[("Cookie", &right_cookie)]).status,
        401
    );
    // A link of one workspace used on the other's port logs in nowhere.
    let out = env.ok(&["open", "--print-link", "left"]);
    let link = out.lines().last().unwrap().replace(&left, &right);
    assert_eq!(http(&link, &[]).status, 401);

    // A stop keeps the port Berth's (its stopped page answers there) and so its logins: the
    // window that was open can press Start. Still only for that workspace.
    env.ok(&["restart", "left"]);
    assert_eq!(
        http(&format!("{left}healthz"), &[("Cookie", &left_cookie)]).status,
        200
    );
    assert_eq!(
        http(&format!("{right}healthz"), &[("Cookie", &left_cookie)]).status,
        401
    );
    assert_eq!(
        http(&format!("{right}healthz"), &[("Cookie", &right_cookie)]).status,
        200
    );
}

#[test]
fn the_home_folder_survives_recreation_and_goes_with_rm() {
    let env = TestEnv::new();
    env.create("keep", &env.project("keep"));
    env.ok(&["start", "keep"]);
    let name = || {
        env.show("keep")["container_name"]
            .as_str()
            .unwrap()
            .to_string()
    };
    crate::env::docker(&["exec", &name(), "sh", "-c", "echo kept > $HOME/notes.txt"]);
    let first = env.show("keep")["container_id"]
        .as_str()
        .unwrap()
        .to_string();

    // A restart, a port move and a recreation (the container removed behind Berth's back).
    env.ok(&["restart", "keep"]);
    env.ok(&["stop", "keep"]);
    let old = port(&env, "keep");
    // A stopped workspace's port stays the daemon's (its stopped page answers there): only
    // with the daemon gone can another program take it.
    env.stop_daemon();
    let squatter = std::net::TcpListener::bind(("127.0.0.1", old)).unwrap();
    crate::env::docker(&["rm", "-f", &first]);
    env.eventually("missing", 10, || env.show("keep")["status"] == "missing");
    env.ok(&["start", "keep"]);
    drop(squatter);
    assert_ne!(port(&env, "keep"), old, "moved off the taken port");
    assert_ne!(env.show("keep")["container_id"].as_str().unwrap(), first);
    let read = crate::env::docker(&["exec", &name(), "cat", "/home/berth/notes.txt"]);
    assert_eq!(read.trim(), "kept");

    assert_eq!(env.volumes().len(), 1);
    // The IDE window's cookies and storage go with the workspace too.
    let webviews = env
        .data_dir()
        .join("webviews")
        .join(env.show("keep")["id"].as_str().unwrap());
    std::fs::create_dir_all(&webviews).unwrap();
    std::fs::write(webviews.join("cookies.sqlite"), "x").unwrap();
    env.ok(&["rm", "keep"]);
    assert!(env.volumes().is_empty(), "rm removes the home volume");
    assert!(!webviews.exists(), "rm removes the IDE window's storage");
}

#[test]
fn the_data_dir_is_the_users_alone() {
    let env = TestEnv::new();
    env.create("private", &env.project("private"));
    env.ok(&["start", "private"]);
    env.login("private");
    use std::os::unix::fs::PermissionsExt;
    let mut checked = 0;
    let mut stack = vec![env.data_dir()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o777;
            assert_eq!(mode & 0o077, 0, "{} is mode {mode:o}", path.display());
            checked += 1;
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    let root = std::fs::metadata(env.data_dir())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(root, 0o700);
    assert!(checked > 8, "walked the data dir ({checked} entries)");
}

/// `berth open` hands the browser a private page that forwards to the one-time link: the
/// link never appears on a command line, where any local user could read it first.
#[test]
fn the_login_link_never_reaches_a_command_line() {
    let env = TestEnv::new();
    env.create("shy", &env.project("shy"));
    let bin = env.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let seen = env.dir.path().join("xdg-open.args");
    let shim = bin.join("xdg-open");
    std::fs::write(
        &shim,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n", seen.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    env.ok_with(&["open", "shy"], &[("PATH", path.as_ref())]);
    // `berth open` starts the browser and returns; the shim writes when it runs.
    env.eventually("the browser to be started", 10, || {
        std::fs::read_to_string(&seen).is_ok_and(|a| a.ends_with('\n'))
    });
    let arg = std::fs::read_to_string(&seen).unwrap().trim().to_string();
    assert!(
        arg.starts_with("file://") && !arg.contains("token"),
        "{arg}"
    );
    let page = std::path::PathBuf::from(arg.trim_start_matches("file://"));
    assert_eq!(
        std::fs::metadata(&page).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let html = std::fs::read_to_string(&page).unwrap();
    let link = html
        .split("url=")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    assert!(link.contains("/_berth/login?token="), "{html}");
    assert_eq!(http(&link, &[]).status, 303, "the page's link logs in");
}

/// A page cannot take the daemon's resources through the gateway: at most 64 upgraded
/// connections per workspace at once, and at most 20 policy reports a minute in the log.
#[test]
fn a_page_cannot_flood_the_daemon() {
    use std::io::{Read, Write};
    let env = TestEnv::new();
    env.create("flood", &env.project("flood"));
    env.ok(&["start", "flood"]);
    let p = port(&env, "flood");
    let cookie = env.login("flood");
    let upgrade = |cookie: &str| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", p)).unwrap();
        // A stream far longer than anyone reads: the connection stays open.
        write!(
            s,
            "GET /cgi-bin/stream?4000000000 HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\nCookie: {cookie}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        )
        .unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        (String::from_utf8_lossy(&head).to_string(), s)
    };
    let mut open = Vec::new();
    for _ in 0..64 {
        let (status, s) = upgrade(&cookie);
        assert_eq!(status, "HTTP/1.1 101", "an upgrade within the cap");
        open.push(s);
    }
    let (status, _) = upgrade(&cookie);
    assert_eq!(status, "HTTP/1.1 503", "the 65th upgrade is refused");
    drop(open);

    let report = r#"{"csp-report":{"blocked-uri":"http://127.0.0.1:9/flood"}}"#;
    let url = format!("http://127.0.0.1:{p}/");
    for _ in 0..25 {
        assert_eq!(post_report(&url, &cookie, report), 204);
    }
    let log = std::fs::read_to_string(env.data_dir().join("logs/daemon.log")).unwrap();
    assert_eq!(log.matches("127.0.0.1:9/flood").count(), 20, "{log}");
}
