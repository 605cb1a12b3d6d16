//! Containers and networks: create, start, stop, remove, inspect, list by label, logs.

use super::{Client, ContainerPlan, labels};
use crate::error::{Error, Result};
use crate::model::Kind;
use bollard::models::{ContainerSummaryStateEnum, NetworkCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, StatsOptionsBuilder,
    StopContainerOptionsBuilder,
};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::collections::HashMap;
use uuid::Uuid;

/// What reconcile and the engine need of a container, from a list or an inspect.
#[derive(Debug, Clone)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub labels: HashMap<String, String>,
    pub running: bool,
    /// Docker's own word: created, running, exited, ...
    pub state: String,
    pub exit_code: Option<i64>,
    /// The kernel killed it for going over its memory limit (inspect only).
    pub oom_killed: bool,
    /// Host ports Docker actually published (on 127.0.0.1), from inspect only. Only Docker
    /// engines the host cannot route to (Docker Desktop) get any: see `gateway::upstream`.
    pub host_ports: Vec<u16>,
    /// The container's address on its (only) network, from inspect of a running container.
    pub ip: Option<String>,
    /// The host pid of its init process while it runs (inspect only).
    pub pid: Option<i64>,
}

impl ContainerInfo {
    /// The record this container says it belongs to: parsed, never used raw (a label can say
    /// anything, `../../x` included).
    pub fn owner(&self) -> Option<Uuid> {
        labels::owner(&self.labels)
    }

    pub fn kind(&self) -> Option<Kind> {
        labels::kind(&self.labels)
    }

    /// The creation token it carries (labels are copied by `docker commit`, so this alone
    /// proves nothing; it must match a token Berth stored and has not yet retired).
    pub fn token(&self) -> Option<&str> {
        self.labels.get(labels::TOKEN).map(String::as_str)
    }
}

/// Where the host meets a workspace's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkAddress {
    pub gateway: std::net::IpAddr,
    pub subnet: std::net::IpAddr,
    pub prefix: u8,
}

/// A network of this install.
#[derive(Debug, Clone)]
pub struct NetworkInfo {
    pub name: String,
    pub owner: Option<Uuid>,
    pub kind: Option<Kind>,
    /// The owner's name when the network was made (for the audit log).
    pub owner_name: Option<String>,
}

#[derive(Debug, Clone)]
pub enum LogLine {
    Out(bytes::Bytes),
    Err(bytes::Bytes),
}

impl Client {
    /// Every container of this install (one API call), double-checked against the labels so a
    /// filter quirk can never hand us another install's container.
    pub async fn list_containers(
        &self,
        install: Uuid,
        workspace: Option<&str>,
    ) -> Result<Vec<ContainerInfo>> {
        Ok(self
            .list_ours(install, workspace, false)
            .await?
            .into_iter()
            .map(|c| ContainerInfo {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_default(),
                running: c.state == Some(ContainerSummaryStateEnum::RUNNING),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                labels: c.labels.unwrap_or_default(),
                exit_code: None,
                oom_killed: false,
                host_ports: Vec::new(),
                ip: None,
                pid: None,
            })
            .collect())
    }

    /// The summaries of this install's containers (with the writable layer's size if asked:
    /// Docker computes it only then), double-checked against the labels.
    pub(super) async fn list_ours(
        &self,
        install: Uuid,
        workspace: Option<&str>,
        size: bool,
    ) -> Result<Vec<bollard::models::ContainerSummary>> {
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .size(size)
            .filters(&labels::install_filter(install, workspace))
            .build();
        let list = self
            .api
            .list_containers(Some(opts))
            .await
            .map_err(|e| self.fail("list containers", e))?;
        Ok(list
            .into_iter()
            .filter(|c| labels::is_ours(c.labels.as_ref(), install))
            .collect())
    }

