//! The workspace: one container from one image with project folders mounted in.

use super::{ImageRef, LimitOverrides, WorkspaceName};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WorkspaceId(pub Uuid);

impl WorkspaceId {
    pub fn new() -> Self {
        WorkspaceId(Uuid::new_v4())
    }

    /// An id from outside (a Docker label, a lock file name): only a real UUID is one.
    pub fn parse(raw: &str) -> Option<WorkspaceId> {
        Uuid::parse_str(raw).ok().map(WorkspaceId)
    }

    /// First 8 hex digits: enough to tell containers apart in `docker ps`.
    pub fn short(&self) -> String {
        self.0.simple().to_string()[..8].to_string()
    }
}

impl Default for WorkspaceId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The kinds of container Berth runs. They share one runtime (labels, reconcile, ports, caps);
/// each kind has its own records and its own running cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Workspace,
    Preview,
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Workspace => "workspace",
            Kind::Preview => "preview",
        }
    }

    pub fn parse(raw: &str) -> Option<Kind> {
        [Kind::Workspace, Kind::Preview]
            .into_iter()
            .find(|k| k.as_str() == raw)
    }
}

/// What Berth last knew of the container. `Starting`/`Stopping` only while an operation holds
/// the workspace lock; reconcile turns a stale one into what Docker says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Stopped,
    Starting,
    Running,
    Stopping,
    /// The container is gone (removed outside Berth, or never made); `start` recreates it.
    Missing,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Stopped => "stopped",
            Status::Starting => "starting",
            Status::Running => "running",
            Status::Stopping => "stopping",
            Status::Missing => "missing",
        }
    }

    pub fn parse(raw: &str) -> Option<Status> {
        [
            Status::Stopped,
            Status::Starting,
            Status::Running,
            Status::Stopping,
            Status::Missing,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the IDE listens inside the container and how to ask if it is ready (image contract).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct IdeEndpoint {
    pub port: u16,
    pub health_path: String,
    /// How the IDE wants users to log in; Berth logs its own window in.
    pub auth: Option<IdeAuth>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "kebab-case")]
pub enum IdeAuth {
    /// code-server `--auth password` with the hash in its config file; `POST /login` sets the session.
    CodeServerPassword,
}

impl IdeAuth {
    pub fn as_str(&self) -> &'static str {
        match self {
            IdeAuth::CodeServerPassword => "code-server-password",
        }
    }

    pub fn parse(raw: &str) -> Option<IdeAuth> {
        (raw == "code-server-password").then_some(IdeAuth::CodeServerPassword)
    }
}

impl IdeEndpoint {
    /// Whether a health path stays on the IDE's own origin: an absolute path, not `//host`, no
    /// backslash, scheme or control character. An image label is untrusted input.
    pub fn health_path_ok(path: &str) -> bool {
        let Ok(base) = url::Url::parse("http://127.0.0.1:1/") else {
            return false;
        };
        path.starts_with('/')
            && !path.starts_with("//")
            // Only characters a request line may carry as they are (an image label is
            // untrusted; `<x>` once panicked the health probe).
            && path.chars().all(|c| c.is_ascii_graphic() && !"<>\"{}|^`".contains(c))
            && !path.contains('\\')
            && !path.chars().any(|c| c.is_control() || c.is_whitespace())
            && base
                .join(path)
                .is_ok_and(|u| u.origin() == base.origin() && u.path().starts_with('/'))
    }
}

impl Default for IdeEndpoint {
    fn default() -> Self {
        IdeEndpoint {
            port: 8080,
            health_path: "/healthz".to_string(),
            auth: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Workspace {
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub id: WorkspaceId,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub name: WorkspaceName,
    pub description: String,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub image: ImageRef,
    /// Canonical host folders, in the order the user gave them.
    pub projects: Vec<PathBuf>,
    pub limits: LimitOverrides,
    pub idle_timeout_secs: Option<u64>,
    /// API keys it is given, and how (proxy or environment).
    #[serde(default)]
    pub keys: Vec<super::KeyUse>,
    pub ide: IdeEndpoint,
    /// Host port on 127.0.0.1 that publishes the IDE.
    pub port: Option<u16>,
    pub container_id: Option<String>,
    pub status: Status,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A workspace as scripts and the UI see it: the stored fields plus what follows from them,
/// computed here once (the CLI's `--json` and the app both show this).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct WorkspaceView {
    #[serde(flatten)]
    pub workspace: Workspace,
    pub url: Option<String>,
    pub container_name: String,
    pub network_name: String,
}

impl From<Workspace> for WorkspaceView {
    fn from(workspace: Workspace) -> Self {
        WorkspaceView {
            url: workspace.url(),
            container_name: workspace.container_name(),
            network_name: workspace.network_name(),
            workspace,
        }
    }
}

impl Workspace {
    /// `berth-<name>-<first 8 of uuid>`: readable in `docker ps`, unique per workspace.
    pub fn container_name(&self) -> String {
        format!("berth-{}-{}", self.name, self.id.short())
    }

    pub fn network_name(&self) -> String {
        self.container_name()
    }

    pub fn url(&self) -> Option<String> {
        self.port.map(|p| format!("http://127.0.0.1:{p}/"))
    }
}

#[cfg(test)]
mod tests {
    use super::IdeEndpoint;

    #[test]
    fn health_paths_stay_on_the_origin() {
        for ok in ["/healthz", "/api/health?x=1", "/a/../b"] {
            assert!(IdeEndpoint::health_path_ok(ok), "{ok}");
        }
        for bad in [
            "healthz",
            "//evil.example/x",
            "/\\evil.example",
            "http://evil.example/",
            "/x\r\nHost: evil",
            "/ x",
            "/<x>",
            "/ä",
            "",
        ] {
            assert!(!IdeEndpoint::health_path_ok(bad), "{bad:?}");
        }
    }
}
