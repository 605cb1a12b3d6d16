//! One workspace's proxy listener: checks (peer, path, token, budget) in that order, then the
//! request goes to the provider with the real key and the answer comes back as it arrives.
//! A copy of each chunk goes to a side task that reads the usage fields; the client's stream
//! never waits for it.

use super::usage::{Refusal, Tally, admit, utc_day};
use super::{Record, Route, Shared, auth_headers, path_prefix, token_digest};
use crate::model::{Provider, WorkspaceId};
use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use tokio::net::TcpListener;

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// The most of a plain JSON answer read for its usage; the rest passes unread.
const JSON_TAP_LIMIT: usize = 4 * 1024 * 1024;

pub(super) async fn accept(
    shared: Arc<Shared>,
    id: WorkspaceId,
    listener: TcpListener,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely: retrying at once would spin.
                tracing::warn!("credential proxy: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                continue;
            }
        };
        // Anyone but the workspace's containers is dropped before a byte is read: no task, no
        // parser for them. The route in force decides (a new daemon may have replaced it).
        let admitted = shared
            .route(id)
            .is_some_and(|r| r.peers.is_none_or(|p| p.admit(peer.ip())));
        if !admitted {
            continue;
        }
        let _ = stream.set_nodelay(true);
        let (shared, stop) = (shared.clone(), stop.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&shared, id, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = stop.cancelled() => {}
            }
        });
    }
}

async fn handle(shared: &Shared, id: WorkspaceId, req: Request<Incoming>) -> Response<Body> {
    let Some(route) = shared.route(id) else {
        return refuse(
            None,
            Refusal::Token,
            "this workspace's token ended with its stop",
        );
    };
    let Some((provider, rest)) = split_provider(req.uri().path()) else {
        return refuse(
            None,
            Refusal::NotFound,
            "no such path; use ANTHROPIC_BASE_URL or OPENAI_BASE_URL as Berth set them",
        );
    };
    let presented = presented_token(req.headers()).map(token_digest);
    if !presented.is_some_and(|d| same_digest(&d, &route.token_sha256)) {
        return refuse(
            Some(provider),
            Refusal::Token,
            "this token is not valid for this workspace (tokens end when the workspace stops)",
        );
    }
    let Some(key) = route.keys.get(&provider) else {
        return refuse(
            Some(provider),
            Refusal::NoKey,
            &format!(
                "this workspace has no {} key in proxy mode",
                provider.as_str()
            ),
        );
    };
    if !allowed(provider, req.method(), rest) {
        return refuse(
            Some(provider),
            Refusal::NotFound,
            &format!(
                "{} {rest} is not an API Berth passes on (messages, model list and token counts; chat, responses and embeddings for OpenAI)",
                req.method()
            ),
        );
    }
    let Some(url) = upstream_url(&key.base_url, rest, req.uri().query()) else {
        return refuse(Some(provider), Refusal::NotFound, "no such path");
    };
    let Ok(permit) = route.in_flight.clone().try_acquire_owned() else {
        return refuse(
            Some(provider),
            Refusal::Busy,
            &format!(
                "more than {} requests at once from this workspace",
                super::MAX_IN_FLIGHT
            ),
        );
    };
    {
        let mut used = key.used.lock().expect("key usage");
        let today = utc_day(std::time::SystemTime::now());
        if used.0 != today {
            *used = (today, Default::default());
        }
        if let Err(why) = admit(&key.budget, &used.1) {
            return refuse(Some(provider), Refusal::Spent, &why);
        }
        used.1.requests += 1;
    }
    let _ = shared.records.send(Record::Request {
        workspace: id,
        key: key.name.clone(),
    });

    let (mut parts, body) = req.into_parts();
    // Also what the container's `Connection` header names.
    crate::gateway::strip_hop_by_hop(&mut parts.headers, false);
    let mut upstream = shared.client.request(parts.method, url);
    for (name, value) in parts.headers.iter() {
        if forwarded(name) {
            upstream = upstream.header(name, value);
        }
    }
    for (name, value) in auth_headers(provider, key.value.expose()) {
        upstream = upstream.header(name, value);
    }
    let upstream = upstream.body(reqwest::Body::wrap_stream(body.into_data_stream()));
    let answer = match upstream.send().await {
        Ok(a) => a,
        Err(e) => {
            let why = crate::error::root_cause(&e);
            return refuse(
                Some(provider),
                Refusal::Upstream,
                &format!("cannot reach {}: {why}", key.base_url),
            );
        }
    };

    let mut res = Response::builder().status(answer.status());
    let content_type = answer
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let tap = if content_type.starts_with("text/event-stream") {
        Tap::Events
    } else if content_type.starts_with("application/json")
        && answer.content_length().unwrap_or(0) <= JSON_TAP_LIMIT as u64
    {
        Tap::Json
    } else {
        Tap::None
    };
    if let Some(headers) = res.headers_mut() {
        *headers = answer.headers().clone();
        crate::gateway::strip_hop_by_hop(headers, false);
    }
    let tap = tap_usage(shared, id, route.clone(), provider, tap);
    let chunks = answer.bytes_stream().map(move |chunk| {
        // Held for as long as the answer streams.
        let _permit = &permit;
        match chunk {
            Ok(bytes) => {
                if let Some(tap) = &tap {
                    let _ = tap.send(bytes.clone());
                }
                Ok(Frame::data(bytes))
            }
            Err(e) => Err(std::io::Error::other(e)),
        }
    });
    res.body(StreamBody::new(chunks).boxed_unsync())
        .unwrap_or_else(|_| refuse(Some(provider), Refusal::Upstream, "a malformed answer"))
}

