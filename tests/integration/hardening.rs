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

    let bindings = hc["PortBindings"]["8080/tcp"].as_array().unwrap();
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0]["HostIp"], "127.0.0.1");
    let port: u16 = bindings[0]["HostPort"].as_str().unwrap().parse().unwrap();
    assert!(env.range.contains(port));
    // What Docker actually bound, not just what was asked.
    let live = &c["NetworkSettings"]["Ports"]["8080/tcp"][0];
    assert_eq!(live["HostIp"], "127.0.0.1");

    let labels = &c["Config"]["Labels"];
    assert_eq!(labels["dev.berth.managed"], "true");
    assert_eq!(labels["dev.berth.install"], env.install.as_str());
    assert_eq!(labels["dev.berth.kind"], "workspace");
    assert_eq!(labels["dev.berth.id"], ws["id"]);
    assert_eq!(labels["dev.berth.name"], "hard");

    // Two projects and the generated multi-root .code-workspace (a file in the data dir).
    let mounts = c["Mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 3);
    let code_workspace = mounts
        .iter()
        .find(|m| m["Destination"] == "/workspace/hard.code-workspace")
        .expect("the .code-workspace is mounted");
    let source = code_workspace["Source"].as_str().unwrap();
    assert!(
        source.starts_with(env.data_dir().to_str().unwrap()),
        "{source}"
    );
    for m in mounts {
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
