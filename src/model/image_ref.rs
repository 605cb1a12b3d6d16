//! Docker image references, checked against the grammar of distribution/reference before they
//! reach the engine — so `--privileged`, spaces, newlines and other surprises never get near a
//! Docker API call or a command line.

use crate::error::{Error, Result};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::LazyLock;

/// The reference grammar, anchored. Components as in distribution/reference's `regexp.go`.
static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    let alnum = "[a-z0-9]+";
    let separator = "(?:[_.]|__|[-]+)";
    let path_component = format!("{alnum}(?:{separator}{alnum})*");
    let domain_component = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let ipv6 = r"\[(?:[a-fA-F0-9:]+)\]";
    let host = format!("(?:{domain_component}(?:\\.{domain_component})*|{ipv6})");
    let domain = format!("{host}(?::[0-9]+)?");
    let name = format!("(?:{domain}/)?{path_component}(?:/{path_component})*");
    let tag = r"[\w][\w.-]{0,127}";
    let digest = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    Regex::new(&format!("^({name})(?::({tag}))?(?:@({digest}))?$")).expect("valid regex")
});

const MAX_NAME_LEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageRef(String);

impl ImageRef {
    pub fn parse(raw: &str) -> Result<Self> {
        let invalid = |why: &str| {
            Error::invalid(format!(
                "invalid image reference {raw:?}: {why} (expected e.g. \"berth-test:latest\" or \"registry.example.com/team/image:1.2\")"
            ))
        };
        if raw.is_empty() {
            return Err(invalid("it is empty"));
        }
        let caps = REFERENCE
            .captures(raw)
            .ok_or_else(|| invalid("it does not follow the Docker reference grammar"))?;
        if caps[1].len() > MAX_NAME_LEN {
            return Err(invalid("the repository name is longer than 255 characters"));
        }
        Ok(ImageRef(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ImageRef {
    type Error = Error;
    fn try_from(raw: String) -> Result<Self> {
        Self::parse(&raw)
    }
}

impl From<ImageRef> for String {
    fn from(r: ImageRef) -> String {
        r.0
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_references() {
        for ok in [
            "busybox",
            "berth-test:latest",
            "library/debian:bookworm-slim",
            "localhost:5000/team/app:1.2.3",
            "ghcr.io/coder/code-server:4.99.4",
            "registry.example.com/a/b/c",
            "[::1]:5000/img:tag",
            "debian@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "my_image.v2:TAG_ok-1",
        ] {
            assert!(ImageRef::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_malformed_and_hostile_references() {
        let long_tag = format!("img:{}", "a".repeat(300));
        let long_name = format!("{}:1", "a".repeat(256));
        for bad in [
            "",
            "Upper/Case",
            "UPPER",
            "with space",
            "--privileged",
            "-img",
            "img\nother",
            "img:",
            "img:-tag",
            "img@sha256:short",
            "a//b",
            "img:tag:again",
            &long_tag,
            &long_name,
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
