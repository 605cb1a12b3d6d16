use crate::env::{TestEnv, http_status};
use berth::store::Store;

#[test]
fn full_lifecycle_through_the_cli() {
    let env = TestEnv::new();
    let project = env.project("demo");
    env.create("demo", &project);
    let ws = env.show("demo");
    assert_eq!(ws["status"], "stopped");
    let id = ws["id"].as_str().unwrap().to_string();
    let port = ws["port"].as_u64().unwrap() as u16;
    assert!(env.range.contains(port));
    assert_eq!(
        env.containers(Some(&id)).len(),
        1,
        "create makes the container"
    );

    let url = env.ok(&["start", "demo"]).trim().to_string();
    assert_eq!(url, format!("http://127.0.0.1:{port}/"));
    assert_eq!(env.ide_status(&url, "demo"), 200);
    assert_eq!(env.show("demo")["status"], "running");
    // Idempotent: a second start just reports the URL.
    assert_eq!(env.ok(&["start", "demo"]).trim(), url);

    assert!(env.ok(&["stop", "demo"]).contains("stopped"));
    // The port stays Berth's: its own page answers (here: log in first), never the IDE.
    assert_eq!(http_status(&format!("{url}healthz")), Some(401));
    env.ok(&["stop", "demo"]);

    let again = env.ok(&["start", "demo"]).trim().to_string();
    assert_eq!(again, url, "same port after a restart");
    assert_eq!(env.ide_status(&again, "demo"), 200);
    let restarted = env.ok(&["restart", "demo"]).trim().to_string();
    assert_eq!(restarted, url);

    let listed: serde_json::Value = serde_json::from_str(&env.ok(&["ls", "--json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "demo");

    env.ok(&["rm", "demo"]);
    assert!(env.containers(None).is_empty(), "container gone");
    assert!(env.networks().is_empty(), "network gone");
    let store = Store::open(&env.data_dir()).unwrap();
    assert!(
        store.port_allocations().unwrap().is_empty(),
        "port row gone"
    );
    assert!(
        project.join("README.md").exists(),
        "project folder untouched"
    );
    assert!(
        env.fails(&["show", "demo"])
            .contains("no workspace named \"demo\"")
    );

    // The audit log outlives the workspace.
    let log = env.ok(&["log", "demo"]);
    for action in ["create", "start", "stop", "delete"] {
        assert!(log.contains(action), "{action} missing from:\n{log}");
    }
}

#[test]
fn logs_show_container_output() {
    let env = TestEnv::new();
    env.create("talk", &env.project("talk"));
    env.ok(&["start", "talk"]);
    // busybox httpd logs nothing by default; tini -s prints nothing either. Reading the logs of a
    // running container must still work and end (no --follow).
    let out = env.berth(&["logs", "talk", "--tail", "5"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.ok(&["rm", "talk"]);
    assert!(env.fails(&["logs", "talk"]).contains("no workspace named"));
}

/// The Docker layer builds an image from a context folder and streams the build output.
#[tokio::test]
async fn an_image_builds_from_a_context_folder_with_progress() {
    use berth::docker::{BuildProgress, Client, context_from_dir};
    let env = TestEnv::new();
    let ctx = env.dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {}\nCOPY note.txt /www/note.txt\n", crate::env::IMAGE),
    )
    .unwrap();
    std::fs::write(ctx.join("note.txt"), "hi").unwrap();
    let tag = format!("berth-ctx-test:{}", &env.install[..8]);
    let client = Client::connect().await.unwrap();
    let mut lines = Vec::new();
    let mut steps = Vec::new();
    let labels = std::collections::HashMap::new();
    client
        .build_image(
            berth::docker::whole_context(context_from_dir(&ctx).unwrap()),
            &tag,
            &labels,
            None,
            |p| match p {
                BuildProgress::Line(l) => lines.push(l),
                BuildProgress::Step { current, total } => steps.push((current, total)),
            },
        )
        .await
        .unwrap();
    assert_eq!(steps, [(1, 2), (2, 2)]);
    assert!(
        lines.iter().any(|l| l.contains("COPY note.txt")),
        "{lines:?}"
    );
    assert!(client.inspect_image(&tag).await.unwrap().is_some());
    crate::env::docker(&["rmi", &tag]);
}

/// The audit log belongs to a workspace, not to a name: a new workspace that reuses a deleted
/// one's name starts with a history of its own, and the deleted one's stays readable until then.
#[test]
fn a_reused_name_starts_a_history_of_its_own() {
    let env = TestEnv::new();
    env.create("again", &env.project("first"));
    env.ok(&["start", "again"]);
    env.ok(&["rm", "again"]);
    let old = env.ok(&["log", "again"]);
    assert!(old.contains("delete"), "the deleted one's log stays: {old}");
    env.create("again", &env.project("second"));
    let new = env.ok(&["log", "again"]);
    assert!(new.contains("create"), "{new}");
    assert!(
        !new.contains("delete") && !new.contains("start"),
        "the new workspace inherited the old one's history: {new}"
    );
}

/// A workspace whose program ignores SIGTERM: `stop --force` kills it after the short wait (a
/// plain stop would give it 10 s), and the audit log says the stop was forced.
#[test]
fn a_force_stop_kills_a_workspace_that_ignores_sigterm_after_the_short_wait() {
    use std::time::{Duration, Instant};
    let env = TestEnv::new();
    // The shell ignores TERM, and httpd inherits that through exec.
    let tag = format!("berth-stubborn:{}", &env.install[..8]);
    let dockerfile = format!(
        "FROM {}\nCMD [\"/bin/sh\", \"-c\", \"trap '' TERM; exec /bin/httpd -f -p 8080 -h /www\"]\n",
        crate::env::IMAGE
    );
    let label = format!("dev.berth.install={}", env.install);
    let mut build = std::process::Command::new("docker");
    build.args(["build", "-q", "--label", &label, "-t", &tag, "-"]);
    let built = crate::provider::piped(build, &dockerfile);
    assert!(built.status.success(), "docker build {tag}");
    let project = env.project("stubborn");
    env.ok(&[
        "create",
        "stubborn",
        "--image",
        &tag,
        "--project",
        project.to_str().unwrap(),
        "--memory",
        "64m",
    ]);
    env.ok(&["start", "stubborn"]);
    let id = env.show("stubborn")["container_id"]
        .as_str()
        .unwrap()
        .to_string();
    let running = |id: &str| crate::env::inspect(id)["State"]["Running"] == true;
    // It really ignores SIGTERM.
    crate::env::docker(&["kill", "--signal", "TERM", &id]);
    env.stays("the workspace survives a SIGTERM", 2, || running(&id));

    let started = Instant::now();
    let said = env.ok(&["stop", "--force", "stubborn"]);
    let took = started.elapsed();
    assert_eq!(said.trim(), "stubborn is stopped");
    // SIGTERM first, the short wait, then SIGKILL: at least the wait, far below 10 s.
    let grace = Duration::from_secs(berth::engine::FORCE_GRACE_SECS as u64);
    assert!(took >= grace, "killed before the wait: {took:?}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert!(!running(&id));
    assert_eq!(
        crate::env::inspect(&id)["State"]["ExitCode"],
        137,
        "SIGKILL"
    );
    let forced = env.audit_entry("stubborn", "force-stop");
    assert_eq!(forced["outcome"], "ok");
    assert!(
        forced["detail"].as_str().unwrap().contains("forced"),
        "{forced}"
    );
}
