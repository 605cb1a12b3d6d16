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

/// A container of this install that no workspace owns (a delete that died halfway) is
/// removed by reconcile, and the removal is audited.
#[test]
fn an_orphan_of_this_install_is_removed() {
    let env = TestEnv::new();
    let orphan_id = uuid::Uuid::new_v4().to_string();
    docker(&[
        "create",
        "--label",
        "dev.berth.managed=true",
        "--label",
        &format!("dev.berth.install={}", env.install),
        "--label",
        "dev.berth.kind=workspace",
        "--label",
        &format!("dev.berth.id={orphan_id}"),
        "--label",
        "dev.berth.name=orphan",
        IMAGE,
    ]);
    assert_eq!(env.containers(None).len(), 1);
    env.ok(&["ls"]);
    assert!(env.containers(None).is_empty());
    assert!(
        env.ok(&["log", "orphan"])
            .contains("removed orphan container")
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
    assert_eq!(env.show("outside")["status"], "stopped");
    assert!(
        env.ok(&["log", "outside"])
            .contains("changed outside Berth: running → stopped")
    );
    env.ok(&["rm", "outside"]);
}
