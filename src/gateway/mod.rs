//! The IDE gateway: Berth's front door on each running workspace's stable loopback port. It
//! checks the Host header, requires Berth's own login for every image, strips every Berth
//! cookie before forwarding, adds a Content-Security-Policy, and streams HTTP and WebSockets to
//! where the IDE really listens (see [`upstream::address`]). The engine binds a workspace's
//! port before its container starts, points it at the IDE once healthy, and parks it when the
//! workspace stops: the port then answers with a "stopped" page whose Start button is the only
//! way a page wakes the workspace (an IDE reconnecting never does). It closes on delete; the
//! gateway lives in the daemon with the engine.

mod pages;
mod policy;
mod preview;
mod proxy;
mod sessions;
pub mod upstream;

pub use policy::cookie_name;
pub use preview::share_cookie_name;
pub(crate) use proxy::{is_hop_by_hop, strip_hop_by_hop};

use crate::error::{Code, Error, Result};
use crate::model::WorkspaceId;
use crate::secrets::Sensitive;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sessions::Sessions;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Where a route forwards to, once the IDE answered its health check.
#[derive(Debug, Clone)]
pub struct Target {
    pub upstream: SocketAddr,
    /// The IDE's own session cookie (code-server), added to every forwarded request.
    pub ide_cookie: Option<(String, Sensitive<String>)>,
    /// The IDE's password, when the gateway should log in itself at the first request (a
    /// workspace found running, whose IDE may not be ready yet).
    pub ide_secret: Option<Sensitive<String>>,
}

/// Why a bound route serves no IDE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parked {
    /// Stopped; `idle_for` when the idle timer stopped it after that long.
    Stopped {
        idle_for: Option<std::time::Duration>,
    },
    /// Start was pressed; the engine is starting it.
    Starting,
}

struct Route {
    port: u16,
    name: String,
    target: Option<Target>,
    parked: Option<Parked>,
    /// The stopped page's one-time value: a Start must carry the one its page showed.
    start_nonce: Option<Sensitive<String>>,
    accept: JoinHandle<()>,
    /// Live upgraded connections of this workspace (a page opening sockets in a loop must
    /// not take the daemon's file descriptors).
    upgrades: Arc<tokio::sync::Semaphore>,
    /// Policy reports logged in the current minute (a page posting them in a loop must not
    /// fill the disk).
    reports: (Instant, u32),
}

/// Upgraded connections (WebSockets) at once per workspace; an IDE window uses a handful.
pub(crate) const MAX_UPGRADES: usize = 64;
/// Policy reports logged per workspace and minute; the rest are answered and dropped.
const MAX_REPORTS_PER_MINUTE: u32 = 20;

/// What a request needs of its route.
pub(crate) struct RouteView {
    pub name: String,
    pub target: Option<Target>,
    pub parked: Option<Parked>,
    pub start_nonce: Option<Sensitive<String>>,
    pub upgrades: Arc<tokio::sync::Semaphore>,
}

pub(crate) struct Shared {
    routes: Mutex<HashMap<WorkspaceId, Route>>,
    sessions: Mutex<Sessions>,
    client: HttpClient<HttpConnector, Incoming>,
    /// Start pressed on a stopped page: the daemon starts the workspace.
    starts: tokio::sync::mpsc::UnboundedSender<WorkspaceId>,
    previews: Mutex<HashMap<crate::model::PreviewId, preview::PreviewRoute>>,
    /// A preview had visitors: an activity signal of its workspace.
    hits: tokio::sync::mpsc::UnboundedSender<WorkspaceId>,
}

#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
    start_requests: Arc<Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<WorkspaceId>>>>,
    preview_hits: Arc<Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<WorkspaceId>>>>,
}

impl Default for Gateway {
    fn default() -> Self {
        Self::new()
    }
}

impl Gateway {
    pub fn new() -> Gateway {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let (starts, start_requests) = tokio::sync::mpsc::unbounded_channel();
        let (hits, preview_hits) = tokio::sync::mpsc::unbounded_channel();
        Gateway {
            shared: Arc::new(Shared {
                routes: Mutex::default(),
                sessions: Mutex::default(),
                client: HttpClient::builder(TokioExecutor::new()).build(connector),
                starts,
                previews: Mutex::default(),
                hits,
            }),
            start_requests: Arc::new(Mutex::new(Some(start_requests))),
            preview_hits: Arc::new(Mutex::new(Some(preview_hits))),
        }
    }

