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
    let project = env.project(name);
    let mut args = vec![
        "create",
        name,
        "--image",
        IMAGE,
        "--project",
        project.to_str().unwrap(),
    ];
    args.extend_from_slice(limits);
    env.ok_with(&args, vars);
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
    assert!(u["rx_bytes"].as_u64().is_some(), "{u}");
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
    // Volumes are measured when watching starts, not every second.
    assert_eq!(requests.count(|l| l.contains("/system/df")), 1);

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
        let mut child = std::process::Command::new("docker")
            .args(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(dockerfile.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "docker build");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let old = build(1);
    build(2);
    docker(&["rmi", &tag]);
    old
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

/// The leftovers this test makes (an older build of a bundled image this install built, the
/// home volume of a workspace that is gone, a stopped preview) are exactly what `prune
/// --dry-run` lists and what `prune` removes; the same kinds of object of another install,
/// without labels, or still in use stay.
#[test]
fn prune_removes_exactly_this_installs_leftovers() {
    let env = TestEnv::new();
    let other = uuid::Uuid::new_v4().to_string();
    let ours = |extra: &[String]| {
        let mut l = vec![
            "dev.berth.managed=true".to_string(),
            format!("dev.berth.install={}", env.install),
        ];
        l.extend_from_slice(extra);
        l
    };
    let mut others = Others(Vec::new());

    // Leftovers.
    let old_build = dangling_image(
        &env,
        &[
            "dev.berth.bundle=test".into(),
            format!("dev.berth.built-by={}", env.install),
        ],
    );
    others.0.push(("image", old_build.clone()));
    let gone_home = volume(&ours(&[
        "dev.berth.kind=workspace".into(),
        format!("dev.berth.id={}", uuid::Uuid::new_v4()),
    ]));
    env.create("site", &env.project("site"));
    let preview: Value = serde_json::from_str(&env.ok(&[
        "preview",
        "create",
        "site",
        "--image",
        IMAGE,
        "--cmd",
        "httpd -f -p 3000 -h .",
        "--port",
        "3000",
        "--json",
    ]))
    .unwrap();
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
    let theirs = dangling_image(
        &env,
        &[
            "dev.berth.bundle=test".into(),
            format!("dev.berth.built-by={other}"),
        ],
    );
    let unlabelled = dangling_image(&env, &["dev.berth.bundle=test".into()]);
    // An older build of ours that a container (not Berth's) still uses.
    let used = dangling_image(
        &env,
        &[
            "dev.berth.bundle=test".into(),
            format!("dev.berth.built-by={}", env.install),
        ],
    );
    let user = docker(&["create", &used]).trim().to_string();
    let their_home = volume(&[
        "dev.berth.managed=true".into(),
        format!("dev.berth.install={other}"),
        format!("dev.berth.id={}", uuid::Uuid::new_v4()),
    ]);
    let plain = volume(&[]);
    others.0.extend([
        ("container", user.clone()),
        ("image", used.clone()),
        ("image", theirs.clone()),
        ("image", unlabelled.clone()),
        ("volume", their_home.clone()),
        ("volume", plain.clone()),
    ]);
    let live = running(&env, "live", &[], &[]);
    let live_home = env
        .volumes()
        .into_iter()
        .find(|v| v.starts_with("berth-home-"))
        .unwrap();
    let running_preview: Value = serde_json::from_str(&env.ok(&[
        "preview",
        "create",
        "live",
        "--image",
        IMAGE,
        "--cmd",
        "httpd -f -p 3000 -h .",
        "--port",
        "3000",
        "--json",
    ]))
    .unwrap();

    let planned: Value = serde_json::from_str(&env.ok(&["prune", "--dry-run", "--json"])).unwrap();
    let mut listed: Vec<(String, String)> = planned["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_string(),
                l["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    listed.sort();
    let mut want = vec![
        ("image".to_string(), old_build.clone()),
        ("preview".to_string(), stopped.clone()),
        ("volume".to_string(), gone_home.clone()),
    ];
    want.sort();
    assert_eq!(listed, want, "{planned}");
    assert_eq!(planned["dry_run"], true);
    assert!(exists("image", &old_build), "a dry run removes nothing");
    let df: Value = serde_json::from_str(&env.ok(&["df", "--json"])).unwrap();
    assert_eq!(
        df["leftovers"], planned["removed"],
        "df shows the same leftovers"
    );
    let said = env.ok(&["prune", "--dry-run"]);
    assert!(said.starts_with("would remove"), "{said}");

    let said = env.ok(&["prune"]);
    assert!(said.starts_with("removed"), "{said}");
    assert!(!exists("image", &old_build));
    assert!(!exists("volume", &gone_home));
    assert!(!exists("container", &preview_container));
    let previews: Value = serde_json::from_str(&env.ok(&["preview", "ls", "--json"])).unwrap();
    assert_eq!(previews.as_array().unwrap().len(), 1, "{previews}");
    assert_eq!(previews[0]["id"], running_preview["id"]);
    let stopped_workspace = env.show("site")["container_id"]
        .as_str()
        .unwrap()
        .to_string();
    for (what, id) in [
        ("image", &used),
        ("container", &stopped_workspace),
        ("image", &theirs),
        ("image", &unlabelled),
        ("volume", &their_home),
        ("volume", &plain),
        ("volume", &live_home),
        ("container", &live),
    ] {
        assert!(exists(what, id), "{what} {id} must stay");
    }
    let after: Value = serde_json::from_str(&env.ok(&["prune", "--dry-run", "--json"])).unwrap();
    assert_eq!(
        after["removed"],
        Value::Array(vec![]),
        "nothing is left over"
    );
    let log: Value = serde_json::from_str(&env.ok(&["log", "site", "--json"])).unwrap();
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "preview-delete"),
        "{log}"
    );
}

/// A preview whose app ignores SIGTERM is killed after the short wait and gone, audited as
/// forced (the Resources screen's Force stop on a preview row).
#[test]
fn a_force_stopped_preview_is_killed_after_the_short_wait_and_removed() {
    let env = TestEnv::new();
    env.create("stubborn-app", &env.project("stubborn-app"));
    let preview: Value = serde_json::from_str(&env.ok(&[
        "preview",
        "create",
        "stubborn-app",
        "--image",
        IMAGE,
        "--cmd",
        "trap '' TERM; exec httpd -f -p 3000 -h .",
        "--port",
        "3000",
        "--json",
    ]))
    .unwrap();
    let id = preview["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    block_on(async { env.client().await.force_stop_preview(&id).await }).unwrap();
    let took = started.elapsed();
    let grace = Duration::from_secs(berth::engine::FORCE_GRACE_SECS as u64);
    assert!(took >= grace, "killed before the wait: {took:?}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    let previews: Value = serde_json::from_str(&env.ok(&["preview", "ls", "--json"])).unwrap();
    assert_eq!(previews, Value::Array(vec![]));
    let log: Value = serde_json::from_str(&env.ok(&["log", "stubborn-app", "--json"])).unwrap();
    let forced = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "force-stop")
        .unwrap_or_else(|| panic!("no force-stop in {log}"));
    assert!(
        forced["detail"].as_str().unwrap().contains("forced"),
        "{forced}"
    );
}
