//! Use cases: what a user does with workspaces, over the store, Docker and ports. Operations
//! on one workspace are serialised by a per-workspace lock that every Berth process honours;
//! the first Docker use of an engine reconciles the database with what Docker really has.

mod bundled;
mod doctor;
mod edit;
mod health;
mod ide_login;
mod lifecycle;
mod lock;
mod reconcile;
mod watch;

pub use bundled::{BUNDLED, BuildOutcome, Bundle, ImageEntry};
pub use doctor::{DockerReport, DoctorReport};
pub use edit::WorkspaceEdit;
pub use ide_login::IdeSession;
pub use lifecycle::{CreateRequest, Started};
pub use reconcile::ReconcileReport;
pub use watch::Watcher;

use crate::docker;
use crate::error::{Code, Error, Result};
use crate::model::{Settings, Status, Workspace, WorkspaceId};
use crate::secrets::IdeSecrets;
use crate::store::{AuditEntry, Outcome, Store};
use lock::{FileLock, lock_path};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{OnceCell, broadcast};
use uuid::Uuid;

/// How long an operation waits for another one on the same workspace.
const LOCK_WAIT: Duration = Duration::from_secs(300);

/// What the engine tells its listeners (the app's main window). Named in one place.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    secrets: IdeSecrets,
}

/// `BERTH_DATA_DIR`, else the OS data dir (`~/.local/share/berth`, `~/Library/Application
/// Support/berth`, `%APPDATA%\berth`).
pub fn default_data_dir() -> Result<PathBuf> {
    match std::env::var_os("BERTH_DATA_DIR") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => dirs::data_dir()
            .map(|d| d.join("berth"))
            .ok_or_else(|| Error::invalid("cannot find the OS data folder; set BERTH_DATA_DIR")),
    }
}

impl Engine {
    /// Opens the store only; Docker is connected on first use.
    pub fn open(data_dir: &Path) -> Result<Engine> {
        let mut store = Store::open(data_dir)?;
        let install = store.install_id()?;
        Ok(Engine {
            data_dir: data_dir.to_path_buf(),
            install,
            store: Mutex::new(store),
            docker: OnceCell::new(),
            events: broadcast::channel(256).0,
            secrets: IdeSecrets::new(data_dir),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
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

    /// The audit log of a workspace by name (also after it was deleted). Needs no Docker.
    pub fn audit_log(&self, name: &str) -> Result<Vec<AuditEntry>> {
        let entries = self.db(|s| s.audit_for(name))?;
        if entries.is_empty() && self.db(|s| s.workspace_by_name(name))?.is_none() {
            return Err(no_such_workspace(name));
        }
        Ok(entries)
    }

    fn find(&self, name: &str) -> Result<Workspace> {
        self.db(|s| s.workspace_by_name(name))?
            .ok_or_else(|| no_such_workspace(name))
    }

    fn reload(&self, id: WorkspaceId, name: &str) -> Result<Workspace> {
        self.db(|s| s.workspace(id))?
            .ok_or_else(|| no_such_workspace(name))
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
            eprintln!("berth: could not write the audit log: {e}");
        }
    }

    fn set_status(&self, ws: &Workspace, status: Status) -> Result<()> {
        self.db(|s| s.set_status(ws.id, status))?;
        self.emit_status(ws, status);
        Ok(())
    }

    fn emit_status(&self, ws: &Workspace, status: Status) {
        let _ = self.events.send(EngineEvent::Status {
            id: ws.id,
            name: ws.name.to_string(),
            status,
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

    fn try_lock_workspace(&self, id: &str) -> Result<Option<FileLock>> {
        FileLock::try_acquire(&lock_path(&self.data_dir, id))
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
