use crate::env::{TestEnv, docker};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A `berth events --json` follower: its lines arrive on a channel.
pub fn follow(env: &TestEnv) -> (Child, mpsc::Receiver<Value>) {
    let mut child = env
        .cmd()
        .args(["events", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                return;
            }
        }
    });
    (child, rx)
}

/// What a follower saw of `name`, until it saw `name` removed: status changes and removal.
fn changes_until_removed(rx: &mpsc::Receiver<Value>, name: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let e = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no `removed` within 30 s; saw {seen:?}"));
        if e["name"] != name {
            continue;
        }
        match e["kind"].as_str().unwrap() {
            "status" => seen.push(e["status"].as_str().unwrap().to_string()),
            "removed" => {
                seen.push("removed".into());
                return seen;
            }
            _ => {}
        }
    }
}

/// Changes made by the CLI and outside Berth (`docker stop`) reach every follower, in order.
#[test]
fn two_followers_see_every_change_from_the_cli_and_from_outside() {
    let env = TestEnv::new();
    env.create("watched", &env.project("watched"));
    let (mut a, rx_a) = follow(&env);
    let (mut b, rx_b) = follow(&env);
    // Both are subscribed once the daemon counts them; no sleep.
    env.eventually("two event followers", 10, || {
        let s: Value = serde_json::from_str(&env.ok(&["daemon", "status", "--json"])).unwrap();
        s["event_followers"] == 2
    });

    env.ok(&["start", "watched"]);
    let container = env.show("watched")["container_name"]
        .as_str()
        .unwrap()
        .to_string();
    docker(&["stop", &container]);
    env.eventually("the outside stop", 10, || {
        env.show("watched")["status"] == "stopped"
    });
    env.ok(&["start", "watched"]);
    env.ok(&["stop", "watched"]);
    env.ok(&["rm", "watched"]);

    let want = [
        "starting", "running", "stopped", "starting", "running", "stopping", "stopped", "removed",
    ];
    assert_eq!(changes_until_removed(&rx_a, "watched"), want);
    assert_eq!(changes_until_removed(&rx_b, "watched"), want);
    assert!(
        env.ok(&["log", "watched"])
            .contains("changed outside Berth: running → stopped"),
        "the outside stop is in the audit log"
    );
    for child in [&mut a, &mut b] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
