//! Create, start, stop, restart, delete. Each takes the workspace lock, re-reads the row under
//! it, and is idempotent: starting a running workspace or stopping a stopped one succeeds.

use super::{Engine, failpoint};
use crate::docker::{self, LogLine};
use crate::error::{Error, Result};
use crate::model::{
    ImageRef, LimitOverrides, Limits, Protected, Status, Workspace, WorkspaceId, WorkspaceName,
    validate_idle_timeout, validate_project_path,
};
use crate::ports;
use crate::store::Outcome;
use futures_util::stream::BoxStream;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Seconds Docker waits after SIGTERM before SIGKILL.
pub(super) const STOP_GRACE_SECS: i32 = 10;
/// A force stop's wait: a workspace that ignores SIGTERM is killed after this.
pub const FORCE_GRACE_SECS: i32 = 2;
const MAX_DESCRIPTION: usize = 2000;

/// The engine's check of a description from any client.
pub(super) fn check_description(description: &str) -> Result<()> {
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(Error::invalid(format!(
            "the description is longer than {MAX_DESCRIPTION} characters"
        ))
        .keyed(
            "description_too_long",
            [("max", MAX_DESCRIPTION.to_string())],
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub name: String,
    pub image: String,
    pub projects: Vec<PathBuf>,
    pub description: String,
    pub limits: LimitOverrides,
    /// `None`: the global default; `Some(None)`: never stop for idleness.
    pub idle_timeout: Option<Option<Duration>>,
    /// API keys it gets, and how.
    pub keys: Vec<crate::model::KeyUse>,
}

/// A container just made, and the uid:gid it runs as (`None`: the image's own user).
pub(super) struct MadeContainer {
    pub id: String,
    pub owner: Option<(u64, u64)>,
}

/// What a container gets beyond the workspace's record: the IDE's password folder, the
/// creation token, the API keys' environment.
#[derive(Default)]
pub(super) struct Fitting {
    pub ide_config_dir: Option<PathBuf>,
    pub token: Option<String>,
    pub key_env: Vec<crate::secrets::Sensitive<String>>,
}

/// What `delete` did beyond the obvious.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deleted {
    pub name: String,
    /// Objects left behind and why (already in the audit log).
    pub notes: Vec<String>,
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
            let after = s.last_port()?;
            s.insert_workspace(&ws, |taken| {
                ports::pick_free(range, taken, ports::in_use, after)
            })
        })?;
        let made = match self.check_projects(&ws) {
            Ok(_) => self.create_container(docker, &ws).await,
            Err(e) => Err(e),
        };
        match made {
            Ok(_) => {
                let detail = format!(
                    "image {}, port {}, projects {}",
                    ws.image,
                    ws.port.unwrap_or_default(),
                    join_paths(&ws.projects)
                );
                self.audit(&ws, "create", Outcome::Ok, &detail);
                let ws = self.reload(ws.id, ws.name.as_str())?;
                self.emit_updated(&ws);
                Ok(ws)
            }
            Err(e) => {
                // Nothing half-made stays behind: no container, no network, no row, no port.
                let _ = self.remove_containers(docker, &ws).await;
                let _ = self.remove_networks(docker, &ws).await;
                let _ = docker
                    .remove_volume(&docker::home_volume_name(&ws), self.install)
                    .await;
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
        let protected = self.protected_paths();
        let mut projects: Vec<PathBuf> = Vec::new();
        for raw in &req.projects {
            let path = validate_project_path(raw, &protected)?;
            if projects.contains(&path) {
                return Err(Error::invalid(format!(
                    "project folder {:?} is listed twice",
                    path.display()
                ))
                .keyed("project_twice", [("path", path.display().to_string())]));
            }
            if let Some(other) = projects
                .iter()
                .find(|p| p.starts_with(&path) || path.starts_with(p))
            {
                return Err(Error::invalid(format!(
                    "project folders {:?} and {:?} overlap: one is inside the other",
                    other.display(),
                    path.display()
                ))
                .keyed("project_overlap", [("path", path.display().to_string())]));
            }
            projects.push(path);
        }
        check_description(&req.description)?;
        req.limits.validate()?;
        if let Some(Some(t)) = req.idle_timeout {
            validate_idle_timeout(Some(t.as_secs()))?;
        }
        self.check_name_free(&name)?;
        self.check_overlaps(&projects)?;
        let settings = self.settings()?;
        Ok(Workspace {
            id: WorkspaceId::new(),
            name,
            description: req.description.clone(),
            image,
            projects,
            limits: req.limits,
            keys: self.check_key_uses(&req.keys)?,
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
        validate_project_path(raw, &self.protected_paths())
    }

    /// What no project may be, hold or be inside: the home folder (and above), credentials,
    /// and this install's data dir — which holds the daemon's socket.
    pub(super) fn protected_paths(&self) -> Protected {
        Protected::of_user(&self.data_dir)
    }

    /// Network + container for `ws` (whose port is allocated); records the container id.
    pub(super) async fn create_container(
        &self,
        docker: &docker::Client,
        ws: &Workspace,
    ) -> Result<String> {
        self.progress(ws, "creating_container");
        let limits = ws.limits.over(&self.settings()?.default_limits);
        let code_workspace = self.write_code_workspace(ws)?;
        let ide_config_dir = match ws.ide.auth {
            Some(_) => {
                let secret = self.ide_secret(ws.id).await?;
                Some(self.ide_config.write(&ws.id.to_string(), &secret)?)
            }
            None => None,
        };
        let key_env = self.provision_keys(docker, ws).await?;
        // Stored before Docker sees the container: if this process dies before recording the
        // id, the token proves the container is this workspace's (reconcile adopts it).
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.db(|s| s.set_pending_token(ws.id, &token))?;
        let made = self
            .make_container(
                docker,
                ws,
                &limits,
                code_workspace,
                Fitting {
                    ide_config_dir,
                    token: Some(token),
                    key_env,
                },
            )
            .await?;
        failpoint("after-container-create");
        self.db(|s| s.set_container(ws.id, Some(&made.id), Status::Stopped))?;
        Ok(made.id)
    }

    /// Network, home volume and container for `ws`, the way Berth runs every container: as
    /// the host user (root inside on rootless engines, where that root already is the user),
    /// read-only but for home, projects and tmpfs, the IDE's password hash in a private
    /// read-only folder. One place, so a workspace and `berth image check` never differ.
    pub(super) async fn make_container(
        &self,
        docker: &docker::Client,
        ws: &Workspace,
        limits: &Limits,
        code_workspace: PathBuf,
        fitting: Fitting,
    ) -> Result<MadeContainer> {
        let owner = if docker.rootless().await? {
            Some((0, 0))
        } else {
            host_user()
        };
        let image = docker
            .inspect_image(ws.image.as_str())
            .await?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "image {} is not on this machine (`berth image ls`)",
                    ws.image
                ))
            })?;
        let run = docker::RunAs {
            token: fitting.token,
            key_env: fitting.key_env,
            user: owner.map(|(uid, gid)| format!("{uid}:{gid}")),
            code_workspace_file: Some(code_workspace),
            ide_config_dir: fitting.ide_config_dir,
            home: image.home.clone(),
            activity_dir: Some(self.prepare_activity_dir(ws.id)?),
            probe: (!image.has_healthcheck)
                .then(|| image.labels.get(docker::labels::IDE_PROBE).cloned())
                .flatten(),
        };
        docker
            .ensure_network(docker::plan_network(ws, self.install), self.install)
            .await?;
        docker
            .ensure_volume(docker::plan_home_volume(ws, self.install), self.install)
            .await?;
        // Where the host cannot route to a container (Docker Desktop), the IDE port is
        // published on loopback for the gateway; on Linux nothing is published.
        let publish = !cfg!(target_os = "linux");
        let id = docker
            .create_container(docker::plan_container(
                ws,
                limits,
                self.install,
                &run,
                publish,
            ))
            .await?;
        Ok(MadeContainer { id, owner })
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

    /// Stops the workspace at once: SIGKILL after [`FORCE_GRACE_SECS`], audited as forced.
    /// For a workspace that ignores SIGTERM or is eating the machine.
    pub async fn force_stop(&self, name: &str) -> Result<Workspace> {
        let ws = self.find(name)?;
        let docker = self.docker().await?;
        let _lock = self.lock_workspace(&ws).await?;
        let ws = self.reload(ws.id, name)?;
        let why = format!("forced: killed if still running after {FORCE_GRACE_SECS} s");
        self.halt(docker, &ws, &why, None, Halt::FORCED).await?;
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

    /// Removes container, network and port. Project folders are never touched. A network that
    /// cannot go yet (another container is on it) does not stop the delete: it is named in
    /// the result and the audit log, and reconcile removes it once it is free.
    pub async fn delete(&self, name: &str) -> Result<Deleted> {
        let ws = self.find(name)?;
        let docker = self.docker().await?;
        let _lock = self.lock_workspace(&ws).await?;
        let ws = self.reload(ws.id, name)?;
        self.remove_previews_of(docker, &ws).await?;
        if let Err(e) = self.remove_containers(docker, &ws).await {
            self.audit(&ws, "delete", Outcome::Failed, &e.message);
            return Err(e);
        }
        let notes = self.remove_networks(docker, &ws).await?;
        self.gateway.close(ws.id);
        self.revoke_credentials(ws.id);
        // A home volume another container still uses (a `docker run -v` by hand) does not stop
        // the delete either: it stays as a leftover that Clean up removes once it is free (the
        // `delete` entry below is its proof of having been this install's). Any other failure
        // stops the delete, as before.
        let home = docker::home_volume_name(&ws);
        let kept = match docker.remove_volume(&home, self.install).await {
            Ok(()) => None,
            Err(e) if e.message.contains("volume is in use") => Some(format!(
                "home volume {home} is kept: another container uses it; `berth prune` removes it once it is free"
            )),
            Err(e) => return Err(e),
        };
        let detail = format!(
            "removed container {}, network {}, {} and port {}; project folders left untouched",
            ws.container_name(),
            ws.network_name(),
            match kept {
                None => format!("home volume {home}"),
                Some(_) => format!("not the home volume {home} (in use)"),
            },
            ws.port.map(|p| p.to_string()).unwrap_or_else(|| "-".into())
        );
        // Recorded before the record goes, so a kept volume always has its proof.
        self.audit(&ws, "delete", Outcome::Ok, &detail);
        self.db(|s| s.delete_workspace(ws.id))?;
        self.forget_ide_secret(ws.id)?;
        let _ = std::fs::remove_file(self.code_workspace_file(&ws));
        let _ = std::fs::remove_dir_all(self.activity_dir(ws.id));
        // The IDE window's cookies and storage (the app keeps them per workspace).
        let _ = std::fs::remove_dir_all(self.data_dir.join("webviews").join(ws.id.to_string()));
        let mut notes: Vec<String> = notes
            .into_iter()
            .map(|note| format!("{note}; Berth removes it once it is free"))
            .collect();
        notes.extend(kept);
        for note in &notes {
            self.audit(&ws, "delete", Outcome::Failed, note);
        }
        let _ = self.events.send(super::EngineEvent::Removed {
            id: ws.id,
            name: ws.name.to_string(),
        });
        Ok(Deleted {
            name: ws.name.to_string(),
            notes,
        })
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

    async fn stop_locked(&self, docker: &docker::Client, ws: &Workspace) -> Result<()> {
        self.stop_locked_because(docker, ws, "", None).await
    }

    /// Stops the container; `why` goes to the audit log, `idle` to the stopped page.
    pub(super) async fn stop_locked_because(
        &self,
        docker: &docker::Client,
        ws: &Workspace,
        why: &str,
        idle: Option<crate::store::IdleStop>,
    ) -> Result<()> {
        self.halt(docker, ws, why, idle, Halt::GENTLE).await
    }

    async fn halt(
        &self,
        docker: &docker::Client,
        ws: &Workspace,
        why: &str,
        idle: Option<crate::store::IdleStop>,
        how: Halt,
    ) -> Result<()> {
        let Some(container) = self.find_container(docker, ws).await? else {
            self.park_stopped(ws.id, None);
            if ws.status != Status::Missing {
                self.db(|s| s.set_container(ws.id, None, Status::Missing))?;
                self.emit_status(ws, Status::Missing);
            }
            return Ok(());
        };
        if container.running {
            self.set_status(ws, Status::Stopping)?;
            if let Err(e) = docker.stop_container(&container.id, how.grace_secs).await {
                self.audit(ws, how.action, Outcome::Failed, &e.message);
                let _ = self.set_status(ws, Status::Running);
                return Err(e);
            }
            self.audit(ws, how.action, Outcome::Ok, why);
        }
        let idle_for = idle.map(|i| {
            std::time::Duration::from_millis((i.stopped_at_ms - i.idle_since_ms).max(0) as u64)
        });
        self.park_stopped(ws.id, idle_for);
        self.db(|s| s.set_container(ws.id, Some(&container.id), Status::Stopped))?;
        self.emit_status(ws, Status::Stopped);
        Ok(())
    }
}

/// The uid and gid Berth runs as. On Linux containers run as them, so files created in a
/// project belong to the user on the host. (Docker Desktop on macOS/Windows maps ownership
/// itself; rootless Docker and Podman map container root to the user — see the README.)
pub(super) fn host_user() -> Option<(u64, u64)> {
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

/// How a stop goes: how long SIGTERM is given, and what the audit log calls it.
struct Halt {
    grace_secs: i32,
    action: &'static str,
}

impl Halt {
    const GENTLE: Halt = Halt {
        grace_secs: STOP_GRACE_SECS,
        action: "stop",
    };
    const FORCED: Halt = Halt {
        grace_secs: FORCE_GRACE_SECS,
        action: "force-stop",
    };
}
