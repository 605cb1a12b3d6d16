//! The gateway's rules as pure functions: which Host is ours, which cookies are Berth's, and
//! the Content-Security-Policy that keeps an IDE page to its own origin. Tested without a
//! socket; `proxy.rs` applies them to every request and response.

use crate::model::WorkspaceId;

/// Every Berth login cookie starts with this; the gateway strips all of them (any
/// workspace's) before a request reaches a container, because cookies ignore ports.
pub const COOKIE_PREFIX: &str = "berth_";

/// The path of the one-time login link (`?token=`), answered by the gateway itself.
pub const LOGIN_PATH: &str = "/_berth/login";
/// The stopped page's Start button posts here (a form: no script needed under the policy).
pub const START_PATH: &str = "/_berth/start";
/// Where browsers report what the policy blocked (logged by the daemon; logged-in pages only).
pub const REPORT_PATH: &str = "/_berth/csp-report";

/// The login cookie's name for one workspace: per workspace, so two workspaces on
/// `127.0.0.1` (same cookie jar, different ports) never overwrite each other's login.
pub fn cookie_name(id: &WorkspaceId) -> String {
    format!("{COOKIE_PREFIX}{}", id.0.simple())
}

/// Whether a `Host` header names this listener: `127.0.0.1:PORT` or `localhost:PORT`, exactly.
/// Anything else is DNS rebinding (a page of `evil.example` resolved to 127.0.0.1) or a
/// misdirected request.
pub fn host_allowed(host: Option<&str>, port: u16) -> bool {
    let Some(host) = host else { return false };
    let Some((name, p)) = host.rsplit_once(':') else {
        return false;
    };
    p.parse::<u16>().ok() == Some(port)
        && (name == "127.0.0.1" || name.eq_ignore_ascii_case("localhost"))
}

/// Whether a `Host` names a preview's listener: `localhost:PORT` only (see
/// `model::Preview::url`): `127.0.0.1` is the IDEs' site, and a preview reached under it
/// would be same-site with them.
pub fn preview_host_allowed(host: Option<&str>, port: u16) -> bool {
    host.and_then(|h| h.rsplit_once(':'))
        .is_some_and(|(name, p)| {
            name.eq_ignore_ascii_case("localhost") && p.parse::<u16>().ok() == Some(port)
        })
}

