//! A workspace's API keys at run time: what its container is given (proxy address and token,
//! or the key itself in env mode), the proxy route behind it, and its end when the
//! workspace stops. Usage and activity reported by the proxy are recorded here.

use super::Engine;
use crate::activity::Signal;
use crate::credentials::{self, Record, Route, RouteKey, token_digest, usage::utc_day};
use crate::docker::{self, NetworkAddress};
use crate::error::{Code, Error, Result};
use crate::model::{Budget, KeyMode, KeyName, Provider, Workspace, WorkspaceId};
use crate::secrets::Sensitive;
use crate::store::Usage;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;

/// What a workspace used of one key today, and what its budget leaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct KeyUsage {
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub key: KeyName,
    pub mode: KeyMode,
    pub budget: Budget,
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub today: Usage,
    /// Today's tokens as the budget counts them (input + output).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub tokens_today: u64,
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub requests_left: Option<u64>,
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub tokens_left: Option<u64>,
}

/// Where the proxy listens for a workspace and which host its container uses to reach it.
/// On Linux: the network's gateway address (the host's own address on that bridge) at the
/// workspace's port number. Where Docker runs in a VM (Docker Desktop) the bridge is not on
/// the host: loopback at a port the OS picks, reached as `host.docker.internal`. Pure.
pub fn proxy_bind(
    linux: bool,
    net: &NetworkAddress,
    port: u16,
) -> (SocketAddr, Option<&'static str>) {
    if linux {
        (SocketAddr::new(net.gateway, port), None)
    } else {
        (
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            Some("host.docker.internal"),
        )
    }
}

impl Engine {
    /// The environment of a container about to be made for `ws`, with its proxy route bound
    /// first (the token is new: every start of a workspace with keys gets a fresh container).
    /// Fails — and the start with it — when a key cannot be opened.
    pub(super) async fn provision_keys(
        &self,
        docker: &docker::Client,
        ws: &Workspace,
    ) -> Result<Vec<Sensitive<String>>> {
        self.revoke_credentials(ws.id);
        let mut env = Vec::new();
        for k in ws.keys.iter().filter(|k| k.mode == KeyMode::Env) {
            let value = self.key_value(&k.key).await?;
            env.push(Sensitive::new(format!(
                "{}={}",
                k.key.env_var(),
                value.expose()
            )));
        }
        let keys = self.proxy_keys(ws).await?;
        if keys.is_empty() {
            return Ok(env);
        }
        docker
            .ensure_network(docker::plan_network(ws, self.install), self.install)
            .await?;
        let token = credentials::new_token()?;
        let digest = token_digest(token.expose());
        let providers: Vec<Provider> = keys.keys().copied().collect();
        let (addr, host) = self.bind_proxy(docker, ws, digest.clone(), keys).await?;
        self.db(|s| s.set_proxy_token(ws.id, &digest))?;
        for provider in providers {
            let Some((base_var, key_var)) = provider.env_names() else {
                continue;
            };
            let mut url = credentials::base_url(addr, provider);
            if let Some(host) = host {
                url = url.replacen(&addr.ip().to_string(), host, 1);
            }
            env.push(Sensitive::new(format!("{base_var}={url}")));
            env.push(Sensitive::new(format!("{key_var}={}", token.expose())));
        }
        Ok(env)
    }

    /// The proxy-mode keys of `ws`, opened, with today's usage so far.
    async fn proxy_keys(&self, ws: &Workspace) -> Result<HashMap<Provider, RouteKey>> {
        let day = utc_day(std::time::SystemTime::now());
        let mut keys = HashMap::new();
        for k in ws.keys.iter().filter(|k| k.mode == KeyMode::Proxy) {
            let info = self
                .db(|s| s.key(&k.key))?
                .ok_or_else(|| Error::not_found(format!("no key named {}", k.key)))?;
            let used = self.db(|s| s.usage(ws.id, &k.key, &day))?;
            keys.insert(
                k.key.provider(),
                RouteKey {
                    name: k.key.clone(),
                    base_url: self.key_base_url(&info)?,
                    value: self.key_value(&k.key).await?,
                    budget: k.budget,
                    used: Mutex::new((day.clone(), used)),
                },
            );
        }
        Ok(keys)
    }

