//! Following Docker's events so listeners hear of changes made outside Berth (`docker stop`)
//! at once. If the engine goes away the watcher says so, retries with backoff, and reconciles
//! when it is back — events missed meanwhile are caught by that reconcile.

use super::{Engine, EngineEvent};
use crate::docker::{self, ContainerEvent};
use crate::model::{Status, WorkspaceId};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running watch; stops when dropped.
pub struct Watcher {
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

const MAX_BACKOFF: Duration = Duration::from_secs(10);

impl Engine {
    /// Starts watching; status changes arrive on [`Engine::subscribe`].
    pub fn watch(self: &Arc<Self>) -> Watcher {
        let cancel = CancellationToken::new();
        let engine = Arc::clone(self);
        let token = cancel.clone();
        let task = tokio::spawn(async move {
            tokio::select! {
                _ = token.cancelled() => {}
                _ = engine.watch_loop() => {}
            }
        });
        Watcher {
            cancel,
            task: Some(task),
        }
    }

    async fn watch_loop(&self) {
        let mut backoff = Duration::from_millis(250);
        let mut lost = false;
        loop {
            let client = match self.docker().await {
                Ok(c) => c.clone(),
                Err(e) => {
                    self.lost(&mut lost, e.message);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            let mut events = Box::pin(docker::container_events(&client, self.install));
            if lost {
                // Back after an outage: what happened meanwhile is only visible by listing.
                if self.reconcile_with(&client).await.is_err() {
                    tokio::time::sleep(backoff).await;
                    continue;
                }
                lost = false;
                let _ = self.events.send(EngineEvent::DockerBack);
            }
            while let Some(item) = events.next().await {
                match item {
                    Ok(event) => {
                        backoff = Duration::from_millis(250);
                        self.apply_event(&event);
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

    fn apply_event(&self, event: &ContainerEvent) {
        let Some(status) = status_after(&event.action) else {
            return;
        };
        let Some(id) = event
            .workspace_id
            .as_deref()
            .and_then(|raw| uuid::Uuid::parse_str(raw).ok())
            .map(WorkspaceId)
        else {
            return;
        };
        let Ok(Some(ws)) = self.db(|s| s.workspace(id)) else {
            return;
        };
        // Only for a container we know as this workspace's: a stale duplicate dying must not
        // mark a running workspace stopped.
        if ws.container_id.as_deref() != Some(event.container_id.as_str()) {
            return;
        }
        // A Berth operation holding the workspace records and announces its own result
        // ("running" only once the IDE is healthy); only outside changes are ours to report.
        if let Ok(Some(_lock)) = self.try_lock_workspace(&id.to_string()) {
            let container = (status != Status::Missing).then_some(event.container_id.as_str());
            let _ = self.db(|s| s.set_container(id, container, status));
            self.emit_status(&ws, status);
        }
    }
}

/// The status a Docker action leaves a container in; `None` for actions that change nothing.
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
