//! Previews through the gateway: each preview's port forwards to its app. No Berth login (a
//! preview is the user's app, opened like any local dev server), but the same Host check
//! against DNS rebinding, and no Berth cookie ever reaches the app — not a workspace's login
//! (cookies ignore ports, so a browser logged in to an IDE on 127.0.0.1 sends it here too),
//! not the share cookie. Shared on the LAN, the port listens on every address and a guest from
//! elsewhere gets in only with the share's token: once in the link, then as a cookie.

use super::pages::{self, Extra, full, page, page_with};
use super::policy::{self, COOKIE_PREFIX};
use super::proxy::{self, Body};
use super::sessions::{Digest32, digest};
use super::{MAX_UPGRADES, Shared, Target};
use crate::model::{PreviewId, SHARE_PARAM, WorkspaceId};
use crate::secrets::Sensitive;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header;
use hyper::{Request, Response, StatusCode};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Connections from other machines at once, per preview (a browser opens about six).
const MAX_GUEST_CONNECTIONS: usize = 32;
/// How often one preview's traffic counts as its workspace's activity (one signal per burst).
const HIT_EVERY: Duration = Duration::from_secs(5);

pub(super) struct PreviewRoute {
    pub port: u16,
    pub workspace: WorkspaceId,
    pub upstream: Option<SocketAddr>,
    /// The share token's digest: `Some` while shared on the LAN (and listening on every
    /// address). The gateway keeps no token, as it keeps no login.
    pub share: Option<Digest32>,
    /// Ends every upgraded connection of LAN guests when the share changes or ends.
    pub guests: tokio_util::sync::CancellationToken,
    pub accept: JoinHandle<()>,
    pub upgrades: Arc<tokio::sync::Semaphore>,
    pub last_hit: Option<Instant>,
}

/// The share cookie of one preview: per preview, like the logins.
pub fn share_cookie_name(id: &PreviewId) -> String {
    format!("{COOKIE_PREFIX}share_{}", id.short())
}

/// A guest's `Host`: an address literal with this port. A name could be a rebinding page's.
pub fn lan_host_allowed(host: Option<&str>, port: u16) -> bool {
    let Some((name, p)) = host.and_then(|h| h.rsplit_once(':')) else {
        return false;
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    p.parse::<u16>().ok() == Some(port) && name.parse::<IpAddr>().is_ok()
}

/// Whether `given` is the share's token (compared by digest, like the logins).
fn same_token(given: &str, share: &Digest32) -> bool {
    !given.is_empty() && digest(given) == *share
}

/// The value of `name` in a query string, and the query without it.
fn take_param(query: &str, name: &str) -> (Option<String>, String) {
    let mut found = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.split_once('=') {
            Some((k, v)) if k == name => {
                found = Some(v.to_string());
                false
            }
            _ => !kv.is_empty(),
        })
        .collect();
    (found, rest.join("&"))
}

