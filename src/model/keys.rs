//! API keys as the user names them, and how a workspace uses one. The values live encrypted
//! in the store (see `secrets`); nothing here ever holds one.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a key is used: the two providers Berth's proxy speaks, or a named secret of the
/// user's own (which only env mode can hand to a workspace).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Anthropic,
    Openai,
    Generic,
}

impl Provider {
    pub fn as_str(&self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::Openai => "openai",
            Provider::Generic => "generic",
        }
    }

    pub fn parse(raw: &str) -> Option<Provider> {
        [Provider::Anthropic, Provider::Openai, Provider::Generic]
            .into_iter()
            .find(|p| p.as_str() == raw)
    }

    /// The provider's public API, used unless the key names another base URL.
    pub fn default_base_url(&self) -> Option<&'static str> {
        match self {
            Provider::Anthropic => Some("https://api.anthropic.com"),
            Provider::Openai => Some("https://api.openai.com"),
            Provider::Generic => None,
        }
    }

    /// The variables its SDKs and CLIs read: (base URL, key).
    pub fn env_names(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Provider::Anthropic => Some(("ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY")),
            Provider::Openai => Some(("OPENAI_BASE_URL", "OPENAI_API_KEY")),
            Provider::Generic => None,
        }
    }
}

/// A key's name: `anthropic` and `openai` are the providers' keys; any other name
/// (`[a-z0-9][a-z0-9_-]{0,39}`) is a generic secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyName(String);

impl KeyName {
    pub fn parse(raw: &str) -> Result<KeyName> {
        let ok = !raw.is_empty()
            && raw.len() <= 40
            && raw.as_bytes()[0].is_ascii_alphanumeric()
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(KeyName(raw.to_string()))
        } else {
            Err(Error::invalid(format!(
                "{raw:?} is not a key name: use anthropic, openai, or up to 40 of a-z, 0-9, - and _ for a secret of your own"
            ))
            .keyed("key_name", [("name", raw.to_string())]))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn provider(&self) -> Provider {
        Provider::parse(&self.0)
            .filter(|p| *p != Provider::Generic)
            .unwrap_or(Provider::Generic)
    }

    /// The environment variable env mode sets: the provider's own (`ANTHROPIC_API_KEY`), or
    /// the name upper-cased with `-` as `_` (`github-token` → `GITHUB_TOKEN`).
    pub fn env_var(&self) -> String {
        match self.provider().env_names() {
            Some((_, key)) => key.to_string(),
            None => self.0.to_ascii_uppercase().replace('-', "_"),
        }
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so tables can align it.
        f.pad(&self.0)
    }
}

/// How a workspace gets a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum KeyMode {
    /// The container gets Berth's proxy address and a token of its own; the key stays on the
    /// host.
    Proxy,
    /// The key itself, in the container's environment: the container can read it.
    Env,
}

impl KeyMode {
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyMode::Proxy => "proxy",
            KeyMode::Env => "env",
        }
    }

    pub fn parse(raw: &str) -> Option<KeyMode> {
        [KeyMode::Proxy, KeyMode::Env]
            .into_iter()
            .find(|m| m.as_str() == raw)
    }
}

/// A daily allowance through the proxy; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Budget {
    pub requests_per_day: Option<u64>,
    pub tokens_per_day: Option<u64>,
}

/// One key a workspace uses, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct KeyUse {
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub key: KeyName,
    pub mode: KeyMode,
    #[serde(default)]
    pub budget: Budget,
}

impl KeyUse {
    /// `anthropic`, `anthropic:env`, `anthropic:proxy` — the CLI's `--key`.
    pub fn parse(raw: &str) -> Result<KeyUse> {
        let (name, mode) = match raw.split_once(':') {
            Some((n, m)) => (
                n,
                KeyMode::parse(m).ok_or_else(|| {
                    Error::invalid(format!(
                        "{m:?} is not a key mode: use {n}:proxy (the default) or {n}:env"
                    ))
                })?,
            ),
            None => (raw, KeyMode::Proxy),
        };
        let key = KeyName::parse(name)?;
        KeyUse {
            key,
            mode,
            budget: Budget::default(),
        }
        .checked()
    }

