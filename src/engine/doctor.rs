//! `berth doctor`: is everything Berth needs here, and if not, what exactly is missing.

use super::{BUNDLED, Engine};
use crate::docker::EngineVersion;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DoctorReport {
    pub berth_version: String,
    pub data_dir: PathBuf,
    pub install_id: String,
    pub docker: DockerReport,
    /// Bundled images and whether they are built (only known when Docker answers).
    pub images: Vec<(String, bool)>,
    /// One line per problem, each with what to do about it.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DockerReport {
    pub host: String,
    pub reachable: bool,
    pub version: Option<EngineVersion>,
    pub error: Option<String>,
}

impl DoctorReport {
    pub fn healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Engine {
    pub async fn doctor(&self) -> DoctorReport {
        let mut problems = Vec::new();
        let mut images = Vec::new();
        let docker = match self.docker().await {
            Ok(client) => {
                let version = client.version().await.ok();
                for b in BUNDLED {
                    let built = matches!(client.inspect_image(b.tag).await, Ok(Some(_)));
                    if !built {
                        problems.push(format!(
                            "bundled image {} is not built: run `berth image build {}`",
                            b.tag, b.name
                        ));
                    }
                    images.push((b.tag.to_string(), built));
                }
                DockerReport {
                    host: client.host().to_string(),
                    reachable: true,
                    version,
                    error: None,
                }
            }
            Err(e) => {
                problems.push(format!(
                    "{} — install Docker (Debian/Ubuntu: apt-get install docker.io) and start it",
                    e.message
                ));
                DockerReport {
                    host: std::env::var("DOCKER_HOST").unwrap_or_else(|_| "default socket".into()),
                    reachable: false,
                    version: None,
                    error: Some(e.message),
                }
            }
        };
        DoctorReport {
            berth_version: env!("CARGO_PKG_VERSION").to_string(),
            data_dir: self.data_dir.clone(),
            install_id: self.install.to_string(),
            docker,
            images,
            problems,
        }
    }
}
