use crate::env::{TestEnv, inspect};
use berth::model::Status;
use berth::store::Store;
use std::process::{Child, Stdio};

/// 50 `start`/`stop` processes at once on one workspace: the per-workspace lock serialises
/// them, so there is never a second container and the database ends equal to Docker.
#[test]
fn fifty_interleaved_starts_and_stops_from_parallel_processes() {
    let env = TestEnv::new();
    env.create("busy", &env.project("busy"));
    let id = env.show("busy")["id"].as_str().unwrap().to_string();

    let children: Vec<(usize, Child)> = (0..50)
        .map(|i| {
            let verb = if i % 2 == 0 { "start" } else { "stop" };
            let child = env
                .cmd()
                .args([verb, "busy"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (i, child)
        })
        .collect();
    for (i, child) in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "call {i} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let containers = env.containers(Some(&id));
    assert_eq!(containers.len(), 1, "exactly one container: {containers:?}");
    let running = inspect(&containers[0])["State"]["Running"]
        .as_bool()
        .unwrap();
    // Read the database directly: `berth show` would reconcile first and hide a mismatch.
    let store = Store::open(&env.data_dir()).unwrap();
    let ws = store.workspace_by_name("busy").unwrap().unwrap();
    let expected = if running {
        Status::Running
    } else {
        Status::Stopped
    };
    assert_eq!(ws.status, expected);
    assert_eq!(ws.container_id.as_deref(), Some(containers[0].as_str()));
    env.ok(&["rm", "busy"]);
}
