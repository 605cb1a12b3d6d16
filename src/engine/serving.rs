//! The engine's side of the IDE gateway: what a running workspace's port forwards to, the
//! code-server login (with its repair), and login links for IDE windows and browsers.

use super::Engine;
use crate::docker::{self, ContainerInfo};
use crate::error::{Code, Error, Result};
use crate::gateway::{Target, upstream};
use crate::model::{IdeAuth, Status, Workspace, WorkspaceId};
use crate::secrets::Sensitive;
use crate::store::Outcome;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Where to point an IDE window or browser: the workspace's URL and a one-time login link.
#[derive(Debug, Clone)]
pub struct IdeSession {
    pub workspace: Workspace,
    pub url: String,
    pub login_url: Sensitive<String>,
}

/// Who follows a login link: the app's IDE window keeps its cookies and storage in a folder of
/// its own that `rm` deletes; a web browser keeps them for the port's origin, beyond the
/// workspace's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Viewer {
    AppWindow,
    Browser,
}

impl Engine {
    /// Starts the workspace if needed and issues a one-time login link for its IDE. A port a
    /// browser is sent to is kept from every other workspace for good: a service worker the
    /// workspace's pages registered there would answer for the next one.
    pub async fn ide_session(&self, name: &str, viewer: Viewer) -> Result<IdeSession> {
        let started = self.start(name).await?;
        if let (Viewer::Browser, Some(port)) = (viewer, started.workspace.port) {
            self.db(|s| s.record_browser_port(started.workspace.id.0, port))?;
        }
        let login_url = self.gateway.login_link(started.workspace.id)?;
        Ok(IdeSession {
            workspace: started.workspace,
            url: started.url,
            login_url,
        })
    }

    /// Binds the gateway on the workspace's port (before its container starts, so the port
    /// is Berth's from the first moment).
    pub(super) async fn bind_gateway(&self, ws: &Workspace) -> Result<()> {
        let port = ws
            .port
            .ok_or_else(|| Error::new(Code::StartFailed, "the workspace has no port"))?;
        self.gateway.bind(ws.id, ws.name.as_str(), port).await
    }

    /// Points the gateway at a healthy IDE at `addr`. For code-server, Berth logs in with the
    /// workspace's secret; if code-server refuses it (the secret file was lost or damaged),
    /// the secret is renewed and the container restarted once — the caller holds the lock.
    pub(super) async fn serve_healthy(
        &self,
        docker: &docker::Client,
        ws: &Workspace,
        container_id: &str,
        addr: SocketAddr,
    ) -> Result<()> {
        let Some(IdeAuth::CodeServerPassword) = ws.ide.auth else {
            self.gateway.serve(ws.id, target(addr, None, None));
            return Ok(());
        };
        let secret = self.ide_secret(ws.id).await?;
        match upstream::code_server_login(addr, &secret).await {
            Ok(cookie) => {
                self.gateway
                    .serve(ws.id, target(addr, Some(cookie), Some(secret)));
                Ok(())
            }
            Err(refused) => self
                .repair_secret(docker, ws, container_id)
                .await
                .map_err(|e| {
                    Error::new(
                        Code::StartFailed,
                        format!("{}; repairing it failed: {}", refused.message, e.message),
                    )
                }),
        }
    }

    async fn repair_secret(
        &self,
        docker: &docker::Client,
        ws: &Workspace,
        container_id: &str,
    ) -> Result<()> {
        let secret = self.renew_ide_secret(ws.id).await?;
        self.ide_config.write(&ws.id.to_string(), &secret)?;
        // code-server reads its config at start.
        docker
            .stop_container(container_id, super::lifecycle::STOP_GRACE_SECS)
            .await?;
        docker.start_container(container_id).await?;
        let addr = match self.wait_for_ide(docker, ws, container_id).await?.0 {
            super::health::Health::Healthy(_, addr) => addr,
            _ => {
                return Err(Error::new(
                    Code::StartFailed,
                    "the IDE did not come back after the repair",
                ));
            }
        };
        let cookie = upstream::code_server_login(addr, &secret).await?;
        self.gateway
            .serve(ws.id, target(addr, Some(cookie), Some(secret)));
        self.audit(
            ws,
            "ide-secret",
            Outcome::Repaired,
            "the IDE refused Berth's secret; made a new one and restarted the IDE",
        );
        Ok(())
    }

    /// Serves a workspace found running (after a daemon restart, or started outside Berth)
    /// without waiting for it: the gateway logs in to code-server on the first request.
    pub(super) async fn serve_found(
        &self,
        docker: &docker::Client,
        ws: &Workspace,
        container: &ContainerInfo,
    ) {
        self.serve_credentials(docker, ws).await;
        let Some(addr) = upstream::address(container, ws.ide.port) else {
            return;
        };
        let secret = match ws.ide.auth {
            Some(IdeAuth::CodeServerPassword) => self.ide_secret(ws.id).await.ok(),
            None => None,
        };
        if let Err(e) = self.bind_gateway(ws).await {
            self.audit(ws, "serve", Outcome::Failed, &e.message);
            return;
        }
        self.gateway.serve(ws.id, target(addr, None, secret));
    }

    /// Makes the gateway agree with the records of `ids` (each locked by the caller): running
    /// workspaces served, others not.
    pub(super) async fn sync_gateway(&self, docker: &docker::Client, ids: &[WorkspaceId]) {
        for id in ids {
            let Ok(Some(ws)) = self.db(|s| s.workspace(*id)) else {
                self.gateway.close(*id);
                self.revoke_credentials(*id);
                continue;
            };
            if ws.status != Status::Running {
                self.park_stopped(ws.id, None);
                continue;
            }
            if self.gateway.serving(ws.id) {
                continue;
            }
            if let Some(cid) = &ws.container_id
                && let Ok(Some(c)) = docker.inspect_container(cid).await
                && c.running
            {
                self.serve_found(docker, &ws, &c).await;
            }
        }
    }
}

fn target(
    upstream: SocketAddr,
    ide_cookie: Option<(String, Sensitive<String>)>,
    ide_secret: Option<Sensitive<String>>,
) -> Target {
    Target {
        upstream,
        ide_cookie,
        ide_secret,
    }
}
