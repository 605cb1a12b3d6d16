//! Waiting for the IDE: a tight poll of its health path where it really listens (see
//! `gateway::upstream::address`), through the gateway's HTTP stack. Used by every start and by
//! `berth image check`, so both judge an IDE alike.

use super::Engine;
use crate::docker::{self, ContainerInfo};
use crate::error::Result;
use crate::gateway::upstream;
use crate::model::Workspace;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(50);
/// How often, while waiting, Docker is asked whether the container died.
const LIVENESS_EVERY: Duration = Duration::from_millis(500);

/// How a wait for the IDE ended.
pub enum Health {
    /// Answered 2xx after this long, at this address.
    Healthy(Duration, SocketAddr),
    /// The container stopped (or vanished) while we waited.
    Exited(Option<ContainerInfo>),
    TimedOut,
}

impl Engine {
    /// Waits for the IDE of `ws` in `container_id` as every start does: its port and health
    /// path, the start timeout of the settings (returned too, for the caller's message).
    pub(super) async fn wait_for_ide(
        &self,
        docker: &docker::Client,
        ws: &Workspace,
        container_id: &str,
    ) -> Result<(Health, Duration)> {
        let timeout = Duration::from_secs(self.settings()?.start_timeout_secs);
        let health = wait(
            docker,
            container_id,
            ws.ide.port,
            &ws.ide.health_path,
            timeout,
        )
        .await?;
        Ok((health, timeout))
    }
}

/// Polls `path` on the container's IDE port until it answers 2xx, the container dies, or
/// `timeout` passes. The address comes from Docker (inspect), never from a label or a guess.
pub async fn wait(
    docker: &docker::Client,
    container_id: &str,
    ide_port: u16,
    path: &str,
    timeout: Duration,
) -> Result<Health> {
    wait_for(docker, container_id, ide_port, path, timeout, |status| {
        (200..300).contains(&status)
    })
    .await
}

/// Polls like [`wait`] until an answer's status passes `accept` (a preview's app counts as
/// up with any answer at all: a 404 at `/` is still an app).
pub async fn wait_for(
    docker: &docker::Client,
    container_id: &str,
    ide_port: u16,
    path: &str,
    timeout: Duration,
    accept: fn(u16) -> bool,
) -> Result<Health> {
    let started = Instant::now();
    let mut last_liveness: Option<Instant> = None;
    let mut addr = None;
    loop {
        if last_liveness.is_none_or(|at| at.elapsed() >= LIVENESS_EVERY) {
            last_liveness = Some(Instant::now());
            let info = docker.inspect_container(container_id).await?;
            match info {
                Some(c) if c.running => addr = upstream::address(&c, ide_port),
                _ => return Ok(Health::Exited(info)),
            }
        }
        if let Some(addr) = addr
            && let Some(status) = upstream::probe(addr, path).await
            && accept(status)
        {
            return Ok(Health::Healthy(started.elapsed(), addr));
        }
        if started.elapsed() >= timeout {
            return Ok(Health::TimedOut);
        }
        tokio::time::sleep(POLL).await;
    }
}
