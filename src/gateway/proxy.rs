//! One workspace port's HTTP service: the checks of `policy.rs` in order (Host, login,
//! route), then the request streamed to the IDE and its answer streamed back with Berth's
//! headers. WebSockets (the IDE's terminal and extension host) become a byte pipe after the
//! upgrade. Nothing is buffered: bodies pass through as they arrive.

use super::pages::{self, Extra, Lang, full, page, page_with};
use super::policy::{self, LOGIN_PATH, REPORT_PATH, START_PATH};
use super::{Parked, Shared, Target};
use crate::model::WorkspaceId;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::{TcpListener, TcpStream};

pub(super) type Body = UnsyncBoxBody<Bytes, hyper::Error>;

const PIPE_BUFFER: usize = 64 * 1024;
/// How long an IDE may take to answer a WebSocket handshake.
const UPGRADE_HANDSHAKE: std::time::Duration = std::time::Duration::from_secs(30);
/// How long one side of a spliced connection may stay open after the other closed.
const HALF_CLOSED_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

pub(super) async fn accept(shared: Arc<Shared>, id: WorkspaceId, port: u16, listener: TcpListener) {
    // IDE ports listen on 127.0.0.1 only: every peer is this machine's.
    accept_with(port, listener, None, move |req, _peer| {
        let shared = shared.clone();
        async move { handle(&shared, id, port, req).await }
    })
    .await
}

