//! What an IDE window (remote, untrusted content) may do, as pure decisions: where it may
//! navigate, what it may load, which new windows reach the system browser and how often, and
//! where a download waits until the user picks a place for it.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tauri::Url;

/// Navigations stay on the workspace's origin; `about:blank`/`about:srcdoc` frames (the IDE's
/// webviews) and same-origin `blob:` documents too. Anything else is blocked, not forwarded:
/// a page must not be able to open the system browser by setting `location`.
pub fn navigation_allowed(origin: &url::Origin, target: &Url) -> bool {
    match target.scheme() {
        "about" => matches!(target.path(), "blank" | "srcdoc"),
        _ => target.origin() == *origin,
    }
}

/// WebKit content rules (the content-blocker JSON of WebKitGTK and WKWebView) for an IDE
/// window on `origin` (`http://host:port`): every load of the window — page, frame, image,
/// fetch, worker, service worker, WebSocket — goes to the workspace's own origin, is `data:`
/// or `about:` (no network), or is a VS Code webview resource name (answered by the webview's
/// own service worker, as in the gateway's CSP); the rest is blocked. The gateway's CSP is
/// the first lock; this one holds for pages the gateway never saw, such as those a service
/// worker makes up, which carry no CSP.
pub fn content_rules(origin: &Url) -> String {
    let host = origin.host_str().unwrap_or_default();
    let port = origin.port_or_known_default().unwrap_or_default();
    let own = format!("{}:{port}/", regex_escape(host));
    let allowed = [
        format!("^http://{own}"),
        format!("^ws://{own}"),
        format!("^blob:http://{own}"),
        "^data:".to_string(),
        "^about:".to_string(),
        r"^https://[-a-z0-9.+]*\.vscode-cdn\.net/".to_string(),
    ];
    let mut rules = vec![serde_json::json!({
        "trigger": { "url-filter": ".*" },
        "action": { "type": "block" },
    })];
    rules.extend(allowed.iter().map(|filter| {
        serde_json::json!({
            "trigger": { "url-filter": filter },
            "action": { "type": "ignore-previous-rules" },
        })
    }));
    serde_json::Value::Array(rules).to_string()
}

/// A host name or IP address as a content-rule regular expression (which knows no `\Q`).
fn regex_escape(host: &str) -> String {
    host.chars()
        .flat_map(|c| {
            let escape = !(c.is_ascii_alphanumeric() || c == '-');
            escape.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

/// A user-initiated new window (how VS Code opens links) goes to the system browser: only
/// http(s), at most [`LinkLimiter::BURST`] within [`LinkLimiter::WINDOW`].
pub struct LinkLimiter {
    recent: VecDeque<Instant>,
}

impl Default for LinkLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl LinkLimiter {
    pub const BURST: usize = 3;
    pub const WINDOW: Duration = Duration::from_secs(10);

    pub fn new() -> LinkLimiter {
        LinkLimiter {
            recent: VecDeque::new(),
        }
    }

    /// Whether `target` may be opened outside now (and counts it if so). Never a host on this
    /// machine or the local network (loopback, private, link-local, `localhost`, `.local`):
    /// the system browser has no content rules, and another workspace's gateway, a router's
    /// admin page or a local service would be one click away for a hostile page.
    pub fn allow(&mut self, target: &Url, now: Instant) -> bool {
        if !matches!(target.scheme(), "http" | "https") || !public_host(target) {
            return false;
        }
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Self::WINDOW)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= Self::BURST {
            return false;
        }
        self.recent.push_back(now);
        true
    }
}

/// Whether `url`'s host is on the internet, not this machine or its network.
fn public_host(url: &Url) -> bool {
    match url.host() {
        None => false,
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            !(d == "localhost" || d.ends_with(".localhost") || d.ends_with(".local"))
        }
        Some(url::Host::Ipv4(ip)) => {
            !(ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.octets()[0] == 100 && (64..128).contains(&ip.octets()[1]))
        }
        Some(url::Host::Ipv6(ip)) => {
            let first = ip.segments()[0];
            !(ip.is_loopback()
                || ip.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || ip.to_ipv4_mapped().is_some())
        }
    }
}

/// Where a download waits (in Berth's private data folder, never in `~/Downloads` or home)
/// until the user chooses where to save it: `<staging>/<nonce>-<file name>`, with the name
/// stripped of any folder part the page suggested.
pub fn staging_path(staging: &Path, suggested: &Path, nonce: u64) -> PathBuf {
    let name = suggested
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.replace(['/', '\\'], "_"))
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .unwrap_or_else(|| "download".to_string());
    staging.join(format!("{nonce:016x}-{name}"))
}

