//! Idle stop against the real engine, with idle timeouts of seconds: what stops a workspace
//! (nothing happening), what holds it (file changes, a keep-alive inside or on the host, a busy
//! container, a snooze), what does not (churn), and that a stopped workspace's page never
//! wakes it — only its Start button does.

use crate::env::{TestEnv, docker, http, request};
use crate::events::follow;
use serde_json::Value;
use std::ffi::OsStr;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A test env whose daemon samples CPU every 2 s (a minute is for people) and one workspace
/// `name` with an idle timeout of 10 s (warning 5 s ahead), started.
fn started_idle(name: &str) -> TestEnv {
    let env = TestEnv::new();
    create_idle(
        &env,
        name,
        &[("BERTH_ACTIVITY_SAMPLE_SECS", OsStr::new("2"))],
    );
    env.ok(&["start", name]);
    env
}

/// Creates `name` on the test image with an idle timeout of 10 s; `vars` reach the daemon
/// when this command starts it.
fn create_idle(env: &TestEnv, name: &str, vars: &[(&str, &OsStr)]) {
    env.create_with(name, &["--idle-timeout", "10s"], vars);
}

/// Polls `f` every 250 ms (each look runs the CLI) until true; fails after `secs` seconds.
fn wait(what: &str, secs: u64, f: impl FnMut() -> bool) {
    crate::env::poll_until(what, secs, Duration::from_millis(250), f);
}

fn activity(env: &TestEnv, name: &str) -> Value {
    env.show(name)["activity"].clone()
}

fn state(env: &TestEnv, name: &str) -> String {
    activity(env, name)["state"].as_str().unwrap().to_string()
}

fn running(env: &TestEnv, name: &str) -> bool {
    env.show(name)["status"] == "running"
}

fn container(env: &TestEnv, name: &str) -> String {
    env.show(name)["container_name"]
        .as_str()
        .unwrap()
        .to_string()
}

fn stopped_idle(env: &TestEnv, name: &str) -> bool {
    state(env, name) == "stopped_idle"
}

#[test]
fn nothing_happens_so_it_is_warned_then_stopped_and_one_command_starts_it_again() {
    let env = TestEnv::new();
    let (mut events, rx) = follow(&env);
    create_idle(&env, "quiet", &[]);
    let port = env.show("quiet")["port"].clone();
    env.ok(&["start", "quiet"]);
    let started = Instant::now();

    // The warning comes first (5 s ahead), then the stop; both reach every client.
    let (mut warned, mut stopped) = (None, None);
    while stopped.is_none() {
        let e = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("a warning and an idle stop within 30 s");
        if e["kind"] == "activity" && e["activity"]["name"] == "quiet" {
            match e["activity"]["state"].as_str().unwrap() {
                "warned" => warned = warned.or(Some(started.elapsed())),
                "stopped_idle" => stopped = Some(started.elapsed()),
                _ => {}
            }
        }
    }
    let (warned, stopped) = (warned.expect("warned before the stop"), stopped.unwrap());
    assert!(
        stopped >= Duration::from_secs(9) && stopped - warned >= Duration::from_secs(4),
        "warned at {warned:?}, stopped at {stopped:?}"
    );
    let _ = events.kill();
    let _ = events.wait();

    // Why, in the audit log and everywhere the workspace is shown; its port is kept.
    let log = env.ok(&["log", "quiet"]);
    assert!(
        log.lines()
            .any(|l| l.contains("stop") && l.contains("idle: nothing happened for 10 s")),
        "{log}"
    );
    assert!(env.ok(&["show", "quiet"]).contains("stopped (idle)"));
    assert!(env.ok(&["ls"]).contains("stopped (idle)"));
    assert_eq!(env.show("quiet")["port"], port);

    env.ok(&["start", "quiet"]);
    assert!(running(&env, "quiet"));
    assert_eq!(state(&env, "quiet"), "active");
}

