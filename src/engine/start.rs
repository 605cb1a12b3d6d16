//! Starting: find or make the container, respect the running cap and the port, start it, and
//! wait until its IDE answers. A start never stops a workspace that was already running.

use super::health::Health;
use super::lifecycle::{STOP_GRACE_SECS, Started};
use super::{Engine, LOCK_WAIT, failpoint};
use crate::docker::{self, ContainerInfo};
use crate::error::{Code, Error, Result};
use crate::lockfile::{FileLock, lock_path};
use crate::model::{Kind, Status, Workspace};
use crate::ports;
use crate::store::Outcome;
use std::collections::HashMap;
use std::time::Duration;

impl Engine {
    pub(super) async fn start_locked(
        &self,
        docker: &docker::Client,
        ws: Workspace,
    ) -> Result<Started> {
        match self.start_inner(docker, ws.clone()).await {
            Ok(started) => Ok(started),
            Err(e) => {
                self.audit(&ws, "start", Outcome::Failed, &e.message);
                let status = match self.find_container(docker, &ws).await {
                    Ok(Some(c)) if c.running => Status::Running,
                    Ok(Some(_)) => Status::Stopped,
                    Ok(None) => Status::Missing,
                    Err(_) => ws.status,
                };
                if status != Status::Running {
                    self.park_stopped(ws.id, None);
                }
                let _ = self.set_status(&ws, status);
                Err(e)
            }
        }
    }

    async fn start_inner(&self, docker: &docker::Client, mut ws: Workspace) -> Result<Started> {
        // The folders may have changed since create (a symlink swapped for one to `/`).
        let folders = self.check_projects(&ws)?;
        let mut notes = Vec::new();
        let mut container = self.find_container(docker, &ws).await?;
        if let Some(c) = &container
            && c.running
        {
            // Already running: wait for its IDE, and never stop it for being slow.
            return self.await_healthy(docker, ws, &c.id, notes, false).await;
        }

        // The gate makes "count running, then start" atomic across Berth processes, so two
        // starts cannot both squeeze under the cap.
        let _gate = FileLock::acquire(
            &lock_path(&self.data_dir, "start-gate"),
            "the start queue",
            LOCK_WAIT,
        )
        .await?;
        let settings = self.settings()?;
        // The cap counts workspaces, by the containers Berth recorded for them: a copy a user
        // runs from a `docker commit` is not one of Berth's, and previews have their own cap.
        let recorded: HashMap<String, String> = self
            .db(|s| s.workspaces())?
            .into_iter()
            .filter(|w| w.id != ws.id)
            .filter_map(|w| Some((w.container_id?, w.name.to_string())))
            .collect();
        let mut running: Vec<String> = docker
            .list_containers(self.install, None)
            .await?
            .into_iter()
            .filter(|c| c.running && c.kind() == Some(Kind::Workspace))
            .filter_map(|c| recorded.get(&c.id).cloned())
            .collect();
        running.sort();
        if running.len() >= settings.max_running as usize {
            return Err(Error::new(
                Code::LimitReached,
                format!(
                    "cannot start {:?}: {} workspaces are already running ({}), the limit is {}; stop one or raise the limit in the settings",
                    ws.name.as_str(),
                    running.len(),
                    running.join(", "),
                    settings.max_running
                ),
            )
            .keyed(
                "limit_reached",
                [
                    ("running", running.join(", ")),
                    ("limit", settings.max_running.to_string()),
                ],
            ));
        }

        // A port the gateway already holds for this workspace is not "in use by another".
        let port_ok = ws
            .port
            .is_some_and(|p| self.gateway.holds(ws.id, p) || !ports::in_use(p));
        if !port_ok {
            let old = ws.port;
            let range = settings.port_range;
            let new = self.db(|s| {
                let after = s.last_port()?;
                s.reassign_port(ws.id, |taken| {
                    ports::pick_free(range, taken, ports::in_use, after)
                })
            })?;
            let note = match old {
                Some(old) => format!(
                    "port {old} is in use by another program; {} now uses port {new}",
                    ws.name
                ),
                None => format!("{} got port {new}", ws.name),
            };
            self.audit(&ws, "port-changed", Outcome::Info, &note);
            notes.push(note);
            ws.port = Some(new);
            // Every client shows the new URL now, not after the start.
            self.emit_updated(&ws);
        }
        // Nothing is lost by making it again: the root is read-only, home lives in its volume.
        if let Some(c) = &container
            && let Some(why) = remake(&c.labels, &ws)
        {
            docker.remove_container(&c.id).await?;
            if why == Remake::Layout {
                self.audit(
                    &ws,
                    "recreate",
                    Outcome::Info,
                    "made again with this Berth's container layout",
                );
            }
            container = None;
        }
        // The port is Berth's before the container runs: nobody can take it in between.
        self.bind_gateway(&ws).await?;
        let container_id = match container {
            Some(c) => c.id,
            None => self.create_container(docker, &ws).await?,
        };
        self.prepare_activity_dir(ws.id)?;
        self.set_status(&ws, Status::Starting)?;
        self.progress(&ws, "starting_container");
        docker.start_container(&container_id).await?;
        failpoint("after-container-start");
        if let Err(e) = self
            .check_mounted(docker, &ws, &container_id, &folders)
            .await
        {
            let _ = docker.stop_container(&container_id, 0).await;
            return Err(e);
        }
        drop(_gate);
        // No inspect here: the health loop's liveness check notices a container that died.
        self.await_healthy(docker, ws, &container_id, notes, true)
            .await
    }

