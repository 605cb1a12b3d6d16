//! Docker image references, checked against the grammar of distribution/reference before they
//! reach the engine — so `--privileged`, spaces, newlines and other surprises never get near a
//! Docker API call or a command line.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

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
            .keyed("image_invalid", [("image", raw.to_string())])
        };
        if raw.is_empty() {
            return Err(invalid("it is empty"));
        }
        let (rest, digest) = match raw.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (raw, None),
        };
        if let Some(digest) = digest
            && !is_digest(digest)
        {
            return Err(invalid("the digest is malformed"));
        }
        // The tag is after the last ':' that is not part of a registry's host:port.
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if let Some(tag) = tag
            && !is_tag(tag)
        {
            return Err(invalid(
                "the tag must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
            ));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(invalid("the repository name is longer than 255 characters"));
        }
        if !is_name(name) {
            return Err(invalid(
                "the repository name must be lowercase letters and digits separated by '/', '.', '_' or '-'",
            ));
        }
        Ok(ImageRef(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `[domain/]path-component(/path-component)*`, as the reference grammar: the first part is
/// a registry only if what follows is still a valid path.
fn is_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    let all_paths = |ps: &[&str]| !ps.is_empty() && ps.iter().all(|p| is_path_component(p));
    all_paths(&parts) || (parts.len() >= 2 && is_domain(parts[0]) && all_paths(&parts[1..]))
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or one or more `-`.
fn is_path_component(part: &str) -> bool {
    let bytes = part.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &part[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `host[:port]`, host being dot-separated labels or a bracketed IPv6 address.
fn is_domain(domain: &str) -> bool {
    let (host, port) = match domain.rfind(':') {
        // A ':' inside `[...]` belongs to an IPv6 address, not to a port.
        Some(i) if !domain[i..].contains(']') => (&domain[..i], Some(&domain[i + 1..])),
        _ => (domain, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(ip) => !ip.is_empty() && ip.chars().all(|c| c.is_ascii_hexdigit() || c == ':'),
        None => host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        }),
    };
    port_ok && host_ok
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
fn is_tag(tag: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    tag.len() <= 128
        && chars.next().is_some_and(word)
        && chars.all(|c| word(c) || c == '.' || c == '-')
}

/// `algorithm:hex` with at least 32 hex digits; algorithm components joined by `+.-_`.
fn is_digest(digest: &str) -> bool {
    let Some((algo, hex)) = digest.split_once(':') else {
        return false;
    };
    let algo_ok = algo.split(['+', '.', '-', '_']).all(|c| {
        let mut cs = c.chars();
        cs.next().is_some_and(|f| f.is_ascii_alphabetic()) && cs.all(|x| x.is_ascii_alphanumeric())
    });
    algo_ok && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
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
