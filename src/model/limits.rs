//! Resource limits: what a user types (`--cpus 1.5`, `--memory 2g`, `--idle-timeout 30m`) and
//! what the engine stores (plain numbers).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Effective limits of a container. Always all three: an unlimited container is not a default.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Limits {
    pub cpus: f64,
    pub memory_bytes: u64,
    pub pids: i64,
}

/// Per-workspace overrides; `None` means "the global default at the time the container is made".
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LimitOverrides {
    pub cpus: Option<f64>,
    pub memory_bytes: Option<u64>,
    pub pids: Option<i64>,
}

impl LimitOverrides {
    pub fn over(&self, defaults: &Limits) -> Limits {
        Limits {
            cpus: self.cpus.unwrap_or(defaults.cpus),
            memory_bytes: self.memory_bytes.unwrap_or(defaults.memory_bytes),
            pids: self.pids.unwrap_or(defaults.pids),
        }
    }
}

/// The sane ranges. Docker reads 0 as "unlimited" and a container without limits is never a
/// default, so the bottom of each range is well above zero.
const CPUS: std::ops::RangeInclusive<f64> = 0.01..=1024.0;
const MIN_MEMORY: u64 = 16 * 1024 * 1024;
const MAX_MEMORY: u64 = 1 << 40;
const PIDS: std::ops::RangeInclusive<i64> = 16..=1_000_000;

impl Limits {
    /// The engine's check of limits from any client: all three within the sane ranges.
    pub fn validate(&self) -> Result<()> {
        LimitOverrides {
            cpus: Some(self.cpus),
            memory_bytes: Some(self.memory_bytes),
            pids: Some(self.pids),
        }
        .validate()
    }
}

impl LimitOverrides {
    pub fn validate(&self) -> Result<()> {
        if let Some(c) = self.cpus
            && !(c.is_finite() && CPUS.contains(&c))
        {
            return Err(Error::invalid(format!(
                "invalid CPU limit {c}: it must be from 0.01 to 1024 cores"
            ))
            .keyed("limit_cpus", [("value", c.to_string())]));
        }
        if let Some(m) = self.memory_bytes
            && !(MIN_MEMORY..=MAX_MEMORY).contains(&m)
        {
            return Err(Error::invalid(format!(
                "invalid memory limit of {m} bytes: it must be from 16m to 1024g"
            ))
            .keyed("limit_memory", [("value", m.to_string())]));
        }
        if let Some(p) = self.pids
            && !PIDS.contains(&p)
        {
            return Err(Error::invalid(format!(
                "invalid process limit {p}: it must be from 16 to 1000000"
            ))
            .keyed("limit_pids", [("value", p.to_string())]));
        }
        Ok(())
    }
}

pub fn parse_cpus(raw: &str) -> Result<f64> {
    match raw.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && CPUS.contains(&n) => Ok(n),
        _ => Err(Error::invalid(format!(
            "invalid CPU limit {raw:?}: use a number of cores such as 1 or 1.5"
        ))),
    }
}

/// `512m`, `2g`, `2GiB`, `1.5G`, or plain bytes. Binary units, as `docker run --memory`.
pub fn parse_memory(raw: &str) -> Result<u64> {
    let invalid = || {
        Error::invalid(format!(
            "invalid memory limit {raw:?}: use a size such as 512m or 2g (at least 16m)"
        ))
    };
    let s = raw.trim().to_ascii_lowercase();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().map_err(|_| invalid())?;
    let mult: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(invalid()),
    };
    let bytes = num * mult as f64;
    if !bytes.is_finite() || bytes < MIN_MEMORY as f64 || bytes > MAX_MEMORY as f64 {
        return Err(invalid());
    }
    Ok(bytes as u64)
}

pub fn parse_pids(raw: &str) -> Result<i64> {
    match raw.trim().parse::<i64>() {
        Ok(n) if PIDS.contains(&n) => Ok(n),
        _ => Err(Error::invalid(format!(
            "invalid process limit {raw:?}: use a whole number from 16 to 1000000"
        ))),
    }
}

/// Idle timeouts: at least a minute, at most a week ("off" is the way to say never).
pub const IDLE_TIMEOUT_SECS: std::ops::RangeInclusive<u64> = 10..=7 * 24 * 3600;

