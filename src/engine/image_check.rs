//! `berth image check IMAGE`: runs any image the way Berth runs a workspace (same hardening,
//! same user, same mounts) and reports, item by item, whether it keeps the image contract — IDE
//! port and health path, login, user — and which tools answer in a login shell. A user's own
//! image gets exactly the answer Berth's images get.

use super::Engine;
use super::health::Health;
use crate::docker::{self, labels};
use crate::error::{Error, Result};
use crate::gateway::upstream::code_server_login;
use crate::model::{IdeAuth, ImageRef, Status, Workspace, WorkspaceId, WorkspaceName};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Image label listing the tools an image promises (comma-separated commands).
pub const TOOLS_LABEL: &str = "dev.berth.tools";
/// What Berth's own images promise; checked (as information) on images that promise nothing.
pub const STANDARD_TOOLS: &[&str] = &[
    "claude",
    "node",
    "npm",
    "python3",
    "pip",
    "git",
    "psql",
    "mariadb",
    "php",
    "code-server",
];
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageCheck {
    pub image: String,
    /// Every required item passed.
    pub passed: bool,
    pub checks: Vec<CheckItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckItem {
    /// `ide-port`, `health`, `login`, `user`, `tool:<name>`.
    pub what: String,
    pub ok: bool,
    /// A failed required item breaks the contract; the others inform.
    pub required: bool,
    pub detail: String,
}

impl CheckItem {
    fn new(what: impl Into<String>, ok: bool, required: bool, detail: impl Into<String>) -> Self {
        CheckItem {
            what: what.into(),
            ok,
            required,
            detail: detail.into(),
        }
    }
}

impl Engine {
    pub async fn check_image(&self, image: &str) -> Result<ImageCheck> {
        let image = ImageRef::parse(image)?;
        let docker = self.docker().await?;
        let info = docker.inspect_image(image.as_str()).await?.ok_or_else(|| {
            Error::not_found(format!(
                "image {:?} is not available locally (`berth image ls`)",
                image.as_str()
            ))
        })?;
        let mut checks = Vec::new();
        let ide = match info.ide_endpoint() {
            Ok(ide) => {
                checks.push(CheckItem::new(
                    "ide-port",
                    true,
                    true,
                    format!(
                        "IDE on container port {}, health {}",
                        ide.port, ide.health_path
                    ),
                ));
                ide
            }
            Err(e) => {
                checks.push(CheckItem::new("ide-port", false, true, e.message));
                return Ok(finish(image.as_str(), checks));
            }
        };
        let (tools, promised) = match info.labels.get(TOOLS_LABEL) {
            Some(raw) => (parse_tools(raw)?, true),
            None => (
                STANDARD_TOOLS.iter().map(|t| t.to_string()).collect(),
                false,
            ),
        };

        let scratch = self
            .data_dir
            .join("checks")
            .join(WorkspaceId::new().to_string());
        let ws = Workspace {
            id: WorkspaceId::new(),
            name: WorkspaceName::parse("image-check")?,
            description: String::new(),
            image: image.clone(),
            projects: vec![scratch.join("project")],
            limits: Default::default(),
            idle_timeout_secs: None,
            keys: Vec::new(),
            ide,
            // Never served: the check talks to the container itself.
            port: None,
            container_id: None,
            status: Status::Stopped,
            created_at: 0,
            updated_at: 0,
        };
        let result = self
            .run_check(docker, &ws, &scratch, &info.user, &tools, promised)
            .await;
        // Whatever happened, nothing of the check stays behind.
        let _ = self.remove_containers_by_label(docker, &ws).await;
        let _ = self.remove_networks(docker, &ws).await;
        let _ = docker
            .remove_volume(&docker::home_volume_name(&ws), self.install)
            .await;
        let _ = std::fs::remove_dir_all(&scratch);
        let _ = std::fs::remove_dir_all(self.activity_dir(ws.id));
        checks.extend(result?);
        Ok(finish(image.as_str(), checks))
    }

    async fn run_check(
        &self,
        docker: &docker::Client,
        ws: &Workspace,
        scratch: &std::path::Path,
        image_user: &str,
        tools: &[String],
        promised: bool,
    ) -> Result<Vec<CheckItem>> {
        let mut checks = Vec::new();
        std::fs::create_dir_all(&ws.projects[0])
            .map_err(|e| Error::io("cannot make the check's project folder", e))?;
        let code_workspace = scratch.join("check.code-workspace");
        std::fs::write(&code_workspace, docker::code_workspace(ws))
            .map_err(|e| Error::io("cannot write the check's .code-workspace", e))?;
        // The check's own secret, in the check's scratch folder (removed afterwards).
        let secret = crate::secrets::random_secret()?;
        let ide_config = crate::secrets::IdeConfig::new(scratch).write("check", &secret)?;
        let limits = self.settings()?.default_limits;
        let made = self
            .make_container(
                docker,
                ws,
                &limits,
                code_workspace,
                super::lifecycle::Fitting {
                    ide_config_dir: Some(ide_config),
                    ..Default::default()
                },
            )
            .await?;
        let (id, owner) = (made.id, made.owner);
        docker.start_container(&id).await?;

        // Health, under Berth's hardening.
        let (health, timeout) = self.wait_for_ide(docker, ws, &id).await?;
        let addr = match health {
            Health::Healthy(_, addr) => Some(addr),
            _ => None,
        };
        checks.push(CheckItem::new(
            "health",
            addr.is_some(),
            true,
            if let Health::Healthy(took, _) = health {
                format!("GET {} answered after {:.1} s", ws.ide.health_path, took.as_secs_f64())
            } else {
                format!(
                    "GET {} never answered 2xx within {} s under Berth's hardening (cap-drop ALL, no-new-privileges, limits, the host user); `docker logs` of a workspace shows why",
                    ws.ide.health_path,
                    timeout.as_secs()
                )
            },
        ));
        let Some(addr) = addr else {
            return Ok(checks);
        };

        checks.push(match ws.ide.auth {
            Some(IdeAuth::CodeServerPassword) => match code_server_login(addr, &secret).await {
                Ok(_) => CheckItem::new("login", true, true, "code-server password: Berth's secret logs in"),
                Err(e) => CheckItem::new("login", false, true, e.message),
            },
            None => CheckItem::new(
                "login",
                true,
                false,
                "none of its own (label dev.berth.ide.auth absent): Berth's gateway login is its only lock",
            ),
        });

        let id_out = docker.exec(&id, vec!["id".into(), "-u".into()]).await?;
        let uid = id_out.output.trim().to_string();
        let want = owner.map(|(u, _)| u.to_string());
        checks.push(CheckItem::new(
            "user",
            want.as_deref().is_none_or(|w| w == uid),
            true,
            format!(
                "runs as uid {uid}{} (image USER {})",
                if want.as_deref() == Some(uid.as_str()) {
                    ", the host user"
                } else {
                    ""
                },
                if image_user.is_empty() {
                    "root"
                } else {
                    image_user
                }
            ),
        ));

        let shell = match docker.exec(&id, sh(&["command -v bash"])).await? {
            out if out.exit_code == Some(0) => "bash",
            _ => "sh",
        };
        for tool in tools {
            let script =
                format!("command -v {tool} >/dev/null 2>&1 || exit 127; {tool} --version 2>&1");
            let out = tokio::time::timeout(
                TOOL_TIMEOUT,
                docker.exec(&id, vec![shell.into(), "-lc".into(), script]),
            )
            .await;
            let first = |s: &str| {
                s.lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .unwrap_or("")
                    .to_string()
            };
            let (ok, detail) = match out {
                Err(_) => (
                    false,
                    format!(
                        "`{tool} --version` did not finish within {} s",
                        TOOL_TIMEOUT.as_secs()
                    ),
                ),
                Ok(Err(e)) => (false, e.message),
                Ok(Ok(o)) if o.exit_code == Some(127) => (false, "absent".into()),
                Ok(Ok(o)) if o.exit_code == Some(0) => (true, first(&o.output)),
                Ok(Ok(o)) => (
                    false,
                    format!(
                        "`{tool} --version` failed ({:?}): {}",
                        o.exit_code,
                        first(&o.output)
                    ),
                ),
            };
            checks.push(CheckItem::new(format!("tool:{tool}"), ok, promised, detail));
        }
        Ok(checks)
    }

    /// The check's container is not a workspace's: remove it by its labels.
    async fn remove_containers_by_label(
        &self,
        docker: &docker::Client,
        ws: &Workspace,
    ) -> Result<()> {
        for c in docker
            .list_containers(self.install, Some(&ws.id.to_string()))
            .await?
        {
            if labels::owner(&c.labels) == Some(ws.id.0) {
                docker.remove_container(&c.id).await?;
            }
        }
        Ok(())
    }
}

fn sh(script: &[&str]) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.join(" ")]
}

