//! The credential proxy: how a workspace uses an API key without ever holding it.
//!
//! Each running workspace with a key in proxy mode gets a listener of its own on its Docker
//! network's gateway address (on Linux, reachable from that network; connections from any
//! other address are refused), at the workspace's port number. Its container is given
//! `ANTHROPIC_BASE_URL` / `OPENAI_BASE_URL` pointing there and a random token in place of the
//! key. The proxy checks the token, swaps in the real key, and streams the provider's answer
//! back unchanged and unbuffered, reading the usage fields as they pass. Tokens end when the
//! workspace stops. Every request is reported to the daemon (usage, budget, idle activity).

#[cfg(test)]
mod proxy_tests;
mod server;
pub mod usage;

use crate::error::{Code, Error, Result};
use crate::model::{Budget, KeyName, Provider, WorkspaceId};
use crate::secrets::Sensitive;
use crate::store::Usage;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// The path prefix of each provider on a workspace's proxy: one listener serves both.
pub fn path_prefix(provider: Provider) -> &'static str {
    match provider {
        Provider::Anthropic => "/anthropic",
        Provider::Openai => "/openai",
        Provider::Generic => "/none",
    }
}

/// The base URL a container's SDK uses for `provider` through the proxy at `addr`. OpenAI's
/// SDKs expect the `/v1` in the base URL, Anthropic's add it themselves.
pub fn base_url(addr: SocketAddr, provider: Provider) -> String {
    let suffix = if provider == Provider::Openai {
        "/v1"
    } else {
        ""
    };
    format!("http://{addr}{}{suffix}", path_prefix(provider))
}

/// A new proxy token: what the container holds instead of the key.
pub fn new_token() -> Result<Sensitive<String>> {
    let secret = crate::secrets::random_secret()?;
    Ok(Sensitive::new(format!("berth-proxy-{}", secret.expose())))
}

/// SHA-256 of a token, hex: what the store keeps (the token itself has 256 random bits).
pub fn token_digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One key a workspace's proxy swaps in, with today's usage so far.
pub struct RouteKey {
    pub name: KeyName,
    pub base_url: String,
    pub value: Sensitive<String>,
    pub budget: Budget,
    /// (UTC day, usage that day).
    pub used: Mutex<(String, Usage)>,
}

/// What the proxy of one workspace accepts and where it sends it.
pub struct Route {
    pub token_sha256: String,
    /// Requests in flight (see [`MAX_IN_FLIGHT`]).
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// Who may connect; `None` where Docker's addresses are not the host's (Docker Desktop).
    pub peers: Option<Peers>,
    pub keys: HashMap<Provider, RouteKey>,
}

impl Route {
    pub fn new(
        token_sha256: String,
        peers: Option<Peers>,
        keys: HashMap<Provider, RouteKey>,
    ) -> Route {
        Route {
            in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
            token_sha256,
            peers,
            keys,
        }
    }
}

/// Who may connect to a workspace's proxy: addresses on the workspace's network, but not the
/// host's own address there (a process on this machine connecting to the gateway address
/// comes from it) — so only containers on that network, which is the workspace's alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peers {
    pub subnet: IpAddr,
    pub prefix: u8,
    pub host: IpAddr,
}

impl Peers {
    pub fn admit(&self, ip: IpAddr) -> bool {
        ip != self.host && in_subnet(ip, self.subnet, self.prefix)
    }
}

fn in_subnet(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if prefix <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if prefix <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// What the proxy reports to the daemon as requests pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A request was admitted and sent (counts toward the budget; an activity signal).
    Request {
        workspace: WorkspaceId,
        key: KeyName,
    },
    /// Its answer ended with these tokens used.
    Tokens {
        workspace: WorkspaceId,
        key: KeyName,
        usage: Usage,
    },
}

struct Listener {
    addr: SocketAddr,
    route: Arc<Route>,
    accept: JoinHandle<()>,
    /// Cancelled on close: the accept loop and every open connection (a stream in progress
    /// ends with the token).
    stop: tokio_util::sync::CancellationToken,
}

/// Requests in flight at once per workspace: an agent runs a few; a container opening
/// thousands must not take the daemon's memory and file descriptors.
pub const MAX_IN_FLIGHT: usize = 16;

pub(crate) struct Shared {
    listeners: Mutex<HashMap<WorkspaceId, Listener>>,
    client: reqwest::Client,
    records: tokio::sync::mpsc::UnboundedSender<Record>,
}

impl Shared {
    fn route(&self, id: WorkspaceId) -> Option<Arc<Route>> {
        self.listeners
            .lock()
            .expect("proxy listeners")
            .get(&id)
            .map(|l| l.route.clone())
    }
}

#[derive(Clone)]
pub struct CredentialProxy {
    shared: Arc<Shared>,
    records: Arc<Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Record>>>>,
}

impl CredentialProxy {
    pub fn new() -> Result<CredentialProxy> {
        let (records, rx) = tokio::sync::mpsc::unbounded_channel();
        Ok(CredentialProxy {
            shared: Arc::new(Shared {
                listeners: Mutex::default(),
                client: http_client()?,
                records,
            }),
            records: Arc::new(Mutex::new(Some(rx))),
        })
    }