/// Serves every connection of `listener` with `handle` (given the peer's address), HTTP/1
/// with upgrades. `guests`: connections from other machines hold one of these permits for
/// their life; one more is closed at once (a LAN host cannot take the daemon's descriptors).
pub(super) async fn accept_with<F, Fut>(
    port: u16,
    listener: TcpListener,
    guests: Option<Arc<tokio::sync::Semaphore>>,
    handle: F,
) where
    F: Fn(Request<Incoming>, std::net::SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Body>> + Send + 'static,
{
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely: retrying at once would spin.
                tracing::warn!("gateway on port {port}: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                continue;
            }
        };
        let permit = match &guests {
            Some(guests) if !peer.ip().is_loopback() => match guests.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => continue,
            },
            _ => None,
        };
        let _ = stream.set_nodelay(true);
        let handle = handle.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req| {
                let answer = handle(req, peer);
                async move { Ok::<_, hyper::Error>(answer.await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

async fn handle(
    shared: &Shared,
    id: WorkspaceId,
    port: u16,
    req: Request<Incoming>,
) -> Response<Body> {
    let lang = pages::language(req.headers());
    let host = host_header(&req);
    if !policy::host_allowed(host, port) {
        return page(
            port,
            StatusCode::MISDIRECTED_REQUEST,
            lang,
            "misdirected",
            &[],
        );
    }
    let Some(super::RouteView {
        name,
        target,
        parked,
        start_nonce,
        upgrades,
    }) = shared.route(id)
    else {
        return page(
            port,
            StatusCode::SERVICE_UNAVAILABLE,
            lang,
            "not_running",
            &[],
        );
    };
    if req.uri().path() == LOGIN_PATH {
        return login(shared, id, port, lang, &req);
    }
    let cookies = cookie_headers(req.headers());
    let (joined, name_of_login) = (cookies.join("; "), policy::cookie_name(&id));
    let logged_in =
        policy::cookie_values(&joined, &name_of_login).any(|s| shared.sessions().valid(id, s));
    if !logged_in {
        let args = [("name", name.as_str())];
        return page(port, StatusCode::UNAUTHORIZED, lang, "login", &args);
    }
    if req.uri().path() == REPORT_PATH {
        return report(&name, port, shared.report_allowed(id), req).await;
    }
    if req.uri().path() == START_PATH {
        return start(shared, id, port, lang, req).await;
    }
    let Some(target) = target else {
        // The button only in a page loaded as a page: a script's fetch or a frame of the
        // origin gets the text without the value a Start needs.
        let as_page = req
            .headers()
            .get("sec-fetch-dest")
            .is_none_or(|d| d == "document");
        let nonce = start_nonce.filter(|_| as_page);
        return parked_page(port, lang, &name, parked, nonce);
    };
    let target = shared.logged_in(id, target).await;
    let answer = if is_upgrade(req.headers()) {
        let Ok(permit) = upgrades.try_acquire_owned() else {
            return page(port, StatusCode::SERVICE_UNAVAILABLE, lang, "too_many", &[]);
        };
        upgrade(&target, req, permit, None).await
    } else {
        forward(shared, &target, req).await
    };
    match answer {
        Ok(response) => with_berth_headers(response, port),
        Err(e) => {
            tracing::debug!("gateway {name}: {e}");
            page(port, StatusCode::BAD_GATEWAY, lang, "no_answer", &[])
        }
    }
}

/// A port without an IDE behind it: stopped (with Start), or starting (reloading itself).
/// Every request gets this page — a reload, the IDE's reconnecting socket — and none of them
/// starts anything.
fn parked_page(
    port: u16,
    lang: Lang,
    name: &str,
    parked: Option<Parked>,
    nonce: Option<crate::secrets::Sensitive<String>>,
) -> Response<Body> {
    let button = Extra::StartButton(nonce.map(|n| n.expose().clone()));
    let unavailable = StatusCode::SERVICE_UNAVAILABLE;
    match parked {
        Some(Parked::Stopped { idle_for: None }) => page_with(
            port,
            unavailable,
            lang,
            ("stopped", "stopped"),
            &[("name", name)],
            button,
        ),
        Some(Parked::Stopped {
            idle_for: Some(idle),
        }) => {
            let idle = crate::model::human_duration(idle.as_secs() as i64);
            page_with(
                port,
                unavailable,
                lang,
                ("stopped", "stopped_idle"),
                &[("name", name), ("idle", &idle)],
                button,
            )
        }
        Some(Parked::Starting) | None => page_with(
            port,
            unavailable,
            lang,
            ("starting", "starting"),
            &[],
            Extra::Refresh,
        ),
    }
}

/// `POST /_berth/start` from the stopped page's button (see [`policy::start_allowed`]), with
/// the one-time value that page showed.
async fn start(
    shared: &Shared,
    id: WorkspaceId,
    port: u16,
    lang: Lang,
    req: Request<Incoming>,
) -> Response<Body> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let allowed = policy::start_allowed(
        req.method().as_str(),
        header("origin"),
        header("sec-fetch-site"),
        header("sec-fetch-mode"),
        header("sec-fetch-user"),
        port,
    );
    if !allowed {
        // Says what the browser sent, so a browser that words it differently shows why.
        tracing::info!(
            "port {port}: Start refused: {} origin {:?}, sec-fetch-site {:?}, -mode {:?}, -user {:?}",
            req.method(),
            header("origin").map(crate::model::escape_controls),
            header("sec-fetch-site").map(crate::model::escape_controls),
            header("sec-fetch-mode").map(crate::model::escape_controls),
            header("sec-fetch-user").map(crate::model::escape_controls),
        );
        return page(port, StatusCode::FORBIDDEN, lang, "start_refused", &[]);
    }
    let form = match http_body_util::Limited::new(req.into_body(), 1024)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let nonce = url::form_urlencoded::parse(&form)
        .find(|(k, _)| k == "nonce")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if !shared.request_start(id, &nonce) {
        tracing::info!("port {port}: Start refused: not the value of this stopped page");
        return page(port, StatusCode::FORBIDDEN, lang, "start_refused", &[]);
    }
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, "/")
        .header(header::CACHE_CONTROL, "no-store")
        .body(full(Bytes::new()))
        .expect("static response parts")
}

/// What the policy blocked, as the browser reports it: to the daemon's log (capped), so an IDE
/// that breaks under the policy says why.
async fn report(name: &str, port: u16, log: bool, req: Request<Incoming>) -> Response<Body> {
    if log
        && let Ok(body) = http_body_util::Limited::new(req.into_body(), 8 * 1024)
            .collect()
            .await
    {
        let text = String::from_utf8_lossy(&body.to_bytes()).into_owned();
        tracing::info!(
            "{name}: the IDE page's policy blocked: {}",
            crate::model::escape_controls(&text)
        );
    }
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    add_policy_headers(response.headers_mut(), port);
    response
}

/// `GET /_berth/login?token=…`: a valid one-time token becomes the login cookie, then the IDE.
fn login(
    shared: &Shared,
    id: WorkspaceId,
    port: u16,
    lang: Lang,
    req: &Request<Incoming>,
) -> Response<Body> {
    let token = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .unwrap_or("");
    match shared.sessions().redeem(id, token, Instant::now()) {
        Ok(Some(session)) => Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(header::LOCATION, "/")
            .header(
                header::SET_COOKIE,
                policy::login_cookie(&id, session.expose()),
            )
            .header(header::CACHE_CONTROL, "no-store")
            .body(full(Bytes::new()))
            .expect("static response parts"),
        _ => page(port, StatusCode::UNAUTHORIZED, lang, "link_used", &[]),
    }
}

pub(super) async fn forward(
    shared: &Shared,
    target: &Target,
    req: Request<Incoming>,
) -> Result<Response<Body>, String> {
    let (mut parts, body) = req.into_parts();
    prepare_request_headers(&mut parts.headers, target, false);
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = format!("http://{}{path}", target.upstream)
        .parse()
        .map_err(|e| format!("bad upstream URI: {e}"))?;
    let response = shared
        .client
        .request(Request::from_parts(parts, body))
        .await
        .map_err(|e| e.to_string())?;
    Ok(response.map(|b| b.boxed_unsync()))
}

/// A WebSocket (or any Upgrade): the handshake goes to the IDE on a connection of its own;
/// after `101`, both sides are spliced into one byte pipe.
/// `cut`: ends the spliced connection when cancelled (a LAN guest's, when its share ends).
pub(super) async fn upgrade(
    target: &Target,
    mut req: Request<Incoming>,
    permit: tokio::sync::OwnedSemaphorePermit,
    cut: Option<tokio_util::sync::CancellationToken>,
) -> Result<Response<Body>, String> {
    let client_side = hyper::upgrade::on(&mut req);
    let (mut parts, _) = req.into_parts();
    prepare_request_headers(&mut parts.headers, target, true);
    parts.uri = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse()
        .map_err(|e| format!("bad upstream URI: {e}"))?;
    // An IDE that never answers the handshake must not hold the connection forever.
    let handshake = async {
        let stream = TcpStream::connect(target.upstream)
            .await
            .map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn.with_upgrades());
        sender
            .send_request(Request::from_parts(parts, Empty::<Bytes>::new()))
            .await
            .map_err(|e| e.to_string())
    };
    let mut response = tokio::time::timeout(UPGRADE_HANDSHAKE, handshake)
        .await
        .map_err(|_| "no answer to the upgrade".to_string())??;
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let ide_side = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            if let (Ok(a), Ok(b)) = tokio::join!(client_side, ide_side) {
                match cut {
                    Some(cut) => {
                        tokio::select! {
                            _ = pipe(a, b) => {}
                            _ = cut.cancelled() => {}
                        }
                    }
                    None => pipe(a, b).await,
                }
            }
            drop(permit);
        });
    }
    Ok(response.map(|b| b.boxed_unsync()))
}

