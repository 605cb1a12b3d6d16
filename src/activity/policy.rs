//! The idle decision, as a pure function of the clock and what was last seen: when a
//! workspace counts as idle, when it is warned, when it stops, and when the one timer must
//! wake next. Nothing here reads a clock or touches Docker.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What counts as work in a workspace. Only these; an open connection is not one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// The workspace was started (by anyone), or the daemon began watching it: a fresh start
    /// is never idle at once.
    Started,
    /// Real input in the IDE (typing, a click, a terminal command), as Berth's extension in
    /// the workspace reports it. An open connection or a heartbeat is not input.
    Input,
    /// A file changed in a project folder (churn such as `node_modules` left out).
    Files,
    /// The container used more CPU than the threshold over the last sample.
    Busy,
    /// A `berth keepalive` (or `berth-keepalive` inside) held it; the time it last did.
    KeepAlive,
    /// Someone pressed "Keep running" (`berth snooze`).
    Snooze,
    /// An API call went through Berth's credential proxy (an agent at work); the detail
    /// names the key.
    Api,
    /// Someone opened or used one of its previews (their traffic is the workspace's work
    /// being looked at).
    Preview,
}

/// What the timer knows of one workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// Unix milliseconds each signal was last seen.
    pub last: BTreeMap<Signal, i64>,
    /// A keep-alive holds it until this moment (Unix ms; `i64::MAX` while a host hold is
    /// open): idle never starts while it does.
    pub held_until: Option<i64>,
    /// Snoozed: no stop before this moment (Unix ms).
    pub snoozed_until: Option<i64>,
    /// When the warning went out (Unix ms), if it is out: no stop comes without one shown for
    /// (about) its whole lead — not even after the machine slept through the stop time.
    pub warned_at: Option<i64>,
}

impl Seen {
    pub fn record(&mut self, signal: Signal, at_ms: i64) {
        let slot = self.last.entry(signal).or_insert(at_ms);
        *slot = (*slot).max(at_ms);
    }

    /// The latest signal and when it was.
    pub fn latest(&self) -> Option<(Signal, i64)> {
        self.last
            .iter()
            .max_by_key(|(_, at)| **at)
            .map(|(s, at)| (*s, *at))
    }
}

/// The policy of one workspace: its idle timeout (`None`: never stops) and how long before
/// the stop the warning comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub timeout_ms: Option<i64>,
    pub warn_ahead_ms: i64,
}

/// The default warning lead: five minutes, and never more than half the timeout.
pub const WARN_AHEAD_MS: i64 = 5 * 60 * 1000;

