//! Request and response bodies that are not engine types themselves. Those the app's UI sees
//! are exported to TypeScript (`ts` feature) next to the engine's own.

use crate::engine::{CreateRequest, EngineEvent};
pub use crate::engine::{QuitOutcome, Viewer};
use crate::model::{LimitOverrides, WorkspaceView};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// A new workspace, as the app's form and the CLI send it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct NewWorkspace {
    pub name: String,
    pub image: String,
    pub projects: Vec<String>,
    pub description: String,
    pub limits: LimitOverrides,
    /// `None`: the default from the settings; `Some(0)`: never stop for idleness.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub idle_timeout_secs: Option<u64>,
    /// API keys the workspace gets, and how.
    #[serde(default)]
    pub keys: Vec<crate::model::KeyUse>,
}

impl From<NewWorkspace> for CreateRequest {
    fn from(f: NewWorkspace) -> Self {
        CreateRequest {
            name: f.name,
            image: f.image,
            projects: f.projects.into_iter().map(Into::into).collect(),
            description: f.description,
            limits: f.limits,
            idle_timeout: f
                .idle_timeout_secs
                .map(|s| (s > 0).then(|| Duration::from_secs(s))),
            keys: f.keys,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StartedView {
    pub workspace: WorkspaceView,
    pub url: String,
    /// Things the user must hear about (a changed port), already in the audit log.
    pub notes: Vec<String>,
}

impl From<crate::engine::Started> for StartedView {
    fn from(s: crate::engine::Started) -> Self {
        StartedView {
            workspace: s.workspace.into(),
            url: s.url,
            notes: s.notes,
        }
    }
}

/// A piece of container output, or of a build's output.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LogChunk {
    pub stderr: bool,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BuildEvent {
    Line { text: String },
    Step { current: u32, total: u32 },
}

/// One engine event on `/v1/events`, numbered: a gap in `seq` means events were missed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventEnvelope {
    pub seq: u64,
    pub event: EngineEvent,
}

/// Where to point an IDE window or browser: the workspace's URL and a one-time login link
/// (single use, two minutes) that sets Berth's login cookie and leads to the IDE. Only ever
/// sent over the daemon's own socket (0600, the user's uid).
#[derive(Clone, Serialize, Deserialize)]
pub struct IdeLogin {
    pub workspace: WorkspaceView,
    pub url: String,
    pub login_url: String,
}

/// Asks for a one-time login link for a workspace's IDE, saying who will follow it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdeLoginRequest {
    pub viewer: Viewer,
}

/// `PUT /v1/keys/<name>`: store a key. The value crosses the socket once, in this body; it
/// never prints (`Debug` is redacted).
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SetKey {
    pub value: String,
    /// Where the proxy and `test` send this key's requests (default: the provider's API).
    #[serde(default)]
    pub base_url: Option<String>,
}

impl std::fmt::Debug for SetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetKey")
            .field("value", &"[redacted]")
            .field("base_url", &self.base_url)
            .finish()
    }
}

/// `POST /v1/workspaces/<name>/snooze`: no idle stop for `secs` (default 30 min) from now.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SnoozeRequest {
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub secs: Option<u64>,
}

/// `POST /v1/workspaces/<name>/hold`: keep the workspace awake while this request's event
/// stream is open (`berth keepalive NAME -- CMD`). `command` is what `berth show` names.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HoldRequest {
    pub command: String,
}

impl fmt::Debug for IdeLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdeLogin({}, login_url=<redacted>)", self.url)
    }
}

/// `POST /v1/workspaces/{name}/stop?force=true`: SIGKILL after a short wait.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StopQuery {
    #[serde(default)]
    pub force: bool,
}

/// `POST /v1/prune`: with `dry_run`, only which leftovers would go; `only`: the ones the user
/// was shown (the rest wait for the next look).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PruneRequest {
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub only: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NameQuery {
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PathBody {
    pub path: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageBody {
    pub image: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LogsQuery {
    #[serde(default)]
    pub follow: bool,
    pub tail: Option<usize>,
}

/// `GET /v1/previews`: one workspace's previews, or all.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PreviewsQuery {
    pub workspace: Option<String>,
}

/// A change to a preview: extend by `secs`, or share on the LAN (`share`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PreviewChange {
    pub secs: Option<u64>,
    pub share: Option<bool>,
}

/// Who opens a preview (a browser keeps the port from everyone else afterwards).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreviewOpen {
    pub viewer: Viewer,
}
