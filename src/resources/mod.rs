//! What workspaces and previews use, as pure arithmetic over Docker's stats readings, and the
//! views the overview shows (live usage, disk, clean-up). Docker is read in `docker`, the
//! sampling lives in `engine::resources`; everything here is tested without Docker.

mod disk;
mod history;

pub use disk::{
    DiskUsage, DiskVolume, ImageFacts, Leftover, LeftoverKind, PreviewFacts, PruneInput,
    PruneOutcome, VolumeFacts, plan_prune,
};
pub use history::{History, Point};

use crate::model::Limits;
use serde::{Deserialize, Serialize};

/// One reading of Docker's stats for a container: the counters Berth uses, and the previous
/// reading's CPU counters Docker sends along (`precpu_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reading {
    /// CPU time the container used, nanoseconds (all cores).
    pub cpu_ns: u64,
    /// CPU time the whole machine spent, nanoseconds (all cores), as Docker counts it.
    pub system_ns: u64,
    pub pre_cpu_ns: u64,
    pub pre_system_ns: u64,
    pub online_cpus: u32,
    /// Memory charged to the container, and the part of it that is inactive page cache the
    /// kernel reclaims first (cgroup v2 `inactive_file`, v1 `total_inactive_file`): `docker
    /// stats` leaves that out, and so does Berth, so the two agree.
    pub memory_bytes: u64,
    pub memory_cache_bytes: u64,
    pub memory_limit_bytes: u64,
    pub pids: u64,
    pub pids_limit: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

/// One container's usage, against its own limits and the machine.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ContainerUsage {
    /// Cores busy on average since the previous reading (`None` on a stream's first reading:
    /// there is nothing to compare it with yet). `docker stats` shows this × 100 as "CPU %".
    pub cpu_cores: Option<f64>,
    /// Of its CPU limit, percent.
    pub cpu_of_limit: Option<f64>,
    /// Of the machine's cores, percent.
    pub cpu_of_machine: Option<f64>,
    pub memory_bytes: u64,
    pub memory_limit_bytes: u64,
    pub pids: u64,
    pub pids_limit: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

impl Reading {
    /// Docker's frame for a container that does not run: no machine counter at all.
    pub fn stopped(&self) -> bool {
        self.system_ns == 0
    }

    /// Usage against `cpus` (the container's CPU limit in cores; 0 means none).
    pub fn usage(&self, cpus: f64) -> ContainerUsage {
        let cores = self.cpu_cores();
        let machine = f64::from(self.online_cpus.max(1));
        let limit = if cpus > 0.0 {
            cpus.min(machine)
        } else {
            machine
        };
        let cache = if self.memory_cache_bytes < self.memory_bytes {
            self.memory_cache_bytes
        } else {
            0
        };
        ContainerUsage {
            cpu_cores: cores,
            cpu_of_limit: cores.map(|c| c / limit * 100.0),
            cpu_of_machine: cores.map(|c| c / machine * 100.0),
            memory_bytes: self.memory_bytes - cache,
            memory_limit_bytes: self.memory_limit_bytes,
            pids: self.pids,
            pids_limit: self.pids_limit,
            rx_bytes: self.rx_bytes,
            tx_bytes: self.tx_bytes,
        }
    }

    /// Docker's own formula: the container's share of the machine's CPU time between two
    /// readings, times the cores.
    fn cpu_cores(&self) -> Option<f64> {
        if self.pre_system_ns == 0 || self.system_ns <= self.pre_system_ns {
            return None;
        }
        let cpu = self.cpu_ns.saturating_sub(self.pre_cpu_ns) as f64;
        let system = (self.system_ns - self.pre_system_ns) as f64;
        Some(cpu / system * f64::from(self.online_cpus.max(1)))
    }
}

/// What this machine has, as the Docker engine sees it (inside Docker Desktop's VM: the VM's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Machine {
    pub cpus: u32,
    pub memory_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    Workspace,
    Preview,
}

/// One running container in the overview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ResourceRow {
    pub kind: RowKind,
    /// The workspace's name; a preview's id.
    pub id: String,
    /// The workspace's name (for a preview: its workspace's).
    pub workspace: String,
    /// The limits its container runs with (read from Docker, not from settings).
    pub limits: Limits,
    /// `None` until the first reading arrived.
    pub usage: Option<ContainerUsage>,
    /// The size of its home (workspace) or snapshot (preview) volume, when Docker told it.
    pub volume_bytes: Option<u64>,
    /// The last minutes, oldest first.
    pub history: Vec<Point>,
}

/// Everything together against the machine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Totals {
    pub cpu_cores: f64,
    pub cpu_of_machine: f64,
    pub memory_bytes: u64,
    pub memory_of_machine: f64,
    /// Workspaces running, against the cap on running workspaces.
    pub running: u32,
    pub max_running: u32,
}

/// The overview at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ResourcesView {
    pub machine: Machine,
    pub totals: Totals,
    pub rows: Vec<ResourceRow>,
    /// Unix milliseconds.
    pub at_ms: i64,
}