    /// `None` when the container does not exist.
    pub async fn inspect_container(&self, id: &str) -> Result<Option<ContainerInfo>> {
        let answer = self.api.inspect_container(id, None).await;
        let Some(c) = self.found("inspect container", answer)? else {
            return Ok(None);
        };
        let state = c.state.unwrap_or_default();
        let network = c.network_settings.unwrap_or_default();
        // What Docker bound, not what was asked for: an empty HostPort asks for any port.
        let host_ports = network
            .ports
            .into_iter()
            .flat_map(|m| m.into_values())
            .flatten()
            .flatten()
            .filter_map(|b| b.host_port.and_then(|p| p.parse().ok()))
            .collect();
        let ip = network
            .networks
            .into_iter()
            .flat_map(|m| m.into_values())
            .filter_map(|n| n.ip_address)
            .find(|ip| !ip.is_empty());
        Ok(Some(ContainerInfo {
            id: c.id.unwrap_or_default(),
            name: c
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            labels: c.config.and_then(|cfg| cfg.labels).unwrap_or_default(),
            running: state.running.unwrap_or(false),
            state: state.status.map(|s| s.to_string()).unwrap_or_default(),
            exit_code: state.exit_code,
            oom_killed: state.oom_killed.unwrap_or(false),
            host_ports,
            ip,
            pid: state.pid,
        }))
    }

    pub async fn create_container(&self, plan: ContainerPlan) -> Result<String> {
        let opts = CreateContainerOptionsBuilder::default()
            .name(&plan.name)
            .build();
        let created = self
            .api
            .create_container(Some(opts), plan.body)
            .await
            .map_err(|e| self.fail("create container", e))?;
        Ok(created.id)
    }

    /// Starting a running container is a no-op (Docker answers 304).
    pub async fn start_container(&self, id: &str) -> Result<()> {
        self.api
            .start_container(id, None)
            .await
            .map_err(|e| self.fail("start container", e))
    }

    /// SIGTERM, then SIGKILL after `grace_secs`. Stopping a stopped container is a no-op.
    pub async fn stop_container(&self, id: &str, grace_secs: i32) -> Result<()> {
        let opts = StopContainerOptionsBuilder::default().t(grace_secs).build();
        self.api
            .stop_container(id, Some(opts))
            .await
            .map_err(|e| self.fail("stop container", e))
    }

    /// CPU time the container used since it started, in nanoseconds: one sample, without the
    /// second Docker otherwise waits a second for (`one-shot`). The idle timer diffs two.
    pub async fn cpu_used_ns(&self, id: &str) -> Result<Option<u64>> {
        let opts = StatsOptionsBuilder::default()
            .stream(false)
            .one_shot(true)
            .build();
        let mut stats = self.api.stats(id, Some(opts));
        match stats.next().await {
            Some(Ok(s)) => Ok(s.cpu_stats.and_then(|c| c.cpu_usage?.total_usage)),
            Some(Err(e)) => self.found::<()>("container stats", Err(e)).map(|_| None),
            None => Ok(None),
        }
    }

    /// Applies new limits to an existing container (running or not).
    pub async fn update_limits(&self, id: &str, limits: &crate::model::Limits) -> Result<()> {
        let body = bollard::models::ContainerUpdateBody {
            memory: Some(limits.memory_bytes as i64),
            memory_swap: Some(limits.memory_bytes as i64),
            nano_cpus: Some((limits.cpus * 1e9).round() as i64),
            pids_limit: Some(limits.pids),
            ..Default::default()
        };
        self.api
            .update_container(id, body)
            .await
            .map_err(|e| self.fail("update container", e))
    }

    /// Removes the container (even running); an absent one is fine.
    pub async fn remove_container(&self, id: &str) -> Result<()> {
        // With its anonymous volumes (an image's `VOLUME`): nothing else would remove them.
        let opts = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        let answer = self.api.remove_container(id, Some(opts)).await;
        self.found("remove container", answer).map(drop)
    }

