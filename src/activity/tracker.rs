//! What the daemon has seen of each running workspace, in memory: the last time of every
//! signal, the keep-alives holding it, a snooze, and whether its warning is out. Signals only
//! write a time here; the one timer (`engine::idle`) reads it. A daemon restart starts every
//! running workspace over at "started now": it can only make a stop later, never earlier.

use super::policy::{Decision, Policy, Seen, Signal, decide};
use crate::model::WorkspaceId;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::Notify;

/// How long a keep-alive lease from inside a container holds without being refreshed:
/// `berth-keepalive` refreshes every 10 s, so a killed one stops holding within half a minute.
pub const LEASE_STALE_MS: i64 = 30_000;
/// Leases counted per workspace; more are ignored (a container cannot grow the daemon's memory).
const MAX_LEASES: usize = 64;

/// One signal's last time, for the explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SignalSeen {
    pub signal: Signal,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub at_ms: i64,
    /// What it was, when known: `editor`, `terminal`, `window` for input; the command of a
    /// keep-alive.
    pub detail: Option<String>,
}

#[derive(Debug, Default)]
struct Entry {
    /// Running, as far as the timer knows. An entry can exist without: a host hold opened
    /// on a stopped workspace waits here for its start.
    tracked: bool,
    seen: Seen,
    details: HashMap<Signal, String>,
    /// Leases from inside the container: file name → (last refresh, command).
    leases: HashMap<String, (i64, String)>,
    /// Open `berth keepalive` holds from the host: id → command.
    holds: HashMap<u64, String>,
}

impl Entry {
    fn held_until(&self, now_ms: i64) -> Option<i64> {
        if !self.holds.is_empty() {
            return Some(i64::MAX);
        }
        self.leases
            .values()
            .map(|(at, _)| at + LEASE_STALE_MS)
            .filter(|until| *until > now_ms)
            .max()
    }
}

/// The decision with what it rests on, for one workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct Look {
    pub decision: Decision,
    pub signals: Vec<SignalSeen>,
    /// What holds it awake now (keep-alive commands).
    pub held_by: Vec<String>,
    pub snoozed_until_ms: Option<i64>,
}

#[derive(Default)]
pub struct Tracker {
    entries: Mutex<HashMap<WorkspaceId, Entry>>,
    next_hold: std::sync::atomic::AtomicU64,
    /// Pokes the timer: a workspace started or stopped, a warning was taken back, a snooze.
    pub wake: Notify,
}

