//! The daemon's lifecycle, for real: autostart races, the lock, a stale socket, file modes,
//! the idle exit, the fallback socket path, the hand-over to a newer client, and stop-on-quit.

use crate::env::{BERTH, IMAGE, TestEnv, block_on, inspect};
use berth::api::endpoint;
use berth::client::{Autostart, Client};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// Pids of `berth daemon run` processes serving `data_dir` (read from /proc).
fn daemons_for(data_dir: &Path) -> Vec<u32> {
    let want = format!("BERTH_DATA_DIR={}", data_dir.display());
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let is_daemon = cmd.split(|b| *b == 0).any(|w| w == b"daemon")
                && cmd.split(|b| *b == 0).any(|w| w == b"run");
            is_daemon && env.split(|b| *b == 0).any(|w| w == want.as_bytes())
        })
        .collect()
}

fn status(env: &TestEnv) -> Value {
    serde_json::from_str(&env.ok(&["daemon", "status", "--json"])).unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn twenty_clients_at_once_start_exactly_one_daemon() {
    let env = TestEnv::new();
    assert!(daemons_for(&env.data_dir()).is_empty());
    let children: Vec<_> = (0..20)
        .map(|_| {
            env.cmd()
                .args(["ls", "--json"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let daemons = daemons_for(&env.data_dir());
    assert_eq!(daemons.len(), 1, "daemons: {daemons:?}");
    assert_eq!(status(&env)["pid"], daemons[0]);
}

#[test]
fn the_socket_and_data_dir_are_private_and_a_second_daemon_is_refused() {
    let env = TestEnv::new();
    env.ok(&["ls"]);
    let data = env.data_dir();
    assert_eq!(mode(&data), 0o700, "data dir");
    let sock = data.join("daemon.sock");
    assert_eq!(mode(&sock), 0o600, "socket");
    assert_eq!(status(&env)["endpoint"], sock.display().to_string());

    // A second daemon on the same data dir says so and leaves; the first keeps serving.
    let pid = env.daemon_pid().unwrap();
    let out = env.berth(&["daemon", "run"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already runs"));
    assert_eq!(status(&env)["pid"], pid);
    assert_eq!(daemons_for(&data), [pid]);
}

#[test]
fn a_stale_socket_of_a_killed_daemon_is_recovered() {
    let env = TestEnv::new();
    env.ok(&["ls"]);
    let pid = env.daemon_pid().unwrap();
    // SAFETY: kill(2) on the daemon this test started.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    env.eventually("the daemon to die", 10, || {
        daemons_for(&env.data_dir()).is_empty()
    });
    assert!(
        env.data_dir().join("daemon.sock").exists(),
        "SIGKILL leaves the socket file behind"
    );
    env.ok(&["ls"]);
    let new = env.daemon_pid().unwrap();
    assert_ne!(new, pid);
    assert_eq!(daemons_for(&env.data_dir()), [new]);
}

#[test]
fn the_daemon_exits_when_idle_but_not_while_a_client_follows_or_a_workspace_runs() {
    let env = TestEnv::new();
    env.create("keeper", &env.project("keeper"));
    env.stop_daemon();
    // A daemon with a two-second idle exit, started by a client that asks for it.
    let quick = || {
        let mut c = env.cmd();
        c.env("BERTH_DAEMON_IDLE_SECS", "2");
        c
    };
    assert!(
        quick()
            .args(["daemon", "start"])
            .status()
            .unwrap()
            .success()
    );
    // A follower keeps it.
    let mut follower = env
        .cmd()
        .args(["events"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    env.eventually("the follower", 10, || status(&env)["event_followers"] == 1);
    let pid = env.daemon_pid().unwrap();
    let s = status(&env);
    assert!(s["idle_exit_in_secs"].is_null(), "{s}");
    follower.kill().unwrap();
    follower.wait().unwrap();
    // Then, quiet, it goes by itself.
    env.eventually("the idle exit", 20, || {
        daemons_for(&env.data_dir()).is_empty()
    });
    assert!(
        std::fs::read_to_string(env.data_dir().join("logs/daemon.log"))
            .unwrap()
            .contains("shutting down: Idle")
    );

    // A running workspace keeps it, however quiet.
    assert!(
        quick()
            .args(["start", "keeper"])
            .status()
            .unwrap()
            .success()
    );
    let pid2 = env.daemon_pid().unwrap();
    assert_ne!(pid, pid2);
    let s = status(&env);
    assert_eq!(s["running_workspaces"], 1);
    assert!(s["idle_exit_in_secs"].is_null(), "{s}");
    std::thread::sleep(std::time::Duration::from_secs(3)); // longer than the idle time: the behaviour under test
    assert_eq!(daemons_for(&env.data_dir()), [pid2], "it stayed");
    env.ok(&["rm", "keeper"]);
}

#[test]
fn an_over_long_data_dir_gets_a_private_socket_in_tmp() {
    let env = TestEnv::new();
    let long = env
        .dir
        .path()
        .join("a-folder-name-long-enough-to-push-the-socket-path-past-what-unix-sockets-can-hold");
    std::fs::create_dir_all(&long).unwrap();
    let out = env
        .cmd()
        .env("BERTH_DATA_DIR", &long)
        .args(["daemon", "status", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "nothing runs yet");
    let run = |args: &[&str]| env.ok_with(args, &[("BERTH_DATA_DIR", long.as_ref())]);
    run(&["ls"]);
    let s: Value = serde_json::from_str(&run(&["daemon", "status", "--json"])).unwrap();
    let sock = Path::new(s["endpoint"].as_str().unwrap()).to_path_buf();
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    assert!(
        sock.starts_with(format!("/tmp/berth-{uid}")),
        "{}",
        sock.display()
    );
    assert!(sock.as_os_str().len() < endpoint::MAX_SOCKET_PATH);
    assert_eq!(mode(&sock), 0o600);
    assert_eq!(mode(sock.parent().unwrap()) & 0o777, 0o700);
    run(&["daemon", "stop"]);
}

#[test]
fn a_newer_client_takes_over_from_an_older_daemon() {
    let env = TestEnv::new();
    // An "older" daemon, run directly: any client would hand it over at once.
    let mut old = env
        .cmd()
        .env("BERTH_TEST_DAEMON_VERSION", "0.0.1")
        .args(["daemon", "run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    env.eventually("the old daemon", 10, || {
        env.berth(&["daemon", "status", "--json"]).status.success()
    });
    assert_eq!(status(&env)["version"], "0.0.1");
    let old_pid = old.id();
    // Any command of this (newer) berth asks the old one to hand over and starts its own.
    env.ok(&["ls"]);
    let s = status(&env);
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    assert_ne!(s["pid"], old_pid);
    assert!(
        old.wait().unwrap().success(),
        "the old daemon handed over cleanly"
    );
    assert_eq!(daemons_for(&env.data_dir()).len(), 1);
}

#[test]
fn the_engine_refuses_zero_and_negative_limits_and_settings_from_any_client() {
    let env = TestEnv::new();
    let project = env.project("limits");
    block_on(async {
        let client = env.client().await;
        for limits in [
            r#"{"cpus":0.0,"memory_bytes":null,"pids":null}"#,
            r#"{"cpus":-2.0,"memory_bytes":null,"pids":null}"#,
            r#"{"cpus":null,"memory_bytes":0,"pids":null}"#,
            r#"{"cpus":null,"memory_bytes":null,"pids":0}"#,
            r#"{"cpus":null,"memory_bytes":null,"pids":-5}"#,
        ] {
            let form = berth::api::NewWorkspace {
                name: "limits".into(),
                image: IMAGE.into(),
                projects: vec![project.display().to_string()],
                limits: serde_json::from_str(limits).unwrap(),
                ..Default::default()
            };
            let err = client.create(&form).await.unwrap_err();
            assert_eq!(err.code, berth::Code::InvalidInput, "{limits}: {err:?}");
            assert!(err.message.starts_with("invalid"), "{}", err.message);
        }
        let before = client.settings().await.unwrap();
        let bads: [fn(&mut berth::model::Settings); 6] = [
            |s| s.max_running = 0,
            |s| s.default_limits.memory_bytes = 0,
            |s| s.default_limits.pids = -1,
            |s| s.default_limits.cpus = 0.0,
            |s| s.start_timeout_secs = 0,
            |s| s.default_idle_timeout_secs = Some(0),
        ];
        for bad in bads {
            let mut copy = before.clone();
            bad(&mut copy);
            let err = client.save_settings(&copy).await.unwrap_err();
            assert_eq!(err.code, berth::Code::InvalidInput, "{err:?}");
        }
        // Nothing was created and the settings are as they were.
        assert!(client.list().await.unwrap().is_empty());
        assert_eq!(client.settings().await.unwrap(), before);
    });
    // And through the CLI, whose own check answers first.
    assert!(
        env.fails(&[
            "create",
            "limits",
            "--image",
            IMAGE,
            "--project",
            project.to_str().unwrap(),
            "--memory",
            "0"
        ])
        .contains("invalid memory limit")
    );
}

#[test]
fn a_signal_to_the_daemon_stops_workspaces_when_the_settings_say_so() {
    let env = TestEnv::new();
    env.update_settings(|s| s.on_quit = berth::model::QuitBehavior::StopWorkspaces);
    env.create("quitter", &env.project("quitter"));
    env.ok(&["start", "quitter"]);
    let container = env.show("quitter")["container_name"]
        .as_str()
        .unwrap()
        .to_string();
    let pid = env.daemon_pid().unwrap();
    // SAFETY: kill(2) on the daemon this test started.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    env.eventually("the daemon to exit", 20, || {
        daemons_for(&env.data_dir()).is_empty()
    });
    assert_eq!(inspect(&container)["State"]["Running"], false);
    assert_eq!(env.show("quitter")["status"], "stopped");
    env.ok(&["rm", "quitter"]);
}

#[test]
fn start_never_stops_a_workspace_that_was_already_running() {
    let env = TestEnv::new();
    env.update_settings(|s| s.start_timeout_secs = 2);
    // An image whose health path never answers 2xx.
    let tag = format!("berth-unhealthy:{}", &env.install[..8]);
    let ctx = env.dir.path().join("unhealthy");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {IMAGE}\nLABEL dev.berth.ide.health=/not-here\n"),
    )
    .unwrap();
    crate::env::docker(&["build", "-q", "-t", &tag, ctx.to_str().unwrap()]);
    let project = env.project("slow");
    env.ok(&[
        "create",
        "slow",
        "--image",
        &tag,
        "--project",
        project.to_str().unwrap(),
    ]);

    // Launched by this start and never healthy: stopped, as before.
    assert!(env.fails(&["start", "slow"]).contains("stopped it"));
    let container = env.show("slow")["container_name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(inspect(&container)["State"]["Running"], false);

    // Running already (started outside Berth): start reports, and leaves it running.
    crate::env::docker(&["start", &container]);
    env.eventually("running", 10, || env.show("slow")["status"] == "running");
    let err = env.fails(&["start", "slow"]);
    assert!(err.contains("left running"), "{err}");
    assert_eq!(inspect(&container)["State"]["Running"], true);
    assert_eq!(env.show("slow")["status"], "running");
    env.ok(&["rm", "slow"]);
    crate::env::docker(&["rmi", &tag]);
}

/// The client library against a daemon that stops between two requests: the next request
/// starts a new daemon by itself.
#[test]
fn a_client_outlives_its_daemon() {
    let env = TestEnv::new();
    block_on(async {
        let client = Client::connect(&env.data_dir(), Autostart::Program(BERTH.into()))
            .await
            .unwrap();
        let first = client.status().await.unwrap().pid;
        let stop = Command::new(BERTH)
            .env("BERTH_DATA_DIR", env.data_dir())
            .args(["daemon", "stop"])
            .output()
            .unwrap();
        assert!(stop.status.success());
        assert!(client.list().await.unwrap().is_empty());
        assert_ne!(client.status().await.unwrap().pid, first);
    });
}

/// The attacker is code in a container that got hold of the daemon's socket (a bind mount that
/// should never exist, simulated here): it runs as the user's uid, as workspaces do, and asks
/// the daemon for its workspaces. The daemon hangs up on it: it is in another mount namespace.
#[test]
fn a_container_that_reaches_the_socket_is_refused() {
    let env = TestEnv::new();
    crate::code_server::ensure_image(&env);
    env.ok(&["ls"]);
    let sock = env.data_dir().join("daemon.sock");
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let script = r#"
        const req = require("http").get({ socketPath: "/berth.sock", path: "/v1/workspaces" }, (res) => {
            let body = ""; res.on("data", (d) => body += d);
            res.on("end", () => console.log("ANSWERED " + res.statusCode + " " + body));
        });
        req.on("error", (e) => console.log("REFUSED " + e.code));
    "#;
    let out = crate::env::docker(&[
        "run",
        "--rm",
        "--user",
        &format!("{uid}:{gid}"),
        "--network",
        "none",
        "-v",
        &format!("{}:/berth.sock", sock.display()),
        "--entrypoint",
        "node",
        crate::code_server::IMAGE,
        "-e",
        script,
    ]);
    assert!(
        out.starts_with("REFUSED"),
        "the container got an answer: {out}"
    );
    let log = std::fs::read_to_string(env.data_dir().join("logs/daemon.log")).unwrap();
    assert!(log.contains("another mount namespace"), "{log}");
    // And the data dir can never be mounted into a workspace in the first place.
    let err = env.fails(&[
        "create",
        "sneaky",
        "--image",
        IMAGE,
        "--project",
        env.data_dir().to_str().unwrap(),
    ]);
    assert!(err.contains("Berth's data folder"), "{err}");
}