/// The name to offer in the save dialog for a staged file.
pub fn offered_name(staged: &Path) -> String {
    let name = staged
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("download");
    name.split_once('-')
        .map_or(name, |(_, rest)| rest)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        s.parse().unwrap()
    }

    #[test]
    fn navigation_stays_on_the_origin() {
        let origin = url("http://127.0.0.1:10001/").origin();
        assert!(navigation_allowed(
            &origin,
            &url("http://127.0.0.1:10001/x?y")
        ));
        assert!(navigation_allowed(&origin, &url("about:blank")));
        assert!(navigation_allowed(&origin, &url("about:srcdoc")));
        assert!(navigation_allowed(
            &origin,
            &url("blob:http://127.0.0.1:10001/0f3c")
        ));
        for off in [
            "http://127.0.0.1:10002/",
            "http://localhost:10001/",
            "https://evil.example/",
            "file:///etc/passwd",
            "data:text/html,hi",
            "blob:http://127.0.0.1:10002/0f3c",
        ] {
            assert!(!navigation_allowed(&origin, &url(off)), "{off}");
        }
    }

    #[test]
    fn content_rules_block_everything_but_the_own_origin() {
        let rules: serde_json::Value =
            serde_json::from_str(&content_rules(&url("http://127.0.0.1:10001/x"))).unwrap();
        let rules = rules.as_array().unwrap();
        assert_eq!(rules[0]["action"]["type"], "block", "first, block all");
        let allowed: Vec<&str> = rules[1..]
            .iter()
            .map(|r| {
                assert_eq!(r["action"]["type"], "ignore-previous-rules");
                r["trigger"]["url-filter"].as_str().unwrap()
            })
            .collect();
        assert!(
            allowed.contains(&r"^http://127\.0\.0\.1:10001/"),
            "{allowed:?}"
        );
        assert!(
            allowed.contains(&r"^ws://127\.0\.0\.1:10001/"),
            "{allowed:?}"
        );
        assert!(
            allowed.contains(&r"^blob:http://127\.0\.0\.1:10001/"),
            "{allowed:?}"
        );
        // Nothing else on the host or the network: no other port, host or scheme.
        assert!(
            allowed
                .iter()
                .all(|f| !f.contains("10002") && !f.contains("localhost") && !f.contains("file")),
            "{allowed:?}"
        );
    }

    #[test]
    fn links_reach_the_browser_http_only_and_rate_limited() {
        let mut l = LinkLimiter::new();
        let t0 = Instant::now();
        assert!(!l.allow(&url("file:///etc/passwd"), t0));
        assert!(!l.allow(&url("mailto:a@b.c"), t0));
        assert!(!l.allow(&url("javascript:alert(1)"), t0));
        for local in [
            "http://127.0.0.1:10002/proxy/3000/",
            "http://localhost:8080/",
            "http://LOCALHOST./",
            "http://printer.local/",
            "http://192.168.1.1/",
            "http://10.0.0.1/",
            "http://172.17.0.2:8080/",
            "http://169.254.169.254/latest/meta-data/",
            "http://100.100.1.1/",
            "http://0.0.0.0:10001/",
            "http://[::1]:10001/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://2130706433/",
        ] {
            assert!(!l.allow(&url(local), t0), "{local}");
        }
        for _ in 0..LinkLimiter::BURST {
            assert!(l.allow(&url("https://docs.rs/"), t0));
        }
        assert!(!l.allow(&url("https://docs.rs/"), t0), "a flood is cut off");
        assert!(l.allow(&url("http://example.org/"), t0 + LinkLimiter::WINDOW));
    }

    #[test]
    fn downloads_wait_in_the_private_staging_folder() {
        let staging = Path::new("/data/downloads/ws");
        let p = staging_path(staging, Path::new("/home/u/Downloads/report.pdf"), 7);
        assert_eq!(p, staging.join("0000000000000007-report.pdf"));
        assert_eq!(offered_name(&p), "report.pdf");
        let weird = staging_path(staging, Path::new("/home/u/Downloads/.."), 1);
        assert!(weird.starts_with(staging) && weird.ends_with("0000000000000001-download"));
    }
}
