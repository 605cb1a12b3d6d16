//! Reconcile with many workspaces, counted at the Docker API; and how fast an outside
//! `docker stop` becomes a status change in the engine.

use crate::fixture::{Fixture, docker, timed};
use crate::proxy;
use crate::stats::{Report, summary};
use berth::client::ClientEvent;
use berth::docker::{Client, RunAs, container_events, plan_container};
use berth::engine::EngineEvent;
use berth::model::{
    IdeEndpoint, ImageRef, LimitOverrides, Limits, Status, Workspace, WorkspaceId, WorkspaceName,
};
use berth::store::Store;
use futures_util::StreamExt;
use std::time::Instant;

/// `count` workspaces in the database, each with its container (most stopped, 5 running).
/// Containers go on the default bridge: a daemon's default address pools hold only ~30
/// user networks, fewer than the 200 workspaces measured here (see README: Performance).
pub async fn seed(fx: &Fixture, count: usize, running: usize) -> Vec<Workspace> {
    let client = Client::connect().await.unwrap();
    let mut store = Store::open(&fx.data()).unwrap();
    let install = uuid::Uuid::parse_str(&fx.install).unwrap();
    let limits = Limits {
        cpus: 1.0,
        memory_bytes: 128 << 20,
        pids: 256,
    };
    let mut out = Vec::new();
    for i in 0..count {
        let ws = Workspace {
            id: WorkspaceId::new(),
            name: WorkspaceName::parse(&format!("ws{i:03}")).unwrap(),
            description: String::new(),
            image: ImageRef::parse(crate::fixture::TEST_IMAGE).unwrap(),
            projects: vec![],
            limits: LimitOverrides::default(),
            idle_timeout_secs: None,
            keys: Vec::new(),
            ide: IdeEndpoint::default(),
            port: None,
            container_id: None,
            status: Status::Stopped,
            created_at: 0,
            updated_at: 0,
        };
        let ws = store
            .insert_workspace(&ws, |_| Ok(23000 + i as u16))
            .unwrap();
        let mut plan = plan_container(&ws, &limits, install, &RunAs::default(), false);
        if let Some(hc) = plan.body.host_config.as_mut() {
            hc.network_mode = Some("bridge".into());
        }
        let id = client.create_container(plan).await.unwrap();
        let status = if i < running {
            client.start_container(&id).await.unwrap();
            Status::Running
        } else {
            Status::Stopped
        };
        store.set_container(ws.id, Some(&id), status).unwrap();
        out.push(ws);
    }
    out
}

pub async fn run(report: &mut Report, count: usize) {
    let fx = Fixture::new();
    let started = Instant::now();
    seed(&fx, count, 5).await;
    eprintln!(
        "   seeded {count} workspaces in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let sock = fx.dir.path().join("docker-proxy.sock");
    let requests = proxy::start(&sock);
    // SAFETY: set before any engine reads it; nothing else in this process reads the
    // environment concurrently at this point.
    unsafe { std::env::set_var("DOCKER_HOST", format!("unix://{}", sock.display())) };
    let (mut berth_ms, mut base_ms, mut calls, mut lists) = (vec![], vec![], vec![], vec![]);
    for round in 0..=5 {
        requests.take();
        // A fresh engine, as every CLI run has: connect, reconcile, read the list.
        let engine = fx.engine();
        let t = Instant::now();
        let listed = engine.list().await.unwrap();
        let b = t.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(listed.len(), count);
        let seen = requests.take();
        let d = timed(|| {
            docker(&[
                "ps",
                "-aq",
                "--filter",
                &format!("label=dev.berth.install={}", fx.install),
            ]);
        });
        if round > 0 {
            berth_ms.push(b);
            base_ms.push(d);
            lists.push(
                seen.iter()
                    .filter(|r| r.contains("/containers/json") || r.contains("/networks"))
                    .count() as f64,
            );
            calls.push(seen.len() as f64);
            if round == 1 {
                eprintln!("   API requests of one reconcile: {seen:?}");
            }
        }
    }
    unsafe { std::env::remove_var("DOCKER_HOST") };
    let (bm, blo, bhi) = summary(&berth_ms);
    let (dm, dlo, dhi) = summary(&base_ms);
    let (lm, _, _) = summary(&lists);
    let (cm, _, _) = summary(&calls);
    report.single(
        &format!("reconcile, {count} workspaces"),
        format!("{bm:.0} ms ({blo:.0}–{bhi:.0}); {lm:.0} list calls, {cm:.0} requests in all"),
        format!("`docker ps -a --filter`: {dm:.0} ms ({dlo:.0}–{dhi:.0})"),
        format!("{bm:.0} ms, {lm:.0} list calls"),
        "≤ 300 ms, ≤ 2 list calls",
        bm <= 300.0 && lm <= 2.0,
    );
}

/// `docker stop` outside Berth → the status event at a client of the daemon (what the app
/// and `berth events` receive), measured against Docker's own `die` event on a raw events
/// stream in the same process.
pub async fn events(report: &mut Report, rounds: usize) {
    let fx = Fixture::new();
    let project = fx.project("ev");
    fx.berth(&[
        "create",
        "ev",
        "--image",
        crate::fixture::TEST_IMAGE,
        "--project",
        project.to_str().unwrap(),
        "--memory",
        "256m",
    ]);
    let client = fx.client().await;
    // Both streams are read by their own task and stamped the moment an event arrives.
    let (client_tx, mut client_seen) = tokio::sync::mpsc::unbounded_channel();
    let mut status = Box::pin(client.events().await.unwrap());
    tokio::spawn(async move {
        while let Some(Ok(ev)) = status.next().await {
            if let ClientEvent::Engine(EngineEvent::Status {
                status: Status::Stopped,
                ..
            }) = ev
            {
                let _ = client_tx.send(Instant::now());
            }
        }
    });
    let (raw_tx, mut raw_seen) = tokio::sync::mpsc::unbounded_channel();
    let install = uuid::Uuid::parse_str(&fx.install).unwrap();
    let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let docker = Client::connect().await.unwrap();
        let mut raw = Box::pin(container_events(&docker, install, 0.0));
        let _ = subscribed_tx.send(());
        while let Some(Ok(e)) = raw.next().await {
            if e.action == "die" {
                let _ = raw_tx.send(Instant::now());
            }
        }
    });
    subscribed.await.unwrap();
    let mut lat = Vec::new();
    for round in 0..=rounds {
        let started = client.start("ev").await.unwrap();
        let container = started.workspace.container_name.clone();
        while client_seen.try_recv().is_ok() {}
        while raw_seen.try_recv().is_ok() {}
        tokio::task::spawn_blocking(move || docker(&["stop", &container]))
            .await
            .unwrap();
        let die = raw_seen.recv().await.unwrap();
        let seen = client_seen.recv().await.unwrap();
        if round > 0 {
            lat.push(seen.saturating_duration_since(die).as_secs_f64() * 1000.0);
        }
    }
    let (m, lo, hi) = summary(&lat);
    report.single(
        "event → status at a client (outside `docker stop`)",
        format!("{m:.1} ms after Docker's `die` ({lo:.1}–{hi:.1})"),
        "Docker's own `die` event: 0".into(),
        format!("{m:.1} ms"),
        "≤ 200 ms",
        m <= 200.0,
    );
}