    /// The stream of records, for the daemon (taken once).
    pub fn take_records(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Record>> {
        self.records.lock().expect("proxy records").take()
    }

    /// Serves `route` for workspace `id` on `addr`, replacing what it served before.
    pub async fn bind(&self, id: WorkspaceId, addr: SocketAddr, route: Route) -> Result<()> {
        let route = Arc::new(route);
        {
            let mut listeners = self.shared.listeners.lock().expect("proxy listeners");
            if let Some(l) = listeners.get_mut(&id)
                && l.addr == addr
            {
                l.route = route;
                return Ok(());
            }
        }
        self.close(id);
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            Error::new(
                Code::StartFailed,
                format!("cannot serve the credential proxy on {addr}: {e}"),
            )
        })?;
        // Port 0 (Docker Desktop) means one the OS picks: keep the real one.
        let addr = listener.local_addr().unwrap_or(addr);
        let stop = tokio_util::sync::CancellationToken::new();
        let accept = tokio::spawn(server::accept(
            self.shared.clone(),
            id,
            listener,
            stop.clone(),
        ));
        self.shared
            .listeners
            .lock()
            .expect("proxy listeners")
            .insert(
                id,
                Listener {
                    addr,
                    route,
                    accept,
                    stop,
                },
            );
        Ok(())
    }

    /// Where the proxy of `id` listens, if it does.
    pub fn address(&self, id: WorkspaceId) -> Option<SocketAddr> {
        self.shared
            .listeners
            .lock()
            .expect("proxy listeners")
            .get(&id)
            .map(|l| l.addr)
    }

    /// Stops serving `id`: its token is refused from now on (the connection too).
    pub fn close(&self, id: WorkspaceId) {
        if let Some(l) = self
            .shared
            .listeners
            .lock()
            .expect("proxy listeners")
            .remove(&id)
        {
            l.stop.cancel();
            l.accept.abort();
        }
    }

    pub fn close_all(&self) {
        for (_, l) in self
            .shared
            .listeners
            .lock()
            .expect("proxy listeners")
            .drain()
        {
            l.stop.cancel();
            l.accept.abort();
        }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.shared.client
    }
}

/// The HTTP client for providers: rustls with the platform's roots, no proxy from the
/// environment (a key must not travel through whatever `HTTPS_PROXY` a shell had).
pub fn http_client() -> Result<reqwest::Client> {
    // Err only when a provider is installed already (by an earlier call).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .no_proxy()
        // A redirect to another host would carry `x-api-key` along (reqwest strips only
        // `Authorization`): the provider's answer goes back as it is, never followed.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| {
            Error::new(
                Code::Io,
                format!(
                    "cannot make the HTTP client ({e}): are the system's CA certificates installed? (Debian/Ubuntu: ca-certificates)"
                ),
            )
        })
}

/// The request headers that carry `value` to `provider`.
pub fn auth_headers(provider: Provider, value: &str) -> Vec<(&'static str, String)> {
    match provider {
        Provider::Anthropic => vec![("x-api-key", value.to_string())],
        Provider::Openai => vec![("authorization", format!("Bearer {value}"))],
        Provider::Generic => vec![],
    }
}

/// Asks the provider for its model list with `value`: `Ok(())` if it accepts the key, else a
/// sentence for the user (refused, unreachable, too slow).
pub async fn test_key(
    client: &reqwest::Client,
    provider: Provider,
    base_url: &str,
    value: &Sensitive<String>,
) -> std::result::Result<(), String> {
    if provider == Provider::Generic {
        return Err("Berth can test only the Anthropic and OpenAI keys".into());
    }
    let mut req = client
        .get(format!("{base_url}/v1/models"))
        .timeout(std::time::Duration::from_secs(15));
    if provider == Provider::Anthropic {
        req = req.header("anthropic-version", "2023-06-01");
    }
    for (name, v) in auth_headers(provider, value.expose()) {
        req = req.header(name, v);
    }
    match req.send().await {
        Ok(res) if res.status().is_success() => Ok(()),
        Ok(res) => {
            let status = res.status();
            Err(match status.as_u16() {
                401 | 403 => format!(
                    "{} refused the key ({status}): it is wrong, revoked or lacks permission",
                    provider_label(provider)
                ),
                _ => format!("{} answered {status}", provider_label(provider)),
            })
        }
        Err(e) if e.is_timeout() => Err(format!("{base_url} did not answer within 15 s")),
        Err(e) => Err(format!(
            "cannot reach {base_url}: {}",
            crate::error::root_cause(&e)
        )),
    }
}

pub fn provider_label(provider: Provider) -> &'static str {
    match provider {
        Provider::Anthropic => "Anthropic",
        Provider::Openai => "OpenAI",
        Provider::Generic => "the service",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_fit_each_sdk() {
        let addr: SocketAddr = "172.18.0.1:10003".parse().unwrap();
        assert_eq!(
            base_url(addr, Provider::Anthropic),
            "http://172.18.0.1:10003/anthropic"
        );
        assert_eq!(
            base_url(addr, Provider::Openai),
            "http://172.18.0.1:10003/openai/v1"
        );
    }

    #[test]
    fn only_the_workspace_network_is_let_in_and_not_the_host() {
        let peers = Peers {
            subnet: "172.18.0.0".parse().unwrap(),
            prefix: 16,
            host: "172.18.0.1".parse().unwrap(),
        };
        assert!(peers.admit("172.18.0.2".parse().unwrap()));
        assert!(
            !peers.admit("172.18.0.1".parse().unwrap()),
            "the host itself"
        );
        assert!(!peers.admit("172.19.0.2".parse().unwrap()));
        assert!(!peers.admit("127.0.0.1".parse().unwrap()));
        assert!(!peers.admit("::1".parse().unwrap()));
        assert!(in_subnet(
            "10.1.2.3".parse().unwrap(),
            "0.0.0.0".parse().unwrap(),
            0
        ));
    }

    #[test]
    fn tokens_are_random_and_stored_as_digests() {
        let t = new_token().unwrap();
        assert!(t.expose().starts_with("berth-proxy-"));
        assert_ne!(new_token().unwrap(), t);
        let d = token_digest(t.expose());
        assert_eq!(d.len(), 64);
        assert!(!d.contains(&t.expose()[12..]));
    }
}