fn finish(image: &str, checks: Vec<CheckItem>) -> ImageCheck {
    ImageCheck {
        image: image.to_string(),
        passed: checks.iter().all(|c| c.ok || !c.required),
        checks,
    }
}

/// The tools label: commands, comma-separated. Only plain command names — the label comes from
/// whoever built the image and ends up in a shell line.
fn parse_tools(raw: &str) -> Result<Vec<String>> {
    raw.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            let plain = t.len() <= 64
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c))
                && !t.starts_with(['-', '.']);
            if plain {
                Ok(t.to_string())
            } else {
                Err(Error::invalid(format!(
                    "image label {TOOLS_LABEL} names {t:?}, which is not a plain command name"
                )))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_are_plain_command_names() {
        assert_eq!(
            parse_tools("claude, node ,code-server,").unwrap(),
            ["claude", "node", "code-server"]
        );
        for bad in ["rm -rf /", "a;b", "$(x)", "-v", "../x"] {
            assert!(parse_tools(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_required_items_decide() {
        let c = finish(
            "x",
            vec![
                CheckItem::new("health", true, true, ""),
                CheckItem::new("tool:node", false, false, "absent"),
            ],
        );
        assert!(c.passed);
        let c = finish(
            "x",
            vec![CheckItem::new("tool:node", false, true, "absent")],
        );
        assert!(!c.passed);
    }
}
