//! Use cases: what a user does with workspaces, over the store, Docker and ports. Operations
//! on one workspace are serialised by a per-workspace lock that every Berth process honours;
//! the first Docker use of an engine reconciles the database with what Docker really has.

mod bundled;
mod containers;
mod credentials;
mod disk;
mod doctor;
mod edit;
mod health;
mod idle;
mod image_check;
mod keys;
mod lifecycle;
mod preview_run;
mod previews;
mod projects;
mod quit;
mod reconcile;
mod resources;
mod serving;
mod start;
mod watch;

pub use bundled::{BUNDLED, BuildOutcome, Bundle, ImageEntry};
pub use credentials::{KeyUsage, proxy_bind};
pub use doctor::{DockerReport, DoctorReport};
pub use edit::WorkspaceEdit;
pub use idle::Hold;
pub use image_check::{CheckItem, ImageCheck};
pub use keys::KeyTest;
pub use lifecycle::{CreateRequest, Deleted, FORCE_GRACE_SECS, Started};
pub use previews::{GONE_DELETED, GONE_EXPIRED, GONE_FAILED, exposed_port};
pub use quit::QuitOutcome;
pub use reconcile::ReconcileReport;
pub use resources::{Monitor, Watch};
pub use serving::{IdeSession, Viewer};

use crate::credentials::CredentialProxy;
use crate::docker;
use crate::error::{Code, Error, Result};
use crate::gateway::Gateway;
use crate::lockfile::{FileLock, lock_path};
use crate::model::{Settings, Status, Workspace, WorkspaceId, WorkspaceView};
use crate::secrets::{IdeConfig, Keychain, OsKeyStore, Sensitive, Vault};
use crate::store::{AuditEntry, Outcome, Store};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{OnceCell, broadcast};
use uuid::Uuid;

/// How long an operation waits for another one on the same workspace.
const LOCK_WAIT: Duration = Duration::from_secs(300);

/// What the engine tells its listeners (every client of the daemon). Named in one place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EngineEvent {
    Status {
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        id: WorkspaceId,
        name: String,
        status: Status,
    },
    Removed {
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        id: WorkspaceId,
        name: String,
    },
    /// A step of a long operation, as a key: `creating_container`, `starting_container`,
    /// `waiting_for_ide` (translated by the UI).
    Progress {
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        id: WorkspaceId,
        name: String,
        step: String,
    },
    /// A workspace changed beyond its status (created, edited, moved to another port): the
    /// whole view, so every client shows the new URL or limits at once.
    Updated {
        workspace: Box<WorkspaceView>,
    },
    /// Where a workspace stands on idleness changed: warned, warning taken back, snoozed,
    /// held, stopped for idleness.
    Activity {
        activity: Box<crate::activity::ActivityView>,
    },
    /// A preview was made or changed (created, running, extended, shared).
    Preview {
        preview: Box<crate::model::PreviewView>,
    },
    /// A preview is gone: `reason` is `deleted`, `expired` or `failed`.
    PreviewRemoved {
        id: String,
        workspace: String,
        reason: String,
    },
    DockerLost {
        message: String,
    },
    DockerBack,
}

pub struct Engine {
    data_dir: PathBuf,
    install: Uuid,
    store: Mutex<Store>,
    docker: OnceCell<docker::Client>,
    events: broadcast::Sender<EngineEvent>,
    ide_config: IdeConfig,
    /// The master key (from the OS keychain) that seals API keys and IDE secrets.
    vault: Vault,
    /// IDE secrets of this daemon's life when there is no keychain to seal them with.
    ide_memory: Mutex<std::collections::HashMap<WorkspaceId, Sensitive<String>>>,
    proxy: CredentialProxy,
    gateway: Gateway,
    activity: std::sync::Arc<crate::activity::Tracker>,
    files: std::sync::Arc<crate::activity::files::FileWatch>,
    /// Wakes the preview reaper when an expiry moved (a preview made or extended).
    preview_timer: tokio::sync::Notify,
    /// Live usage, sampled only while someone watches.
    monitor: Monitor,
}