impl super::Gateway {
    /// Takes the preview's port: on 127.0.0.1, or on every address while `share` holds a token.
    /// A route already there with the same reach keeps its listener (only the token changes).
    pub async fn bind_preview(
        &self,
        id: PreviewId,
        workspace: WorkspaceId,
        port: u16,
        share: Option<&Sensitive<String>>,
    ) -> crate::error::Result<()> {
        let share = share.map(|token| digest(token.expose()));
        let old = {
            let mut previews = self.shared.previews();
            match previews.get_mut(&id) {
                Some(r) if r.port == port && r.share.is_some() == share.is_some() => {
                    // A new token: guests of the old one are out, their sockets too.
                    if r.share != share {
                        r.guests.cancel();
                        r.guests = tokio_util::sync::CancellationToken::new();
                    }
                    r.share = share;
                    return Ok(());
                }
                _ => previews.remove(&id),
            }
        };
        if let Some(old) = &old {
            old.guests.cancel();
        }
        let upstream = old.as_ref().and_then(|r| r.upstream);
        if let Some(old) = old {
            // The listener must be gone before the port can be bound on other addresses.
            old.accept.abort();
            let _ = old.accept.await;
        }
        let addr: IpAddr = if share.is_some() {
            IpAddr::from([0, 0, 0, 0])
        } else {
            IpAddr::from([127, 0, 0, 1])
        };
        let listener = TcpListener::bind((addr, port)).await.map_err(|e| {
            crate::error::Error::new(
                crate::error::Code::PortsExhausted,
                format!("cannot serve the preview on {addr}:{port}: {e}"),
            )
        })?;
        let shared = self.shared.clone();
        let guests = Arc::new(tokio::sync::Semaphore::new(MAX_GUEST_CONNECTIONS));
        let accept = tokio::spawn(proxy::accept_with(
            port,
            listener,
            Some(guests),
            move |req, peer| {
                let shared = shared.clone();
                async move { handle(&shared, id, port, peer, req).await }
            },
        ));
        self.shared.previews().insert(
            id,
            PreviewRoute {
                port,
                workspace,
                upstream,
                share,
                guests: tokio_util::sync::CancellationToken::new(),
                accept,
                upgrades: Arc::new(tokio::sync::Semaphore::new(MAX_UPGRADES)),
                last_hit: None,
            },
        );
        Ok(())
    }

    /// Points the preview's port at its app.
    pub fn serve_preview(&self, id: PreviewId, upstream: SocketAddr) {
        if let Some(r) = self.shared.previews().get_mut(&id) {
            r.upstream = Some(upstream);
        }
    }

    /// Frees the preview's port; nothing answers there any more.
    pub fn close_preview(&self, id: PreviewId) {
        if let Some(r) = self.shared.previews().remove(&id) {
            r.accept.abort();
            r.guests.cancel();
        }
    }

    /// Whether the preview's port is bound and forwarding.
    pub fn preview_serving(&self, id: PreviewId) -> bool {
        self.shared
            .previews()
            .get(&id)
            .is_some_and(|r| r.upstream.is_some())
    }

    /// The workspaces whose previews had visitors, for the activity tracker (taken once).
    pub fn take_preview_hits(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<WorkspaceId>> {
        self.preview_hits.lock().expect("preview hits").take()
    }
}

/// What a request needs of its preview's route.
struct Seen {
    upstream: Option<SocketAddr>,
    share: Option<Digest32>,
    guests: tokio_util::sync::CancellationToken,
    upgrades: Arc<tokio::sync::Semaphore>,
}

impl Shared {
    fn preview_route(&self, id: PreviewId) -> Option<Seen> {
        self.previews().get(&id).map(|r| Seen {
            upstream: r.upstream,
            share: r.share,
            guests: r.guests.clone(),
            upgrades: r.upgrades.clone(),
        })
    }

