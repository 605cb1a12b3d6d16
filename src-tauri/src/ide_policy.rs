//! What an IDE window (remote, untrusted content) may do, as pure decisions: where it may
//! navigate, which new windows reach the system browser and how often, and where a download
//! waits until the user picks a place for it.

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

    /// Whether `target` may be opened outside now (and counts it if so).
    pub fn allow(&mut self, target: &Url, now: Instant) -> bool {
        if !matches!(target.scheme(), "http" | "https") || target.host_str().is_none() {
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
    fn links_reach_the_browser_http_only_and_rate_limited() {
        let mut l = LinkLimiter::new();
        let t0 = Instant::now();
        assert!(!l.allow(&url("file:///etc/passwd"), t0));
        assert!(!l.allow(&url("mailto:a@b.c"), t0));
        assert!(!l.allow(&url("javascript:alert(1)"), t0));
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