/// Splices an upgraded connection. Both sides are plain TCP streams underneath: taken back
/// from hyper (with any bytes it read past the handshake sent on first), they are copied
/// directly, 64 KiB at a time (tokio's default is 8), so a terminal flooding output or a large
/// file over the extension host costs few system calls and no extra layer. Once one side has
/// closed, the other gets [`HALF_CLOSED_GRACE`] to finish: an IDE that never closes its side
/// must not hold the connection (and a file descriptor) forever.
async fn pipe(client: hyper::upgrade::Upgraded, ide: hyper::upgrade::Upgraded) {
    use tokio::io::{AsyncWriteExt, BufReader};
    let (mut c, early_c) = unwrap_tcp(client);
    let (mut i, early_i) = unwrap_tcp(ide);
    if i.write_all(&early_c).await.is_err() || c.write_all(&early_i).await.is_err() {
        return;
    }
    let (cr, mut cw) = tokio::io::split(c);
    let (ir, mut iw) = tokio::io::split(i);
    let up = async {
        let _ = tokio::io::copy_buf(&mut BufReader::with_capacity(PIPE_BUFFER, cr), &mut iw).await;
        let _ = iw.shutdown().await;
    };
    let down = async {
        let _ = tokio::io::copy_buf(&mut BufReader::with_capacity(PIPE_BUFFER, ir), &mut cw).await;
        let _ = cw.shutdown().await;
    };
    tokio::pin!(up, down);
    tokio::select! {
        _ = &mut up => { let _ = tokio::time::timeout(HALF_CLOSED_GRACE, down).await; }
        _ = &mut down => { let _ = tokio::time::timeout(HALF_CLOSED_GRACE, up).await; }
    }
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

/// The TCP stream under an upgraded connection and the bytes hyper had already read from it;
/// hyper's own wrapper if it is something else.
fn unwrap_tcp(upgraded: hyper::upgrade::Upgraded) -> (Box<dyn Stream>, Bytes) {
    match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => (Box::new(parts.io.into_inner()), parts.read_buf),
        Err(other) => (Box::new(TokioIo::new(other)), Bytes::new()),
    }
}

pub(super) fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("upgrade"))
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = String> + '_ {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_string())
}

/// Hop-by-hop headers belong to one connection, never forwarded (RFC 9110 7.6.1).
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
];

