use crate::env::{TestEnv, docker};
use berth::store::Store;
use std::process::Stdio;

/// Runs `berth ARGS` with a daemon that stops dead at `failpoint`, and SIGKILLs that daemon
/// there — the daemon, not the CLI, is what holds the operation now.
fn kill_daemon_at(env: &TestEnv, failpoint: &str, args: &[&str]) {
    // The failpoint reaches the daemon through the environment of the client that starts it.
    env.stop_daemon();
    let log = env.data_dir().join("logs").join("daemon.log");
    let before = std::fs::read_to_string(&log).unwrap_or_default().len();
    let mut cli = env
        .cmd()
        .args(args)
        .env("BERTH_FAILPOINT", failpoint)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let needle = format!("failpoint {failpoint} reached");
    env.eventually(&needle, 60, || {
        std::fs::read_to_string(&log).is_ok_and(|l| l[before.min(l.len())..].contains(&needle))
    });
    let pid = env.daemon_pid().expect("the daemon wrote its pid");
    // SAFETY: kill(2) on the pid of the daemon this test started.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    // The CLI loses its daemon mid-request and says so; it never retries a start.
    let status = cli.wait().unwrap();
    assert!(
        !status.success(),
        "the CLI claimed success without its daemon"
    );
    env.eventually("the killed daemon's lock to be free", 10, || {
        !berth::lockfile::FileLock::is_held(&env.data_dir().join("daemon.lock")).unwrap()
    });
}

#[test]
fn a_daemon_killed_between_container_create_and_db_record_is_adopted() {
    let env = TestEnv::new();
    let project = env.project("crash");
    kill_daemon_at(
        &env,
        "after-container-create",
        &[
            "create",
            "crash",
            "--image",
            crate::env::IMAGE,
            "--project",
            project.to_str().unwrap(),
        ],
    );
    // The row exists, the container exists, but the row does not know it.
    let store = Store::open(&env.data_dir()).unwrap();
    let ws = store.workspace_by_name("crash").unwrap().unwrap();
    assert_eq!(ws.container_id, None);
    let containers = env.containers(Some(&ws.id.to_string()));
    assert_eq!(containers.len(), 1);

    // The next command starts a new daemon, whose reconcile adopts the container by the token
    // stored before it was made: adopted, not duplicated.
    let shown = env.show("crash");
    assert_eq!(shown["container_id"].as_str(), Some(containers[0].as_str()));
    assert_eq!(shown["status"], "stopped");
    let url = env.ok(&["start", "crash"]).trim().to_string();
    assert_eq!(env.ide_status(&url, "crash"), 200);
    assert_eq!(
        env.containers(Some(&ws.id.to_string())),
        containers,
        "no duplicate"
    );
    assert!(env.ok(&["log", "crash"]).contains("adopted container"));
    env.ok(&["rm", "crash"]);
}

#[test]
fn a_daemon_killed_mid_start_leaves_no_stuck_starting() {
    let env = TestEnv::new();
    env.create("midway", &env.project("midway"));
    kill_daemon_at(&env, "after-container-start", &["start", "midway"]);
    let store = Store::open(&env.data_dir()).unwrap();
    let raw = store.workspace_by_name("midway").unwrap().unwrap();
    assert_eq!(
        raw.status.as_str(),
        "starting",
        "the kill left it mid-start"
    );
    // The container did start, so the new daemon's reconcile says running — not "starting"
    // forever — and there is exactly one container.
    assert_eq!(env.show("midway")["status"], "running");
    assert_eq!(env.containers(None).len(), 1);
    assert!(env.ok(&["log", "midway"]).contains("interrupted starting"));
    env.ok(&["rm", "midway"]);
}

#[test]
fn a_container_removed_behind_berths_back_shows_missing_and_start_recreates_it() {
    let env = TestEnv::new();
    env.create("gone", &env.project("gone"));
    env.ok(&["start", "gone"]);
    let before = env.show("gone");
    docker(&["rm", "-f", before["container_name"].as_str().unwrap()]);

    // The daemon hears Docker's `destroy`; no command has to look first.
    env.eventually("missing", 10, || env.show("gone")["status"] == "missing");
    let after = env.show("gone");
    assert_eq!(after["status"], "missing");
    assert!(after["container_id"].is_null());
    let listed = env.ok(&["ls"]);
    assert!(listed.contains("missing"), "{listed}");

    let url = env.ok(&["start", "gone"]).trim().to_string();
    assert_eq!(env.ide_status(&url, "gone"), 200);
    let recreated = env.show("gone");
    assert_eq!(recreated["status"], "running");
    assert_ne!(recreated["container_id"], before["container_id"]);
    assert_eq!(env.containers(None).len(), 1);
    env.ok(&["rm", "gone"]);
}

