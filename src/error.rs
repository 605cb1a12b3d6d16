//! The one error type of the engine. Every failure a user can see is a `{code, message}` pair:
//! the message is one complete sentence fit for a terminal or a dialog, the code is what a UI
//! branches on. Codes stay coarse on purpose — add one only where a caller acts differently.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// Bad user input (name, image reference, path, size, duration). Nothing was changed.
    InvalidInput,
    NotFound,
    /// The name is taken, or the object exists in a state that forbids the operation.
    Conflict,
    /// The Docker engine cannot be reached at all.
    DockerUnavailable,
    /// The Docker engine answered with an error.
    Docker,
    PortsExhausted,
    LimitReached,
    /// Another Berth process holds the workspace for too long.
    Busy,
    /// The container started but the IDE never became healthy, or the container exited.
    StartFailed,
    /// The database could not be opened, migrated or written.
    Store,
    Io,
    /// No Berth daemon answers (and none could be started), or it went away mid-request.
    DaemonUnavailable,
    /// The OS keychain is missing, locked or does not answer, or holds another master key:
    /// API keys cannot be used; everything else works.
    KeychainUnavailable,
    /// A code from a newer daemon that this client does not know.
    Unknown,
}

impl Code {
    const ALL: [Code; 14] = [
        Code::InvalidInput,
        Code::NotFound,
        Code::Conflict,
        Code::DockerUnavailable,
        Code::Docker,
        Code::PortsExhausted,
        Code::LimitReached,
        Code::Busy,
        Code::StartFailed,
        Code::Store,
        Code::Io,
        Code::DaemonUnavailable,
        Code::KeychainUnavailable,
        Code::Unknown,
    ];
}

/// By hand, so that a code from a newer daemon reads as `Unknown` instead of failing the whole
/// error (serde's `other` attribute would do it, but the TypeScript generator rejects it).
impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Code, D::Error> {
        let raw = String::deserialize(d)?;
        Ok(Code::ALL
            .into_iter()
            .find(|c| serde_json::to_value(c).is_ok_and(|v| v == raw.as_str()))
            .unwrap_or(Code::Unknown))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Error {
    pub code: Code,
    /// English, complete, fit for a terminal.
    pub message: String,
    /// For a UI that speaks another language: `errors.<key>` in `locales/`, filled with
    /// `args`. Set where users meet the error in the app; `message` is the fallback.
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub args: BTreeMap<String, String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            key: None,
            args: BTreeMap::new(),
        }
    }

    /// Names the translation of this error (`errors.<key>` in `locales/`) and its arguments.
    pub fn keyed<const N: usize>(mut self, key: &str, args: [(&str, String); N]) -> Self {
        self.key = Some(key.to_string());
        self.args = args.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        self
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidInput, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(Code::Conflict, message)
    }

    pub fn io(context: &str, err: std::io::Error) -> Self {
        Self::new(Code::Io, format!("{context}: {err}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        Error::new(Code::Store, format!("database error: {err}"))
    }
}

/// The innermost cause of an error: "Connection refused (os error 111)" or "No such file or
/// directory" say more than an HTTP client's own "client error (Connect)".
pub fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_ones_are_tolerated() {
        for code in Code::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(serde_json::from_str::<Code>(&json).unwrap(), code);
        }
        let e: Error =
            serde_json::from_str(r#"{"code":"quota_exceeded","message":"m","extra":1}"#).unwrap();
        assert_eq!((e.code, e.message.as_str()), (Code::Unknown, "m"));
    }
}