/// Whether `name` belongs to one connection only (also for the credential proxy).
pub(crate) fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(name)
        || matches!(
            name.as_str(),
            "keep-alive" | "proxy-connection" | "proxy-authenticate"
        )
}

pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let named: Vec<String> = connection_tokens(headers).collect();
    for name in named {
        if let Ok(name) = HeaderName::from_bytes(name.as_bytes())
            && !(keep_upgrade && name == header::UPGRADE)
        {
            headers.remove(name);
        }
    }
    for name in HOP_BY_HOP {
        if !(keep_upgrade && (name == header::UPGRADE || name == header::CONNECTION)) {
            headers.remove(name);
        }
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

/// The request's `Host`, if it is text.
pub(super) fn host_header<B>(req: &Request<B>) -> Option<&str> {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
}

pub(super) fn cookie_headers(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

/// What reaches the IDE: no Berth cookie of any workspace, the IDE's own session added, the
/// original Host kept (code-server checks a WebSocket's Origin against it).
fn prepare_request_headers(headers: &mut HeaderMap, target: &Target, upgrade: bool) {
    strip_hop_by_hop(headers, upgrade);
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    }
    let extra = target
        .ide_cookie
        .as_ref()
        .map(|(n, v)| (n.as_str(), v.expose().as_str()));
    let cookies = policy::forwarded_cookies(&cookie_headers(headers), extra);
    headers.remove(header::COOKIE);
    if let Some(c) = cookies.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::COOKIE, c);
    }
}

/// The IDE's answer with Berth's rules: no Berth cookie set by a container, the CSP, and no
/// embedding or reading from other origins.
fn with_berth_headers(mut response: Response<Body>, port: u16) -> Response<Body> {
    without_berth_cookies(&mut response);
    add_policy_headers(response.headers_mut(), port);
    response
}

/// An answer of a container as it may reach the browser: no hop-by-hop header and no
/// `Set-Cookie` naming a Berth cookie (no container overwrites a login or a share).
pub(super) fn without_berth_cookies(response: &mut Response<Body>) {
    let upgraded = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    strip_hop_by_hop(headers, upgraded);
    let kept: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|v| v.to_str().is_ok_and(policy::set_cookie_allowed))
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for v in kept {
        headers.append(header::SET_COOKIE, v);
    }
    // It would clear every cookie of the site: the logins of every workspace with it.
    headers.remove("clear-site-data");
}

pub(super) fn add_policy_headers(headers: &mut HeaderMap, port: u16) {
    if let Ok(csp) = HeaderValue::from_str(&policy::content_security_policy(port)) {
        headers.append(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_headers_lose_berth_cookies_and_hop_by_hop() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, X-Secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.append(header::COOKIE, HeaderValue::from_static("berth_aa=1; a=2"));
        h.append(header::COOKIE, HeaderValue::from_static("berth_bb=3"));
        let target = Target {
            upstream: "127.0.0.1:1".parse().unwrap(),
            ide_cookie: Some((
                "code-server-session".into(),
                crate::secrets::Sensitive::new("s".into()),
            )),
            ide_secret: None,
        };
        prepare_request_headers(&mut h, &target, false);
        assert!(h.get(header::CONNECTION).is_none() && h.get("x-secret").is_none());
        assert!(h.get(header::TE).is_none());
        let cookies: Vec<_> = h.get_all(header::COOKIE).iter().collect();
        assert_eq!(cookies, ["a=2; code-server-session=s"]);
        assert!(!format!("{h:?}").contains(policy::COOKIE_PREFIX));
    }

    #[test]
    fn upgrades_keep_their_handshake_headers() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(is_upgrade(&h));
        let target = Target {
            upstream: "127.0.0.1:1".parse().unwrap(),
            ide_cookie: None,
            ide_secret: None,
        };
        prepare_request_headers(&mut h, &target, true);
        assert_eq!(h[header::UPGRADE], "websocket");
        assert_eq!(h[header::CONNECTION], "Upgrade");
    }

    #[test]
    fn answers_carry_the_policy_and_no_berth_cookie() {
        let response = Response::builder()
            .header(header::SET_COOKIE, "berth_00=stolen; Path=/")
            .header(header::SET_COOKIE, "theme=dark")
            .header("Clear-Site-Data", "\"cookies\"")
            .body(full(Bytes::new()))
            .unwrap();
        let r = with_berth_headers(response, 10001);
        let set: Vec<_> = r.headers().get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(set, ["theme=dark"]);
        assert!(
            r.headers().get("clear-site-data").is_none(),
            "no log-out of every IDE"
        );
        assert!(
            r.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("ws://127.0.0.1:10001")
        );
    }
}