#[test]
fn a_missing_docker_socket_is_one_clear_line_and_changes_nothing() {
    let env = TestEnv::new();
    env.create("keep", &env.project("keep"));
    let snapshot = || {
        let conn = rusqlite::Connection::open(env.data_dir().join("berth.db")).unwrap();
        let dump = |sql: &str| -> Vec<String> {
            let mut stmt = conn.prepare(sql).unwrap();
            let n = stmt.column_count();
            stmt.query_map([], |r| {
                Ok((0..n)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect()
        };
        [
            dump("SELECT * FROM workspaces"),
            dump("SELECT * FROM projects"),
            dump("SELECT * FROM port_allocations"),
            dump("SELECT * FROM audit_log"),
            dump("SELECT * FROM settings"),
        ]
    };
    // The daemon talks to Docker, so it is the daemon that must meet the missing socket: a
    // new one, started by a client whose DOCKER_HOST points nowhere.
    env.stop_daemon();
    let before = snapshot();
    for args in [
        vec!["ls"],
        vec!["start", "keep"],
        vec!["stop", "keep"],
        vec!["rm", "keep"],
        vec!["show", "keep", "--json"],
        // The overview fails at once rather than waiting for figures that never come.
        vec!["top"],
        vec!["top", "--json"],
        vec!["df"],
        vec!["prune", "--dry-run"],
    ] {
        let out = env
            .cmd()
            .args(&args)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
        assert!(
            stderr.contains("cannot reach the Docker engine at unix:///nonexistent/docker.sock"),
            "{stderr}"
        );
    }
    env.stop_daemon();
    assert_eq!(snapshot(), before, "database unchanged");
    env.ok(&["rm", "keep"]);
}

/// An image that cannot run under the hardening: one clear error naming the setting, the
/// exit code and its last output — and the container stays stopped (no restart loop).
#[test]
fn an_image_broken_by_the_hardening_is_explained_not_restarted() {
    let env = TestEnv::new();
    let tag = format!("berth-needs-chown:{}", &env.install[..8]);
    let ctx = env.dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {}\nUSER 0\nCMD [\"sh\", \"-c\", \"echo preparing; chown 1 /tmp && exec httpd -f -p 8080 -h /www\"]\n",
            crate::env::IMAGE
        ),
    )
    .unwrap();
    docker(&["build", "-q", "-t", &tag, ctx.to_str().unwrap()]);
    let project = env.project("broken");
    env.ok(&[
        "create",
        "broken",
        "--image",
        &tag,
        "--project",
        project.to_str().unwrap(),
    ]);
    let err = env.fails(&["start", "broken"]);
    assert!(err.contains("exited during start (exit code 1)"), "{err}");
    assert!(err.contains("cap-drop ALL"), "{err}");
    assert!(err.contains("Operation not permitted"), "{err}");
    let ws = env.show("broken");
    assert_eq!(ws["status"], "stopped");
    let state = crate::env::inspect(ws["container_name"].as_str().unwrap());
    assert_eq!(state["RestartCount"], 0);
    assert_eq!(state["HostConfig"]["RestartPolicy"]["Name"], "no");
    env.ok(&["rm", "broken"]);
    docker(&["rmi", &tag]);

    // An image that writes into its own programs meets the read-only root, and is told so.
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {}\nCMD [\"sh\", \"-c\", \"touch /www/cache && exec httpd -f -p 8080 -h /www\"]\n",
            crate::env::IMAGE
        ),
    )
    .unwrap();
    docker(&["build", "-q", "-t", &tag, ctx.to_str().unwrap()]);
    env.ok(&[
        "create",
        "writer",
        "--image",
        &tag,
        "--project",
        project.to_str().unwrap(),
    ]);
    let err = env.fails(&["start", "writer"]);
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(err.contains("root filesystem is read-only"), "{err}");
    env.ok(&["rm", "writer"]);
    docker(&["rmi", &tag]);
}

/// A container's last words carry an escape sequence (OSC 52 writes the clipboard, a bidi
/// override disguises text): the start error on the terminal and the audit log show it
/// escaped, never raw.
#[test]
fn escape_sequences_from_a_container_never_reach_a_terminal_or_the_audit_log() {
    let env = TestEnv::new();
    let tag = format!("berth-escapes:{}", &env.install[..8]);
    let ctx = env.dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {}\nCMD [\"sh\", \"-c\", \"printf 'evil\\\\033]52;c;ZXZpbA==\\\\007 \\\\342\\\\200\\\\256txt.exe\\\\n'; exit 3\"]\n",
            crate::env::IMAGE
        ),
    )
    .unwrap();
    docker(&["build", "-q", "-t", &tag, ctx.to_str().unwrap()]);
    let project = env.project("escapes");
    env.ok(&[
        "create",
        "escapes",
        "--image",
        &tag,
        "--project",
        project.to_str().unwrap(),
    ]);
    let err = env.fails(&["start", "escapes"]);
    assert!(err.contains("exit code 3"), "{err}");
    assert!(err.contains("evil\\u{1b}]52;c;ZXZpbA==\\u{7}"), "{err}");
    assert!(err.contains("\\u{202e}txt.exe"), "{err}");
    let log = env.ok(&["log", "escapes"]);
    let stored = env.ok(&["log", "escapes", "--json"]);
    for shown in [&err, &log, &stored] {
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\u{7}') && !shown.contains('\u{202e}'),
            "a raw control character got through: {shown:?}"
        );
    }
    assert!(log.contains("\\u{1b}]52"), "{log}");
    // A project folder whose name carries an escape sequence is listed escaped.
    let odd = env.project("clear\u{1b}[2Jscreen");
    env.ok(&[
        "create",
        "odd",
        "--image",
        crate::env::IMAGE,
        "--project",
        odd.to_str().unwrap(),
    ]);
    for args in [vec!["ls"], vec!["image", "ls"], vec!["show", "odd"]] {
        let shown = env.ok(&args);
        assert!(
            !shown.contains('\u{1b}'),
            "{args:?} printed a raw escape: {shown:?}"
        );
    }
    assert!(env.ok(&["show", "odd"]).contains("clear\\u{1b}[2Jscreen"));
    env.ok(&["rm", "odd"]);
    env.ok(&["rm", "escapes"]);
    docker(&["rmi", &tag]);
}