#[test]
fn the_stopped_page_never_starts_the_workspace_but_its_start_button_does() {
    let env = started_idle("parked");
    let url = env.show("parked")["url"].as_str().unwrap().to_string();
    let cookie = env.login("parked");
    wait("the idle stop", 30, || stopped_idle(&env, "parked"));

    // A reload: Berth's page, saying why, with a Start button; nothing starts.
    let page = http(&url, &[("Cookie", &cookie)]);
    assert_eq!(page.status, 503, "{page:?}");
    assert!(
        page.body.contains("stopped after 10 s without activity"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("action=\"/_berth/start\""),
        "{}",
        page.body
    );
    // The IDE reconnecting its socket gets the page too, not an upgrade.
    let ws = http(
        &url,
        &[
            ("Cookie", &cookie),
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
    );
    assert_eq!(ws.status, 503, "{ws:?}");
    // Scripts cannot press Start: no origin, a fetch of the page's own origin, another site,
    // or no login.
    let start = format!("{url}_berth/start");
    let origin = url.trim_end_matches('/');
    let refused: [&[(&str, &str)]; 4] = [
        &[("Cookie", &cookie)],
        &[
            ("Cookie", &cookie),
            ("Origin", origin),
            ("Sec-Fetch-Site", "same-origin"),
            ("Sec-Fetch-Mode", "cors"),
        ],
        &[
            ("Cookie", &cookie),
            ("Origin", "http://evil.example"),
            ("Sec-Fetch-Site", "cross-site"),
            ("Sec-Fetch-Mode", "navigate"),
            ("Sec-Fetch-User", "?1"),
        ],
        &[("Origin", origin)],
    ];
    for headers in refused {
        let answer = request("POST", &start, headers, "");
        assert!(
            answer.status == 403 || answer.status == 401,
            "{headers:?}: {answer:?}"
        );
    }
    env.stays("stopped after reloads and scripted starts", 3, || {
        !running(&env, "parked")
    });

    // The form's one-time value is only in the page loaded as a page: a script's fetch or a
    // frame gets no button; without the value (or with a wrong one) Start is refused.
    for dest in ["empty", "iframe"] {
        let fetched = http(&url, &[("Cookie", &cookie), ("Sec-Fetch-Dest", dest)]);
        assert!(!fetched.body.contains("nonce"), "{dest}: {}", fetched.body);
    }
    let page = http(&url, &[("Cookie", &cookie), ("Sec-Fetch-Dest", "document")]);
    let nonce = page
        .body
        .split("name=\"nonce\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's Start form")
        .to_string();
    let click_headers = [
        ("Cookie", cookie.as_str()),
        ("Origin", origin),
        ("Sec-Fetch-Site", "same-origin"),
        ("Sec-Fetch-Mode", "navigate"),
        ("Sec-Fetch-User", "?1"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    for wrong in ["", "nonce=", "nonce=0123"] {
        let answer = request("POST", &start, &click_headers, wrong);
        assert_eq!(answer.status, 403, "{wrong:?}: {answer:?}");
    }
    assert!(!running(&env, "parked"));

    // A person pressing Start: a same-origin form submission with the page's value.
    let click = request("POST", &start, &click_headers, &format!("nonce={nonce}"));
    assert_eq!(click.status, 303, "{click:?}");
    wait("the start from the page", 30, || running(&env, "parked"));
    assert_eq!(
        http(&format!("{url}healthz"), &[("Cookie", &cookie)]).status,
        200,
        "the open window's login still works"
    );
    assert!(env.ok(&["log", "parked"]).contains("Start pressed"));
}

#[test]
fn project_file_changes_hold_it_and_churn_does_not() {
    let env = started_idle("edits");
    let project = std::path::PathBuf::from(env.show("edits")["projects"][0].as_str().unwrap());
    // Someone saving a file every 2 s: 16 s without a stop, though the timeout is 10 s.
    let mut saved = Instant::now() - Duration::from_secs(10);
    env.stays("running while a file is saved every 2 s", 16, || {
        if saved.elapsed() >= Duration::from_secs(2) {
            std::fs::write(project.join("main.txt"), format!("{saved:?}")).unwrap();
            saved = Instant::now();
        }
        running(&env, "edits")
    });
    let signals = activity(&env, "edits")["signals"].to_string();
    assert!(signals.contains("\"files\""), "{signals}");

    // Churn only: dependencies and git's object store change all the time; it stops anyway.
    for dir in ["node_modules/left-pad", ".git/objects/ab"] {
        std::fs::create_dir_all(project.join(dir)).unwrap();
    }
    let began = Instant::now();
    let mut n = 0;
    wait("the idle stop under churn", 30, || {
        n += 1;
        std::fs::write(
            project.join("node_modules/left-pad/index.js"),
            n.to_string(),
        )
        .unwrap();
        std::fs::write(project.join(".git/objects/ab/cdef"), n.to_string()).unwrap();
        stopped_idle(&env, "edits")
    });
    assert!(
        began.elapsed() >= Duration::from_secs(8),
        "{:?}",
        began.elapsed()
    );
}

#[test]
fn a_keepalive_inside_holds_it_until_its_command_ends() {
    let env = started_idle("agent");
    let c = container(&env, "agent");
    docker(&["exec", "-d", &c, "berth-keepalive", "--", "sleep", "20"]);
    let began = Instant::now();
    wait("held by the keep-alive", 10, || {
        let a = activity(&env, "agent");
        a["state"] == "held" && a["held_by"][0] == "sleep 20"
    });
    // Past the 10 s timeout while the command runs.
    let held_for = 18u64.saturating_sub(began.elapsed().as_secs());
    env.stays("running while `sleep 20` runs", held_for, || {
        running(&env, "agent")
    });
    wait("the idle stop after the command", 30, || {
        stopped_idle(&env, "agent")
    });
    assert!(
        began.elapsed() >= Duration::from_secs(28),
        "{:?}",
        began.elapsed()
    );
}

#[test]
fn a_keepalive_on_the_host_holds_it_and_passes_the_exit_code_on() {
    let env = started_idle("job");
    let out = env
        .cmd()
        .args(["keepalive", "job", "--", "sh", "-c", "exit 3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let mut job = env
        .cmd()
        .args(["keepalive", "job", "--", "sleep", "600"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait("held from the host", 10, || state(&env, "job") == "held");
    env.stays("running while the host job runs", 14, || {
        running(&env, "job")
    });
    // A keep-alive that dies (kill -9: no goodbye) stops holding.
    job.kill().unwrap();
    job.wait().unwrap();
    wait("the idle stop after the job died", 30, || {
        stopped_idle(&env, "job")
    });
}

#[test]
fn a_busy_container_holds_it() {
    let env = started_idle("build");
    let c = container(&env, "build");
    docker(&[
        "exec",
        "-d",
        &c,
        "timeout",
        "20",
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    let began = Instant::now();
    wait("seen busy", 10, || {
        activity(&env, "build")["signals"]
            .to_string()
            .contains("\"busy\"")
    });
    let held_for = 18u64.saturating_sub(began.elapsed().as_secs());
    env.stays("running while the loop burns CPU", held_for, || {
        running(&env, "build")
    });
    wait("the idle stop after the loop", 40, || {
        stopped_idle(&env, "build")
    });
}

#[test]
fn snooze_after_the_warning_delays_the_stop_by_the_snooze_time() {
    let env = started_idle("nap");
    wait("the warning", 15, || state(&env, "nap") == "warned");
    let snoozed = Instant::now();
    let out = env.ok(&["snooze", "nap", "20s"]);
    assert!(out.contains("kept running until"), "{out}");
    assert_eq!(state(&env, "nap"), "active");
    env.stays("running through the snooze", 18, || running(&env, "nap"));
    wait("the stop after the snooze", 15, || {
        stopped_idle(&env, "nap")
    });
    assert!(snoozed.elapsed() >= Duration::from_secs(19));
    let log = env.ok(&["log", "nap"]);
    assert!(log.contains("snooze"), "{log}");
    // Nothing to snooze once stopped.
    let err = env.fails(&["snooze", "nap"]);
    assert!(err.contains("not running"), "{err}");
}

#[test]
fn an_idle_timeout_under_ten_seconds_is_refused() {
    let env = TestEnv::new();
    let project = env.project("short");
    let args = |t: &'static str| {
        vec![
            "create".to_string(),
            format!("short-{}", t.trim_end_matches('s')),
            "--image".into(),
            crate::env::IMAGE.into(),
            "--project".into(),
            project.display().to_string(),
            "--idle-timeout".into(),
            t.into(),
        ]
    };
    let refused: Vec<String> = args("5s");
    let refused: Vec<&str> = refused.iter().map(String::as_str).collect();
    assert!(env.fails(&refused).contains("10 seconds"));
    let ok: Vec<String> = args("10s");
    let ok: Vec<&str> = ok.iter().map(String::as_str).collect();
    env.ok(&ok);
}

/// The container as the attacker: links planted in its activity folder under the names Berth
/// writes and reads make the daemon write nothing outside it, and a FIFO never blocks it.
#[test]
fn links_in_the_activity_folder_make_berth_write_nothing_elsewhere() {
    let env = started_idle("trap");
    let victim = env.dir.path().join("victim.txt");
    std::fs::write(&victim, "keep").unwrap();
    let c = container(&env, "trap");
    let plant = format!(
        "ln -s {v} /run/berth-activity/warning && ln -s {v} /run/berth-activity/input",
        v = victim.display()
    );
    docker(&["exec", &c, "sh", "-c", &plant]);
    wait("the warning", 15, || state(&env, "trap") == "warned");
    let warning = env
        .data_dir()
        .join("activity")
        .join(env.show("trap")["id"].as_str().unwrap())
        .join("warning");
    // The timer's pass that sends the warning writes the file (the state reads "warned" from
    // the moment it is due).
    wait("Berth's own warning file in place of the link", 10, || {
        std::fs::symlink_metadata(&warning).is_ok_and(|m| m.is_file())
    });
    assert!(
        std::fs::read_to_string(&warning)
            .unwrap()
            .trim()
            .parse::<i64>()
            .is_ok()
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    // A FIFO as a lease: read without blocking (the daemon still answers); it holds like any
    // lease until it goes stale, then the workspace stops.
    docker(&["exec", &c, "mkfifo", "/run/berth-activity/keepalive-fifo"]);
    wait("held by the FIFO", 10, || state(&env, "trap") == "held");
    wait("the idle stop", 60, || stopped_idle(&env, "trap"));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
}
