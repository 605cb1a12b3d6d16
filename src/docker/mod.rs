//! The Docker side: connecting, labels, pure plans, and thin operations over bollard. Every
//! bollard error is wrapped once, here, with the operation it came from.

mod containers;
mod events;
mod images;
pub mod labels;
mod plan;
mod plan_preview;
mod usage;
mod volumes;

pub use containers::{ContainerInfo, ExecOutput, LogLine, NetworkAddress, NetworkInfo};
pub use events::{ContainerEvent, container_events};
pub use images::{BuildProgress, ImageInfo, context_from_dir, whole_context};
pub use plan::{
    ACTIVITY_DIR, ContainerPlan, IDE_CONFIG_DIR, RunAs, SPEC, WORKSPACE_ROOT, code_workspace,
    code_workspace_path, home_volume_name, mount_targets, plan_container, plan_home_volume,
    plan_network,
};
pub use plan_preview::{
    PreviewRun, plan_preview, plan_preview_network, plan_preview_volume, preview_image_tag,
};
pub use usage::ContainerSize;

use crate::error::{Code, Error, Result};
use std::time::Duration;

/// Every request must answer (headers at least) within this; streams (logs, events, build
/// output) are not cut off by it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Client {
    api: bollard::Docker,
    host: String,
    /// The last volume sizes and when they were measured: the engine refuses a second
    /// disk-usage request while one runs, and the overview and `berth df` may ask together.
    volume_sizes: std::sync::Arc<tokio::sync::Mutex<Option<usage::Measured>>>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EngineVersion {
    pub version: String,
    pub api_version: String,
    pub os: String,
    pub arch: String,
}

impl Client {
    /// Connects as the docker CLI does: `DOCKER_HOST` (unix, tcp, https with
    /// `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH`) or the platform's default socket, then
    /// negotiates the API version so old engines (20.10 → API 1.41) work.
    pub async fn connect() -> Result<Client> {
        let host = describe_host();
        let unreachable = |detail: String| {
            Error::new(
                Code::DockerUnavailable,
                format!(
                    "cannot reach the Docker engine at {host}: {detail} (is dockerd running? `berth doctor` checks)"
                ),
            )
            .keyed("docker_unavailable", [("host", host.clone())])
        };
        if let Some(path) = host.strip_prefix("unix://")
            && !std::path::Path::new(path).exists()
        {
            return Err(unreachable("the socket does not exist".to_string()));
        }
        let api = bollard::Docker::connect_with_defaults()
            .map_err(|e| unreachable(root_cause(&e)))?
            .with_timeout(REQUEST_TIMEOUT);
        let api = tokio::time::timeout(REQUEST_TIMEOUT, api.negotiate_version())
            .await
            .map_err(|_| unreachable("no answer within 30 s".to_string()))?
            .map_err(|e| unreachable(root_cause(&e)))?;
        Ok(Client {
            api,
            host,
            volume_sizes: Default::default(),
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub async fn version(&self) -> Result<EngineVersion> {
        let v = self
            .api
            .version()
            .await
            .map_err(|e| self.fail("version", e))?;
        Ok(EngineVersion {
            version: v.version.unwrap_or_default(),
            api_version: v.api_version.unwrap_or_default(),
            os: v.os.unwrap_or_default(),
            arch: v.arch.unwrap_or_default(),
        })
    }

    /// Whether the engine runs rootless (rootless Docker, rootless Podman): there the
    /// container's root already is the user who runs it.
    pub async fn rootless(&self) -> Result<bool> {
        let info = self.api.info().await.map_err(|e| self.fail("info", e))?;
        Ok(info
            .security_options
            .unwrap_or_default()
            .iter()
            .any(|o| o.split(',').any(|part| part == "name=rootless")))
    }

    /// Docker's answer to `op` where "no such object" is an answer too: `None`.
    fn found<T>(
        &self,
        op: &str,
        answer: std::result::Result<T, bollard::errors::Error>,
    ) -> Result<Option<T>> {
        match answer {
            Ok(value) => Ok(Some(value)),
            Err(e) => match self.fail(op, e) {
                err if err.code == Code::NotFound => Ok(None),
                err => Err(err),
            },
        }
    }

    /// Wraps a bollard error with the operation. A refused connection becomes
    /// `DockerUnavailable`; an answer from the engine keeps its message.
    fn fail(&self, op: &str, err: bollard::errors::Error) -> Error {
        use bollard::errors::Error as B;
        match err {
            B::DockerResponseServerError {
                status_code,
                message,
            } => {
                let code = if status_code == 404 {
                    Code::NotFound
                } else {
                    Code::Docker
                };
                Error::new(code, format!("docker {op} failed: {}", message.trim()))
            }
            B::RequestTimeoutError => Error::new(
                Code::Docker,
                format!(
                    "docker {op} timed out after {} s",
                    REQUEST_TIMEOUT.as_secs()
                ),
            ),
            other => Error::new(
                Code::DockerUnavailable,
                format!(
                    "docker {op} failed: lost the Docker engine at {}: {}",
                    self.host,
                    root_cause(&other)
                ),
            ),
        }
    }
}

fn describe_host() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if !h.is_empty() => h,
        _ if cfg!(windows) => "npipe:////./pipe/docker_engine".to_string(),
        _ => "unix:///var/run/docker.sock".to_string(),
    }
}

use crate::error::root_cause;