/// The engine's check of an idle timeout from any client (`None`: never).
pub fn validate_idle_timeout(secs: Option<u64>) -> Result<()> {
    match secs {
        Some(s) if !IDLE_TIMEOUT_SECS.contains(&s) => Err(Error::invalid(format!(
            "invalid idle timeout of {s} s: it must be from 10 seconds to a week, or off"
        ))
        .keyed("idle_too_short", [])),
        _ => Ok(()),
    }
}

/// A duration as people write it: `30 min`, `1 h 30 min`, `45 s`.
pub fn human_duration(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// `30m`, `2h`, `1h30m`; `0` or `off` disables the idle stop.
pub fn parse_idle_timeout(raw: &str) -> Result<Option<Duration>> {
    let s = raw.trim();
    if s == "0" || s.eq_ignore_ascii_case("off") || s.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    match humantime::parse_duration(s) {
        Ok(d) if IDLE_TIMEOUT_SECS.contains(&d.as_secs()) => Ok(Some(d)),
        _ => Err(Error::invalid(format!(
            "invalid idle timeout {raw:?}: use a duration from 10 seconds to a week such as 30m or 2h, or \"off\""
        ))),
    }
}

pub fn format_memory(bytes: u64) -> String {
    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;
    if bytes.is_multiple_of(GIB) {
        format!("{}g", bytes / GIB)
    } else {
        format!("{}m", bytes / MIB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_memory("512m").unwrap(), 512 << 20);
        assert_eq!(parse_memory("2G").unwrap(), 2 << 30);
        assert_eq!(parse_memory("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_memory("1.5g").unwrap(), 3 << 29);
        for bad in ["", "lots", "1x", "-1g", "1k", "nan"] {
            assert!(parse_memory(bad).is_err(), "{bad}");
        }
        assert_eq!(format_memory(2 << 30), "2g");
        assert_eq!(format_memory(512 << 20), "512m");
    }

    #[test]
    fn cpus_pids_and_durations() {
        assert_eq!(parse_cpus("1.5").unwrap(), 1.5);
        assert!(parse_cpus("0").is_err() && parse_cpus("inf").is_err() && parse_cpus("x").is_err());
        assert_eq!(parse_pids("256").unwrap(), 256);
        assert!(parse_pids("1").is_err());
        assert_eq!(
            parse_idle_timeout("30m").unwrap(),
            Some(Duration::from_secs(1800))
        );
        assert_eq!(parse_idle_timeout("off").unwrap(), None);
        assert!(parse_idle_timeout("5s").is_err() && parse_idle_timeout("soon").is_err());
    }

    #[test]
    fn the_engine_refuses_zero_negative_and_absurd_limits() {
        let bad = [
            LimitOverrides {
                cpus: Some(0.0),
                ..Default::default()
            },
            LimitOverrides {
                cpus: Some(-1.0),
                ..Default::default()
            },
            LimitOverrides {
                cpus: Some(f64::NAN),
                ..Default::default()
            },
            LimitOverrides {
                memory_bytes: Some(0),
                ..Default::default()
            },
            LimitOverrides {
                memory_bytes: Some(u64::MAX),
                ..Default::default()
            },
            LimitOverrides {
                pids: Some(0),
                ..Default::default()
            },
            LimitOverrides {
                pids: Some(-1),
                ..Default::default()
            },
        ];
        for o in bad {
            let err = o.validate().unwrap_err();
            assert!(err.message.starts_with("invalid"), "{o:?}: {}", err.message);
        }
        assert!(LimitOverrides::default().validate().is_ok());
        assert!(validate_idle_timeout(Some(0)).is_err());
        assert!(validate_idle_timeout(Some(9)).is_err() && validate_idle_timeout(Some(10)).is_ok());
        assert!(validate_idle_timeout(Some(3600)).is_ok() && validate_idle_timeout(None).is_ok());
    }

    #[test]
    fn overrides_fall_back_to_defaults() {
        let d = Limits {
            cpus: 2.0,
            memory_bytes: 1 << 30,
            pids: 512,
        };
        let o = LimitOverrides {
            cpus: Some(1.0),
            ..Default::default()
        };
        assert_eq!(
            o.over(&d),
            Limits {
                cpus: 1.0,
                memory_bytes: 1 << 30,
                pids: 512
            }
        );
    }
}
