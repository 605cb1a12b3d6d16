//! Previews: a snapshot of a workspace's projects, run as an app of its own for a while — the
//! second kind of Berth container. Plain data and the rules of lifetimes, without I/O.

use super::{ImageRef, Limits, WorkspaceId};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;
use uuid::Uuid;

/// The shortest and longest lifetime a preview can have at any moment (created or extended).
pub const MIN_TTL: Duration = Duration::from_secs(1);
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// A preview is someone's app, not their IDE: it gets less than a workspace by default.
pub const PREVIEW_LIMITS: Limits = Limits {
    cpus: 1.0,
    memory_bytes: 1 << 30,
    pids: 512,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PreviewId(pub Uuid);

impl PreviewId {
    pub fn new() -> Self {
        PreviewId(Uuid::new_v4())
    }

    /// What users see and type: the first 8 hex digits (`berth preview rm 1a2b3c4d`).
    pub fn short(&self) -> String {
        self.0.simple().to_string()[..8].to_string()
    }
}

impl Default for PreviewId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for PreviewId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How a preview runs its app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PreviewSource {
    /// Built from the project's `Dockerfile` (the snapshot is the build context).
    Dockerfile,
    /// An image with the snapshot mounted at the workspace's paths, `command` run in the
    /// first project's folder (`None`: the image's own command).
    Image {
        image: String,
        command: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum PreviewStatus {
    /// Snapshot, build, start and the wait for its first answer are under way.
    Creating,
    Running,
}

impl PreviewStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            PreviewStatus::Creating => "creating",
            PreviewStatus::Running => "running",
        }
    }

    pub fn parse(raw: &str) -> Option<PreviewStatus> {
        match raw {
            "creating" => Some(PreviewStatus::Creating),
            "running" => Some(PreviewStatus::Running),
            _ => None,
        }
    }
}

/// One preview as the store records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    pub id: PreviewId,
    pub workspace_id: WorkspaceId,
    pub workspace: String,
    pub source: PreviewSource,
    /// The image the container runs: the given one, or the one built from the Dockerfile.
    pub image: String,
    /// Where the app listens inside the container.
    pub app_port: u16,
    /// Berth's port for it on this machine.
    pub port: u16,
    pub container_id: Option<String>,
    pub status: PreviewStatus,
    /// Unix seconds.
    pub created_at: i64,
    pub expires_at: i64,
    /// The access token of a LAN share; `None`: loopback only.
    pub share_token: Option<String>,
}

impl Preview {
    pub fn container_name(&self) -> String {
        format!("berth-preview-{}-{}", self.workspace, self.id.short())
    }

    /// Network, snapshot volume and built image are named by the whole id: nothing else's.
    pub fn object_name(&self) -> String {
        format!("berth-preview-{}", self.id.0.simple())
    }

    /// On `localhost`, never `127.0.0.1`: a browser treats them as two sites, so a preview's
    /// pages (someone's app) are cross-site to every IDE on `127.0.0.1` — its requests carry no
    /// IDE login (SameSite=Strict), and what it leaves behind (cookies, a service worker)
    /// stays with `localhost`, even when its port later serves a workspace.
    pub fn url(&self) -> String {
        format!("http://localhost:{}/", self.port)
    }

    /// The URL a LAN guest opens at `ip`: the token rides in it once and becomes a cookie.
    pub fn share_url(&self, ip: std::net::IpAddr) -> Option<String> {
        let token = self.share_token.as_ref()?;
        let host = match ip {
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        };
        Some(format!(
            "http://{host}:{}/?{SHARE_PARAM}={token}",
            self.port
        ))
    }

    pub fn remaining(&self, now_secs: i64) -> Duration {
        Duration::from_secs((self.expires_at - now_secs).max(0) as u64)
    }
}

/// The query parameter of a share link.
pub const SHARE_PARAM: &str = "berth_share";

/// What a client sees of a preview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PreviewView {
    /// The short id users type.
    pub id: String,
    pub workspace: String,
    pub url: String,
    pub source: PreviewSource,
    pub image: String,
    pub app_port: u16,
    pub port: u16,
    pub status: PreviewStatus,
    pub created_at: i64,
    pub expires_at: i64,
    /// Whole seconds left when this view was made (the UI counts down from `expires_at`).
    pub remaining_secs: u64,
    /// Shared on the LAN: the links (with the token) for each address of this machine.
    pub share_urls: Vec<String>,
    pub shared: bool,
}

/// Where a workspace's next preview comes from, for the create form: the project's Dockerfile
/// if it has one, else what the last preview of this workspace ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PreviewDefaults {
    pub dockerfile: bool,
    pub image: Option<String>,
    pub command: Option<String>,
    pub app_port: Option<u16>,
    pub ttl_secs: u64,
}