    /// Only the providers' keys can go through the proxy: Berth knows no other API.
    pub fn checked(self) -> Result<KeyUse> {
        if self.mode == KeyMode::Proxy && self.key.provider() == Provider::Generic {
            return Err(Error::invalid(format!(
                "the secret {} can only be given as an environment variable ({}:env): Berth's proxy speaks the Anthropic and OpenAI APIs only",
                self.key, self.key
            )));
        }
        if self.mode == KeyMode::Env && self.budget != Budget::default() {
            return Err(Error::invalid(format!(
                "a budget needs proxy mode: with {}:env the container calls the provider itself",
                self.key
            )));
        }
        Ok(self)
    }
}

/// A stored key as lists show it: never the value, only its last four characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct KeyInfo {
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub name: KeyName,
    pub provider: Provider,
    pub last4: String,
    /// Where the proxy and `test` send requests for this key.
    pub base_url: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub created_at: i64,
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub tested_at: Option<i64>,
    /// `ok`, or why the last test failed.
    pub test_result: Option<String>,
    /// Workspaces that use it.
    pub used_by: Vec<String>,
    /// The variable env mode sets (see [`KeyName::env_var`]), for the form to name it.
    pub env_var: String,
}

/// The last four characters of a key, for recognising it; a short value shows none.
pub fn last4(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 12 {
        return String::new();
    }
    chars[chars.len() - 4..].iter().collect()
}

/// A base URL the proxy may send a key to: http(s), a host, no credentials, query or fragment.
pub fn parse_base_url(raw: &str) -> Result<String> {
    let bad = |why: &str| Error::invalid(format!("{raw:?} is not a usable base URL: {why}"));
    let url = url::Url::parse(raw.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("use http:// or https://"));
    }
    let Some(host) = url.host_str() else {
        return Err(bad("no host"));
    };
    // The key travels in a header: in clear text only to this machine.
    let loopback = host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if url.scheme() == "http" && !loopback {
        return Err(bad("use https:// (plain http only to this machine)"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("no user or password in it; the key is the credential"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("no ? or # part"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_tell_providers_from_secrets() {
        assert_eq!(
            KeyName::parse("anthropic").unwrap().provider(),
            Provider::Anthropic
        );
        assert_eq!(
            KeyName::parse("openai").unwrap().env_var(),
            "OPENAI_API_KEY"
        );
        let own = KeyName::parse("github-token").unwrap();
        assert_eq!(own.provider(), Provider::Generic);
        assert_eq!(own.env_var(), "GITHUB_TOKEN");
        // "generic" is not a provider's key either.
        assert_eq!(
            KeyName::parse("generic").unwrap().provider(),
            Provider::Generic
        );
        for bad in ["", "Anthropic", "-x", "a b", "a/b", &"x".repeat(41)] {
            assert!(KeyName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn key_uses_from_the_command_line() {
        let u = KeyUse::parse("anthropic").unwrap();
        assert_eq!((u.key.as_str(), u.mode), ("anthropic", KeyMode::Proxy));
        assert_eq!(KeyUse::parse("openai:env").unwrap().mode, KeyMode::Env);
        assert!(KeyUse::parse("openai:file").is_err());
        let e = KeyUse::parse("github-token").unwrap_err();
        assert!(e.message.contains("github-token:env"), "{}", e.message);
        assert!(KeyUse::parse("github-token:env").is_ok());
        let with_budget = KeyUse {
            budget: Budget {
                requests_per_day: Some(5),
                tokens_per_day: None,
            },
            ..KeyUse::parse("anthropic:env").unwrap()
        };
        assert!(with_budget.checked().is_err());
    }

    #[test]
    fn only_the_last_four_of_a_long_key_show() {
        assert_eq!(last4("sk-ant-api03-abcdefWXYZ"), "WXYZ");
        assert_eq!(last4("short"), "");
    }

    #[test]
    fn base_urls_carry_no_credentials() {
        assert_eq!(
            parse_base_url("http://127.0.0.1:9000/").unwrap(),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            parse_base_url("https://gw.example/anthropic").unwrap(),
            "https://gw.example/anthropic"
        );
        assert!(parse_base_url("http://localhost:8080").is_ok());
        assert!(parse_base_url("http://[::1]:8080").is_ok());
        for bad in [
            "http://gw.example/anthropic",
            "http://10.0.0.5:8080",
            "ftp://x",
            "http://u:p@x",
            "http://x/?a=1",
            "not a url",
            "file:///etc",
        ] {
            assert!(parse_base_url(bad).is_err(), "{bad}");
        }
    }
}
