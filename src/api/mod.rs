//! The daemon's wire contract: paths, the handshake, and every request and response shape that
//! crosses the socket. The daemon (`daemon::server`) and its clients (`client`, so the CLI and
//! the desktop app) use these same types, so they cannot drift apart.
//!
//! HTTP/1.1 + JSON. Every response carries the daemon's version and protocol in headers. The
//! meta endpoints (`hello`, `status`, `shutdown`) never change shape, so any client can inspect
//! or stop any daemon. Unknown fields are ignored and unknown event kinds skipped, so a newer
//! daemon can add to either without breaking an older client.

mod dto;
pub mod endpoint;

pub use dto::*;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use uuid::Uuid;

/// This build's version (the daemon's and the client's: one binary).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The protocol this build speaks, and the oldest it still serves. Bump `PROTOCOL` when a
/// request or response changes incompatibly; raise `PROTOCOL_MIN` when old clients must go.
pub const PROTOCOL: u32 = 1;
pub const PROTOCOL_MIN: u32 = 1;

/// Response headers stamped on every answer, so version skew shows without a round trip.
pub const VERSION_HEADER: &str = "berth-version";
pub const PROTOCOL_HEADER: &str = "berth-protocol";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolRange {
    pub min: u32,
    pub max: u32,
}

impl ProtocolRange {
    pub const CURRENT: ProtocolRange = ProtocolRange {
        min: PROTOCOL_MIN,
        max: PROTOCOL,
    };

    pub fn speaks(&self, protocol: u32) -> bool {
        (self.min..=self.max).contains(&protocol)
    }
}

/// `GET /v1/hello`: who answers. Frozen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub version: String,
    pub protocol: ProtocolRange,
    pub pid: u32,
    /// New for every daemon process: tells a restarted daemon from the one before.
    pub instance_id: Uuid,
    pub data_dir: PathBuf,
}

/// `GET /v1/status`: what the daemon is doing. Frozen (fields may be added).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonStatus {
    pub version: String,
    pub protocol: ProtocolRange,
    pub pid: u32,
    pub instance_id: Uuid,
    pub data_dir: PathBuf,
    /// The socket (or pipe) it listens on.
    pub endpoint: String,
    pub log_file: PathBuf,
    pub uptime_secs: u64,
    /// Open connections (an app's event stream, a `berth events`, a request in flight).
    pub connections: usize,
    /// Operations running right now (start, build, ...).
    pub operations: usize,
    /// Clients following `/v1/events` (the app, `berth events`).
    #[serde(default)]
    pub event_followers: usize,
    /// Workspaces whose container runs (they keep the daemon alive).
    pub running_workspaces: usize,
    /// Seconds until the daemon exits for having nothing to do; `None` while something
    /// keeps it.
    pub idle_exit_in_secs: Option<u64>,
    pub tasks: Vec<TaskStatus>,
}

/// One background task of the daemon's supervisor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    pub name: String,
    pub state: TaskState,
    pub restarts: u32,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Running,
    /// Failed and waiting for its back-off before the next try.
    Restarting,
    Stopped,
    #[serde(other)]
    Unknown,
}

/// `POST /v1/shutdown`. Frozen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShutdownRequest {
    pub reason: ShutdownReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShutdownReason {
    /// `berth daemon stop`: running workspaces keep running.
    Stop,
    /// A newer client takes over: drain and hand over; workspaces keep running.
    Upgrade,
    #[serde(other)]
    Unknown,
}

