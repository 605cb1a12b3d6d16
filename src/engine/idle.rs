//! The idle timer: one task in the daemon drives every workspace. It wakes when a decision
//! is due (a warning, a stop, a keep-alive going stale), when a CPU sample is due (one per
//! running workspace a minute), or when poked (a start, a stop, a snooze, a signal taking a
//! warning back) — never on a fixed tick per workspace.

use super::{Engine, EngineEvent};
use crate::activity::files::{LEASE_PREFIX, write_warning};
use crate::activity::{ActivityState, ActivityView, Decision, Policy, Signal, Tracker};
use crate::error::{Error, Result};
use crate::model::{Status, Workspace, WorkspaceId, human_duration};
use crate::store::{IdleStop, Outcome, now_ms};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the CPU of a running workspace is sampled; `BERTH_ACTIVITY_SAMPLE_SECS` sets it
/// (tests, with idle timeouts of seconds).
const SAMPLE_EVERY: Duration = Duration::from_secs(60);
/// CPU over the last sample, in % of one core, above which a workspace counts as busy. An
/// idle code-server measured 0.75–0.99 % on our machines (README, "Idle stop"); a build or an
/// agent's tool run uses tens of percent.
const BUSY_CPU_PERCENT: f64 = 5.0;
/// The least time between two passes of the timer when poked.
const WAKE_FLOOR: Duration = Duration::from_millis(200);
/// How long one CPU sample may take before it counts as nothing.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest "Keep running".
const MAX_SNOOZE: Duration = Duration::from_secs(7 * 24 * 3600);
/// The default of "Keep running".
const SNOOZE: Duration = Duration::from_secs(30 * 60);

fn sample_every() -> Duration {
    std::env::var("BERTH_ACTIVITY_SAMPLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(SAMPLE_EVERY)
}

/// A `berth keepalive` from the host: the workspace is held until this is dropped.
pub struct Hold {
    tracker: Arc<Tracker>,
    id: WorkspaceId,
    key: u64,
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.tracker.release(self.id, self.key, now_ms());
    }
}

/// The last CPU sample of one workspace.
struct Sample {
    at_ms: i64,
    used_ns: u64,
    container: String,
}

impl Engine {
    /// The host folder the container writes its activity into (mounted at
    /// [`crate::docker::ACTIVITY_DIR`]); 0700 like the rest of the data dir.
    pub(super) fn activity_dir(&self, id: WorkspaceId) -> PathBuf {
        self.data_dir.join("activity").join(id.to_string())
    }

    /// A fresh activity folder for a container about to start: leases a killed container left
    /// behind must not hold the new one.
    pub(super) fn prepare_activity_dir(&self, id: WorkspaceId) -> Result<PathBuf> {
        let dir = self.activity_dir(id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io("cannot make the workspace's activity folder", e))?;
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(dir)
    }

    /// Follows a status change: a running workspace is tracked and its folders watched; any
    /// other status ends both.
    pub(super) fn track(&self, ws: &Workspace, status: Status) {
        match status {
            Status::Running => {
                if self.activity.started(ws.id, now_ms()) {
                    self.watch_files(ws);
                }
                let _ = self.db(|s| s.clear_idle_stop(ws.id));
            }
            Status::Starting => {}
            Status::Stopped | Status::Stopping | Status::Missing => {
                self.activity.forget(ws.id);
                self.files.unwatch(ws.id);
            }
        }
    }

