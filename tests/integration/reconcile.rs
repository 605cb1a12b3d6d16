use crate::env::{IMAGE, TestEnv, docker, inspect};

/// A container labelled as Berth's but belonging to another install (another data dir) is
/// never stopped, adopted or removed.
#[test]
fn another_installs_container_is_never_touched() {
    let env = TestEnv::new();
    let other_install = uuid::Uuid::new_v4().to_string();
    let ghost_id = uuid::Uuid::new_v4().to_string();
    let name = format!("ghost-{}", &ghost_id[..8]);
    let foreign = docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        "dev.berth.managed=true",
        "--label",
        &format!("dev.berth.install={other_install}"),
        "--label",
        "dev.berth.kind=workspace",
        "--label",
        &format!("dev.berth.id={ghost_id}"),
        "--label",
        "dev.berth.name=ghost",
        IMAGE,
    ])
    .trim()
    .to_string();
    // And one with no labels at all, on a name Berth would like.
    let plain = docker(&["run", "-d", IMAGE]).trim().to_string();

    env.create("mine", &env.project("mine"));
    env.ok(&["start", "mine"]);
    env.ok(&["ls"]);
    env.ok(&["stop", "mine"]);
    env.ok(&["rm", "mine"]);

    for c in [&foreign, &plain] {
        let state = inspect(c);
        assert_eq!(state["State"]["Running"], true, "{c} was stopped");
        assert_eq!(state["Id"].as_str(), Some(c.as_str()));
    }
    assert!(
        env.ok(&["ls", "--json"]).trim() == "[]",
        "the foreign one was not adopted"
    );
    docker(&["rm", "-f", &foreign, &plain]);
}

/// A container with this install's labels that Berth never recorded (made by hand, or left
/// by a copy) is never Berth's to remove: it survives `ls` and a daemon restart's reconcile.
#[test]
fn a_container_berth_never_recorded_is_left_alone() {
    let env = TestEnv::new();
    let stranger_id = uuid::Uuid::new_v4().to_string();
    let stranger = docker(&[
        "create",
        "--label",
        "dev.berth.managed=true",
        "--label",
        &format!("dev.berth.install={}", env.install),
        "--label",
        "dev.berth.kind=workspace",
        "--label",
        &format!("dev.berth.id={stranger_id}"),
        "--label",
        "dev.berth.name=stranger",
        IMAGE,
    ])
    .trim()
    .to_string();
    env.ok(&["ls"]);
    env.stop_daemon();
    env.ok(&["ls"]);
    assert_eq!(env.containers(None), vec![stranger.clone()]);
    docker(&["rm", "-f", &stranger]);
}

/// The user commits a workspace's container and runs the copy: it carries every label of the
/// original. Berth never adopts it, never removes it, never counts it — through `ls`, a start,
/// a stop, a daemon restart and the workspace's own `rm`.
#[test]
fn a_docker_commit_copy_of_a_workspace_survives_everything_berth_does() {
    let env = TestEnv::new();
    env.create("orig", &env.project("orig"));
    env.ok(&["start", "orig"]);
    let ws = env.show("orig");
    let id = ws["id"].as_str().unwrap().to_string();
    let tag = format!("berth-copy:{}", &env.install[..8]);
    docker(&["commit", ws["container_name"].as_str().unwrap(), &tag]);
    let copy = docker(&["run", "-d", &tag]).trim().to_string();
    assert_eq!(
        inspect(&copy)["Config"]["Labels"]["dev.berth.id"].as_str(),
        Some(id.as_str()),
        "the copy carries the workspace's labels"
    );

    env.ok(&["ls"]);
    env.ok(&["stop", "orig"]);
    env.stop_daemon();
    assert_eq!(
        env.show("orig")["status"],
        "stopped",
        "the copy was not adopted"
    );
    env.ok(&["start", "orig"]);
    assert_eq!(env.show("orig")["container_id"], ws["container_id"]);
    env.ok(&["rm", "orig"]);

    let state = inspect(&copy);
    assert_eq!(state["State"]["Running"], true, "the copy was stopped");
    assert_eq!(env.containers(Some(&id)), vec![copy.clone()]);
    docker(&["rm", "-f", &copy]);
    docker(&["rmi", &tag]);
}

/// A foreign container on a workspace's network keeps the network from being removed: `rm`
/// still deletes the workspace and says so, every later reconcile records the failure and
/// goes on, and `ls` keeps working. Once the network is free, reconcile removes it.
#[test]
fn a_network_that_cannot_be_removed_never_blocks_berth() {
    let env = TestEnv::new();
    env.create("netted", &env.project("netted"));
    let network = env.show("netted")["network_name"]
        .as_str()
        .unwrap()
        .to_string();
    let squatter = docker(&["run", "-d", "--network", &network, IMAGE])
        .trim()
        .to_string();
    let out = env.berth(&["rm", "netted"]);
    assert!(out.status.success());
    let notes = String::from_utf8_lossy(&out.stderr);
    assert!(
        notes.contains(&format!("network {network} is still there")),
        "{notes}"
    );

    env.stop_daemon();
    env.ok(&["ls"]);
    let log = env.ok(&["log", "netted"]);
    assert!(
        log.contains(&format!("could not remove orphan network {network}")),
        "{log}"
    );
    assert_eq!(env.networks().len(), 1);

    docker(&["rm", "-f", &squatter]);
    env.stop_daemon();
    env.ok(&["ls"]);
    assert!(
        env.networks().is_empty(),
        "reconcile removed the freed network"
    );
    assert!(
        env.ok(&["log", "netted"])
            .contains(&format!("removed orphan network {network}"))
    );
}

/// `docker stop` outside Berth: the next command shows it stopped and audits the change.
#[test]
fn a_stop_outside_berth_is_reconciled() {
    let env = TestEnv::new();
    env.create("outside", &env.project("outside"));
    env.ok(&["start", "outside"]);
    let name = env.show("outside")["container_name"]
        .as_str()
        .unwrap()
        .to_string();
    docker(&["stop", &name]);
    env.eventually("stopped", 10, || env.show("outside")["status"] == "stopped");
    assert!(
        env.ok(&["log", "outside"])
            .contains("changed outside Berth: running → stopped")
    );
    env.ok(&["rm", "outside"]);
}