    async fn await_healthy(
        &self,
        docker: &docker::Client,
        ws: Workspace,
        container_id: &str,
        notes: Vec<String>,
        started_here: bool,
    ) -> Result<Started> {
        let port = ws
            .port
            .ok_or_else(|| Error::new(Code::StartFailed, "the workspace has no port"))?;
        self.bind_gateway(&ws).await?;
        self.progress(&ws, "waiting_for_ide");
        let (health, timeout) = self.wait_for_ide(docker, &ws, container_id).await?;
        match health {
            Health::Healthy(_, addr) => {
                self.serve_healthy(docker, &ws, container_id, addr).await?;
            }
            Health::Exited(info) => {
                return Err(self.exited_error(docker, &ws, info.as_ref()).await);
            }
            Health::TimedOut => {
                return Err(self
                    .health_timeout(docker, &ws, container_id, port, timeout, started_here)
                    .await);
            }
        }
        self.db(|s| s.set_container(ws.id, Some(container_id), Status::Running))?;
        self.emit_status(&ws, Status::Running);
        let url = ws.url().unwrap_or_default();
        self.audit(&ws, "start", Outcome::Ok, &url);
        let workspace = self.reload(ws.id, ws.name.as_str())?;
        Ok(Started {
            workspace,
            url,
            notes,
        })
    }

    /// The IDE did not answer in time. A container this start launched is stopped (no
    /// half-started container spins on); one that was already running is left running: start
    /// never stops a workspace someone may be using.
    async fn health_timeout(
        &self,
        docker: &docker::Client,
        ws: &Workspace,
        container_id: &str,
        port: u16,
        timeout: Duration,
        started_here: bool,
    ) -> Error {
        let what = format!(
            "{} did not answer {} on its IDE port {} within {} s (Berth serves it on port {port})",
            ws.name,
            ws.ide.health_path,
            ws.ide.port,
            timeout.as_secs()
        );
        let message = if started_here {
            let _ = docker.stop_container(container_id, STOP_GRACE_SECS).await;
            format!("{what}; stopped it (see `berth logs {}`)", ws.name)
        } else {
            format!(
                "{what}; it was already running and is left running (see `berth logs {}`)",
                ws.name
            )
        };
        Error::new(Code::StartFailed, message)
    }

