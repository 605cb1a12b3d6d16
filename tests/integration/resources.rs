//! The resources overview on the real engine: usage against limits and the machine agrees with
//! `docker stats`, Docker's stats streams are open only while someone watches (counted at the
//! Docker socket through a proxy), Clean up removes exactly this install's leftovers, and a
//! preview can be force-stopped.

use crate::env::*;
use serde_json::Value;
use std::time::{Duration, Instant};

#[path = "../../benches/berth/proxy.rs"]
mod docker_proxy;

const MIB: u64 = 1 << 20;

/// `berth create NAME` on the test image with `limits` (`--cpus`, `--memory`), started.
fn running(
    env: &TestEnv,
    name: &str,
    limits: &[&str],
    vars: &[(&str, &std::ffi::OsStr)],
) -> String {
    env.create_with(name, limits, vars);
    env.ok(&["start", name]);
    env.show(name)["container_id"].as_str().unwrap().to_string()
}

fn top(env: &TestEnv) -> Value {
    serde_json::from_str(&env.ok(&["top", "--json"])).unwrap()
}

fn row<'a>(view: &'a Value, id: &str) -> &'a Value {
    view["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no row {id} in {view}"))
}

/// `docker stats` sizes: `100.9MiB`, `1.2GiB`, `512KiB`, `12B`.
fn docker_size(text: &str) -> f64 {
    let text = text.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap();
    let (n, unit) = text.split_at(split);
    let n: f64 = n.parse().unwrap();
    n * match unit {
        "B" => 1.0,
        "KiB" | "kB" => 1024.0,
        "MiB" | "MB" => MIB as f64,
        "GiB" | "GB" => (1u64 << 30) as f64,
        other => panic!("unit {other}"),
    }
}

/// A CPU loop in a workspace limited to half a core shows about half a core, at its limit, on
/// the first figure (which needs two readings); 100 MiB written to its tmpfs show against its
/// 256 MiB limit; and `docker stats --no-stream` says the same within a tolerance.
#[test]
fn usage_shows_a_cpu_loop_at_its_limit_and_memory_against_its_limit_like_docker_stats() {
    let env = TestEnv::new();
    let id = running(&env, "busy", &["--cpus", "0.5", "--memory", "256m"], &[]);
    docker(&["exec", "-d", &id, "sh", "-c", "while :; do :; done"]);
    docker(&[
        "exec",
        "-d",
        &id,
        "sh",
        "-c",
        "dd if=/dev/zero of=/tmp/fill bs=1M count=100 && exec sleep 100000",
    ]);
    env.eventually("100 MiB are written to the workspace's /tmp", 60, || {
        docker(&["exec", &id, "stat", "-c", "%s", "/tmp/fill"]).trim() == (100 * MIB).to_string()
    });
    // 64 MiB into its home volume: page cache that `docker stats` leaves out, and so must Berth.
    docker(&[
        "exec",
        &id,
        "sh",
        "-c",
        "dd if=/dev/zero of=$HOME/fill bs=1M count=64 2>/dev/null",
    ]);

    let view = top(&env);
    let busy = row(&view, "busy");
    assert_eq!(busy["kind"], "workspace");
    assert_eq!(busy["limits"]["cpus"], 0.5);
    assert_eq!(busy["limits"]["memory_bytes"], 256 * MIB);
    let u = &busy["usage"];
    let cores = u["cpu_cores"].as_f64().unwrap();
    assert!((0.35..=0.6).contains(&cores), "half a core busy: {u}");
    let of_limit = u["cpu_of_limit"].as_f64().unwrap();
    assert!(of_limit >= 70.0, "a loop runs at its limit: {u}");
    let cpus = view["machine"]["cpus"].as_f64().unwrap();
    let of_machine = u["cpu_of_machine"].as_f64().unwrap();
    assert!((of_machine - cores / cpus * 100.0).abs() < 0.01, "{u}");
    let memory = u["memory_bytes"].as_u64().unwrap();
    assert!(
        (100 * MIB..200 * MIB).contains(&memory),
        "the 100 MiB file counts against the container: {u}"
    );
    assert_eq!(u["memory_limit_bytes"], 256 * MIB);
    // tini, docker-init, httpd, the loop, sleep.
    assert!(u["pids"].as_u64().unwrap() >= 4, "{u}");
    assert_eq!(u["pids_limit"], busy["limits"]["pids"]);
    // The health check reaches it over its network.
    assert!(u["rx_bytes"].as_u64().unwrap() > 0, "{u}");
    // Totals against the machine and the running cap.
    assert_eq!(view["totals"]["running"], 1);
    assert_eq!(view["totals"]["max_running"], 8);
    assert!(view["machine"]["memory_bytes"].as_u64().unwrap() > 256 * MIB);

    let said = docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.CPUPerc}}|{{.MemUsage}}",
        &id,
    ]);
    let (cpu, mem) = said.trim().split_once('|').unwrap();
    let docker_cpu: f64 = cpu.trim_end_matches('%').parse().unwrap();
    assert!(
        (docker_cpu - cores * 100.0).abs() < 15.0,
        "docker stats says {docker_cpu}%, Berth {:.1}%",
        cores * 100.0
    );
    let (used, limit) = mem.split_once('/').unwrap();
    assert_eq!(docker_size(limit), (256 * MIB) as f64);
    let docker_mem = docker_size(used);
    assert!(
        (docker_mem - memory as f64).abs() < docker_mem * 0.05 + 2.0 * MIB as f64,
        "docker stats says {used}, Berth {memory} B"
    );

    // `berth df` measures the home volume with the 64 MiB in it.
    let df: Value = serde_json::from_str(&env.ok(&["df", "--json"])).unwrap();
    let home = df["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["owner"] == "busy")
        .unwrap_or_else(|| panic!("no home volume of busy in {df}"));
    assert!(home["size_bytes"].as_u64().unwrap() >= 64 * MIB, "{home}");
}