    /// A request got past the checks: its workspace's work is being looked at (one signal
    /// per [`HIT_EVERY`] at most).
    fn count_visit(&self, id: PreviewId) {
        if let Some(r) = self.previews().get_mut(&id)
            && r.last_hit.is_none_or(|at| at.elapsed() >= HIT_EVERY)
        {
            r.last_hit = Some(Instant::now());
            let _ = self.hits.send(r.workspace);
        }
    }
}

async fn handle(
    shared: &Shared,
    id: PreviewId,
    port: u16,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Body> {
    let lang = pages::language(req.headers());
    let host = proxy::host_header(&req);
    let Some(route) = shared.preview_route(id) else {
        return page(
            port,
            StatusCode::SERVICE_UNAVAILABLE,
            lang,
            "preview_gone",
            &[],
        );
    };
    let local = peer.ip().is_loopback();
    if local && !policy::preview_host_allowed(host, port) || !local && !lan_host_allowed(host, port)
    {
        return page(
            port,
            StatusCode::MISDIRECTED_REQUEST,
            lang,
            "misdirected",
            &[],
        );
    }
    if !local {
        // A guest from the LAN: only while shared, only with the token.
        let Some(token) = route.share.as_ref() else {
            return page(port, StatusCode::FORBIDDEN, lang, "share_needed", &[]);
        };
        let (given, rest) = take_param(req.uri().query().unwrap_or(""), SHARE_PARAM);
        if let Some(given) = given {
            if !same_token(&given, token) {
                return page(port, StatusCode::UNAUTHORIZED, lang, "share_needed", &[]);
            }
            // The token leaves the address bar (and the app's logs) at once; the path stays
            // on this origin (`//host/...` would be another).
            let path = format!("/{}", req.uri().path().trim_start_matches('/'));
            let location = if rest.is_empty() {
                path
            } else {
                format!("{path}?{rest}")
            };
            return Response::builder()
                .status(StatusCode::SEE_OTHER)
                .header(header::LOCATION, location)
                .header(
                    header::SET_COOKIE,
                    format!(
                        "{}={}; Path=/; HttpOnly; SameSite=Lax",
                        share_cookie_name(&id),
                        given
                    ),
                )
                .header(header::CACHE_CONTROL, "no-store")
                .body(full(Bytes::new()))
                .expect("static response parts");
        }
        let cookies = proxy::cookie_headers(req.headers()).join("; ");
        let name = share_cookie_name(&id);
        if !policy::cookie_values(&cookies, &name).any(|v| same_token(v, token)) {
            return page(port, StatusCode::UNAUTHORIZED, lang, "share_needed", &[]);
        }
    }
    shared.count_visit(id);
    let Some(upstream) = route.upstream else {
        return page_with(
            port,
            StatusCode::SERVICE_UNAVAILABLE,
            lang,
            ("preview_starting", "preview_starting"),
            &[],
            Extra::Refresh,
        );
    };
    let target = Target {
        upstream,
        ide_cookie: None,
        ide_secret: None,
    };
    let answer = if proxy::is_upgrade(req.headers()) {
        let Ok(permit) = route.upgrades.try_acquire_owned() else {
            return page(port, StatusCode::SERVICE_UNAVAILABLE, lang, "too_many", &[]);
        };
        let cut = (!local).then(|| route.guests.clone());
        proxy::upgrade(&target, req, permit, cut).await
    } else {
        proxy::forward(shared, &target, req).await
    };
    match answer {
        Ok(mut response) => {
            proxy::without_berth_cookies(&mut response);
            response
        }
        Err(e) => {
            tracing::debug!("preview {}: {e}", id.short());
            page(
                port,
                StatusCode::BAD_GATEWAY,
                lang,
                "preview_no_answer",
                &[],
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_must_name_an_address_with_the_port() {
        assert!(lan_host_allowed(Some("192.168.1.20:10005"), 10005));
        assert!(lan_host_allowed(Some("[fe80::1]:10005"), 10005));
        assert!(!lan_host_allowed(Some("192.168.1.20:10006"), 10005));
        assert!(!lan_host_allowed(Some("rebind.example:10005"), 10005));
        assert!(!lan_host_allowed(Some("192.168.1.20"), 10005));
        assert!(!lan_host_allowed(None, 10005));
    }

    #[test]
    fn the_share_token_is_taken_out_of_the_query() {
        assert_eq!(
            take_param("a=1&berth_share=t0k&b=2", SHARE_PARAM),
            (Some("t0k".into()), "a=1&b=2".into())
        );
        assert_eq!(take_param("", SHARE_PARAM), (None, String::new()));
    }

    #[test]
    fn tokens_match_only_exactly() {
        let t = digest("secret");
        assert!(same_token("secret", &t));
        assert!(!same_token("secre", &t));
        assert!(!same_token("", &digest("")));
    }

    #[test]
    fn the_share_cookie_is_a_berth_cookie() {
        let id = PreviewId::new();
        let name = share_cookie_name(&id);
        assert!(name.starts_with(COOKIE_PREFIX));
        // So it is stripped before the app sees a request, and no app can set it.
        assert!(!policy::set_cookie_allowed(&format!("{name}=x")));
        assert_eq!(
            policy::forwarded_cookies(&[&format!("{name}=x; a=1")], None).as_deref(),
            Some("a=1")
        );
    }
}
