//! Following Docker's events so clients hear of changes made outside Berth (`docker stop`) at
//! once. Each (re)connection subscribes first — from a moment just before, so Docker replays
//! anything in between — and reconciles second: nothing that happens around a reconnect is
//! lost. An event is a hint: the state recorded is the one Docker reports when asked. If the
//! engine goes away the watcher says so and retries with back-off.

use super::{Engine, EngineEvent};
use crate::docker::{self, ContainerEvent};
use crate::model::{Status, WorkspaceId};
use crate::store::Outcome;
use futures_util::StreamExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How far back a subscription starts: covers the gap to the reconcile and a little clock skew
/// with a remote engine. Replayed events are applied again, which changes nothing.
const REPLAY: Duration = Duration::from_secs(2);

impl Engine {
    /// Watches Docker for as long as it is polled (the daemon's `docker-events` task); status
    /// changes arrive on [`Engine::subscribe`].
    pub async fn watch_docker(&self) {
        let mut backoff = Duration::from_millis(250);
        let mut lost = false;
        loop {
            let since = unix_now() - REPLAY.as_secs_f64();
            // A first connection reconciles as part of connecting (after `since`, so nothing
            // is lost); only a reconnection needs its own.
            let first = self.docker.get().is_none();
            let client = match self.docker().await {
                Ok(c) => c.clone(),
                Err(e) => {
                    self.lost(&mut lost, e.message);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            let mut events = Box::pin(docker::container_events(&client, self.install, since));
            // What happened while nobody watched is only visible by listing.
            if !first && let Err(e) = self.reconcile_with(&client).await {
                self.lost(&mut lost, e.message);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            if lost {
                lost = false;
                let _ = self.events.send(EngineEvent::DockerBack);
            }
            while let Some(item) = events.next().await {
                match item {
                    Ok(event) => {
                        backoff = Duration::from_millis(250);
                        self.apply_event(&client, &event).await;
                    }
                    Err(e) => {
                        self.lost(&mut lost, e.message);
                        break;
                    }
                }
            }
            // The stream ended (engine restart, socket gone): retry.
            if !lost {
                self.lost(&mut lost, "the Docker events stream ended".into());
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    fn lost(&self, lost: &mut bool, message: String) {
        if !*lost {
            *lost = true;
            let _ = self.events.send(EngineEvent::DockerLost { message });
        }
    }

    /// An event says that something happened to a container; what state it is in now, Docker
    /// says when asked. So a replayed event (the subscription starts a little in the past) can
    /// only confirm what is, never bring back what was.
    async fn apply_event(&self, docker: &docker::Client, event: &ContainerEvent) {
        let Some(hinted) = status_after(&event.action) else {
            return;
        };
        let Some(id) = event.workspace_id.as_deref().and_then(WorkspaceId::parse) else {
            return;
        };
        let Ok(Some(ws)) = self.db(|s| s.workspace(id)) else {
            return;
        };
        // Only for the container Berth recorded: a copy made with `docker commit` carries the
        // same labels, and a stale duplicate dying must not mark a running workspace stopped.
        if ws.container_id.as_deref() != Some(event.container_id.as_str()) {
            return;
        }
        // A Berth operation holding the workspace records and announces its own result
        // ("running" only once the IDE is healthy); only outside changes are ours to report.
        let Ok(Some(_lock)) = self.try_lock_workspace(&id) else {
            return;
        };
        let inspected = docker.inspect_container(&event.container_id).await;
        let status = match &inspected {
            Ok(Some(c)) if c.running => Status::Running,
            Ok(Some(_)) => Status::Stopped,
            Ok(None) => Status::Missing,
            Err(_) => hinted,
        };
        if ws.status == status {
            return;
        }
        match (status, &inspected) {
            (Status::Running, Ok(Some(c))) => self.serve_found(docker, &ws, c).await,
            (Status::Running, _) => {}
            _ => self.park_stopped(ws.id, None),
        }
        let container = (status != Status::Missing).then_some(event.container_id.as_str());
        let _ = self.db(|s| s.set_container(id, container, status));
        let why = format!("changed outside Berth: {} → {status}", ws.status);
        self.audit(&ws, "outside", Outcome::Info, &why);
        self.emit_status(&ws, status);
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The status a Docker action leaves a container in (used when Docker cannot be asked);
/// `None` for actions that change nothing.
fn status_after(action: &str) -> Option<Status> {
    match action {
        "start" => Some(Status::Running),
        // Not "kill": a process may survive the signal. "die" is the container really ending.
        "die" => Some(Status::Stopped),
        "destroy" => Some(Status::Missing),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_map_to_statuses() {
        assert_eq!(status_after("start"), Some(Status::Running));
        assert_eq!(status_after("die"), Some(Status::Stopped));
        assert_eq!(status_after("destroy"), Some(Status::Missing));
        assert_eq!(status_after("exec_start"), None);
        assert_eq!(status_after("kill"), None);
        assert_eq!(status_after("create"), None);
    }
}