/// How an answer is read for its usage.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tap {
    Events,
    /// A JSON body of known, bounded length.
    Json,
    /// Anything else (a file download, an unbounded body): not read.
    None,
}

/// The side task that reads usage from a copy of the answer; it records when the answer
/// ends (the sender is dropped with the stream, also when the client goes away).
fn tap_usage(
    shared: &Shared,
    id: WorkspaceId,
    route: Arc<Route>,
    provider: Provider,
    tap: Tap,
) -> Option<tokio::sync::mpsc::UnboundedSender<Bytes>> {
    if tap == Tap::None {
        return None;
    }
    let sse = tap == Tap::Events;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let rx = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let records = shared.records.clone();
    tokio::spawn(async move {
        let mut tally = Tally::default();
        if sse {
            let events = rx.map(Ok::<_, std::convert::Infallible>).eventsource();
            let mut events = std::pin::pin!(events);
            while let Some(event) = events.next().await {
                if let Ok(event) = event {
                    tally.see_json(event.data.as_bytes());
                }
            }
        } else {
            let mut body = Vec::new();
            let mut rx = std::pin::pin!(rx);
            while let Some(chunk) = rx.next().await {
                if body.len() + chunk.len() <= JSON_TAP_LIMIT {
                    body.extend_from_slice(&chunk);
                }
            }
            tally.see_json(&body);
        }
        let usage = tally.usage();
        let Some(key) = route.keys.get(&provider) else {
            return;
        };
        if usage.tokens() == 0 {
            return;
        }
        {
            let mut used = key.used.lock().expect("key usage");
            used.1.input_tokens += usage.input_tokens;
            used.1.output_tokens += usage.output_tokens;
        }
        let _ = records.send(Record::Tokens {
            workspace: id,
            key: key.name.clone(),
            usage,
        });
    });
    Some(tx)
}

