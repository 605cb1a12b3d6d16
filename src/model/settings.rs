//! Global settings of one install (one data dir).

use super::Limits;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn new(first: u16, last: u16) -> Result<Self> {
        if first == 0 || first > last {
            return Err(Error::invalid(format!(
                "invalid port range {first}-{last}: the first port must be at least 1 and not above the last"
            )));
        }
        Ok(PortRange { first, last })
    }

    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }

    pub fn iter(&self) -> impl Iterator<Item = u16> {
        self.first..=self.last
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// What quitting the desktop app does to running workspaces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum QuitBehavior {
    StopWorkspaces,
    #[default]
    LeaveRunning,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct Settings {
    pub port_range: PortRange,
    pub max_running: u32,
    pub default_limits: Limits,
    pub default_idle_timeout_secs: Option<u64>,
    /// How long `start` waits for the IDE health check.
    pub start_timeout_secs: u64,
    /// UI language (`en`, `de`); `None` follows the operating system.
    pub language: Option<String>,
    pub on_quit: QuitBehavior,
    /// A new preview's lifetime unless one is chosen.
    pub preview_ttl_secs: u64,
    /// Previews at once (all workspaces together).
    pub max_previews: u32,
    /// How the desktop app keeps itself up to date.
    pub updates: UpdateSettings,
}

/// The desktop app's updates. Kept with the other settings so every client sees one truth and
/// the engine validates the endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct UpdateSettings {
    /// Check once a day and fetch a newer version (installing always waits for the user).
    pub auto_check: bool,
    /// Where `latest.json` is asked for; `None`: Berth's own release server.
    pub endpoint: Option<String>,
}

impl Default for UpdateSettings {
    fn default() -> Self {
        UpdateSettings {
            auto_check: true,
            endpoint: None,
        }
    }
}

impl UpdateSettings {
    /// An endpoint is https, or plain http on this machine's loopback (a local mirror): the
    /// manifest is not signed, so over plain http anyone on the way could withhold updates.
    /// The packages it names are signed and checked wherever they come from.
    pub fn validate(&self) -> Result<()> {
        let Some(raw) = &self.endpoint else {
            return Ok(());
        };
        let bad = |why: &str| Error::invalid(format!("invalid update address {raw:?}: {why}"));
        if raw.len() > 2048 {
            return Err(bad("longer than 2048 characters"));
        }
        let url = url::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
        check_update_url(&url).map_err(|why| bad(&why))
    }
}

/// Where updates may come from — the address, every redirect, every package: https, or plain
/// http on this machine's loopback; no user name or password in it.
pub fn check_update_url(url: &url::Url) -> std::result::Result<(), String> {
    // First, so no message below repeats a password.
    if !url.username().is_empty() || url.password().is_some() {
        return Err("no user name or password in the address".into());
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!(
            "{url}: plain http only on this machine (localhost); use https"
        )),
        other => Err(format!("{url}: {other} is not http(s)")),
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            port_range: PortRange {
                first: 10000,
                last: 10100,
            },
            max_running: 4,
            default_limits: Limits {
                cpus: 2.0,
                memory_bytes: 4 << 30,
                pids: 1024,
            },
            default_idle_timeout_secs: Some(30 * 60),
            start_timeout_secs: 120,
            language: None,
            on_quit: QuitBehavior::default(),
            preview_ttl_secs: 24 * 3600,
            max_previews: 5,
            updates: UpdateSettings::default(),
        }
    }
}

impl Settings {
    /// The engine's check of settings from any client.
    pub fn validate(&self) -> Result<()> {
        PortRange::new(self.port_range.first, self.port_range.last)?;
        if self.port_range.first < 1024 {
            return Err(Error::invalid(format!(
                "invalid port range {}: ports below 1024 need administrator rights; start at 1024 or above",
                self.port_range
            )));
        }
        if !(1..=100).contains(&self.max_running) {
            return Err(Error::invalid(format!(
                "invalid number of workspaces running at once ({}): it must be from 1 to 100",
                self.max_running
            )));
        }
        self.default_limits.validate()?;
        super::validate_idle_timeout(self.default_idle_timeout_secs)?;
        if !(1..=3600).contains(&self.start_timeout_secs) {
            return Err(Error::invalid(format!(
                "invalid start timeout of {} s: it must be from 1 s to an hour",
                self.start_timeout_secs
            )));
        }
        super::check_ttl(std::time::Duration::from_secs(self.preview_ttl_secs))?;
        if !(1..=50).contains(&self.max_previews) {
            return Err(Error::invalid(format!(
                "invalid number of previews at once ({}): it must be from 1 to 50",
                self.max_previews
            )));
        }
        self.updates.validate()?;
        if let Some(lang) = &self.language
            && !["en", "de"].contains(&lang.as_str())
        {
            return Err(Error::invalid(format!(
                "unsupported language {lang:?} (en, de)"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(raw: &str) -> Result<()> {
        UpdateSettings {
            auto_check: true,
            endpoint: Some(raw.into()),
        }
        .validate()
    }

    #[test]
    fn update_addresses_are_https_or_loopback_http() {
        assert!(endpoint("https://releases.example.org/berth/latest.json").is_ok());
        assert!(endpoint("http://127.0.0.1:8080/latest.json").is_ok());
        assert!(endpoint("http://localhost:8080/latest.json").is_ok());
        assert!(endpoint("http://[::1]:8080/latest.json").is_ok());
        for bad in [
            "http://192.168.1.5/latest.json",
            "http://localhost.evil.example/latest.json",
            "http://127.0.0.1.nip.io/latest.json",
            "file:///tmp/latest.json",
            "ftp://127.0.0.1/latest.json",
            "https://user:pw@releases.example.org/latest.json",
            "not a url",
        ] {
            let e = endpoint(bad).unwrap_err();
            assert!(e.message.contains("invalid update address"), "{bad}: {e}");
        }
        assert!(endpoint(&format!("https://a.example/{}", "x".repeat(2100))).is_err());
    }

    #[test]
    fn settings_saved_before_updates_existed_check_daily() {
        let old = r#"{"max_running": 3, "language": "de"}"#;
        let s: Settings = serde_json::from_str(old).unwrap();
        assert_eq!(s.max_running, 3);
        assert!(s.updates.auto_check);
        assert_eq!(s.updates.endpoint, None);
        assert!(s.validate().is_ok());
        let off: Settings = serde_json::from_str(r#"{"updates": {"auto_check": false}}"#).unwrap();
        assert!(!off.updates.auto_check);
    }
}
