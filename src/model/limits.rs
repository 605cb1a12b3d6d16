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

const MIN_MEMORY: u64 = 16 * 1024 * 1024;

pub fn parse_cpus(raw: &str) -> Result<f64> {
    match raw.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && (0.01..=1024.0).contains(&n) => Ok(n),
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
    if !bytes.is_finite() || bytes < MIN_MEMORY as f64 || bytes > u64::MAX as f64 {
        return Err(invalid());
    }
    Ok(bytes as u64)
}

pub fn parse_pids(raw: &str) -> Result<i64> {
    match raw.trim().parse::<i64>() {
        Ok(n) if (16..=1_000_000).contains(&n) => Ok(n),
        _ => Err(Error::invalid(format!(
            "invalid process limit {raw:?}: use a whole number from 16 to 1000000"
        ))),
    }
}

/// `30m`, `2h`, `1h30m`; `0` or `off` disables the idle stop.
pub fn parse_idle_timeout(raw: &str) -> Result<Option<Duration>> {
    let s = raw.trim();
    if s == "0" || s.eq_ignore_ascii_case("off") || s.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    match humantime::parse_duration(s) {
        Ok(d) if d >= Duration::from_secs(60) => Ok(Some(d)),
        _ => Err(Error::invalid(format!(
            "invalid idle timeout {raw:?}: use a duration of at least a minute such as 30m or 2h, or \"off\""
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