fn refuse(provider: Option<Provider>, why: Refusal, message: &str) -> Response<Body> {
    let mut res = Response::new(
        Full::new(Bytes::from(why.body(provider, message)))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *res.status_mut() = StatusCode::from_u16(why.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// The provider's URL for a request's path and query: the key's base URL with the path
/// appended — and only if the result is still on the base URL's origin and under its path,
/// whatever the container put in the path (`@`, `\\`, `..`, encodings).
fn upstream_url(base: &str, rest: &str, query: Option<&str>) -> Option<url::Url> {
    let base = url::Url::parse(base).ok()?;
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    let url = url::Url::parse(&format!(
        "{}{rest}{query}",
        base.as_str().trim_end_matches('/')
    ))
    .ok()?;
    let base_path = base.path().trim_end_matches('/');
    let under = url.path() == base_path
        || url
            .path()
            .strip_prefix(base_path)
            .is_some_and(|rest| rest.starts_with('/'));
    (url.origin() == base.origin() && under && url.fragment().is_none()).then_some(url)
}

/// The calls the proxy passes on: what coding agents use (messages, token counts, model
/// lists; OpenAI's chat, responses and embeddings). Batches, files, fine-tunes and admin APIs
/// stay with whoever holds the key.
fn allowed(provider: Provider, method: &hyper::Method, rest: &str) -> bool {
    let post = method == hyper::Method::POST;
    let get = method == hyper::Method::GET;
    let models = rest == "/v1/models"
        || rest
            .strip_prefix("/v1/models/")
            .is_some_and(|m| !m.is_empty() && !m.contains('/'));
    match provider {
        Provider::Anthropic => {
            (post && matches!(rest, "/v1/messages" | "/v1/messages/count_tokens"))
                || (get && models)
        }
        Provider::Openai => {
            (post
                && matches!(
                    rest,
                    "/v1/chat/completions" | "/v1/responses" | "/v1/embeddings"
                ))
                || (get && models)
        }
        Provider::Generic => false,
    }
}

/// `/anthropic/v1/messages` → (Anthropic, `/v1/messages`).
fn split_provider(path: &str) -> Option<(Provider, &str)> {
    [Provider::Anthropic, Provider::Openai]
        .into_iter()
        .find_map(|p| {
            let rest = path.strip_prefix(path_prefix(p))?;
            (rest.is_empty() || rest.starts_with('/')).then_some((p, rest))
        })
}

/// The token as SDKs send a key: `x-api-key` (Anthropic) or `Authorization: Bearer` (OpenAI,
/// and Anthropic's `ANTHROPIC_AUTH_TOKEN`).
fn presented_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.trim());
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Compares two digests without stopping at the first difference.
fn same_digest(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Request headers that go on to the provider: not the container's token, cookies, the
/// Host, or an encoding the usage tap could not read.
fn forwarded(name: &HeaderName) -> bool {
    !crate::gateway::is_hop_by_hop(name)
        && !matches!(
            name.as_str(),
            "host"
                | "authorization"
                | "x-api-key"
                | "cookie"
                | "accept-encoding"
                // The key's owner chose its organisation and project; a container does not.
                | "openai-organization"
                | "openai-project"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_provider() {
        assert_eq!(
            split_provider("/anthropic/v1/messages"),
            Some((Provider::Anthropic, "/v1/messages"))
        );
        assert_eq!(
            split_provider("/openai/v1/chat/completions"),
            Some((Provider::Openai, "/v1/chat/completions"))
        );
        assert_eq!(split_provider("/anthropicx/v1"), None);
        assert_eq!(split_provider("/v1/messages"), None);
    }

    #[test]
    fn the_key_goes_to_the_providers_origin_only() {
        let ok = upstream_url(
            "https://api.anthropic.com",
            "/v1/messages",
            Some("beta=true"),
        );
        assert_eq!(
            ok.unwrap().as_str(),
            "https://api.anthropic.com/v1/messages?beta=true"
        );
        let gw = upstream_url("https://gw.example/anthropic", "/v1/models", None).unwrap();
        assert_eq!(gw.as_str(), "https://gw.example/anthropic/v1/models");
        for rest in ["/@evil.example/x", "/\\evil.example", "//evil.example/x"] {
            if let Some(u) = upstream_url("https://api.anthropic.com", rest, None) {
                assert_eq!(u.host_str(), Some("api.anthropic.com"), "{rest}");
            }
        }
        assert!(upstream_url("https://gw.example/anthropic", "/../admin", None).is_none());
        assert!(upstream_url("https://gw.example/anthropic", "/../anthropic-x/y", None).is_none());
        assert!(upstream_url("https://gw.example/anthropic", "/%2e%2e/admin", None).is_none());
    }

    #[test]
    fn only_the_agents_calls_pass() {
        use hyper::Method;
        let a = Provider::Anthropic;
        assert!(allowed(a, &Method::POST, "/v1/messages"));
        assert!(allowed(a, &Method::POST, "/v1/messages/count_tokens"));
        assert!(allowed(a, &Method::GET, "/v1/models"));
        assert!(allowed(a, &Method::GET, "/v1/models/claude-x"));
        assert!(!allowed(a, &Method::POST, "/v1/messages/batches"));
        assert!(!allowed(a, &Method::GET, "/v1/files"));
        assert!(!allowed(a, &Method::DELETE, "/v1/messages"));
        assert!(!allowed(a, &Method::GET, "/v1/models/x/y"));
        let o = Provider::Openai;
        assert!(allowed(o, &Method::POST, "/v1/chat/completions"));
        assert!(allowed(o, &Method::POST, "/v1/responses"));
        assert!(!allowed(o, &Method::POST, "/v1/batches"));
        assert!(!allowed(o, &Method::POST, "/v1/fine_tuning/jobs"));
        assert!(!allowed(o, &Method::GET, "/v1/organization/users"));
        assert!(!allowed(a, &Method::GET, "/v1/organizations/me"));
        assert!(!allowed(o, &Method::GET, "/v1/files"));
        assert!(!forwarded(&HeaderName::from_static("openai-organization")));
    }

    #[test]
    fn tokens_come_from_either_header() {
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("t1"));
        assert_eq!(presented_token(&h), Some("t1"));
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t2"));
        assert_eq!(presented_token(&h), Some("t2"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic x"));
        assert_eq!(presented_token(&h), None);
    }

    #[test]
    fn the_containers_credentials_never_go_upstream() {
        for h in [
            "authorization",
            "x-api-key",
            "cookie",
            "host",
            "accept-encoding",
            "connection",
        ] {
            assert!(!forwarded(&HeaderName::from_static(h)), "{h}");
        }
        for h in [
            "anthropic-version",
            "content-type",
            "anthropic-beta",
            "user-agent",
        ] {
            assert!(forwarded(&HeaderName::from_static(h)), "{h}");
        }
        assert!(same_digest("abc", "abc"));
        assert!(!same_digest("abc", "abd"));
        assert!(!same_digest("abc", "ab"));
    }
}
