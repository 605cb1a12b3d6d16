//! Activity and idle stop (issue 12): which signals count as work, what the daemon has seen of
//! each running workspace, and the pure decision of when an idle one is warned and stopped.
//! The one timer that acts on it is `engine::idle`, run by the daemon.

pub mod files;
pub mod policy;
pub mod tracker;

pub use policy::{Decision, Policy, Seen, Signal, decide};
pub use tracker::{Look, SignalSeen, Tracker};

use crate::model::WorkspaceId;
use serde::{Deserialize, Serialize};

/// Where a workspace stands, as every client shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ActivityState {
    /// Not running (and not stopped for idleness).
    NotRunning,
    /// Stopped by the idle timer.
    StoppedIdle {
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        stopped_at_ms: i64,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        idle_since_ms: i64,
    },
    /// Running; the idle stop is off.
    Never,
    /// Running; a keep-alive holds it.
    Held,
    /// Running; it stops at `stops_at_ms` if nothing happens (the warning comes before).
    Active {
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        idle_since_ms: i64,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        stops_at_ms: i64,
    },
    /// Running; warned: it stops at `stops_at_ms` unless something happens or it is snoozed.
    Warned {
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        idle_since_ms: i64,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        stops_at_ms: i64,
    },
    /// Running; the idle stop is under way.
    Stopping,
}

impl ActivityState {
    pub fn of(decision: Decision) -> ActivityState {
        match decision {
            Decision::Never => ActivityState::Never,
            Decision::Held { .. } => ActivityState::Held,
            Decision::Active {
                idle_since_ms,
                stops_at_ms,
            } => ActivityState::Active {
                idle_since_ms,
                stops_at_ms,
            },
            Decision::Warn {
                idle_since_ms,
                stops_at_ms,
            } => ActivityState::Warned {
                idle_since_ms,
                stops_at_ms,
            },
            Decision::Stop { .. } => ActivityState::Stopping,
        }
    }
}

/// A workspace's activity with its reasons: the block of `berth show` and the detail view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ActivityView {
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub id: WorkspaceId,
    pub name: String,
    #[serde(flatten)]
    pub state: ActivityState,
    /// Each signal's last time, newest first.
    pub signals: Vec<SignalSeen>,
    /// What holds it awake now (keep-alive commands).
    pub held_by: Vec<String>,
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub snoozed_until_ms: Option<i64>,
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub timeout_secs: Option<u64>,
    /// The daemon's clock when this was made: clients count down from it.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub now_ms: i64,
}