/// What the user asked for. Missing fields come from the Dockerfile or the remembered
/// defaults ([`choose_source`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PreviewForm {
    pub workspace: String,
    pub image: Option<String>,
    pub command: Option<String>,
    pub app_port: Option<u16>,
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub ttl_secs: Option<u64>,
    /// Copy `node_modules`, `target` and the like too.
    #[serde(default)]
    pub with_deps: bool,
    /// Share on the LAN (with a token) from the start.
    #[serde(default)]
    pub lan: bool,
}

/// Remembered per workspace: what its last preview from an image ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    pub image: String,
    pub command: Option<String>,
    pub app_port: u16,
}

/// The source and app port of a new preview: an image the user names wins; else the project's
/// Dockerfile; else what the last preview ran. The port of a Dockerfile preview may come from
/// its `EXPOSE` later (`None` here).
pub fn choose_source(
    form: &PreviewForm,
    has_dockerfile: bool,
    remembered: Option<&Remembered>,
) -> Result<(PreviewSource, Option<u16>)> {
    let command = form
        .command
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if let Some(command) = command
        && command.chars().any(char::is_control)
    {
        return Err(Error::invalid(
            "the preview's command must be one line without control characters",
        ));
    }
    if let Some(port) = form.app_port
        && port == 0
    {
        return Err(Error::invalid(
            "the preview's app port must be from 1 to 65535",
        ));
    }
    if let Some(image) = form.image.as_deref().filter(|i| !i.trim().is_empty()) {
        let image = ImageRef::parse(image.trim())?;
        let port = form.app_port.ok_or_else(|| {
            Error::invalid("a preview from an image needs the port its app listens on (--port)")
                .keyed("preview_port_missing", [])
        })?;
        let source = PreviewSource::Image {
            image: image.to_string(),
            command: command.map(str::to_string),
        };
        return Ok((source, Some(port)));
    }
    if has_dockerfile {
        return Ok((PreviewSource::Dockerfile, form.app_port));
    }
    match remembered {
        Some(r) => Ok((
            PreviewSource::Image {
                image: r.image.clone(),
                command: command.map(str::to_string).or_else(|| r.command.clone()),
            },
            Some(form.app_port.unwrap_or(r.app_port)),
        )),
        None => Err(Error::invalid(
            "the project has no Dockerfile: say what runs the app (--image, --cmd and --port)",
        )
        .keyed("preview_source_missing", [])),
    }
}

/// A lifetime as a user types it (`90s`, `30m`, `2h`, `1d`), within [`MIN_TTL`]..[`MAX_TTL`].
pub fn parse_ttl(raw: &str) -> Result<Duration> {
    let d = humantime::parse_duration(raw.trim()).map_err(|_| bad_ttl(raw))?;
    check_ttl(d).map_err(|_| bad_ttl(raw))
}

pub fn check_ttl(d: Duration) -> Result<Duration> {
    if (MIN_TTL..=MAX_TTL).contains(&d) {
        Ok(d)
    } else {
        Err(bad_ttl(&humantime::format_duration(d).to_string()))
    }
}

fn bad_ttl(raw: &str) -> Error {
    Error::invalid(format!(
        "invalid lifetime {raw:?}: use a duration from 1 second to 30 days such as 30m, 2h or 1d"
    ))
    .keyed("preview_ttl_invalid", [("ttl", raw.to_string())])
}

/// The expiry after extending by `by` at `now`: from the current expiry (or from now, for one
/// already past it), never more than [`MAX_TTL`] ahead of now.
pub fn extended(expires_at: i64, now: i64, by: Duration) -> Result<i64> {
    check_ttl(by)?;
    let from = expires_at.max(now);
    let to = from.saturating_add(by.as_secs() as i64);
    if to - now > MAX_TTL.as_secs() as i64 {
        return Err(Error::invalid(format!(
            "a preview can live at most 30 days from now; it has {} left",
            super::human_duration(expires_at - now)
        ))
        .keyed("preview_ttl_too_long", []));
    }
    Ok(to)
}

/// The reaper's decision: which previews are due at `now` (Unix seconds), and when to look
/// again (the next expiry; `None` when nothing is left to expire).
pub fn due(previews: &[(PreviewId, i64)], now: i64) -> (Vec<PreviewId>, Option<i64>) {
    let expired = previews
        .iter()
        .filter(|(_, at)| *at <= now)
        .map(|(id, _)| *id)
        .collect();
    let next = previews
        .iter()
        .filter(|(_, at)| *at > now)
        .map(|(_, at)| *at)
        .min();
    (expired, next)
}

