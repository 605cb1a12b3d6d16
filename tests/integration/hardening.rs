use crate::env::{TestEnv, inspect};

#[test]
fn container_is_hardened_as_designed() {
    let env = TestEnv::new();
    let spaced = env.project("my project: v1, final");
    let other = env.project("second");
    env.ok(&[
        "create",
        "hard",
        "--image",
        crate::env::IMAGE,
        "--project",
        spaced.to_str().unwrap(),
        "--project",
        other.to_str().unwrap(),
        "--cpus",
        "0.5",
        "--memory",
        "96m",
        "--pids",
        "128",
    ]);
    env.ok(&["start", "hard"]);
    let ws = env.show("hard");
    let c = inspect(ws["container_name"].as_str().unwrap());
    let hc = &c["HostConfig"];

    assert_eq!(hc["CapDrop"], serde_json::json!(["ALL"]));
    assert!(hc["CapAdd"].is_null());
    assert_eq!(hc["Privileged"], false);
    let secopt = hc["SecurityOpt"].as_array().unwrap();
    assert!(
        secopt
            .iter()
            .any(|s| s.as_str().unwrap().starts_with("no-new-privileges"))
    );
    assert_eq!(hc["Init"], true);
    assert_eq!(hc["Memory"], 96 * 1024 * 1024);
    assert_eq!(hc["NanoCpus"], 500_000_000);
    assert_eq!(hc["PidsLimit"], 128);
    assert_eq!(hc["LogConfig"]["Type"], "json-file");
    assert_eq!(hc["LogConfig"]["Config"]["max-size"], "10m");
    assert_eq!(hc["NetworkMode"], ws["container_name"], "own network");

    // Nothing published: the gateway on the workspace's port forwards to the container's
    // own address (CIS 5.9 has nothing to report).
    assert!(
        hc["PortBindings"].as_object().is_none_or(|m| m.is_empty()),
        "{}",
        hc["PortBindings"]
    );
    assert!(
        c["NetworkSettings"]["Ports"]
            .as_object()
            .is_none_or(|m| m.values().all(|v| v.is_null())),
        "{}",
        c["NetworkSettings"]["Ports"]
    );
    // Read-only root, writable tmpfs (CIS 5.13), and Docker's health check from the image's
    // health path with the tool it names (CIS 5.27).
    assert_eq!(hc["ReadonlyRootfs"], true);
    assert!(hc["Tmpfs"]["/tmp"].as_str().unwrap().contains("nosuid"));
    assert!(hc["Tmpfs"]["/run"].is_string());
    assert_eq!(
        c["Config"]["Healthcheck"]["Test"],
        serde_json::json!([
            "CMD",
            "wget",
            "-q",
            "-O",
            "/dev/null",
            "http://127.0.0.1:8080/healthz"
        ])
    );
    let name = ws["container_name"].as_str().unwrap();
    let touch = std::process::Command::new("docker")
        .args(["exec", name, "touch", "/bin/planted"])
        .output()
        .unwrap();
    assert!(
        !touch.status.success(),
        "the image's programs cannot be changed"
    );
    crate::env::docker(&["exec", name, "touch", "/tmp/scratch"]);
    env.eventually("healthy", 120, || {
        inspect(name)["State"]["Health"]["Status"] == "healthy"
    });

    let labels = &c["Config"]["Labels"];
    assert_eq!(labels["dev.berth.managed"], "true");
    assert_eq!(labels["dev.berth.install"], env.install.as_str());
    assert_eq!(labels["dev.berth.kind"], "workspace");
    assert_eq!(labels["dev.berth.id"], ws["id"]);
    assert_eq!(labels["dev.berth.name"], "hard");

    // Two projects, the generated multi-root .code-workspace (a file in the data dir), the
    // workspace's own activity folder (the idle stop's input reports and keep-alives) and the
    // home volume.
    let all_mounts = c["Mounts"].as_array().unwrap();
    assert_eq!(all_mounts.len(), 5);
    let home: Vec<_> = all_mounts
        .iter()
        .filter(|m| m["Type"] == "volume")
        .collect();
    assert_eq!(home.len(), 1);
    assert_eq!(home[0]["Destination"], "/home/berth");
    let mounts: Vec<_> = all_mounts
        .iter()
        .filter(|m| m["Type"] != "volume")
        .collect();
    let code_workspace = mounts
        .iter()
        .find(|m| m["Destination"] == "/workspace/hard.code-workspace")
        .expect("the .code-workspace is mounted");
    let source = code_workspace["Source"].as_str().unwrap();
    assert!(
        source.starts_with(env.data_dir().to_str().unwrap()),
        "{source}"
    );
    for m in &mounts {
        let src = m["Source"].as_str().unwrap();
        assert!(!src.contains("docker.sock"), "{src}");
        assert_eq!(m["Type"], "bind");
    }
    let targets: Vec<&str> = mounts
        .iter()
        .map(|m| m["Destination"].as_str().unwrap())
        .collect();
    assert!(
        targets.contains(&"/workspace/my project: v1, final"),
        "{targets:?}"
    );
    assert!(targets.contains(&"/workspace/second"));
    let activity = mounts
        .iter()
        .find(|m| m["Destination"] == "/run/berth-activity")
        .expect("the activity folder is mounted");
    assert_eq!(
        activity["Source"].as_str().unwrap(),
        env.data_dir()
            .join("activity")
            .join(ws["id"].as_str().unwrap())
            .to_str()
            .unwrap()
    );
    let listing = crate::env::docker(&[
        "exec",
        ws["container_name"].as_str().unwrap(),
        "ls",
        "/workspace/my project: v1, final",
    ]);
    assert_eq!(listing.trim(), "README.md", "the project is visible inside");
    // The network is labelled too.
    assert_eq!(env.networks().len(), 1);
    env.ok(&["rm", "hard"]);
}
