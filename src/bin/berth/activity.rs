//! How the CLI explains activity: where a workspace stands on idleness and why, in words.

use berth::activity::{ActivityState, ActivityView, Signal, SignalSeen};
use berth::model::human_duration;

/// One line: `active: typing in the editor 12 s ago — stops at 14:32 if idle (in 28 min)`.
pub fn activity_state(a: &ActivityView) -> String {
    let latest = a.signals.first().map(|s| {
        format!(
            "{} {} ago",
            signal_text(s),
            human_duration((a.now_ms - s.at_ms).max(0) / 1000)
        )
    });
    let left = |at: i64| human_duration(((at - a.now_ms).max(0) + 999) / 1000);
    let snooze = a
        .snoozed_until_ms
        .map(|u| format!(" (kept running until {})", clock(u)))
        .unwrap_or_default();
    match &a.state {
        ActivityState::NotRunning => "not running".into(),
        ActivityState::StoppedIdle {
            stopped_at_ms,
            idle_since_ms,
        } => format!(
            "stopped (idle) at {} after {} without activity",
            clock(*stopped_at_ms),
            human_duration((stopped_at_ms - idle_since_ms).max(0) / 1000)
        ),
        ActivityState::Never => match latest {
            Some(l) => format!("active: {l} (idle stop off)"),
            None => "idle stop off".into(),
        },
        ActivityState::Held => format!("held awake by {}", a.held_by.join(", ")),
        ActivityState::Active { stops_at_ms, .. } => format!(
            "active: {} — stops at {} if idle (in {}){snooze}",
            latest.unwrap_or_else(|| "started".into()),
            clock(*stops_at_ms),
            left(*stops_at_ms)
        ),
        ActivityState::Warned {
            idle_since_ms,
            stops_at_ms,
        } => format!(
            "idle since {} — stops at {} (in {}; `berth snooze {}` keeps it running){snooze}",
            clock(*idle_since_ms),
            clock(*stops_at_ms),
            left(*stops_at_ms),
            a.name
        ),
        ActivityState::Stopping => "stopping (idle)".into(),
    }
}

/// What a signal was, for a person.
pub fn signal_text(s: &SignalSeen) -> String {
    let detail = s.detail.as_deref().unwrap_or("");
    match s.signal {
        Signal::Started => "started".into(),
        Signal::Input => match detail {
            "editor" => "typing in the editor".into(),
            "terminal" => "typing in a terminal".into(),
            "window" => "using the IDE window".into(),
            _ => "input in the IDE".into(),
        },
        Signal::Files => "a file changed in a project folder".into(),
        Signal::Busy => format!("busy ({detail} CPU)"),
        Signal::KeepAlive => format!("keep-alive ({detail})"),
        Signal::Snooze => "kept running (snooze)".into(),
        Signal::Api => format!("an API call ({detail} key)"),
        Signal::Preview => "a visit to a preview".to_string(),
    }
}

/// `berth show`'s activity block.
pub fn print_activity(a: &ActivityView) {
    println!("activity:     {}", escape(&activity_state(a)));
    for s in &a.signals {
        println!(
            "  {:<34} {} ago",
            escape(&signal_text(s)),
            human_duration((a.now_ms - s.at_ms).max(0) / 1000)
        );
    }
}

fn escape(s: &str) -> String {
    berth::model::escape_controls(s).into_owned()
}

/// A Unix-ms time as the local `HH:MM:SS`.
pub fn clock(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let offset = local_offset_secs(secs);
    let day = (secs + offset).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}

#[cfg(unix)]
fn local_offset_secs(at: i64) -> i64 {
    let t = at as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`, which lives on this stack frame.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            0
        } else {
            tm.tm_gmtoff as i64
        }
    }
}

#[cfg(not(unix))]
fn local_offset_secs(_at: i64) -> i64 {
    0
}