    /// Serves `keys` for the token with `digest` where the workspace's container reaches it;
    /// the address, and the host name the container uses for it where that is not the
    /// address (Docker Desktop).
    async fn bind_proxy(
        &self,
        docker: &docker::Client,
        ws: &Workspace,
        digest: String,
        keys: HashMap<Provider, RouteKey>,
    ) -> Result<(SocketAddr, Option<&'static str>)> {
        let net = docker
            .network_address(&ws.network_name())
            .await?
            .ok_or_else(|| {
                Error::new(
                    Code::StartFailed,
                    format!(
                        "{}'s network has no address for the credential proxy",
                        ws.name
                    ),
                )
            })?;
        let port = ws
            .port
            .ok_or_else(|| Error::new(Code::StartFailed, "the workspace has no port"))?;
        let linux = cfg!(target_os = "linux");
        let (bind, host) = proxy_bind(linux, &net, port);
        let peers = linux.then_some(credentials::Peers {
            subnet: net.subnet,
            prefix: net.prefix,
            host: net.gateway,
        });
        let route = Route::new(digest, peers, keys);
        self.proxy.bind(ws.id, bind, route).await?;
        Ok((self.proxy.address(ws.id).unwrap_or(bind), host))
    }

    /// Serves the proxy of a workspace found running (after a daemon restart): the token its
    /// container holds is known by its digest.
    pub(super) async fn serve_credentials(&self, docker: &docker::Client, ws: &Workspace) {
        if !ws.keys.iter().any(|k| k.mode == KeyMode::Proxy) || self.proxy.address(ws.id).is_some()
        {
            return;
        }
        let Ok(Some(digest)) = self.db(|s| s.proxy_token(ws.id)) else {
            return;
        };
        let rebound = match self.proxy_keys(ws).await {
            Ok(keys) => self.bind_proxy(docker, ws, digest, keys).await.map(drop),
            Err(e) => Err(e),
        };
        if let Err(e) = rebound {
            self.audit(
                ws,
                "credential-proxy",
                crate::store::Outcome::Failed,
                &e.message,
            );
        }
    }

    /// The workspace stopped or is going: its token is refused from now on.
    pub(super) fn revoke_credentials(&self, id: WorkspaceId) {
        self.proxy.close(id);
        if let Err(e) = self.db(|s| s.revoke_proxy_token(id)) {
            tracing::error!("could not revoke a proxy token: {e}");
        }
    }

    /// The gateway parks a workspace that stopped, and its proxy token ends.
    pub(super) fn park_stopped(&self, id: WorkspaceId, idle_for: Option<std::time::Duration>) {
        self.gateway.park(id, idle_for);
        self.revoke_credentials(id);
    }

    /// What the proxy reported: usage into the store, and each request as activity.
    pub fn record_proxy(&self, record: Record) {
        let day = utc_day(std::time::SystemTime::now());
        let (id, key, usage) = match record {
            Record::Request { workspace, key } => {
                self.activity.record(
                    workspace,
                    Signal::Api,
                    Some(key.as_str()),
                    crate::store::now_ms(),
                );
                (
                    workspace,
                    key,
                    Usage {
                        requests: 1,
                        ..Default::default()
                    },
                )
            }
            Record::Tokens {
                workspace,
                key,
                usage,
            } => (workspace, key, usage),
        };
        if let Err(e) = self.db(|s| s.add_usage(id, &key, &day, usage)) {
            tracing::error!("could not record key usage: {e}");
        }
    }

    /// Closes every proxy listener (the daemon exits; a new daemon serves them again).
    pub fn close_proxies(&self) {
        self.proxy.close_all();
    }

    /// The proxy's records, for the daemon's task that feeds them to [`Engine::record_proxy`].
    pub fn take_proxy_records(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Record>> {
        self.proxy.take_records()
    }

    /// Today's usage of each key of a workspace.
    pub fn key_usage(&self, ws: &Workspace) -> Result<Vec<KeyUsage>> {
        let day = utc_day(std::time::SystemTime::now());
        ws.keys
            .iter()
            .map(|k| {
                let today = self.db(|s| s.usage(ws.id, &k.key, &day))?;
                Ok(KeyUsage {
                    key: k.key.clone(),
                    mode: k.mode,
                    budget: k.budget,
                    day: day.clone(),
                    today,
                    tokens_today: today.tokens(),
                    requests_left: k
                        .budget
                        .requests_per_day
                        .map(|l| l.saturating_sub(today.requests)),
                    tokens_left: k
                        .budget
                        .tokens_per_day
                        .map(|l| l.saturating_sub(today.tokens())),
                })
            })
            .collect()
    }

    pub fn usage_of(&self, name: &str) -> Result<Vec<KeyUsage>> {
        let ws = self.find(name)?;
        self.key_usage(&ws)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_listens_where_the_container_can_reach_it() {
        let net = NetworkAddress {
            gateway: "172.18.0.1".parse().unwrap(),
            subnet: "172.18.0.0".parse().unwrap(),
            prefix: 16,
        };
        let (addr, host) = proxy_bind(true, &net, 10004);
        assert_eq!(addr, "172.18.0.1:10004".parse().unwrap());
        assert_eq!(host, None);
        let (addr, host) = proxy_bind(false, &net, 10004);
        assert!(addr.ip().is_loopback());
        assert_eq!(addr.port(), 0);
        assert_eq!(host, Some("host.docker.internal"));
    }
}