    fn watch_files(&self, ws: &Workspace) {
        let dir = self.activity_dir(ws.id);
        // Leases already there belong to the running container (the daemon restarted).
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(LEASE_PREFIX) {
                    self.activity
                        .lease(ws.id, &name, Some("berth-keepalive".into()), now_ms());
                }
            }
        }
        // Walking a big project takes a moment; the start does not wait for it.
        let (projects, id, watch) = (ws.projects.clone(), ws.id, self.files.clone());
        tokio::task::spawn_blocking(move || watch.watch(id, &projects, &dir));
    }

    /// Runs until cancelled: the one timer of every workspace.
    pub async fn run_idle_timer(self: Arc<Self>, cancel: CancellationToken) {
        let every = sample_every();
        let mut samples: HashMap<WorkspaceId, Sample> = HashMap::new();
        let mut stopping: HashMap<WorkspaceId, tokio::task::JoinHandle<()>> = HashMap::new();
        loop {
            let now = now_ms();
            let running: Vec<Workspace> = self
                .db(|s| s.workspaces())
                .unwrap_or_default()
                .into_iter()
                .filter(|w| w.status == Status::Running)
                .collect();
            for ws in &running {
                if !self.activity.tracks(ws.id) {
                    self.track(ws, Status::Running);
                }
            }
            samples.retain(|id, _| running.iter().any(|w| w.id == *id));
            stopping.retain(|_, task| !task.is_finished());
            let mut wake = now + 3_600_000;
            for ws in &running {
                let due = samples
                    .get(&ws.id)
                    .map_or(now, |s| s.at_ms + every.as_millis() as i64);
                if due <= now {
                    self.sample_cpu(ws, &mut samples, now).await;
                }
                let next = samples.get(&ws.id).map_or(now, |s| s.at_ms) + every.as_millis() as i64;
                wake = wake.min(next);
                if stopping.contains_key(&ws.id) {
                    continue;
                }
                let policy = Policy::new(ws.idle_timeout_secs);
                let Some(look) = self.activity.look(ws.id, policy, now) else {
                    continue;
                };
                // Warned until it runs on: the stop itself ends the warning (its own event).
                let warned = matches!(look.decision, Decision::Warn { .. } | Decision::Stop { .. });
                if self.activity.set_warned(ws.id, warned, now) {
                    self.emit_activity(ws);
                    let stops_at = match look.decision {
                        Decision::Warn { stops_at_ms, .. } => Some(stops_at_ms),
                        _ => None,
                    };
                    self.tell_the_ide(ws.id, stops_at);
                }
                if let Decision::Stop { idle_since_ms } = look.decision {
                    let engine = self.clone();
                    let (id, name) = (ws.id, ws.name.to_string());
                    stopping.insert(
                        ws.id,
                        tokio::spawn(async move {
                            if let Err(e) = engine.idle_stop(id, idle_since_ms).await {
                                tracing::warn!("idle stop of {name} failed: {e}");
                            }
                        }),
                    );
                } else if let Some(at) = look.decision.next_wake_ms(policy.warn_ahead_ms) {
                    wake = wake.min(at);
                }
            }
            let sleep = Duration::from_millis((wake - now_ms()).clamp(10, 3_600_000) as u64);
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(sleep) => {}
                _ = self.activity.wake.notified() => {
                    // Pokes come in bursts (a container creating and removing leases in a
                    // loop): one pass per burst.
                    tokio::time::sleep(WAKE_FLOOR).await;
                }
            }
        }
    }

    /// One CPU sample; busy when the CPU since the last sample was over the threshold.
    async fn sample_cpu(
        &self,
        ws: &Workspace,
        samples: &mut HashMap<WorkspaceId, Sample>,
        now: i64,
    ) {
        let Some(container) = ws.container_id.clone() else {
            return;
        };
        let Ok(docker) = self.docker().await else {
            return;
        };
        let sample = tokio::time::timeout(SAMPLE_TIMEOUT, docker.cpu_used_ns(&container)).await;
        let Ok(Ok(Some(used_ns))) = sample else {
            // Not answering counts as nothing; the next sample tries again.
            samples.insert(
                ws.id,
                Sample {
                    at_ms: now,
                    used_ns: 0,
                    container,
                },
            );
            return;
        };
        if let Some(prev) = samples.get(&ws.id)
            && prev.container == container
            && prev.used_ns > 0
            && now > prev.at_ms
        {
            let percent = busy_percent(prev.used_ns, used_ns, now - prev.at_ms);
            if percent >= BUSY_CPU_PERCENT {
                let detail = format!("{percent:.0} %");
                self.activity
                    .record(ws.id, Signal::Busy, Some(&detail), now);
            }
        }
        samples.insert(
            ws.id,
            Sample {
                at_ms: now,
                used_ns,
                container,
            },
        );
    }

    /// Stops `id` for idleness, unless a signal came in meanwhile.
    async fn idle_stop(&self, id: WorkspaceId, idle_since_ms: i64) -> Result<()> {
        let Some(ws) = self.db(|s| s.workspace(id))? else {
            return Ok(());
        };
        let docker = self.docker().await?;
        let _lock = self.lock_workspace(&ws).await?;
        let ws = self.reload(ws.id, ws.name.as_str())?;
        if ws.status != Status::Running {
            return Ok(());
        }
        let policy = Policy::new(ws.idle_timeout_secs);
        let now = now_ms();
        match self.activity.look(id, policy, now) {
            Some(look) if matches!(look.decision, Decision::Stop { .. }) => {}
            _ => return Ok(()),
        }
        let why = format!(
            "idle: nothing happened for {} (no input in the IDE, file change, CPU work or keep-alive since {})",
            human_duration(policy.timeout_ms.unwrap_or(0) / 1000),
            clock(idle_since_ms)
        );
        let stop = IdleStop {
            stopped_at_ms: now,
            idle_since_ms,
        };
        self.stop_locked_because(docker, &ws, &why, Some(stop))
            .await?;
        self.db(|s| s.record_idle_stop(id, stop))?;
        self.emit_activity(&self.reload(id, ws.name.as_str())?);
        Ok(())
    }

    /// The warning (or its end) for Berth's extension in the IDE: whoever uses the IDE in a
    /// browser sees it there, with Keep running.
    fn tell_the_ide(&self, id: WorkspaceId, stops_at_ms: Option<i64>) {
        if let Err(e) = write_warning(&self.activity_dir(id), stops_at_ms) {
            tracing::debug!("cannot tell the IDE of the idle warning: {e}");
        }
    }

    /// Where `ws` stands and why.
    pub fn activity_of(&self, ws: &Workspace) -> ActivityView {
        let now = now_ms();
        let policy = Policy::new(ws.idle_timeout_secs);
        let look = (ws.status == Status::Running)
            .then(|| self.activity.look(ws.id, policy, now))
            .flatten();
        let state = match (&look, ws.status) {
            (Some(look), _) => ActivityState::of(look.decision),
            (None, Status::Running) => ActivityState::of(Decision::Active {
                idle_since_ms: now,
                stops_at_ms: now + policy.timeout_ms.unwrap_or(0),
            }),
            (None, _) => match self.db(|s| s.idle_stop(ws.id)).ok().flatten() {
                Some(stop) => ActivityState::StoppedIdle {
                    stopped_at_ms: stop.stopped_at_ms,
                    idle_since_ms: stop.idle_since_ms,
                },
                None => ActivityState::NotRunning,
            },
        };
        let (signals, held_by, snoozed_until_ms) = look
            .map(|l| (l.signals, l.held_by, l.snoozed_until_ms))
            .unwrap_or_default();
        ActivityView {
            id: ws.id,
            name: ws.name.to_string(),
            state,
            signals,
            held_by,
            snoozed_until_ms,
            timeout_secs: ws.idle_timeout_secs,
            now_ms: now,
        }
    }

    pub async fn activity(&self, name: &str) -> Result<ActivityView> {
        Ok(self.activity_of(&self.show(name).await?))
    }

    pub async fn activities(&self) -> Result<Vec<ActivityView>> {
        Ok(self
            .list()
            .await?
            .iter()
            .map(|ws| self.activity_of(ws))
            .collect())
    }

    fn emit_activity(&self, ws: &Workspace) {
        let _ = self.events.send(EngineEvent::Activity {
            activity: Box::new(self.activity_of(ws)),
        });
    }

    /// "Keep running": no idle stop for `duration` (default 30 min) from now.
    pub async fn snooze(&self, name: &str, duration: Option<Duration>) -> Result<ActivityView> {
        let ws = self.show(name).await?;
        let duration = duration.unwrap_or(SNOOZE);
        if duration.is_zero() || duration > MAX_SNOOZE {
            return Err(Error::invalid(format!(
                "cannot keep {name} running for {}: from a second to a week",
                human_duration(duration.as_secs().min(i64::MAX as u64) as i64)
            ))
            .keyed("snooze_invalid", []));
        }
        if ws.status != Status::Running || !self.activity.tracks(ws.id) {
            return Err(Error::conflict(format!(
                "{name} is not running: there is nothing to keep running"
            ))
            .keyed("snooze_not_running", [("name", name.to_string())]));
        }
        let now = now_ms();
        self.activity
            .snooze(ws.id, now + duration.as_millis() as i64, now);
        self.tell_the_ide(ws.id, None);
        self.audit(
            &ws,
            "snooze",
            Outcome::Ok,
            &format!(
                "kept running: no idle stop before {}",
                clock(now + duration.as_millis() as i64)
            ),
        );
        self.emit_activity(&ws);
        Ok(self.activity_of(&ws))
    }

    /// Start pressed on the gateway's stopped page of `id`.
    pub async fn start_from_page(&self, id: WorkspaceId) -> Result<()> {
        let Some(ws) = self.db(|s| s.workspace(id))? else {
            return Ok(());
        };
        self.audit(
            &ws,
            "start",
            Outcome::Info,
            "Start pressed on the workspace's stopped page",
        );
        self.start(ws.name.as_str()).await.map(drop)
    }

    /// Holds `name` awake while the returned [`Hold`] lives (`berth keepalive NAME -- CMD`).
    pub async fn hold(&self, name: &str, command: &str) -> Result<Hold> {
        let ws = self.show(name).await?;
        let key = self.activity.hold(
            ws.id,
            &crate::activity::files::shown_command(command),
            now_ms(),
        );
        self.emit_activity(&ws);
        Ok(Hold {
            tracker: self.activity.clone(),
            id: ws.id,
            key,
        })
    }
}

/// CPU in % of one core from two cumulative samples `elapsed_ms` apart.
pub fn busy_percent(before_ns: u64, after_ns: u64, elapsed_ms: i64) -> f64 {
    if elapsed_ms <= 0 {
        return 0.0;
    }
    after_ns.saturating_sub(before_ns) as f64 / (elapsed_ms as f64 * 1e6) * 100.0
}

/// A Unix-ms time as `HH:MM:SS` UTC, for the audit log (whose entries carry full times).
fn clock(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_percent_of_one_core_between_two_samples() {
        // 30 s of CPU in 60 s: half a core.
        assert_eq!(busy_percent(10_000_000_000, 40_000_000_000, 60_000), 50.0);
        assert_eq!(busy_percent(5, 4, 1000), 0.0);
        assert_eq!(busy_percent(0, 1, 0), 0.0);
    }

    #[test]
    fn times_read_like_a_person_wrote_them() {
        assert_eq!(human_duration(45), "45 s");
        assert_eq!(human_duration(1800), "30 min");
        assert_eq!(human_duration(7200), "2 h");
        assert_eq!(human_duration(5400), "1 h 30 min");
        assert_eq!(clock(((14 * 3600 + 2 * 60) * 1000) as i64), "14:02:00 UTC");
    }
}