impl Policy {
    pub fn new(timeout_secs: Option<u64>) -> Policy {
        let timeout_ms = timeout_secs.map(|s| s as i64 * 1000);
        Policy {
            timeout_ms,
            warn_ahead_ms: timeout_ms.map_or(WARN_AHEAD_MS, |t| WARN_AHEAD_MS.min(t / 2)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Decision {
    /// Idle stop is off for this workspace.
    Never,
    /// A keep-alive holds it (until `until_ms`, when the timer looks again).
    Held { until_ms: i64 },
    /// Working, or idle for less than the timeout minus the warning lead.
    Active {
        idle_since_ms: i64,
        stops_at_ms: i64,
    },
    /// The warning is due: it stops at `stops_at_ms` unless something happens.
    Warn {
        idle_since_ms: i64,
        stops_at_ms: i64,
    },
    /// Idle for the whole timeout (and past any snooze): stop it.
    Stop { idle_since_ms: i64 },
}

impl Decision {
    /// When the timer must look at this workspace again (Unix ms), if ever.
    pub fn next_wake_ms(&self, warn_ahead_ms: i64) -> Option<i64> {
        match self {
            Decision::Never | Decision::Stop { .. } => None,
            Decision::Held { until_ms } => (*until_ms < i64::MAX).then_some(*until_ms),
            Decision::Active { stops_at_ms, .. } => Some(stops_at_ms - warn_ahead_ms),
            Decision::Warn { stops_at_ms, .. } => Some(*stops_at_ms),
        }
    }
}

/// The decision for a running workspace at `now_ms`. No signal at all counts as idle since
/// the epoch: the caller records [`Signal::Started`] when it starts tracking.
pub fn decide(now_ms: i64, policy: Policy, seen: &Seen) -> Decision {
    let Some(timeout) = policy.timeout_ms else {
        return Decision::Never;
    };
    if let Some(until_ms) = seen.held_until.filter(|until| *until > now_ms) {
        return Decision::Held { until_ms };
    }
    let idle_since_ms = seen.latest().map_or(0, |(_, at)| at);
    let due = (idle_since_ms + timeout).max(seen.snoozed_until.unwrap_or(i64::MIN));
    // The warning's whole lead, counted from when it really went out (or from now).
    let warned = seen.warned_at.filter(|at| *at <= now_ms).unwrap_or(now_ms);
    let stops_at_ms = due.max(warned + policy.warn_ahead_ms);
    if now_ms >= stops_at_ms {
        Decision::Stop { idle_since_ms }
    } else if now_ms >= stops_at_ms - policy.warn_ahead_ms {
        Decision::Warn {
            idle_since_ms,
            stops_at_ms,
        }
    } else {
        Decision::Active {
            idle_since_ms,
            stops_at_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn seen(signals: &[(Signal, i64)]) -> Seen {
        let mut s = Seen::default();
        for (sig, at) in signals {
            s.record(*sig, *at);
        }
        s
    }

    #[test]
    fn the_warning_comes_five_minutes_ahead_or_at_half_the_timeout() {
        assert_eq!(Policy::new(Some(30 * 60)).warn_ahead_ms, 5 * MIN);
        assert_eq!(Policy::new(Some(60)).warn_ahead_ms, 30_000);
        assert_eq!(Policy::new(Some(10)).warn_ahead_ms, 5_000);
    }

    #[test]
    fn idle_runs_from_the_last_signal_through_warning_to_stop() {
        let p = Policy::new(Some(30 * 60));
        let s = seen(&[(Signal::Started, 0), (Signal::Files, 10 * MIN)]);
        assert_eq!(
            decide(20 * MIN, p, &s),
            Decision::Active {
                idle_since_ms: 10 * MIN,
                stops_at_ms: 40 * MIN
            }
        );
        assert_eq!(
            decide(35 * MIN, p, &s),
            Decision::Warn {
                idle_since_ms: 10 * MIN,
                stops_at_ms: 40 * MIN
            }
        );
        let mut warned = s.clone();
        warned.warned_at = Some(35 * MIN);
        assert_eq!(
            decide(40 * MIN, p, &warned),
            Decision::Stop {
                idle_since_ms: 10 * MIN
            }
        );
        // The one timer wakes at the warning, then at the stop.
        assert_eq!(
            decide(20 * MIN, p, &s).next_wake_ms(p.warn_ahead_ms),
            Some(35 * MIN)
        );
        assert_eq!(
            decide(35 * MIN, p, &warned).next_wake_ms(p.warn_ahead_ms),
            Some(40 * MIN)
        );
    }

    #[test]
    fn no_stop_without_the_warning_even_after_the_machine_slept_through_it() {
        let p = Policy::new(Some(30 * 60));
        let mut s = seen(&[(Signal::Started, 0)]);
        // Woken at 3 h: warned now, stopped five minutes later — not at once.
        assert_eq!(
            decide(180 * MIN, p, &s),
            Decision::Warn {
                idle_since_ms: 0,
                stops_at_ms: 185 * MIN
            }
        );
        s.warned_at = Some(180 * MIN);
        assert!(matches!(decide(184 * MIN, p, &s), Decision::Warn { .. }));
        assert!(matches!(decide(185 * MIN, p, &s), Decision::Stop { .. }));
    }

    #[test]
    fn a_signal_after_the_warning_takes_it_back() {
        let p = Policy::new(Some(30 * 60));
        let mut s = seen(&[(Signal::Started, 0)]);
        assert!(matches!(decide(26 * MIN, p, &s), Decision::Warn { .. }));
        s.record(Signal::Files, 27 * MIN);
        assert!(matches!(decide(28 * MIN, p, &s), Decision::Active { .. }));
        // An older signal arriving late never moves idle back.
        s.record(Signal::Files, 5 * MIN);
        assert_eq!(s.last[&Signal::Files], 27 * MIN);
    }

    #[test]
    fn snooze_delays_the_stop_and_keep_alive_holds_it() {
        let p = Policy::new(Some(30 * 60));
        let mut s = seen(&[(Signal::Started, 0)]);
        s.snoozed_until = Some(60 * MIN);
        assert!(matches!(
            decide(40 * MIN, p, &s),
            Decision::Active { stops_at_ms, .. } if stops_at_ms == 60 * MIN
        ));
        assert!(matches!(decide(56 * MIN, p, &s), Decision::Warn { .. }));
        s.warned_at = Some(55 * MIN);
        assert!(matches!(decide(60 * MIN, p, &s), Decision::Stop { .. }));
        s.held_until = Some(i64::MAX);
        let held = decide(600 * MIN, p, &s);
        assert_eq!(held, Decision::Held { until_ms: i64::MAX });
        assert_eq!(held.next_wake_ms(p.warn_ahead_ms), None);
        // A lease from inside the container holds until it goes stale, then idle resumes.
        s.held_until = Some(601 * MIN);
        assert_eq!(
            decide(600 * MIN, p, &s).next_wake_ms(p.warn_ahead_ms),
            Some(601 * MIN)
        );
        s.warned_at = Some(0);
        assert!(matches!(decide(601 * MIN, p, &s), Decision::Stop { .. }));
    }

    #[test]
    fn never_means_never() {
        let s = seen(&[(Signal::Started, 0)]);
        assert_eq!(decide(i64::MAX / 2, Policy::new(None), &s), Decision::Never);
    }
}