    /// Container output (stdout and stderr), optionally following and from the last `tail`.
    pub fn logs(
        &self,
        id: &str,
        follow: bool,
        tail: Option<usize>,
    ) -> BoxStream<'_, Result<LogLine>> {
        let tail = tail.map(|t| t.to_string()).unwrap_or_else(|| "all".into());
        let opts = LogsOptionsBuilder::default()
            .follow(follow)
            .stdout(true)
            .stderr(true)
            .tail(&tail)
            .build();
        self.api
            .logs(id, Some(opts))
            .filter_map(move |item| async move {
                use bollard::container::LogOutput;
                match item {
                    Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                        Some(Ok(LogLine::Out(message)))
                    }
                    Ok(LogOutput::StdErr { message }) => Some(Ok(LogLine::Err(message))),
                    Ok(LogOutput::StdIn { .. }) => None,
                    Err(e) => Some(Err(self.fail("logs", e))),
                }
            })
            .boxed()
    }

    /// Creates the workspace network unless a network of that name is already ours. Docker
    /// happily creates two networks with one name (and then refuses to attach either), so
    /// look first; the caller holds the workspace lock, so nobody races us here.
    pub async fn ensure_network(&self, req: NetworkCreateRequest, install: Uuid) -> Result<()> {
        let answer = self.api.inspect_network(&req.name, None).await;
        match self.found("inspect network", answer)? {
            Some(net) if labels::is_ours(net.labels.as_ref(), install) => return Ok(()),
            Some(_) => {
                return Err(Error::conflict(format!(
                    "a Docker network named {:?} exists that this Berth did not create; remove or rename it",
                    req.name
                )));
            }
            None => {}
        }
        self.api
            .create_network(req)
            .await
            .map(drop)
            .map_err(|e| self.fail("create network", e))
    }

    /// The gateway (the host's address on the network) and the subnet of a network, as
    /// Docker's IPAM assigned them; `None` if the network does not exist.
    pub async fn network_address(&self, name: &str) -> Result<Option<NetworkAddress>> {
        let answer = self.api.inspect_network(name, None).await;
        let Some(net) = self.found("inspect network", answer)? else {
            return Ok(None);
        };
        let configs = net.ipam.and_then(|i| i.config).unwrap_or_default();
        Ok(configs.iter().find_map(|c| {
            let gateway = c.gateway.as_deref()?.parse().ok()?;
            let (subnet, prefix) = c.subnet.as_deref()?.split_once('/')?;
            Some(NetworkAddress {
                gateway,
                subnet: subnet.parse().ok()?,
                prefix: prefix.parse().ok()?,
            })
        }))
    }

    /// Networks of this install.
    pub async fn list_networks(&self, install: Uuid) -> Result<Vec<NetworkInfo>> {
        let opts = ListNetworksOptionsBuilder::default()
            .filters(&labels::install_filter(install, None))
            .build();
        let nets = self
            .api
            .list_networks(Some(opts))
            .await
            .map_err(|e| self.fail("list networks", e))?;
        Ok(nets
            .into_iter()
            .filter(|n| labels::is_ours(n.labels.as_ref(), install))
            .map(|n| {
                let l = n.labels.unwrap_or_default();
                NetworkInfo {
                    name: n.name.unwrap_or_default(),
                    owner: labels::owner(&l),
                    kind: labels::kind(&l),
                    owner_name: l.get(labels::NAME).cloned(),
                }
            })
            .collect())
    }

    pub async fn remove_network(&self, name: &str) -> Result<()> {
        let answer = self.api.remove_network(name).await;
        self.found("remove network", answer).map(drop)
    }
}

/// What a command run inside a container printed, and how it ended.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub exit_code: Option<i64>,
    /// stdout and stderr, interleaved as they came.
    pub output: String,
}

impl Client {
    /// Runs `cmd` in the running container as its configured user and collects its output.
    pub async fn exec(&self, id: &str, cmd: Vec<String>) -> Result<ExecOutput> {
        use bollard::exec::{CreateExecOptions, StartExecResults};
        let created = self
            .api
            .create_exec(
                id,
                CreateExecOptions {
                    cmd: Some(cmd),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| self.fail("exec", e))?;
        let started = self
            .api
            .start_exec(&created.id, None)
            .await
            .map_err(|e| self.fail("exec", e))?;
        let mut output = String::new();
        if let StartExecResults::Attached {
            output: mut out, ..
        } = started
        {
            while let Some(chunk) = out.next().await {
                let chunk = chunk.map_err(|e| self.fail("exec", e))?;
                output.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            }
        }
        let inspected = self
            .api
            .inspect_exec(&created.id)
            .await
            .map_err(|e| self.fail("exec", e))?;
        Ok(ExecOutput {
            exit_code: inspected.exit_code,
            output,
        })
    }
}

impl Client {
    /// Unpacks a tar stream into `dir` of a created (not yet started) container: Docker
    /// writes into the container's volumes, which a read-only root filesystem allows.
    pub async fn unpack_into(
        &self,
        container: &str,
        dir: &str,
        tar: impl futures_util::Stream<Item = bytes::Bytes> + Send + 'static,
    ) -> Result<()> {
        let opts = bollard::query_parameters::UploadToContainerOptionsBuilder::default()
            .path(dir)
            .build();
        self.api
            .upload_to_container(container, Some(opts), bollard::body_stream(tar))
            .await
            .map_err(|e| self.fail("copy into container", e))
    }
}
