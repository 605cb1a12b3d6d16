//! What the daemon costs: a CLI command through it against the engine run in the command's
//! own process (the CLI before the daemon), how fast a CLI action reaches another client, and
//! the daemon at rest with 20 running workspaces.

use crate::fixture::{Fixture, path_str, timed};
use crate::stats::{Report, summary};
use berth::client::ClientEvent;
use berth::engine::{Engine, EngineEvent};
use berth::model::Status;
use futures_util::StreamExt;
use std::process::Command;
use std::time::{Duration, Instant};

/// Set on a re-exec of this bench binary: list the workspaces of this data dir with the engine
/// in-process — connect to Docker, reconcile, read — exactly what `berth ls` did before the
/// daemon, then print them as `berth ls --json` does.
pub const DIRECT_LS: &str = "BERTH_BENCH_DIRECT_LS";

pub fn direct_ls(data_dir: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = Engine::open(std::path::Path::new(data_dir)).unwrap();
    let list: Vec<berth::model::WorkspaceView> = runtime
        .block_on(engine.list())
        .unwrap()
        .into_iter()
        .map(Into::into)
        .collect();
    println!("{}", serde_json::to_string_pretty(&list).unwrap());
}

/// `berth ls --json` with `count` workspaces through a warm daemon, against the same listing
/// by the engine inside the command's process.
pub async fn cli(report: &mut Report, count: usize, rounds: usize) {
    let fx = Fixture::new();
    crate::reconcile::seed(&fx, count, 0).await;
    let me = std::env::current_exe().unwrap();
    let direct = || {
        let out = Command::new(&me)
            .env(DIRECT_LS, fx.data())
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout.len()
    };
    let via_daemon = || fx.berth(&["ls", "--json"]).len();
    // Warm both: the daemon started, and both outputs the same size.
    assert_eq!(direct(), via_daemon());
    let (mut d, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        b.push(timed(|| {
            via_daemon();
        }));
        d.push(timed(|| {
            direct();
        }));
    }
    let (bm, blo, bhi) = summary(&b);
    let (dm, dlo, dhi) = summary(&d);
    let ratios: Vec<f64> = b.iter().zip(&d).map(|(x, y)| x / y).collect();
    let (rm, rlo, rhi) = summary(&ratios);
    report.single(
        &format!("`berth ls` with {count} workspaces, through the daemon"),
        format!("{bm:.1} ms ({blo:.1}–{bhi:.1})"),
        format!("engine in the CLI's process: {dm:.1} ms ({dlo:.1}–{dhi:.1})"),
        format!("{rm:.2}× ({rlo:.2}–{rhi:.2})"),
        "≤ 1.2×",
        rm <= 1.2,
    );
}

/// `berth start`/`stop` in one process, another client (the app's path) following events:
/// how long after the command began the follower sees the first change, and how long after
/// the command returned it has the final one.
pub async fn cli_to_client(report: &mut Report, rounds: usize) {
    let fx = Fixture::new();
    let project = fx.project("cc");
    fx.berth(&[
        "create",
        "cc",
        "--image",
        crate::fixture::TEST_IMAGE,
        "--project",
        path_str(&project),
        "--memory",
        "256m",
    ]);
    let client = fx.client().await;
    let (tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let mut events = Box::pin(client.events().await.unwrap());
    tokio::spawn(async move {
        while let Some(Ok(event)) = events.next().await {
            if let ClientEvent::Engine(EngineEvent::Status { status, .. }) = event {
                let _ = tx.send((status, Instant::now()));
            }
        }
    });
    let (mut first, mut after_return) = (Vec::new(), Vec::new());
    for round in 0..=rounds {
        for (verb, last) in [("start", Status::Running), ("stop", Status::Stopped)] {
            while seen.try_recv().is_ok() {}
            let began = Instant::now();
            fx.berth(&[verb, "cc"]);
            let returned = Instant::now();
            let (_, at) = seen.recv().await.unwrap();
            let mut final_at = at;
            let mut status = None;
            while status != Some(last) {
                let (s, t) = seen.recv().await.unwrap();
                status = Some(s);
                final_at = t;
            }
            if round > 0 {
                first.push(at.duration_since(began).as_secs_f64() * 1000.0);
                let late = final_at.saturating_duration_since(returned);
                after_return.push(late.as_secs_f64() * 1000.0);
            }
        }
    }
    let (fm, flo, fhi) = summary(&first);
    let (am, alo, ahi) = summary(&after_return);
    report.single(
        "CLI start/stop → status at another client",
        format!(
            "first change {fm:.0} ms after the command began ({flo:.0}–{fhi:.0}); final status {am:.1} ms after it returned ({alo:.1}–{ahi:.1})"
        ),
        "—".into(),
        format!("{fm:.0} ms"),
        "≤ 200 ms",
        fm <= 200.0,
    );
}

/// The daemon with `count` running workspaces and nothing to do: CPU over a minute, RSS. Its
/// idle timer runs for every one of them (the default 30 min timeout): their project folders
/// and activity folders watched, one CPU sample each in the minute.
pub async fn idle(report: &mut Report, count: usize) {
    let fx = Fixture::new();
    for i in 0..count {
        let name = format!("idle{i:02}");
        // A folder of its own: a project folder belongs to one workspace.
        let project = fx.project(&name);
        fx.berth(&[
            "create",
            &name,
            "--image",
            crate::fixture::TEST_IMAGE,
            "--project",
            path_str(&project),
            "--memory",
            "32m",
        ]);
        fx.berth(&["start", &name]);
    }
    let status: serde_json::Value =
        serde_json::from_str(&fx.berth(&["daemon", "status", "--json"])).unwrap();
    let pid = status["pid"].as_u64().unwrap() as u32;
    assert_eq!(status["running_workspaces"], count);
    let window = Duration::from_secs(60);
    let t0 = crate::desktop::cpu_ticks(pid);
    // The measurement is of doing nothing for a minute.
    tokio::time::sleep(window).await;
    let t1 = crate::desktop::cpu_ticks(pid);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu = (t1 - t0) as f64 / hz / window.as_secs_f64() * 100.0;
    let rss = crate::desktop::rss_kb(pid) as f64 / 1024.0;
    report.single(
        &format!("daemon idle CPU, {count} workspaces running (idle timer on each)"),
        format!("{cpu:.3} % of a core over 60 s"),
        "—".into(),
        format!("{cpu:.3} %"),
        "≤ 0.5 %",
        cpu <= 0.5,
    );
    report.single(
        "daemon memory",
        format!("{rss:.1} MB RSS with {count} workspaces running"),
        "—".into(),
        format!("{rss:.1} MB"),
        "≤ 25 MB",
        rss <= 25.0,
    );
}