impl Engine {
    /// Opens the store only; Docker is connected on first use.
    pub fn open(data_dir: &Path) -> Result<Engine> {
        let mut store = Store::open(data_dir)?;
        let install = store.install_id()?;
        let activity = std::sync::Arc::new(crate::activity::Tracker::default());
        let files = crate::activity::files::FileWatch::new(activity.clone(), crate::store::now_ms);
        let keychain = Keychain::new(std::sync::Arc::new(OsKeyStore::new(
            crate::secrets::KEYCHAIN_SERVICE,
        )));
        Ok(Engine {
            data_dir: data_dir.to_path_buf(),
            install,
            store: Mutex::new(store),
            docker: OnceCell::new(),
            events: broadcast::channel(256).0,
            ide_config: IdeConfig::new(data_dir),
            vault: Vault::new(keychain, install),
            ide_memory: Mutex::default(),
            proxy: CredentialProxy::new()?,
            gateway: Gateway::new(),
            activity,
            files: std::sync::Arc::new(files),
            preview_timer: tokio::sync::Notify::new(),
            monitor: Monitor::new(),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The IDE gateway: every running workspace's front door (the daemon closes it at exit).
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    pub fn install_id(&self) -> Uuid {
        self.install
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.events.subscribe()
    }

    /// The Docker client; the first call connects and reconciles.
    pub async fn docker(&self) -> Result<&docker::Client> {
        self.docker
            .get_or_try_init(|| async {
                let client = docker::Client::connect().await?;
                self.reconcile_with(&client).await?;
                Ok::<_, Error>(client)
            })
            .await
    }

    pub fn settings(&self) -> Result<Settings> {
        self.db(|s| s.settings())
    }

    pub fn save_settings(&self, settings: &Settings) -> Result<()> {
        self.db(|s| s.save_settings(settings))
    }

    pub async fn list(&self) -> Result<Vec<Workspace>> {
        self.docker().await?;
        self.db(|s| s.workspaces())
    }

    pub async fn show(&self, name: &str) -> Result<Workspace> {
        self.docker().await?;
        self.find(name)
    }

    /// The audit log of a workspace by name: the one of that name now, or else the last one
    /// that had it (a deleted workspace's log stays readable). Needs no Docker.
    pub fn audit_log(&self, name: &str) -> Result<Vec<AuditEntry>> {
        let id = match self.db(|s| s.workspace_by_name(name))? {
            Some(ws) => ws.id.to_string(),
            None => self
                .db(|s| s.last_audited_id(name))?
                .ok_or_else(|| no_such_workspace(name))?,
        };
        self.db(|s| s.audit_for(&id))
    }

    fn find(&self, name: &str) -> Result<Workspace> {
        self.db(|s| s.workspace_by_name(name))?
            .ok_or_else(|| no_such_workspace(name))
    }

    fn reload(&self, id: WorkspaceId, name: &str) -> Result<Workspace> {
        self.db(|s| s.workspace(id))?
            .ok_or_else(|| no_such_workspace(name))
    }

    /// Waits until an expiry moved or `nap` passed (the daemon's reaper loop).
    pub async fn preview_timer(&self, nap: Duration) {
        let _ = tokio::time::timeout(nap, self.preview_timer.notified()).await;
    }

    /// Workspaces whose container runs (they keep the daemon alive).
    pub fn running_count(&self) -> Result<usize> {
        self.db(|s| s.running_count())
    }

    /// Folds SQLite's log into the database file; called once at daemon exit.
    pub fn checkpoint(&self) {
        if let Err(e) = self.db(|s| s.checkpoint()) {
            tracing::warn!("could not checkpoint the database: {e}");
        }
    }

    /// Runs `f` on the store. Never held across an `.await`.
    fn db<T>(&self, f: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        let mut store = self
            .store
            .lock()
            .map_err(|_| Error::new(Code::Store, "the store lock is poisoned"))?;
        f(&mut store)
    }

    fn audit(&self, ws: &Workspace, action: &str, outcome: Outcome, detail: &str) {
        // The audit log must never turn a success into a failure; a write error is reported
        // on stderr instead.
        if let Err(e) = self.db(|s| s.audit(Some(ws), action, outcome, detail)) {
            tracing::error!("could not write the audit log: {e}");
        }
    }

    fn set_status(&self, ws: &Workspace, status: Status) -> Result<()> {
        self.db(|s| s.set_status(ws.id, status))?;
        self.emit_status(ws, status);
        Ok(())
    }

    fn emit_status(&self, ws: &Workspace, status: Status) {
        self.track(ws, status);
        let _ = self.events.send(EngineEvent::Status {
            id: ws.id,
            name: ws.name.to_string(),
            status,
        });
    }

    fn emit_updated(&self, ws: &Workspace) {
        let _ = self.events.send(EngineEvent::Updated {
            workspace: Box::new(ws.clone().into()),
        });
    }

    fn progress(&self, ws: &Workspace, step: &str) {
        let _ = self.events.send(EngineEvent::Progress {
            id: ws.id,
            name: ws.name.to_string(),
            step: step.to_string(),
        });
    }

    async fn lock_workspace(&self, ws: &Workspace) -> Result<FileLock> {
        FileLock::acquire(
            &lock_path(&self.data_dir, &ws.id.to_string()),
            &format!("workspace {:?}", ws.name.as_str()),
            LOCK_WAIT,
        )
        .await
    }

    fn try_lock_workspace(&self, id: &WorkspaceId) -> Result<Option<FileLock>> {
        FileLock::try_acquire(&lock_path(&self.data_dir, &id.to_string()))
    }
}

fn no_such_workspace(name: &str) -> Error {
    Error::not_found(format!("no workspace named {name:?} (see `berth ls`)"))
        .keyed("workspace_not_found", [("name", name.to_string())])
}

/// Test hook: with `BERTH_FAILPOINT=<name>` the process stops dead at that point (printing
/// one line), so a test can SIGKILL it exactly there — e.g. between creating a container and
/// recording it. Costs one env lookup otherwise.
fn failpoint(name: &str) {
    if std::env::var("BERTH_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("berth: failpoint {name} reached");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}
