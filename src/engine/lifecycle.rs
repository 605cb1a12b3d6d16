//! Create, start, stop, restart, delete. Each takes the workspace lock, re-reads the row under
//! it, and is idempotent: starting a running workspace or stopping a stopped one succeeds.

use super::{Engine, LOCK_WAIT, failpoint, health, lock::FileLock, lock::lock_path};
use crate::docker::{self, ContainerInfo, LogLine};
use crate::error::{Code, Error, Result};
use crate::model::{
    ImageRef, LimitOverrides, Status, Workspace, WorkspaceId, WorkspaceName, validate_project_path,
};
use crate::ports;
use crate::secrets::argon2_hash;
use crate::store::Outcome;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Seconds Docker waits after SIGTERM before SIGKILL.
const STOP_GRACE_SECS: i32 = 10;
const HEALTH_POLL: Duration = Duration::from_millis(50);
/// How often, while waiting for health, we ask Docker whether the container died.
const LIVENESS_EVERY: Duration = Duration::from_millis(500);
const MAX_DESCRIPTION: usize = 2000;

#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub name: String,
    pub image: String,
    pub projects: Vec<PathBuf>,
    pub description: String,
    pub limits: LimitOverrides,
    /// `None`: the global default; `Some(None)`: never stop for idleness.
    pub idle_timeout: Option<Option<Duration>>,
}

#[derive(Debug, Clone)]
pub struct Started {
    pub workspace: Workspace,
    pub url: String,
    /// Things the user must hear about (a changed port), already in the audit log.
    pub notes: Vec<String>,
}

impl Engine {
    /// Validates everything before touching Docker, then records the workspace, allocates its
    /// port and creates its network and (stopped) container.
    pub async fn create(&self, req: CreateRequest) -> Result<Workspace> {
        let mut ws = self.validate_new(&req)?;
        let docker = self.docker().await?;
        let image = docker.inspect_image(ws.image.as_str()).await?.ok_or_else(|| {
            Error::not_found(format!(
                "image {:?} is not available locally; build it first (`berth image build test`, or `docker build`/`docker load`)",
                ws.image.as_str()
            ))
            .keyed("image_missing", [("image", ws.image.to_string())])
        })?;
        ws.ide = image.ide_endpoint()?;

        let _lock = self.lock_workspace(&ws).await?;
        let range = self.settings()?.port_range;
        let ws = self.db(|s| {
            s.insert_workspace(&ws, |taken| ports::pick_free(range, taken, ports::in_use))
        })?;
        match self.create_container(docker, &ws).await {
            Ok(_) => {
                let detail = format!(
                    "image {}, port {}, projects {}",
                    ws.image,
                    ws.port.unwrap_or_default(),
                    join_paths(&ws.projects)
                );
                self.audit(&ws, "create", Outcome::Ok, &detail);
                let ws = self.reload(ws.id, ws.name.as_str())?;
                self.emit_status(&ws, ws.status);
                Ok(ws)
            }
            Err(e) => {
                // Nothing half-made stays behind: no container, no network, no row, no port.
                let _ = self.remove_objects(docker, &ws).await;
                self.db(|s| s.delete_workspace(ws.id))?;
                self.audit(&ws, "create", Outcome::Failed, &e.message);
                Err(e)
            }
        }
    }

    fn validate_new(&self, req: &CreateRequest) -> Result<Workspace> {
        let name = WorkspaceName::parse(&req.name)?;
        let image = ImageRef::parse(&req.image)?;
        if req.projects.is_empty() {
            return Err(
                Error::invalid("a workspace needs at least one project folder")
                    .keyed("projects_none", []),
            );
        }
        let home = dirs::home_dir();
        let mut projects: Vec<PathBuf> = Vec::new();
        for raw in &req.projects {
            let path = validate_project_path(raw, home.as_deref())?;
            if projects.contains(&path) {
                return Err(Error::invalid(format!(
                    "project folder {:?} is listed twice",
                    path.display()
                ))
                .keyed("project_twice", [("path", path.display().to_string())]));
            }
            projects.push(path);
        }
        if req.description.chars().count() > MAX_DESCRIPTION {
            return Err(Error::invalid(format!(
                "the description is longer than {MAX_DESCRIPTION} characters"
            )));
        }
        self.check_name_free(&name)?;
        let settings = self.settings()?;
        Ok(Workspace {
            id: WorkspaceId::new(),
            name,
            description: req.description.clone(),
            image,
            projects,
            limits: req.limits,
            idle_timeout_secs: match req.idle_timeout {
                None => settings.default_idle_timeout_secs,
                Some(t) => t.map(|d| d.as_secs()),
            },
            ide: Default::default(),
            port: None,
            container_id: None,
            status: Status::Stopped,
            created_at: 0,
            updated_at: 0,
        })
    }

