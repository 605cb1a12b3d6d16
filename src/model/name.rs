//! Workspace names: they end up in container names, network names, labels, window titles and
//! file names, so the grammar is deliberately narrow (DESIGN.md).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

const MAX_LEN: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkspaceName(String);

impl WorkspaceName {
    pub fn parse(raw: &str) -> Result<Self> {
        let bad_char = raw
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'));
        let (key, why, arg) = if raw.is_empty() {
            ("name_empty", "it is empty".to_string(), String::new())
        } else if raw.chars().count() > MAX_LEN {
            let len = raw.chars().count();
            let why = format!("it is {len} characters long (at most {MAX_LEN})");
            ("name_too_long", why, MAX_LEN.to_string())
        } else if let Some(c) = bad_char {
            let why = format!("it contains {c:?} (use lowercase letters, digits and '-')");
            ("name_bad_char", why, format!("{c:?}"))
        } else if raw.starts_with('-') || raw.ends_with('-') {
            let why = "it starts or ends with '-'".to_string();
            ("name_dash", why, String::new())
        } else {
            return Ok(WorkspaceName(raw.to_string()));
        };
        Err(
            Error::invalid(format!("invalid workspace name {raw:?}: {why}"))
                .keyed(key, [("detail", arg)]),
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WorkspaceName {
    type Error = Error;
    fn try_from(raw: String) -> Result<Self> {
        Self::parse(&raw)
    }
}

impl From<WorkspaceName> for String {
    fn from(name: WorkspaceName) -> String {
        name.0
    }
}

impl fmt::Display for WorkspaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_design_grammar() {
        for ok in ["a", "demo", "my-app-2", "0", &"a".repeat(40)] {
            assert!(WorkspaceName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_everything_else_with_a_reason() {
        for (bad, why) in [
            ("", "empty"),
            ("Demo", "'D'"),
            ("-demo", "starts or ends"),
            ("demo-", "starts or ends"),
            ("de mo", "' '"),
            ("de_mo", "'_'"),
            ("dé", "'é'"),
            ("a\nb", "'\\n'"),
            (&"a".repeat(41), "41 characters"),
        ] {
            let err = WorkspaceName::parse(bad).unwrap_err();
            assert!(err.message.contains(why), "{bad:?}: {}", err.message);
        }
    }
}