impl ResourcesView {
    /// Sums the rows against the machine.
    pub fn new(machine: Machine, rows: Vec<ResourceRow>, max_running: u32, at_ms: i64) -> Self {
        let cores: f64 = rows
            .iter()
            .filter_map(|r| r.usage.and_then(|u| u.cpu_cores))
            // Not `sum()`: an empty f64 sum is -0.0, shown as "-0.00".
            .fold(0.0, |a, b| a + b);
        let memory: u64 = rows
            .iter()
            .filter_map(|r| r.usage.map(|u| u.memory_bytes))
            .sum();
        let running = rows.iter().filter(|r| r.kind == RowKind::Workspace).count() as u32;
        ResourcesView {
            machine,
            totals: Totals {
                cpu_cores: cores,
                cpu_of_machine: percent(cores, f64::from(machine.cpus)),
                memory_bytes: memory,
                memory_of_machine: percent(memory as f64, machine.memory_bytes as f64),
                running,
                max_running,
            },
            rows,
            at_ms,
        }
    }

    /// Whether every row has a CPU figure (a stream's second reading arrived).
    pub fn complete(&self) -> bool {
        self.rows
            .iter()
            .all(|r| r.usage.is_some_and(|u| u.cpu_cores.is_some()))
    }
}

/// Bytes for a person: `512 B`, `3.4 MiB`, `1.2 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn percent(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        part / whole * 100.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn reading() -> Reading {
        Reading {
            // 1 s of wall time on 4 cores: the machine spent 4 s of CPU time.
            pre_cpu_ns: 10 * SEC,
            cpu_ns: 10 * SEC + SEC / 2,
            pre_system_ns: 1000 * SEC,
            system_ns: 1004 * SEC,
            online_cpus: 4,
            memory_bytes: 300 << 20,
            memory_cache_bytes: 100 << 20,
            memory_limit_bytes: 1 << 30,
            pids: 12,
            pids_limit: 512,
            rx_bytes: 1000,
            tx_bytes: 2000,
        }
    }

    #[test]
    fn cpu_is_counted_as_docker_stats_does_and_against_limit_and_machine() {
        let u = reading().usage(1.0);
        let cores = u.cpu_cores.unwrap();
        assert!((cores - 0.5).abs() < 1e-9, "{cores}");
        assert!((u.cpu_of_limit.unwrap() - 50.0).abs() < 1e-9);
        assert!((u.cpu_of_machine.unwrap() - 12.5).abs() < 1e-9);
        // Half a core of a two-core limit.
        assert!((reading().usage(2.0).cpu_of_limit.unwrap() - 25.0).abs() < 1e-9);
        // No limit (or one above the machine): the machine is the limit.
        assert!((reading().usage(0.0).cpu_of_limit.unwrap() - 12.5).abs() < 1e-9);
        assert!((reading().usage(16.0).cpu_of_limit.unwrap() - 12.5).abs() < 1e-9);
    }

    #[test]
    fn bytes_read_like_a_person_writes_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(200 << 20), "200.0 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn a_frame_without_the_machine_counter_is_a_stopped_container() {
        assert!(!reading().stopped());
        assert!(Reading::default().stopped());
    }

    #[test]
    fn a_first_reading_has_no_cpu_figure_yet() {
        let first = Reading {
            pre_cpu_ns: 0,
            pre_system_ns: 0,
            ..reading()
        };
        let u = first.usage(1.0);
        assert_eq!(u.cpu_cores, None);
        assert_eq!(u.cpu_of_limit, None);
        // A machine counter that did not move (two readings in the same tick) neither.
        let still = Reading {
            system_ns: 1000 * SEC,
            ..reading()
        };
        assert_eq!(still.usage(1.0).cpu_cores, None);
    }

    #[test]
    fn memory_leaves_out_inactive_page_cache_like_docker_stats() {
        let u = reading().usage(1.0);
        assert_eq!(u.memory_bytes, 200 << 20);
        assert_eq!(u.memory_limit_bytes, 1 << 30);
        // A cache figure above the usage (a racy kernel read) is ignored, never underflows.
        let odd = Reading {
            memory_cache_bytes: 400 << 20,
            ..reading()
        };
        assert_eq!(odd.usage(1.0).memory_bytes, 300 << 20);
    }

    #[test]
    fn totals_add_up_rows_against_the_machine_and_count_workspaces_only() {
        let row = |kind, cores: f64, mem: u64| ResourceRow {
            kind,
            id: "x".into(),
            workspace: "x".into(),
            limits: Limits {
                cpus: 1.0,
                memory_bytes: 1 << 30,
                pids: 512,
            },
            usage: Some(ContainerUsage {
                cpu_cores: Some(cores),
                memory_bytes: mem,
                ..reading().usage(1.0)
            }),
            volume_bytes: None,
            history: vec![],
        };
        let machine = Machine {
            cpus: 4,
            memory_bytes: 8 << 30,
        };
        let view = ResourcesView::new(
            machine,
            vec![
                row(RowKind::Workspace, 1.0, 1 << 30),
                row(RowKind::Workspace, 0.5, 1 << 30),
                row(RowKind::Preview, 0.5, 2 << 30),
            ],
            3,
            0,
        );
        assert!((view.totals.cpu_cores - 2.0).abs() < 1e-9);
        assert!((view.totals.cpu_of_machine - 50.0).abs() < 1e-9);
        assert_eq!(view.totals.memory_bytes, 4 << 30);
        assert!((view.totals.memory_of_machine - 50.0).abs() < 1e-9);
        assert_eq!((view.totals.running, view.totals.max_running), (2, 3));
        assert!(view.complete());
        let mut waiting = view.clone();
        waiting.rows[0].usage = None;
        assert!(!waiting.complete());
    }
}