    /// The name check the create form runs as the user types: grammar, then uniqueness.
    pub fn check_name(&self, raw: &str) -> Result<()> {
        self.check_name_free(&WorkspaceName::parse(raw)?)
    }

    fn check_name_free(&self, name: &WorkspaceName) -> Result<()> {
        match self.db(|s| s.workspace_by_name(name.as_str()))? {
            None => Ok(()),
            Some(existing) => Err(Error::conflict(format!(
                "a workspace named {:?} already exists",
                existing.name.as_str()
            ))
            .keyed("name_taken", [("name", existing.name.to_string())])),
        }
    }

    /// The project folder check the create form runs when a folder is chosen.
    pub fn check_project(&self, raw: &std::path::Path) -> Result<PathBuf> {
        validate_project_path(raw, dirs::home_dir().as_deref())
    }

    /// Network + container for `ws` (whose port is allocated); records the container id.
    async fn create_container(&self, docker: &docker::Client, ws: &Workspace) -> Result<String> {
        self.progress(ws, "creating_container");
        let limits = ws.limits.over(&self.settings()?.default_limits);
        // Rootless engines map the container's root to the user already; anywhere else the
        // container runs as the user, so files made in projects are theirs on the host.
        let owner = if docker.rootless().await? {
            Some((0, 0))
        } else {
            host_user()
        };
        let code_workspace = self.write_code_workspace(ws)?;
        let run = docker::RunAs {
            user: owner.map(|(uid, gid)| format!("{uid}:{gid}")),
            code_workspace_file: Some(code_workspace),
            ide_password_hash: match ws.ide.auth {
                Some(_) => Some(argon2_hash(
                    &self.secrets.get_or_create(&ws.id.to_string())?,
                )?),
                None => None,
            },
        };
        docker
            .ensure_network(docker::plan_network(ws, self.install), self.install)
            .await?;
        let id = docker
            .create_container(docker::plan_container(ws, &limits, self.install, &run))
            .await?;
        failpoint("after-container-create");
        self.db(|s| s.set_container(ws.id, Some(&id), Status::Stopped))?;
        Ok(id)
    }

    fn code_workspace_file(&self, ws: &Workspace) -> PathBuf {
        self.data_dir
            .join("code-workspaces")
            .join(format!("{}.code-workspace", ws.id))
    }

    /// The multi-root `.code-workspace` of all projects, in the data dir (the container
    /// mounts it; VS Code may write workspace settings into it, and they survive rebuilds).
    fn write_code_workspace(&self, ws: &Workspace) -> Result<PathBuf> {
        let path = self.code_workspace_file(ws);
        if !path.exists() {
            std::fs::create_dir_all(path.parent().expect("has a parent"))
                .and_then(|_| std::fs::write(&path, docker::code_workspace(ws)))
                .map_err(|e| Error::io("cannot write the .code-workspace file", e))?;
        }
        Ok(path)
    }

    /// Starts the workspace and waits until its IDE answers; returns its URL.
    pub async fn start(&self, name: &str) -> Result<Started> {
        let ws = self.find(name)?;
        let docker = self.docker().await?;
        let _lock = self.lock_workspace(&ws).await?;
        let ws = self.reload(ws.id, name)?;
        self.start_locked(docker, ws).await
    }

    pub async fn stop(&self, name: &str) -> Result<Workspace> {
        let ws = self.find(name)?;
        let docker = self.docker().await?;
        let _lock = self.lock_workspace(&ws).await?;
        let ws = self.reload(ws.id, name)?;
        self.stop_locked(docker, &ws).await?;
        self.reload(ws.id, name)
    }

    pub async fn restart(&self, name: &str) -> Result<Started> {
        let ws = self.find(name)?;
        let docker = self.docker().await?;
        let _lock = self.lock_workspace(&ws).await?;
        let ws = self.reload(ws.id, name)?;
        self.stop_locked(docker, &ws).await?;
        let ws = self.reload(ws.id, name)?;
        self.start_locked(docker, ws).await
    }