    /// Why a container stopped during start: its exit code and its last log lines.
    async fn exited_error(
        &self,
        docker: &docker::Client,
        ws: &Workspace,
        info: Option<&ContainerInfo>,
    ) -> Error {
        let code = info
            .and_then(|c| c.exit_code)
            .map(|c| c.to_string())
            .unwrap_or_else(|| "unknown".into());
        let tail = match info {
            Some(c) => super::containers::last_output(docker, &c.id).await,
            None => String::new(),
        };
        let cause = likely_cause(info.is_some_and(|c| c.oom_killed), &tail);
        let tail = super::containers::one_line(&tail);
        Error::new(
            Code::StartFailed,
            format!(
                "{} exited during start (exit code {code}); {cause}; last output: {}",
                ws.name,
                if tail.is_empty() { "(none)" } else { &tail }
            ),
        )
        .keyed(
            "start_exited",
            [("name", ws.name.to_string()), ("cause", cause.to_string())],
        )
    }
}

/// Why a stopped container is made again before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Remake {
    /// Made by an older Berth (another layout: a published port, a writable root).
    Layout,
    /// The workspace has API keys: its proxy token is new at every start (the last one ended
    /// with the stop) and an env-mode key may have changed, and both live in the environment.
    Credentials,
}

/// Whether the stopped container with `labels` can start as it is for `ws`. Pure.
fn remake(labels: &HashMap<String, String>, ws: &Workspace) -> Option<Remake> {
    if labels.get(docker::labels::SPEC).map(String::as_str) != Some(docker::SPEC) {
        Some(Remake::Layout)
    } else if !ws.keys.is_empty() {
        Some(Remake::Credentials)
    } else {
        None
    }
}

/// Which of Berth's hardening settings most likely stopped an image, read from what the
/// container left behind. Berth never retries: the user decides (see DESIGN: no silent
/// restart loops).
fn likely_cause(oom_killed: bool, output: &str) -> &'static str {
    let out = output.to_ascii_lowercase();
    if oom_killed {
        "the memory limit killed it (raise --memory)"
    } else if out.contains("read-only file system") {
        "it writes outside its home, the projects and /tmp, and Berth's root filesystem is read-only"
    } else if out.contains("operation not permitted") {
        "it needs a capability Berth drops (cap-drop ALL) or a privilege gain (no-new-privileges)"
    } else if out.contains("resource temporarily unavailable") || out.contains("can't fork") {
        "it hit the process limit (raise --pids)"
    } else if out.contains("permission denied") {
        "it cannot write where it wants as the host user Berth runs it as"
    } else {
        "its own error, not one of Berth's limits as far as its output tells"
    }
}

#[cfg(test)]
mod tests {
    use super::{Remake, likely_cause, remake};
    use crate::docker;
    use std::collections::HashMap;

    #[test]
    fn a_container_is_made_again_for_a_new_layout_or_fresh_credentials() {
        let mut ws = crate::store::sample_workspace("w");
        let current = HashMap::from([(docker::labels::SPEC.to_string(), docker::SPEC.to_string())]);
        assert_eq!(remake(&current, &ws), None);
        assert_eq!(remake(&HashMap::new(), &ws), Some(Remake::Layout));
        ws.keys = vec![crate::model::KeyUse::parse("anthropic").unwrap()];
        assert_eq!(remake(&current, &ws), Some(Remake::Credentials));
        assert_eq!(remake(&HashMap::new(), &ws), Some(Remake::Layout));
    }

    #[test]
    fn names_the_setting_that_broke_an_image() {
        assert!(likely_cause(true, "").contains("memory"));
        assert!(
            likely_cause(false, "chown: /www: Operation not permitted").contains("cap-drop ALL")
        );
        assert!(
            likely_cause(false, "sh: can't fork: Resource temporarily unavailable")
                .contains("--pids")
        );
        assert!(likely_cause(false, "open /home/x: Permission denied").contains("host user"));
        assert!(likely_cause(false, "segfault").contains("its own error"));
        assert!(likely_cause(false, "touch: /www/x: Read-only file system").contains("read-only"));
    }
}
