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