/// The preview's limits: the tighter of [`PREVIEW_LIMITS`] and the workspace defaults.
pub fn preview_limits(defaults: &Limits) -> Limits {
    Limits {
        cpus: defaults.cpus.min(PREVIEW_LIMITS.cpus),
        memory_bytes: defaults.memory_bytes.min(PREVIEW_LIMITS.memory_bytes),
        pids: defaults.pids.min(PREVIEW_LIMITS.pids),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> PreviewForm {
        PreviewForm {
            workspace: "demo".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_named_image_wins_and_needs_a_port() {
        let mut f = form();
        f.image = Some("node:20".into());
        assert_eq!(
            choose_source(&f, true, None).unwrap_err().code,
            crate::error::Code::InvalidInput
        );
        f.app_port = Some(3000);
        f.command = Some("  npm start ".into());
        let (source, port) = choose_source(&f, true, None).unwrap();
        assert_eq!(
            source,
            PreviewSource::Image {
                image: "node:20".into(),
                command: Some("npm start".into())
            }
        );
        assert_eq!(port, Some(3000));
    }

    #[test]
    fn a_dockerfile_comes_before_what_was_remembered() {
        let r = Remembered {
            image: "img:1".into(),
            command: Some("serve".into()),
            app_port: 8000,
        };
        assert_eq!(
            choose_source(&form(), true, Some(&r)).unwrap(),
            (PreviewSource::Dockerfile, None)
        );
        // A port given for a Dockerfile wins over its EXPOSE.
        let mut with_port = form();
        with_port.app_port = Some(8080);
        assert_eq!(
            choose_source(&with_port, true, None).unwrap(),
            (PreviewSource::Dockerfile, Some(8080))
        );
        let (source, port) = choose_source(&form(), false, Some(&r)).unwrap();
        assert_eq!(
            source,
            PreviewSource::Image {
                image: "img:1".into(),
                command: Some("serve".into())
            }
        );
        assert_eq!(port, Some(8000));
        let err = choose_source(&form(), false, None).unwrap_err();
        assert!(err.message.contains("--image"), "{}", err.message);
    }

    #[test]
    fn bad_commands_ports_and_images_are_refused() {
        let mut f = form();
        f.image = Some("Bad Image".into());
        f.app_port = Some(1);
        assert!(choose_source(&f, false, None).is_err());
        f.image = Some("img".into());
        f.command = Some("a\nb".into());
        assert!(choose_source(&f, false, None).is_err());
        f.command = None;
        f.app_port = Some(0);
        assert!(choose_source(&f, false, None).is_err());
    }

    #[test]
    fn previews_live_a_day_and_five_may_exist_unless_the_settings_say_otherwise() {
        let s = crate::model::Settings::default();
        assert_eq!((s.preview_ttl_secs, s.max_previews), (86_400, 5));
    }

    #[test]
    fn lifetimes_parse_within_bounds() {
        assert_eq!(parse_ttl("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_ttl("1d").unwrap(), Duration::from_secs(86400));
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("31d").is_err());
        assert!(parse_ttl("soon").is_err());
    }

    #[test]
    fn extending_adds_to_the_expiry_and_stays_under_thirty_days() {
        let now = 1_000_000;
        assert_eq!(
            extended(now + 60, now, Duration::from_secs(3600)).unwrap(),
            now + 3660
        );
        // Already past: from now.
        assert_eq!(
            extended(now - 5, now, Duration::from_secs(10)).unwrap(),
            now + 10
        );
        assert!(extended(now + 86400 * 29, now, Duration::from_secs(86400 * 2)).is_err());
    }

    #[test]
    fn the_reaper_takes_what_is_due_and_wakes_for_the_next() {
        let (a, b, c) = (PreviewId::new(), PreviewId::new(), PreviewId::new());
        let (due_now, next) = due(&[(a, 100), (b, 150), (c, 120)], 100);
        assert_eq!(due_now, vec![a]);
        assert_eq!(next, Some(120));
        assert_eq!(due(&[], 5), (vec![], None));
    }

    #[test]
    fn share_urls_carry_the_token_and_bracket_ipv6() {
        let mut p = sample();
        assert_eq!(p.share_url("10.0.0.2".parse().unwrap()), None);
        p.share_token = Some("tok".into());
        assert_eq!(
            p.share_url("10.0.0.2".parse().unwrap()).unwrap(),
            "http://10.0.0.2:10005/?berth_share=tok"
        );
        assert!(
            p.share_url("fe80::1".parse().unwrap())
                .unwrap()
                .starts_with("http://[fe80::1]:10005/")
        );
    }

    #[test]
    fn preview_limits_are_tighter_than_the_workspace_defaults() {
        let roomy = Limits {
            cpus: 4.0,
            memory_bytes: 8 << 30,
            pids: 4096,
        };
        assert_eq!(preview_limits(&roomy), PREVIEW_LIMITS);
        let small = Limits {
            cpus: 0.5,
            memory_bytes: 512 << 20,
            pids: 100,
        };
        assert_eq!(preview_limits(&small), small);
    }

    fn sample() -> Preview {
        Preview {
            id: PreviewId::new(),
            workspace_id: WorkspaceId::new(),
            workspace: "demo".into(),
            source: PreviewSource::Dockerfile,
            image: "x".into(),
            app_port: 3000,
            port: 10005,
            container_id: None,
            status: PreviewStatus::Running,
            created_at: 0,
            expires_at: 10,
            share_token: None,
        }
    }
}