    /// The workspaces whose Start button was pressed, for the daemon to start (taken once).
    pub fn take_start_requests(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<WorkspaceId>> {
        self.start_requests.lock().expect("start requests").take()
    }

    /// Takes `127.0.0.1:port` for workspace `id` (kept if it already holds it). Until
    /// [`Gateway::serve`] names the IDE, requests get a "starting" page.
    pub async fn bind(&self, id: WorkspaceId, name: &str, port: u16) -> Result<()> {
        if self.holds(id, port) {
            // Parked since its stop: a start is under way now.
            self.unpark_starting(id);
            return Ok(());
        }
        self.close(id);
        let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
            Error::new(
                Code::PortsExhausted,
                format!("cannot serve {name} on 127.0.0.1:{port}: {e}"),
            )
        })?;
        let accept = tokio::spawn(proxy::accept(self.shared.clone(), id, port, listener));
        let route = Route {
            port,
            name: name.to_string(),
            target: None,
            parked: None,
            start_nonce: None,
            accept,
            upgrades: Arc::new(tokio::sync::Semaphore::new(MAX_UPGRADES)),
            reports: (Instant::now(), 0),
        };
        self.shared.routes().insert(id, route);
        Ok(())
    }

    /// Points the bound route of `id` at its IDE.
    pub fn serve(&self, id: WorkspaceId, target: Target) {
        if let Some(route) = self.shared.routes().get_mut(&id) {
            route.target = Some(target);
            route.parked = None;
        }
    }

    /// The workspace stopped: its port stays Berth's and answers with the stopped page (Start
    /// for whoever is logged in), and nothing is forwarded. Logins stay valid, so the button
    /// works in the window that was open. Does nothing for a port the gateway does not hold.
    pub fn park(&self, id: WorkspaceId, idle_for: Option<std::time::Duration>) {
        let nonce = crate::secrets::random_secret().ok();
        if let Some(route) = self.shared.routes().get_mut(&id) {
            route.target = None;
            route.parked = Some(Parked::Stopped { idle_for });
            route.start_nonce = nonce;
        }
    }

    fn unpark_starting(&self, id: WorkspaceId) {
        if let Some(route) = self.shared.routes().get_mut(&id)
            && route.parked.is_some()
        {
            route.parked = Some(Parked::Starting);
        }
    }

    /// Stops serving `id`: its port is free again, new requests are refused, and every
    /// login of it ends (whoever takes the freed port meanwhile collects nothing that works).
    pub fn close(&self, id: WorkspaceId) {
        if let Some(route) = self.shared.routes().remove(&id) {
            route.accept.abort();
        }
        self.shared.sessions().forget(id);
    }

    pub fn close_all(&self) {
        for (_, route) in self.shared.routes().drain() {
            route.accept.abort();
        }
        for (_, route) in self.shared.previews().drain() {
            route.accept.abort();
        }
    }

    /// Whether the gateway already listens on `port` for `id`.
    pub fn holds(&self, id: WorkspaceId, port: u16) -> bool {
        self.shared
            .routes()
            .get(&id)
            .is_some_and(|r| r.port == port)
    }

    /// Whether `id` is bound and forwarding.
    pub fn serving(&self, id: WorkspaceId) -> bool {
        self.shared
            .routes()
            .get(&id)
            .is_some_and(|r| r.target.is_some())
    }

    /// A one-time login link for the running workspace `id`: opened by the app's IDE window
    /// or the system browser, it sets Berth's login cookie and leads to the IDE.
    pub fn login_link(&self, id: WorkspaceId) -> Result<Sensitive<String>> {
        let port = self
            .shared
            .routes()
            .get(&id)
            .map(|r| r.port)
            .ok_or_else(|| Error::new(Code::Conflict, "the workspace is not being served"))?;
        let token = self.shared.sessions().issue_token(id, Instant::now())?;
        Ok(Sensitive::new(format!(
            "http://127.0.0.1:{port}{}?token={}",
            policy::LOGIN_PATH,
            token.expose()
        )))
    }
}

impl Shared {
    fn routes(&self) -> std::sync::MutexGuard<'_, HashMap<WorkspaceId, Route>> {
        self.routes.lock().expect("gateway routes")
    }

    fn previews(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<crate::model::PreviewId, preview::PreviewRoute>> {
        self.previews.lock().expect("gateway previews")
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().expect("gateway sessions")
    }

    /// What a request of `id` needs, if it is bound.
    fn route(&self, id: WorkspaceId) -> Option<RouteView> {
        self.routes().get(&id).map(|r| RouteView {
            name: r.name.clone(),
            target: r.target.clone(),
            parked: r.parked,
            start_nonce: r.start_nonce.clone(),
            upgrades: r.upgrades.clone(),
        })
    }

    /// Start pressed on the stopped page of `id`: shown as starting, handed to the daemon.
    /// Start pressed with `nonce`: hands the workspace to the daemon if that is the value its
    /// stopped page showed (used once).
    fn request_start(&self, id: WorkspaceId, nonce: &str) -> bool {
        let mut routes = self.routes();
        let Some(route) = routes.get_mut(&id) else {
            return false;
        };
        let matches = route
            .start_nonce
            .as_ref()
            .is_some_and(|n| !nonce.is_empty() && n.expose() == nonce);
        if matches && matches!(route.parked, Some(Parked::Stopped { .. })) {
            route.parked = Some(Parked::Starting);
            route.start_nonce = None;
            let _ = self.starts.send(id);
        }
        matches
    }

    /// Whether one more policy report of `id` may be logged this minute.
    fn report_allowed(&self, id: WorkspaceId) -> bool {
        let mut routes = self.routes();
        let Some(route) = routes.get_mut(&id) else {
            return false;
        };
        let (since, count) = &mut route.reports;
        if since.elapsed() >= std::time::Duration::from_secs(60) {
            *since = Instant::now();
            *count = 0;
        }
        *count += 1;
        *count <= MAX_REPORTS_PER_MINUTE
    }

    /// The target with the IDE's session: logs in to code-server if the gateway holds its
    /// password but no session yet. A refused login forwards without one (code-server then
    /// shows its own login page; the next `berth start` repairs the secret).
    async fn logged_in(&self, id: WorkspaceId, target: Target) -> Target {
        let (None, Some(secret)) = (&target.ide_cookie, &target.ide_secret) else {
            return target;
        };
        let Ok(cookie) = upstream::code_server_login(target.upstream, secret).await else {
            return target;
        };
        let mut routes = self.routes();
        let Some(current) = routes.get_mut(&id).and_then(|r| r.target.as_mut()) else {
            return target;
        };
        if current.upstream == target.upstream {
            current.ide_cookie = Some(cookie);
        }
        current.clone()
    }
}