/// Through a proxy in front of the Docker socket: with two workspaces running and nobody
/// watching, the daemon opens no stats stream (the idle timer's one-shot readings are not
/// streams); two `berth top` share one stream per container; when they end, every stream
/// closes; `berth top --json` closes its streams once it has its view.
#[test]
fn stats_streams_are_open_only_while_someone_watches_and_one_per_container() {
    let env = TestEnv::new();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let socket = env.dir.path().join("docker.sock");
    let requests = runtime.block_on(async { docker_proxy::start(&socket) });
    let host = std::ffi::OsString::from(format!("unix://{}", socket.display()));
    // The first command starts the daemon: it talks to Docker through the proxy.
    let a = running(&env, "watched-a", &[], &[("DOCKER_HOST", &host)]);
    let b = running(&env, "watched-b", &[], &[]);
    assert!(
        requests.count(|l| l.contains("/containers/")) > 0,
        "the daemon does not use the proxy"
    );
    let stream = |l: &str| l.contains("/stats") && !l.contains("stream=false");
    fn stream_of(id: &str) -> impl Fn(&str) -> bool + '_ {
        move |l: &str| l.contains("/stats") && !l.contains("stream=false") && l.contains(id)
    }

    env.stays("no stats stream while nobody watches", 4, || {
        requests.count(stream) == 0
    });

    let watch = || {
        env.cmd()
            .arg("top")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let watched = Instant::now();
    let mut first = watch();
    env.eventually("a stats stream for each running workspace", 20, || {
        requests.open(stream_of(&a)) == 1 && requests.open(stream_of(&b)) == 1
    });
    let mut second = watch();
    env.stays("a second watcher shares the streams", 3, || {
        requests.open(stream) == 2 && requests.count(stream) == 2
    });
    let _ = first.kill();
    let _ = first.wait();
    env.stays("the other watcher keeps them", 2, || {
        requests.open(stream) == 2
    });
    let _ = second.kill();
    let _ = second.wait();
    env.eventually("no stream once nobody watches", 10, || {
        requests.open(stream) == 0
    });
    // Volumes are measured when watching starts and then every 30 s, not every second.
    let measured = requests.count(|l| l.contains("/system/df"));
    let due = 1 + watched.elapsed().as_secs() as usize / 30;
    assert!(
        (1..=due).contains(&measured),
        "{measured} measurements in {:?}",
        watched.elapsed()
    );

    let opened = requests.count(stream);
    let view = top(&env);
    assert_eq!(view["rows"].as_array().unwrap().len(), 2, "{view}");
    assert_eq!(
        requests.count(stream),
        opened + 2,
        "one stream per container"
    );
    env.eventually("the one view's streams close", 10, || {
        requests.open(stream) == 0
    });
    env.stop_daemon();
    drop(runtime);
}