    /// Removes container, network and port. Project folders are never touched.
    pub async fn delete(&self, name: &str) -> Result<()> {
        let ws = self.find(name)?;
        let docker = self.docker().await?;
        let _lock = self.lock_workspace(&ws).await?;
        let ws = self.reload(ws.id, name)?;
        if let Err(e) = self.remove_objects(docker, &ws).await {
            self.audit(&ws, "delete", Outcome::Failed, &e.message);
            return Err(e);
        }
        self.db(|s| s.delete_workspace(ws.id))?;
        self.secrets.remove(&ws.id.to_string())?;
        let _ = std::fs::remove_file(self.code_workspace_file(&ws));
        let detail = format!(
            "removed container {}, network {} and port {}; project folders left untouched",
            ws.container_name(),
            ws.network_name(),
            ws.port.map(|p| p.to_string()).unwrap_or_else(|| "-".into())
        );
        self.audit(&ws, "delete", Outcome::Ok, &detail);
        let _ = self.events.send(super::EngineEvent::Removed {
            id: ws.id,
            name: ws.name.to_string(),
        });
        Ok(())
    }

    /// Container output; with `follow`, until the container stops or the stream is dropped.
    pub async fn logs(
        &self,
        name: &str,
        follow: bool,
        tail: Option<usize>,
    ) -> Result<BoxStream<'_, Result<LogLine>>> {
        let ws = self.show(name).await?;
        let docker = self.docker().await?;
        let container = self.find_container(docker, &ws).await?.ok_or_else(|| {
            Error::not_found(format!(
                "workspace {name:?} has no container (it was removed outside Berth); `berth start {name}` recreates it"
            ))
        })?;
        Ok(docker.logs(&container.id, follow, tail))
    }

    async fn start_locked(&self, docker: &docker::Client, ws: Workspace) -> Result<Started> {
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
                let _ = self.set_status(&ws, status);
                Err(e)
            }
        }
    }

    async fn start_inner(&self, docker: &docker::Client, mut ws: Workspace) -> Result<Started> {
        // The folders may have changed since create (a symlink swapped for one to `/`).
        let home = dirs::home_dir();
        for path in &ws.projects {
            validate_project_path(path, home.as_deref())?;
        }
        let mut notes = Vec::new();
        let mut container = self.find_container(docker, &ws).await?;
        if let Some(c) = &container
            && c.running
        {
            return self.await_healthy(docker, ws, &c.id, notes).await;
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
        let running: Vec<String> = docker
            .list_containers(self.install, None)
            .await?
            .into_iter()
            .filter(|c| c.running && c.workspace_id() != Some(&ws.id.to_string()))
            .filter_map(|c| c.labels.get(docker::labels::NAME).cloned())
            .collect();
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

        let port_ok = ws.port.is_some_and(|p| !ports::in_use(p));
        if !port_ok {
            let old = ws.port;
            let range = settings.port_range;
            let new = self.db(|s| {
                s.reassign_port(ws.id, |taken| ports::pick_free(range, taken, ports::in_use))
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
        }
        // A container's published port is fixed when it is made: recreate it on a new port.
        if let Some(c) = &container
            && !c.host_ports.contains(&ws.port.unwrap_or_default())
        {
            docker.remove_container(&c.id).await?;
            container = None;
        }
        let container_id = match container {
            Some(c) => c.id,
            None => self.create_container(docker, &ws).await?,
        };
        self.set_status(&ws, Status::Starting)?;
        self.progress(&ws, "starting_container");
        docker.start_container(&container_id).await?;
        failpoint("after-container-start");
        drop(_gate);
        // No inspect here: the health loop's liveness check notices a container that died.
        self.await_healthy(docker, ws, &container_id, notes).await
    }

    async fn await_healthy(
        &self,
        docker: &docker::Client,
        ws: Workspace,
        container_id: &str,
        notes: Vec<String>,
    ) -> Result<Started> {
        let port = ws
            .port
            .ok_or_else(|| Error::new(Code::StartFailed, "the workspace has no port"))?;
        self.progress(&ws, "waiting_for_ide");
        let timeout = Duration::from_secs(self.settings()?.start_timeout_secs);
        let started = Instant::now();
        let mut last_liveness = Instant::now();
        loop {
            if let Some(status) = health::probe(port, &ws.ide.health_path).await
                && (200..300).contains(&status)
            {
                break;
            }
            if last_liveness.elapsed() >= LIVENESS_EVERY {
                last_liveness = Instant::now();
                let info = docker.inspect_container(container_id).await?;
                if !info.as_ref().is_some_and(|c| c.running) {
                    return Err(self.exited_error(docker, &ws, info.as_ref()).await);
                }
            }
            if started.elapsed() >= timeout {
                // Never leave a half-started container spinning.
                let _ = docker.stop_container(container_id, STOP_GRACE_SECS).await;
                return Err(Error::new(
                    Code::StartFailed,
                    format!(
                        "{} did not answer {} on port {port} within {} s; stopped it (see `berth logs {}`)",
                        ws.name,
                        ws.ide.health_path,
                        timeout.as_secs(),
                        ws.name
                    ),
                ));
            }
            tokio::time::sleep(HEALTH_POLL).await;
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
        let mut tail = String::new();
        if let Some(c) = info {
            let mut logs = docker.logs(&c.id, false, Some(10));
            while let Some(Ok(LogLine::Out(b) | LogLine::Err(b))) = logs.next().await {
                tail.push_str(&String::from_utf8_lossy(&b));
            }
        }
        let cause = likely_cause(info.is_some_and(|c| c.oom_killed), &tail);
        let tail = tail.trim().replace('\n', " | ");
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

    async fn stop_locked(&self, docker: &docker::Client, ws: &Workspace) -> Result<()> {
        let Some(container) = self.find_container(docker, ws).await? else {
            if ws.status != Status::Missing {
                self.db(|s| s.set_container(ws.id, None, Status::Missing))?;
                self.emit_status(ws, Status::Missing);
            }
            return Ok(());
        };
        if container.running {
            self.set_status(ws, Status::Stopping)?;
            if let Err(e) = docker.stop_container(&container.id, STOP_GRACE_SECS).await {
                self.audit(ws, "stop", Outcome::Failed, &e.message);
                let _ = self.set_status(ws, Status::Running);
                return Err(e);
            }
            self.audit(ws, "stop", Outcome::Ok, "");
        }
        self.db(|s| s.set_container(ws.id, Some(&container.id), Status::Stopped))?;
        self.emit_status(ws, Status::Stopped);
        Ok(())
    }

    /// The workspace's container: by recorded id, else by label (adopting what a killed
    /// process left behind).
    pub(super) async fn find_container(
        &self,
        docker: &docker::Client,
        ws: &Workspace,
    ) -> Result<Option<ContainerInfo>> {
        if let Some(id) = &ws.container_id
            && let Some(info) = docker.inspect_container(id).await?
            && docker::labels::is_ours(Some(&info.labels), self.install)
        {
            return Ok(Some(info));
        }
        let found = docker
            .list_containers(self.install, Some(&ws.id.to_string()))
            .await?;
        match found.into_iter().next() {
            Some(c) => docker.inspect_container(&c.id).await,
            None => Ok(None),
        }
    }

    /// Every container and network of `ws`, found by label (never by name: a look-alike
    /// object of another install must survive).
    async fn remove_objects(&self, docker: &docker::Client, ws: &Workspace) -> Result<()> {
        for c in docker
            .list_containers(self.install, Some(&ws.id.to_string()))
            .await?
        {
            docker.remove_container(&c.id).await?;
        }
        let id = ws.id.to_string();
        for (network, owner) in docker.list_networks(self.install).await? {
            if owner.as_deref() == Some(id.as_str()) {
                docker.remove_network(&network).await?;
            }
        }
        Ok(())
    }
}

/// Which of Berth's hardening settings most likely stopped an image, read from what the
/// container left behind. Berth never retries: the user decides (see DESIGN: no silent
/// restart loops).
fn likely_cause(oom_killed: bool, output: &str) -> &'static str {
    let out = output.to_ascii_lowercase();
    if oom_killed {
        "the memory limit killed it (raise --memory)"
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

/// The uid and gid Berth runs as. On Linux containers run as them, so files created in a
/// project belong to the user on the host. (Docker Desktop on macOS/Windows maps ownership
/// itself; rootless Docker and Podman map container root to the user — see the README.)
fn host_user() -> Option<(u64, u64)> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getuid/getgid cannot fail and touch no memory.
        Some(unsafe { (libc::getuid() as u64, libc::getgid() as u64) })
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::likely_cause;

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
    }
}
