//! Berth's own IDE login: one-time login tokens (a link for the system browser or the app's
//! window, consumed on first use, short-lived) and the sessions they turn into. Only SHA-256
//! digests are kept, so a lookup never compares secrets byte by byte, and sessions live in the
//! daemon's memory only: a new daemon means a new login.

use crate::error::{Code, Error, Result};
use crate::model::WorkspaceId;
use crate::secrets::Sensitive;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How long a login link works: long enough for a browser to start, short enough that a link
/// found later in a shell history is worthless (it is also single-use).
pub const TOKEN_TTL: Duration = Duration::from_secs(120);

pub(super) type Digest32 = [u8; 32];

#[derive(Default)]
pub struct Sessions {
    tokens: HashMap<Digest32, (WorkspaceId, Instant)>,
    sessions: HashMap<WorkspaceId, HashSet<Digest32>>,
}

impl Sessions {
    /// A new one-time login token for `id`.
    pub fn issue_token(&mut self, id: WorkspaceId, now: Instant) -> Result<Sensitive<String>> {
        self.tokens
            .retain(|_, (_, at)| now.duration_since(*at) < TOKEN_TTL);
        let token = random_hex()?;
        self.tokens.insert(digest(token.expose()), (id, now));
        Ok(token)
    }

    /// Consumes `token` for workspace `id`: a new session value when it was valid.
    pub fn redeem(
        &mut self,
        id: WorkspaceId,
        token: &str,
        now: Instant,
    ) -> Result<Option<Sensitive<String>>> {
        let key = digest(token);
        match self.tokens.get(&key) {
            Some((owner, at)) if *owner == id && now.duration_since(*at) < TOKEN_TTL => {}
            // Another workspace's token stays usable there: a wrong port does not burn it.
            Some((owner, _)) if *owner != id => return Ok(None),
            _ => {
                self.tokens.remove(&key);
                return Ok(None);
            }
        }
        self.tokens.remove(&key);
        let session = random_hex()?;
        self.sessions
            .entry(id)
            .or_default()
            .insert(digest(session.expose()));
        Ok(Some(session))
    }

    pub fn valid(&self, id: WorkspaceId, session: &str) -> bool {
        self.sessions
            .get(&id)
            .is_some_and(|s| s.contains(&digest(session)))
    }

    /// Ends every login of `id` (the workspace was removed).
    pub fn forget(&mut self, id: WorkspaceId) {
        self.sessions.remove(&id);
        self.tokens.retain(|_, (owner, _)| *owner != id);
    }
}

/// What the gateway keeps of a secret it checks (a login, a share token): its SHA-256, so
/// a comparison takes the same time however much of a guess is right.
pub(super) fn digest(value: &str) -> Digest32 {
    Sha256::digest(value.as_bytes()).into()
}

fn random_hex() -> Result<Sensitive<String>> {
    crate::secrets::random_secret()
        .map_err(|e| Error::new(Code::Io, format!("no login for the IDE: {}", e.message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_logs_in_once_and_only_its_workspace() {
        let mut s = Sessions::default();
        let (a, b) = (WorkspaceId::new(), WorkspaceId::new());
        let now = Instant::now();
        let token = s.issue_token(a, now).unwrap();
        assert!(s.redeem(b, token.expose(), now).unwrap().is_none());
        let session = s.redeem(a, token.expose(), now).unwrap().unwrap();
        assert!(s.valid(a, session.expose()));
        assert!(!s.valid(b, session.expose()));
        assert!(
            s.redeem(a, token.expose(), now).unwrap().is_none(),
            "single use"
        );
        assert!(!s.valid(a, "guess"));
        s.forget(a);
        assert!(!s.valid(a, session.expose()));
    }

    #[test]
    fn an_old_token_is_worthless() {
        let mut s = Sessions::default();
        let a = WorkspaceId::new();
        let then = Instant::now();
        let token = s.issue_token(a, then).unwrap();
        let later = then + TOKEN_TTL + Duration::from_secs(1);
        assert!(s.redeem(a, token.expose(), later).unwrap().is_none());
    }
}