/// Objects that are not this install's leftovers, made by the test, removed at its end.
struct Others(Vec<(&'static str, String)>);

impl Drop for Others {
    fn drop(&mut self) {
        for (what, id) in &self.0 {
            let args: &[&str] = match *what {
                "container" => &["rm", "-f", id],
                "image" => &["rmi", "-f", id],
                _ => &["volume", "rm", "-f", id],
            };
            let _ = std::process::Command::new("docker").args(args).output();
        }
    }
}

/// An image built from `dockerfile` with `labels`, left dangling the way a rebuild leaves
/// the older build: the tag moves to a second build, which is removed again.
fn dangling_image(env: &TestEnv, labels: &[String]) -> String {
    let tag = format!("berth-prune-test:{}", &env.install[..8]);
    let build = |n: u32| {
        let mut args = vec!["build".to_string(), "-q".into()];
        for l in labels {
            args.extend(["--label".into(), l.clone()]);
        }
        args.extend(["-t".into(), tag.clone(), "-".into()]);
        let dockerfile = format!(
            "FROM {IMAGE}\nLABEL dev.berth.test-build=\"{n} {}\"\n",
            rand()
        );
        let mut cmd = std::process::Command::new("docker");
        cmd.args(&args);
        let out = crate::provider::piped(cmd, &dockerfile);
        assert!(out.status.success(), "docker build");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let old = build(1);
    build(2);
    docker(&["rmi", &tag]);
    old
}

/// A preview of workspace `name` running `cmd` (listening on 3000) in the test image.
fn preview_of(env: &TestEnv, name: &str, cmd: &str) -> Value {
    let args = [
        "preview", "create", name, "--image", IMAGE, "--cmd", cmd, "--port", "3000", "--json",
    ];
    serde_json::from_str(&env.ok(&args)).unwrap()
}

fn rand() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn volume(labels: &[String]) -> String {
    let name = format!("berth-prune-test-{}", rand());
    let mut args = vec!["volume".to_string(), "create".into()];
    for l in labels {
        args.extend(["--label".into(), l.clone()]);
    }
    args.push(name.clone());
    docker(&args.iter().map(String::as_str).collect::<Vec<_>>());
    name
}

fn exists(what: &str, id: &str) -> bool {
    std::process::Command::new("docker")
        .args([what, "inspect", id])
        .output()
        .unwrap()
        .status
        .success()
}

/// A dangling build of the bundled `test` image that this install recorded as its own, as
/// `berth image build` does when a later build takes the tag.
fn recorded_build(env: &TestEnv) -> String {
    let id = dangling_image(env, &["dev.berth.bundle=test".into()]);
    env.db()
        .execute(
            "INSERT INTO bundled_builds (image_id, bundle, built_ms) VALUES (?1, 'test', 0)",
            [&id],
        )
        .unwrap();
    id
}

fn leftovers(env: &TestEnv, args: &[&str]) -> (Value, Vec<(String, String)>) {
    let out: Value = serde_json::from_str(&env.ok(args)).unwrap();
    let mut listed: Vec<(String, String)> = out["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().into(),
                l["id"].as_str().unwrap().into(),
            )
        })
        .collect();
    listed.sort();
    (out, listed)
}

/// The leftovers this test makes — an older build of a bundled image this install built, the
/// home volume of a workspace deleted while another container used it, a stopped preview — are
/// exactly what `prune --dry-run` lists and `prune` removes (a clean-up limited to what was
/// shown removes only that). What stays: a build FROM a bundled image that someone else made
/// (same labels), an older build a container still uses, volumes of another install, without
/// labels, or of a workspace this install never deleted (a restored data dir), the home of a
/// live and of a stopped workspace, and a running preview.
#[test]
fn prune_removes_exactly_this_installs_leftovers() {
    let env = TestEnv::new();
    let other = uuid::Uuid::new_v4().to_string();
    let workspace_labels = |install: &str, id: &str| {
        vec![
            "dev.berth.managed=true".to_string(),
            format!("dev.berth.install={install}"),
            "dev.berth.kind=workspace".into(),
            format!("dev.berth.id={id}"),
        ]
    };
    let mut others = Others(Vec::new());

    // Leftovers.
    let old_build = recorded_build(&env);
    others.0.push(("image", old_build.clone()));
    env.create("gone", &env.project("gone"));
    env.ok(&["start", "gone"]);
    let gone_id = env.show("gone")["id"].as_str().unwrap().to_string();
    let gone_home = lines(&docker(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("label=dev.berth.id={gone_id}"),
    ]))
    .pop()
    .expect("its home volume");
    let holder = docker(&["create", "-v", &format!("{gone_home}:/held"), IMAGE])
        .trim()
        .to_string();
    others.0.push(("container", holder.clone()));
    let out = env.berth(&["rm", "gone"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("is kept"),
        "the delete names the volume it kept: {said}"
    );
    docker(&["rm", &holder]);
    let log: Value = serde_json::from_str(&env.ok(&["log", "gone", "--json"])).unwrap();
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "delete"
                && e["outcome"] == "failed"
                && e["detail"].as_str().unwrap().contains("is kept")),
        "the audit log names the kept volume: {log}"
    );
    env.create("site", &env.project("site"));
    let preview = preview_of(&env, "site", "httpd -f -p 3000 -h .");
    let stopped = preview["id"].as_str().unwrap().to_string();
    // The only preview so far.
    let preview_container = lines(&docker(&[
        "ps",
        "-q",
        "--no-trunc",
        "--filter",
        &format!("label=dev.berth.install={}", env.install),
        "--filter",
        "label=dev.berth.kind=preview",
    ]))
    .pop()
    .expect("the preview's container");
    docker(&["stop", &preview_container]);

    // Not leftovers.
    let derived = dangling_image(&env, &["dev.berth.bundle=test".into()]);
    let used = recorded_build(&env);
    let user = docker(&["create", &used]).trim().to_string();
    // Recorded, but someone tagged it since: no longer an older build.
    let retagged = recorded_build(&env);
    let retag = format!("berth-prune-retagged:{}", &env.install[..8]);
    docker(&["tag", &retagged, &retag]);
    let their_home = volume(&workspace_labels(&other, &gone_id));
    let unknown_home = volume(&workspace_labels(
        &env.install,
        &uuid::Uuid::new_v4().to_string(),
    ));
    let plain = volume(&[]);
    others.0.extend([
        ("container", user.clone()),
        ("image", used.clone()),
        ("image", retagged.clone()),
        ("image", derived.clone()),
        ("volume", their_home.clone()),
        ("volume", plain.clone()),
    ]);
    let live = running(&env, "live", &[], &[]);
    let home_of = |name: &str| {
        let id = env.show(name)["id"].as_str().unwrap().to_string();
        lines(&docker(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=dev.berth.id={id}"),
        ]))
        .pop()
        .unwrap_or_else(|| panic!("the home of {name}"))
    };
    let live_home = home_of("live");
    env.ok(&["start", "site"]);
    env.ok(&["stop", "site"]);
    let site_home = home_of("site");
    let site_container = env.show("site")["container_id"]
        .as_str()
        .unwrap()
        .to_string();
    let running_preview = preview_of(&env, "live", "httpd -f -p 3000 -h .");

    let (planned, listed) = leftovers(&env, &["prune", "--dry-run", "--json"]);
    let mut want = vec![
        ("image".to_string(), old_build.clone()),
        ("preview".to_string(), stopped.clone()),
        ("volume".to_string(), gone_home.clone()),
    ];
    want.sort();
    assert_eq!(listed, want, "{planned}");
    assert_eq!(planned["dry_run"], true);
    assert!(exists("image", &old_build), "a dry run removes nothing");
    // The same leftovers (a size may differ: a volume made moments ago may not be measured yet).
    let df: Value = serde_json::from_str(&env.ok(&["df", "--json"])).unwrap();
    let kinds_and_ids = |list: &Value| -> Vec<(Value, Value)> {
        let mut out: Vec<(Value, Value)> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["kind"].clone(), l["id"].clone()))
            .collect();
        out.sort_by_key(|(k, i)| format!("{k}{i}"));
        out
    };
    assert_eq!(
        kinds_and_ids(&df["leftovers"]),
        kinds_and_ids(&planned["removed"]),
        "df shows the same leftovers"
    );
    let said = env.ok(&["prune", "--dry-run"]);
    assert!(said.starts_with("would remove"), "{said}");

    // The app's Clean up passes what it showed: only that goes.
    let only = block_on(async {
        env.client()
            .await
            .prune(false, Some(vec![gone_home.clone()]))
            .await
    })
    .unwrap();
    assert_eq!(only.removed.len(), 1, "{only:?}");
    assert!(!exists("volume", &gone_home));
    assert!(exists("image", &old_build));

    let said = env.ok(&["prune"]);
    assert!(said.starts_with("removed"), "{said}");
    assert!(!exists("image", &old_build));
    assert!(!exists("container", &preview_container));
    let previews: Value = serde_json::from_str(&env.ok(&["preview", "ls", "--json"])).unwrap();
    assert_eq!(previews.as_array().unwrap().len(), 1, "{previews}");
    assert_eq!(previews[0]["id"], running_preview["id"]);
    for (what, id) in [
        ("image", &used),
        ("image", &retagged),
        ("image", &derived),
        ("volume", &their_home),
        ("volume", &unknown_home),
        ("volume", &plain),
        ("volume", &live_home),
        ("volume", &site_home),
        ("container", &live),
        ("container", &site_container),
    ] {
        assert!(exists(what, id), "{what} {id} must stay");
    }
    let (after, listed) = leftovers(&env, &["prune", "--dry-run", "--json"]);
    assert_eq!(
        listed,
        Vec::<(String, String)>::new(),
        "nothing is left over: {after}"
    );
    env.audit_entry("site", "preview-delete");
}

/// A preview whose app ignores SIGTERM is killed after the short wait and gone, audited as
/// forced (the Resources screen's Force stop on a preview row).
#[test]
fn a_force_stopped_preview_is_killed_after_the_short_wait_and_removed() {
    let env = TestEnv::new();
    env.create("stubborn-app", &env.project("stubborn-app"));
    let preview = preview_of(
        &env,
        "stubborn-app",
        "trap '' TERM; exec httpd -f -p 3000 -h .",
    );
    let id = preview["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    block_on(async { env.client().await.force_stop_preview(&id).await }).unwrap();
    let took = started.elapsed();
    let grace = Duration::from_secs(berth::engine::FORCE_GRACE_SECS as u64);
    assert!(took >= grace, "killed before the wait: {took:?}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    let previews: Value = serde_json::from_str(&env.ok(&["preview", "ls", "--json"])).unwrap();
    assert_eq!(previews, Value::Array(vec![]));
    let forced = env.audit_entry("stubborn-app", "force-stop");
    assert!(
        forced["detail"].as_str().unwrap().contains("forced"),
        "{forced}"
    );
}