/// The routes, in one place.
pub mod path {
    pub const HELLO: &str = "/v1/hello";
    pub const STATUS: &str = "/v1/status";
    pub const SHUTDOWN: &str = "/v1/shutdown";
    pub const EVENTS: &str = "/v1/events";
    pub const WORKSPACES: &str = "/v1/workspaces";
    pub const CHECK_NAME: &str = "/v1/check/name";
    pub const CHECK_PROJECT: &str = "/v1/check/project";
    pub const SETTINGS: &str = "/v1/settings";
    pub const IMAGES: &str = "/v1/images";
    pub const IMAGE_CHECK: &str = "/v1/images/check";
    pub const DOCTOR: &str = "/v1/doctor";
    pub const QUIT: &str = "/v1/quit";
    /// Every workspace's activity (where each stands on idleness, and why).
    pub const ACTIVITY: &str = "/v1/activity";
    /// Stored API keys (never their values).
    pub const KEYS: &str = "/v1/keys";
    /// The audit log of key changes.
    pub const KEYS_LOG: &str = "/v1/keys-log";
    /// Previews (`?workspace=NAME` for one workspace's); `POST` creates one (a stream).
    pub const PREVIEWS: &str = "/v1/previews";
    /// One view of what every running workspace and preview uses (after two readings).
    pub const RESOURCES: &str = "/v1/resources";
    /// The same, live: a `resources` event a second while the client stays.
    pub const RESOURCES_WATCH: &str = "/v1/resources/watch";
    /// What Berth takes on disk, and its leftovers.
    pub const DISK: &str = "/v1/disk";
    /// Removes leftovers ([`super::PruneRequest`]).
    pub const PRUNE: &str = "/v1/prune";

    /// `/v1/previews/<id>` plus an optional action (`extend`, `share`, `open`).
    pub fn preview(id: &str, action: Option<&str>) -> String {
        let id = super::percent_encode(id);
        match action {
            Some(a) => format!("{PREVIEWS}/{id}/{a}"),
            None => format!("{PREVIEWS}/{id}"),
        }
    }

    /// `/v1/keys/<name>` plus an optional action (`test`).
    pub fn key(name: &str, action: Option<&str>) -> String {
        let name = super::percent_encode(name);
        match action {
            Some(a) => format!("{KEYS}/{name}/{a}"),
            None => format!("{KEYS}/{name}"),
        }
    }

    /// `/v1/workspaces/<name>` plus an optional action (`start`, `logs`, ...). Names are
    /// `[a-z0-9-]` by grammar; anything else is percent-encoded so it can only ever be a
    /// (missing) name, never another route.
    pub fn workspace(name: &str, action: Option<&str>) -> String {
        let name = super::percent_encode(name);
        match action {
            Some(a) => format!("{WORKSPACES}/{name}/{a}"),
            None => format!("{WORKSPACES}/{name}"),
        }
    }

    pub fn image_build(name: &str) -> String {
        format!("{IMAGES}/{}/build", super::percent_encode(name))
    }
}

/// Percent-encodes everything but letters, digits, `-` and `_` (dots too: `..` must never
/// reach a router that might normalise it). For path segments and query values alike.
pub fn percent_encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// SSE event names of the streams.
pub mod sse {
    /// `/v1/events`: an [`super::EventEnvelope`].
    pub const ENGINE: &str = "engine";
    /// `/v1/events`: the client missed events (it was too slow); it must reload what it shows.
    pub const RESYNC: &str = "resync";
    /// Logs and builds: one piece of output.
    pub const CHUNK: &str = "chunk";
    /// Builds: the step counter.
    pub const STEP: &str = "step";
    /// A hold (`/hold`) is in force; sent once, then keep-alive comments until it ends.
    pub const HELD: &str = "held";
    /// `/v1/resources/watch`: a `ResourcesView`.
    pub const RESOURCES: &str = "resources";
    /// End of a stream with a result, or with an error (`{code, message, key, args}`).
    pub const DONE: &str = "done";
    pub const ERROR: &str = "error";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workspace_name_can_never_become_another_route() {
        assert_eq!(
            path::workspace("demo", Some("start")),
            "/v1/workspaces/demo/start"
        );
        assert_eq!(
            path::workspace("../settings", None),
            "/v1/workspaces/%2E%2E%2Fsettings"
        );
        assert_eq!(path::workspace("a b?c", None), "/v1/workspaces/a%20b%3Fc");
    }

    #[test]
    fn protocol_ranges() {
        let r = ProtocolRange { min: 2, max: 4 };
        assert!(r.speaks(2) && r.speaks(4) && !r.speaks(1) && !r.speaks(5));
    }

    #[test]
    fn unknown_enum_values_from_a_newer_daemon_are_tolerated() {
        let s: TaskStatus = serde_json::from_str(
            r#"{"name":"x","state":"hibernating","restarts":0,"last_error":null,"new":1}"#,
        )
        .unwrap();
        assert_eq!(s.state, TaskState::Unknown);
    }
}
