//! The desktop app at rest: resident memory with the main window open and `count`
//! workspaces listed, against the floor — a bare Tauri window of the same Tauri version and
//! features (`src-tauri/examples/bare.rs`) measured the same way in the same run — and CPU use
//! over 60 s of idleness, under Xvfb.

use crate::fixture::Fixture;
use crate::stats::Report;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const IDLE: Duration = Duration::from_secs(60);

/// A binary of the release build: `berth-desktop`, or `examples/bare`.
fn release_binary(rel: &str) -> Option<PathBuf> {
    // target/release/deps/berth-<hash> → target/release/<rel>
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join(rel);
    bin.exists().then_some(bin)
}

/// CPU ticks (user + system) of one process.
pub fn cpu_ticks(pid: u32) -> u64 {
    processes()
        .into_iter()
        .find(|p| p.0 == pid)
        .map(|p| p.4)
        .unwrap_or(0)
}

/// Resident set of one process.
pub fn rss_kb(pid: u32) -> u64 {
    kb(&format!("/proc/{pid}/status"), "VmRSS:")
}

/// (pid, comm, rss kB, cpu ticks) of every process.
fn processes() -> Vec<(u32, u32, String, u64, u64)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((comm, rest)) = stat.split_once(" (").and_then(|(_, r)| r.rsplit_once(") "))
        else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ppid: u32 = f[1].parse().unwrap_or(0);
        let ticks = f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
        let rss_kb = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0)
                })
            })
            .unwrap_or(0);
        out.push((pid, ppid, comm.to_string(), rss_kb, ticks));
    }
    out
}

/// A `Name:  123 kB` field of a /proc file.
fn kb(file: &str, field: &str) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Memory of the app and the WebKit processes it spawned.
struct Memory {
    /// Resident set of the app process alone (shared libraries counted in full).
    app_rss_kb: u64,
    /// Proportional set size of app + WebKit processes: shared pages split fairly, so the
    /// sum is what the app really costs the machine.
    tree_pss_kb: u64,
    /// Anonymous (heap) memory of the app process: what Berth's own code holds.
    app_anon_kb: u64,
}

fn memory(root: u32, app: &str) -> Memory {
    let all = processes();
    let tree = tree_of(root, &all, app);
    let mut m = Memory {
        app_rss_kb: 0,
        tree_pss_kb: 0,
        app_anon_kb: 0,
    };
    for (pid, _, comm, rss, _) in all.iter().filter(|p| tree.contains(&p.0)) {
        let rollup = format!("/proc/{pid}/smaps_rollup");
        if comm.starts_with(app) {
            m.app_rss_kb += rss;
            m.app_anon_kb += kb(&rollup, "Pss_Anon:");
        }
        if comm.starts_with(app) || comm.starts_with("WebKit") {
            m.tree_pss_kb += kb(&rollup, "Pss:");
        }
    }
    m
}

fn tree_of(root: u32, all: &[(u32, u32, String, u64, u64)], app: &str) -> Vec<u32> {
    let mut tree = vec![root];
    let mut grew = true;
    while grew {
        grew = false;
        for (pid, ppid, _, _, _) in all {
            if tree.contains(ppid) && !tree.contains(pid) {
                tree.push(*pid);
                grew = true;
            }
        }
    }
    tree.into_iter()
        .filter(|pid| {
            all.iter()
                .any(|p| p.0 == *pid && (p.2.starts_with(app) || p.2.starts_with("WebKit")))
        })
        .collect()
}

/// CPU ticks of the app and its WebKit processes.
fn app_tree(root: u32) -> (u64, u64) {
    let all = processes();
    let tree = tree_of(root, &all, "berth-desktop");
    all.iter()
        .filter(|p| tree.contains(&p.0))
        .fold((0, 0), |(r, t), (_, _, _, rss, ticks)| (r + rss, t + ticks))
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

/// Starts `bin` under `display` in its own session bus and returns it once it has settled.
async fn launch(bin: &std::path::Path, display: &str, data: &std::path::Path) -> Kill {
    let child = Kill(
        Command::new("dbus-run-session")
            .arg("--")
            .arg(bin)
            .env("DISPLAY", display)
            .env("BERTH_DATA_DIR", data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("dbus-run-session"),
    );
    // Let the window load (and the app list its workspaces) and settle; the same for both.
    tokio::time::sleep(Duration::from_secs(10)).await;
    child
}

pub async fn run(report: &mut Report, count: usize) {
    let (Some(app), Some(bare)) = (
        release_binary("berth-desktop"),
        release_binary("examples/bare"),
    ) else {
        eprintln!(
            "   skipped: build the app and the floor first (cargo build --release -p berth-desktop --bins --example bare; scripts/bench does)"
        );
        return;
    };
    let fx = Fixture::new();
    crate::reconcile::seed(&fx, count, 0).await;
    let display = format!(":{}", 90 + std::process::id() % 9);
    let _xvfb = Kill(
        Command::new("Xvfb")
            .args([display.as_str(), "-screen", "0", "1600x900x24"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("Xvfb (apt-get install xvfb)"),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let floor = {
        let session = launch(&bare, &display, &fx.data()).await;
        memory(session.0.id(), "bare")
    };
    let session = launch(&app, &display, &fx.data()).await;
    let mem = memory(session.0.id(), "berth-desktop");
    let (_, ticks0) = app_tree(session.0.id());
    tokio::time::sleep(IDLE).await;
    let (_, ticks1) = app_tree(session.0.id());
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu = (ticks1 - ticks0) as f64 / hz / IDLE.as_secs_f64() * 100.0;
    let mb = |kb: u64| kb as f64 / 1024.0;
    let rss = mb(mem.app_rss_kb);
    let ratio = rss / mb(floor.app_rss_kb);
    report.single(
        &format!("desktop memory, {count} workspaces listed"),
        format!(
            "app RSS {rss:.0} MB (own heap {:.0} MB); app + WebKit PSS {:.0} MB",
            mb(mem.app_anon_kb),
            mb(mem.tree_pss_kb)
        ),
        format!(
            "bare Tauri window: RSS {:.0} MB (heap {:.0} MB); + WebKit PSS {:.0} MB",
            mb(floor.app_rss_kb),
            mb(floor.app_anon_kb),
            mb(floor.tree_pss_kb)
        ),
        format!(
            "{ratio:.2}× RSS, {:.2}× PSS",
            mb(mem.tree_pss_kb) / mb(floor.tree_pss_kb)
        ),
        "≤ 1.05× RSS",
        ratio <= 1.05,
    );
    report.single(
        "desktop idle CPU over 60 s",
        format!("{cpu:.2} % of a core"),
        "—".into(),
        format!("{cpu:.2} %"),
        "≤ 0.5 %",
        cpu <= 0.5,
    );
}