impl Tracker {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<WorkspaceId, Entry>) -> T) -> T {
        f(&mut self.entries.lock().expect("activity lock"))
    }

    /// Starts tracking `id` (started, or found running) as active now; true if it was not
    /// tracked before (a fresh start: its folders must be watched).
    pub fn started(&self, id: WorkspaceId, now_ms: i64) -> bool {
        let fresh = self.with(|e| {
            let entry = e.entry(id).or_default();
            let fresh = !entry.tracked;
            if fresh {
                *entry = Entry {
                    tracked: true,
                    holds: std::mem::take(&mut entry.holds),
                    ..Entry::default()
                };
            }
            entry.seen.record(Signal::Started, now_ms);
            fresh
        });
        self.wake.notify_one();
        fresh
    }

    /// Whether `id` is tracked (it runs, as far as the timer knows).
    pub fn tracks(&self, id: WorkspaceId) -> bool {
        self.with(|e| e.get(&id).is_some_and(|entry| entry.tracked))
    }

    /// Stops tracking `id` (stopped or deleted). Host holds stay open on their own.
    pub fn forget(&self, id: WorkspaceId) {
        self.with(|e| {
            if let Some(entry) = e.remove(&id)
                && !entry.holds.is_empty()
            {
                e.insert(
                    id,
                    Entry {
                        holds: entry.holds,
                        ..Entry::default()
                    },
                );
            }
        });
        self.wake.notify_one();
    }

    /// A signal of a tracked workspace (others are ignored: a stopped workspace's folder
    /// changing does not matter).
    pub fn record(&self, id: WorkspaceId, signal: Signal, detail: Option<&str>, now_ms: i64) {
        let wake = self.with(|e| {
            let Some(entry) = e.get_mut(&id).filter(|entry| entry.tracked) else {
                return false;
            };
            entry.seen.record(signal, now_ms);
            if let Some(d) = detail {
                entry.details.insert(signal, d.to_string());
            }
            entry.seen.warned_at.is_some()
        });
        if wake {
            self.wake.notify_one();
        }
    }

    /// A lease file inside the container was written (`Some(command)`) or removed (`None`).
    /// Only a lease coming or going wakes the timer: refreshes (or a container touching its
    /// lease in a loop) just move a time.
    pub fn lease(&self, id: WorkspaceId, file: &str, command: Option<String>, now_ms: i64) {
        let changed = self.with(|e| {
            let Some(entry) = e.get_mut(&id).filter(|entry| entry.tracked) else {
                return false;
            };
            match command {
                Some(cmd) if entry.leases.len() < MAX_LEASES || entry.leases.contains_key(file) => {
                    let new = entry
                        .leases
                        .insert(file.to_string(), (now_ms, cmd.clone()))
                        .is_none();
                    entry.seen.record(Signal::KeepAlive, now_ms);
                    entry.details.insert(Signal::KeepAlive, cmd);
                    new
                }
                Some(_) => false,
                None => {
                    let gone = entry.leases.remove(file).is_some();
                    if gone {
                        entry.seen.record(Signal::KeepAlive, now_ms);
                    }
                    gone
                }
            }
        });
        if changed {
            self.wake.notify_one();
        }
    }

    /// Opens a host hold (`berth keepalive`); the workspace cannot go idle until it is closed.
    pub fn hold(&self, id: WorkspaceId, command: &str, now_ms: i64) -> u64 {
        let key = self
            .next_hold
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.with(|e| {
            let entry = e.entry(id).or_default();
            entry.holds.insert(key, command.to_string());
            entry.seen.record(Signal::KeepAlive, now_ms);
            entry.details.insert(Signal::KeepAlive, command.to_string());
        });
        self.wake.notify_one();
        key
    }

    /// Closes a host hold; idle counts from now.
    pub fn release(&self, id: WorkspaceId, key: u64, now_ms: i64) {
        self.with(|e| {
            if let Some(entry) = e.get_mut(&id)
                && entry.holds.remove(&key).is_some()
            {
                entry.seen.record(Signal::KeepAlive, now_ms);
            }
        });
        self.wake.notify_one();
    }

    /// "Keep running": no stop before `until_ms`.
    pub fn snooze(&self, id: WorkspaceId, until_ms: i64, now_ms: i64) -> bool {
        let tracked = self.with(|e| {
            let Some(entry) = e.get_mut(&id).filter(|entry| entry.tracked) else {
                return false;
            };
            entry.seen.snoozed_until = Some(until_ms);
            entry.seen.warned_at = None;
            entry.seen.record(Signal::Snooze, now_ms);
            true
        });
        self.wake.notify_one();
        tracked
    }

    /// The decision for `id` now, with its reasons; `None` if it is not tracked.
    pub fn look(&self, id: WorkspaceId, policy: Policy, now_ms: i64) -> Option<Look> {
        self.with(|e| {
            let entry = e.get_mut(&id).filter(|entry| entry.tracked)?;
            entry
                .leases
                .retain(|_, (at, _)| *at + LEASE_STALE_MS > now_ms);
            let mut seen = entry.seen.clone();
            seen.held_until = entry.held_until(now_ms);
            let mut signals: Vec<SignalSeen> = seen
                .last
                .iter()
                .map(|(signal, at)| SignalSeen {
                    signal: *signal,
                    at_ms: *at,
                    detail: entry.details.get(signal).cloned(),
                })
                .collect();
            signals.sort_by_key(|s| std::cmp::Reverse(s.at_ms));
            let held_by = entry
                .holds
                .values()
                .chain(entry.leases.values().map(|(_, cmd)| cmd))
                .cloned()
                .collect();
            Some(Look {
                decision: decide(now_ms, policy, &seen),
                signals,
                held_by,
                snoozed_until_ms: seen.snoozed_until.filter(|u| *u > now_ms),
            })
        })
    }

    /// Marks whether the warning of `id` is out (since `now_ms`); returns whether that changed.
    pub fn set_warned(&self, id: WorkspaceId, warned: bool, now_ms: i64) -> bool {
        self.with(|e| {
            let Some(entry) = e.get_mut(&id) else {
                return false;
            };
            let was = entry.seen.warned_at.is_some();
            if warned && !was {
                entry.seen.warned_at = Some(now_ms);
            } else if !warned {
                entry.seen.warned_at = None;
            }
            was != warned
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1000;

    #[test]
    fn signals_of_untracked_workspaces_are_ignored_and_the_latest_explains() {
        let t = Tracker::default();
        let (a, b) = (WorkspaceId::new(), WorkspaceId::new());
        let p = Policy::new(Some(60));
        t.started(a, 0);
        t.record(a, Signal::Input, Some("editor"), 10 * S);
        t.record(b, Signal::Files, None, 20 * S);
        assert!(t.look(b, p, 20 * S).is_none());
        let look = t.look(a, p, 20 * S).unwrap();
        assert_eq!(
            look.decision,
            Decision::Active {
                idle_since_ms: 10 * S,
                stops_at_ms: 70 * S
            }
        );
        assert_eq!(look.signals[0].signal, Signal::Input);
        assert_eq!(look.signals[0].detail.as_deref(), Some("editor"));
    }

    #[test]
    fn a_lease_holds_until_removed_or_stale() {
        let t = Tracker::default();
        let id = WorkspaceId::new();
        let p = Policy::new(Some(10));
        t.started(id, 0);
        t.lease(id, "k1", Some("sleep 40".into()), 5 * S);
        let look = t.look(id, p, 20 * S).unwrap();
        assert_eq!(look.decision, Decision::Held { until_ms: 35 * S });
        assert_eq!(look.held_by, vec!["sleep 40".to_string()]);
        // Refreshed: holds on. Removed: idle counts from the removal.
        t.lease(id, "k1", Some("sleep 40".into()), 30 * S);
        assert!(matches!(
            t.look(id, p, 50 * S).unwrap().decision,
            Decision::Held { .. }
        ));
        t.lease(id, "k1", None, 52 * S);
        assert_eq!(
            t.look(id, p, 53 * S).unwrap().decision,
            Decision::Active {
                idle_since_ms: 52 * S,
                stops_at_ms: 62 * S
            }
        );
        // A killed keep-alive (never removed) stops holding once stale.
        t.lease(id, "k2", Some("agent".into()), 60 * S);
        t.set_warned(id, true, 90 * S);
        assert!(matches!(
            t.look(id, p, 95 * S).unwrap().decision,
            Decision::Stop { .. }
        ));
    }

    #[test]
    fn a_host_hold_survives_a_restart_of_tracking_and_holds_until_released() {
        let t = Tracker::default();
        let id = WorkspaceId::new();
        let p = Policy::new(Some(10));
        // Held before it runs: the start is still a fresh one (its folders get watched).
        let key = t.hold(id, "make", S);
        assert!(!t.tracks(id));
        assert!(t.started(id, 2 * S));
        assert!(!t.started(id, 3 * S), "already tracked");
        assert_eq!(
            t.look(id, p, 1000 * S).unwrap().decision,
            Decision::Held { until_ms: i64::MAX }
        );
        t.release(id, key, 1000 * S);
        assert!(matches!(
            t.look(id, p, 1001 * S).unwrap().decision,
            Decision::Active { .. }
        ));
    }

    #[test]
    fn a_signal_after_the_warning_wakes_the_timer() {
        let t = Tracker::default();
        let id = WorkspaceId::new();
        t.started(id, 0);
        let drain = || futures_util::FutureExt::now_or_never(t.wake.notified()).is_some();
        assert!(drain(), "a start wakes the timer");
        t.lease(id, "k", Some("job".into()), S / 2);
        assert!(drain(), "a new lease wakes it");
        t.lease(id, "k", Some("job".into()), S / 2);
        assert!(!drain(), "a refresh does not");
        t.record(id, Signal::Files, None, S);
        assert!(!drain(), "no warning out: a signal need not wake anyone");
        assert!(t.set_warned(id, true, S));
        assert!(!t.set_warned(id, true, S));
        t.record(id, Signal::Files, None, 2 * S);
        assert!(drain(), "a signal after the warning wakes the timer");
    }
}