/// Every value of cookie `name` in a `Cookie` header. Several can come: another workspace's
/// page (same host, other port) may set a cookie of that name with a narrower path, which the
/// browser sends first; it must not shadow the real login.
pub fn cookie_values<'a>(header: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> {
    header
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .filter(move |(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// A `Cookie` header without any Berth cookie, plus `extra` (the IDE's own session, which the
/// gateway holds so the browser never does). `None` when nothing remains.
pub fn forwarded_cookies(headers: &[&str], extra: Option<(&str, &str)>) -> Option<String> {
    let mut kept: Vec<String> = headers
        .iter()
        .flat_map(|h| h.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .filter(|c| {
            let name = c.split_once('=').map_or(*c, |(n, _)| n).trim();
            !name.starts_with(COOKIE_PREFIX)
                && extra.is_none_or(|(extra_name, _)| name != extra_name)
        })
        .map(str::to_string)
        .collect();
    if let Some((name, value)) = extra {
        kept.push(format!("{name}={value}"));
    }
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// Whether a `Set-Cookie` from a container may reach the browser: never one that names a Berth
/// cookie (a workspace must not overwrite another workspace's login).
pub fn set_cookie_allowed(value: &str) -> bool {
    let pair = value.split(';').next().unwrap_or("").trim();
    let sent_as = match pair.split_once('=') {
        Some((name, _)) if !name.trim().is_empty() => name.trim(),
        // A nameless cookie (`=berth_x=1`, or `berth_x` alone) goes out as its value alone.
        Some((_, value)) => value.trim(),
        None => pair,
    };
    !sent_as.to_ascii_lowercase().starts_with(COOKIE_PREFIX)
}

/// The `Set-Cookie` of a fresh login: HttpOnly (no script reads it), SameSite=Strict (no other
/// site's page sends it), whole origin.
pub fn login_cookie(id: &WorkspaceId, session: &str) -> String {
    format!(
        "{}={session}; Path=/; HttpOnly; SameSite=Strict",
        cookie_name(id)
    )
}

/// VS Code's webviews name their resources `https://file+.vscode-resource.vscode-cdn.net/...`;
/// the webview's own service worker answers those from the IDE's origin, so they never leave
/// the window. Allowed by name: they are not loopback or LAN addresses.
const WEBVIEW_RESOURCES: &str = "https://*.vscode-cdn.net";

/// The policy on every answer of workspace port `port`: scripts and styles as the IDE needs
/// them, but every fetch, socket, frame, image, form and worker only from the page's own
/// origin (and VS Code's webview resources). A page in the IDE window cannot reach another
/// loopback port or the LAN through it. WebKit's `'self'` does not cover `ws:`, so the socket
/// URLs are named.
pub fn content_security_policy(port: u16) -> String {
    let w = WEBVIEW_RESOURCES;
    [
        "default-src 'self'".to_string(),
        format!("script-src 'self' 'unsafe-inline' 'unsafe-eval' blob: {w}"),
        format!("style-src 'self' 'unsafe-inline' {w}"),
        format!("img-src 'self' data: blob: {w}"),
        format!("font-src 'self' data: blob: {w}"),
        format!("media-src 'self' data: blob: {w}"),
        format!("connect-src 'self' ws://127.0.0.1:{port} ws://localhost:{port} {w}"),
        "worker-src 'self' blob:".to_string(),
        format!("frame-src 'self' blob: {w}"),
        format!("child-src 'self' blob: {w}"),
        "manifest-src 'self'".to_string(),
        "object-src 'none'".to_string(),
        // The Markdown preview sets its <base> to the document's webview resource URL.
        format!("base-uri 'self' {w}"),
        "form-action 'self'".to_string(),
        "frame-ancestors 'self'".to_string(),
        format!("report-uri {REPORT_PATH}"),
    ]
    .join("; ")
}

/// Whether a request to [`START_PATH`] is the stopped page's Start form of this port: a POST
/// from this origin and — where the browser sends fetch metadata — a same-origin navigation
/// (a form submission, never a `fetch` or XHR of a script), with user activation where the
/// browser says so (`Sec-Fetch-User: ?1`; WebKit, the app's IDE window, does not send that
/// header at all, so there a form a script of the origin submits passes too — see the README).
/// The IDE reconnecting, a reload, another site or another port never starts anything.
pub fn start_allowed(
    method: &str,
    origin: Option<&str>,
    fetch_site: Option<&str>,
    fetch_mode: Option<&str>,
    fetch_user: Option<&str>,
    port: u16,
) -> bool {
    let own = [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
    ];
    let metadata_ok = match fetch_site {
        None => true,
        Some(site) => {
            site == "same-origin"
                && fetch_mode == Some("navigate")
                && fetch_user.is_none_or(|u| u == "?1")
        }
    };
    method == "POST" && origin.is_some_and(|o| own.iter().any(|x| x == o)) && metadata_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_click_on_the_own_stopped_page_starts() {
        let o = Some("http://127.0.0.1:10001");
        let click = (Some("same-origin"), Some("navigate"), Some("?1"));
        assert!(start_allowed("POST", o, click.0, click.1, click.2, 10001));
        // A browser without fetch metadata: the origin decides.
        assert!(start_allowed("POST", o, None, None, None, 10001));
        // A reload or a reconnect is a GET.
        assert!(!start_allowed("GET", o, click.0, click.1, click.2, 10001));
        // Another site, another port, no origin.
        assert!(!start_allowed(
            "POST",
            Some("http://evil.example"),
            Some("cross-site"),
            click.1,
            click.2,
            10001
        ));
        assert!(!start_allowed(
            "POST",
            Some("http://127.0.0.1:10002"),
            Some("same-site"),
            click.1,
            click.2,
            10001
        ));
        assert!(!start_allowed(
            "POST", None, click.0, click.1, click.2, 10001
        ));
        // A script of the origin (fetch, or a form submitted without a click).
        assert!(!start_allowed(
            "POST",
            o,
            click.0,
            Some("cors"),
            None,
            10001
        ));
        assert!(!start_allowed(
            "POST",
            o,
            click.0,
            Some("same-origin"),
            None,
            10001
        ));
        assert!(!start_allowed(
            "POST",
            o,
            click.0,
            click.1,
            Some("?0"),
            10001
        ));
        // WebKit (the IDE window) sends no Sec-Fetch-User, even for a click.
        assert!(start_allowed("POST", o, click.0, click.1, None, 10001));
    }

    #[test]
    fn only_loopback_names_with_this_port_pass() {
        assert!(host_allowed(Some("127.0.0.1:10001"), 10001));
        assert!(host_allowed(Some("localhost:10001"), 10001));
        assert!(host_allowed(Some("LOCALHOST:10001"), 10001));
        assert!(!host_allowed(Some("rebind.example:10001"), 10001));
        assert!(!host_allowed(Some("127.0.0.1:10002"), 10001));
        assert!(!host_allowed(Some("127.0.0.1"), 10001));
        assert!(!host_allowed(Some("127.0.0.1.nip.io:10001"), 10001));
        assert!(!host_allowed(Some("[::1]:10001"), 10001));
        assert!(!host_allowed(None, 10001));
    }

    #[test]
    fn previews_answer_only_as_localhost() {
        assert!(preview_host_allowed(Some("localhost:10005"), 10005));
        assert!(preview_host_allowed(Some("LocalHost:10005"), 10005));
        assert!(!preview_host_allowed(Some("127.0.0.1:10005"), 10005));
        assert!(!preview_host_allowed(Some("localhost:10006"), 10005));
        assert!(!preview_host_allowed(Some("localhost.evil:10005"), 10005));
        assert!(!preview_host_allowed(None, 10005));
    }

    #[test]
    fn every_berth_cookie_is_stripped_and_the_ide_session_added() {
        let headers = [
            "a=1; berth_0123=s3cret; code-server-session=forged",
            "berth_ffff=other; b=2",
        ];
        assert_eq!(
            forwarded_cookies(&headers, Some(("code-server-session", "real"))).as_deref(),
            Some("a=1; b=2; code-server-session=real")
        );
        assert_eq!(forwarded_cookies(&["berth_x=1"], None), None);
        assert_eq!(forwarded_cookies(&[], None), None);
    }

    #[test]
    fn finds_every_value_of_a_cookie_by_exact_name() {
        let h = "berth_abc=shadow; berth_ab=1; berth_abc=2";
        assert_eq!(
            cookie_values(h, "berth_abc").collect::<Vec<_>>(),
            ["shadow", "2"]
        );
        assert_eq!(cookie_values(h, "berth_a").count(), 0);
    }

    #[test]
    fn containers_cannot_set_berth_cookies() {
        assert!(!set_cookie_allowed("berth_00ff=x; Path=/"));
        assert!(!set_cookie_allowed("  BERTH_00ff=x"));
        assert!(set_cookie_allowed("code-server-session=x; Path=/"));
        assert!(!set_cookie_allowed("=berth_00ff=fixated; Path=/"));
        assert!(!set_cookie_allowed("berth_00ff; Path=/"));
    }

    #[test]
    fn login_cookie_is_http_only_and_strict() {
        let id = WorkspaceId::new();
        let c = login_cookie(&id, "v");
        assert!(c.starts_with(&format!("berth_{}=v;", id.0.simple())));
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict"));
    }

    #[test]
    fn the_policy_confines_connections_to_the_own_origin() {
        let csp = content_security_policy(10007);
        assert!(csp.contains(
            "connect-src 'self' ws://127.0.0.1:10007 ws://localhost:10007 https://*.vscode-cdn.net;"
        ));
        assert!(csp.contains("default-src 'self';"));
        assert!(csp.contains("frame-ancestors 'self'"));
        // No source could name a loopback or LAN address: no bare wildcard, no scheme source.
        for source in csp.split([';', ' ']) {
            assert!(
                source != "*" && !source.ends_with(':') || ["data:", "blob:"].contains(&source),
                "{source} in {csp}"
            );
            assert!(!source.starts_with("http://"), "{source} in {csp}");
            if source.contains('*') {
                assert_eq!(source, "https://*.vscode-cdn.net");
            }
        }
    }
}
