//! Berth against bare Docker, side by side in one run. Absolute times on a shared 2-core
//! machine are noise; the ratio of Berth to the same work done with the `docker` CLI is not.
//!
//!   scripts/bench [CASE...]     (builds what it needs; cases: start, start-ide, create,
//!                                stop-delete, reconcile, events, cli, cli-to-client,
//!                                daemon-idle, gateway, credentials, preview, desktop;
//!                                default: all)
//!
//! Every case alternates Berth and baseline, after a warm-up, and prints median and spread.

mod credentials;
mod daemon;
mod desktop;
mod fixture;
mod gateway;
mod lifecycle;
mod previews;
mod proxy;
mod reconcile;
mod stats;

use stats::Report;

const CASES: &[&str] = &[
    "start",
    "start-ide",
    "create",
    "stop-delete",
    "reconcile",
    "events",
    "cli",
    "cli-to-client",
    "daemon-idle",
    "gateway",
    "credentials",
    "preview",
    "desktop",
];

fn main() {
    // A re-exec of this binary as the baseline of the `cli` case.
    if let Ok(dir) = std::env::var(daemon::DIRECT_LS) {
        daemon::direct_ls(&dir);
        return;
    }
    // `cargo bench` passes `--bench`; everything else is a case name.
    let mut wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if wanted.is_empty() {
        wanted = CASES.iter().map(|c| c.to_string()).collect();
    }
    if let Some(bad) = wanted.iter().find(|w| !CASES.contains(&w.as_str())) {
        eprintln!("unknown case {bad:?}; cases: {}", CASES.join(", "));
        std::process::exit(2);
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut report = Report::default();
    for case in &wanted {
        eprintln!("== {case}");
        match case.as_str() {
            "start" => lifecycle::start(&mut report, fixture::TEST_IMAGE, 9),
            "start-ide" => lifecycle::start(&mut report, fixture::IDE_IMAGE, 5),
            "create" => lifecycle::create(&mut report, 7),
            "stop-delete" => lifecycle::stop_delete(&mut report, 7),
            "reconcile" => runtime.block_on(reconcile::run(&mut report, 200)),
            "events" => runtime.block_on(reconcile::events(&mut report, 9)),
            "cli" => runtime.block_on(daemon::cli(&mut report, 20, 15)),
            "cli-to-client" => runtime.block_on(daemon::cli_to_client(&mut report, 9)),
            "daemon-idle" => runtime.block_on(daemon::idle(&mut report, 20)),
            "gateway" => gateway::run(&mut report, 7),
            "credentials" => runtime.block_on(credentials::run(&mut report, 7)),
            "preview" => previews::run(&mut report, 7),
            "desktop" => runtime.block_on(desktop::run(&mut report, 20)),
            _ => unreachable!(),
        }
    }
    report.print();
}
