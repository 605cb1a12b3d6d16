use crate::env::{TestEnv, docker};
use berth::engine::EngineEvent;
use berth::model::Status;
use std::sync::Arc;
use std::time::Duration;

/// A `docker stop` outside Berth reaches engine listeners through the events stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_docker_stop_outside_berth_is_announced() {
    let env = TestEnv::new();
    env.create("watched", &env.project("watched"));
    env.ok(&["start", "watched"]);
    let name = env.show("watched")["container_name"]
        .as_str()
        .unwrap()
        .to_string();

    let engine = Arc::new(env.engine());
    let mut events = engine.subscribe();
    engine.reconcile().await.unwrap();
    let _watcher = engine.watch();
    // Give the events stream a moment to be subscribed at the engine before acting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::task::spawn_blocking(move || docker(&["stop", &name]))
        .await
        .unwrap();

    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let EngineEvent::Status { name, status, .. } = events.recv().await.unwrap()
                && name == "watched"
                && status == Status::Stopped
            {
                return status;
            }
        }
    })
    .await
    .expect("no stopped event within 10 s");
    assert_eq!(seen, Status::Stopped);
    let ws = engine.show("watched").await.unwrap();
    assert_eq!(ws.status, Status::Stopped);
    env.ok(&["rm", "watched"]);
}
