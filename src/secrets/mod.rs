//! Secrets: values that must never reach a log, an error message, `--json` or the UI.
//!
//! [`Sensitive`] redacts `Debug`/`Display` and has no `Serialize`, so a secret cannot leak by
//! accident. [`IdeSecrets`] keeps one random secret per workspace (the IDE password). Today
//! it is a 0600 file per workspace in the data dir; the keychain-backed encrypted store
//! replaces this one type later, behind the same three methods.

use crate::error::{Code, Error, Result};
use std::fmt;
use std::path::{Path, PathBuf};

/// A value that prints as `[redacted]` and cannot be serialised.
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive<T>(T);

impl<T> Sensitive<T> {
    pub fn new(value: T) -> Self {
        Sensitive(value)
    }

    /// The one way to read the value: say so at the call site.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

pub struct IdeSecrets {
    dir: PathBuf,
}

impl IdeSecrets {
    pub fn new(data_dir: &Path) -> IdeSecrets {
        IdeSecrets {
            dir: data_dir.join("secrets"),
        }
    }

    /// The workspace's secret, made (256 random bits, hex) on first use.
    pub fn get_or_create(&self, workspace_id: &str) -> Result<Sensitive<String>> {
        let path = self.dir.join(workspace_id);
        match std::fs::read_to_string(&path) {
            Ok(s) if s.trim().len() == 64 => return Ok(Sensitive(s.trim().to_string())),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot read the IDE secret", e)),
        }
        let secret = random_secret()?;
        write_private(&self.dir, &path, secret.expose())?;
        Ok(secret)
    }

    pub fn remove(&self, workspace_id: &str) -> Result<()> {
        match std::fs::remove_file(self.dir.join(workspace_id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("cannot remove the IDE secret", e)),
        }
    }
}

/// 256 random bits, as 64 hex digits.
pub fn random_secret() -> Result<Sensitive<String>> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::new(Code::Io, format!("no randomness for a secret: {e}")))?;
    Ok(Sensitive(
        bytes.iter().map(|b| format!("{b:02x}")).collect(),
    ))
}

/// The argon2id hash (PHC string) of a secret, as code-server's `HASHED_PASSWORD` wants it.
pub fn argon2_hash(secret: &Sensitive<String>) -> Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| Error::new(Code::Io, format!("no randomness for a salt: {e}")))?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| Error::new(Code::Io, format!("bad salt: {e}")))?;
    argon2::Argon2::default()
        .hash_password(secret.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::new(Code::Io, format!("cannot hash the IDE secret: {e}")))
}

fn write_private(dir: &Path, path: &Path, value: &str) -> Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create the secrets folder", e))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts
        .open(path)
        .map_err(|e| Error::io("cannot write the IDE secret", e))?;
    file.write_all(value.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|e| Error::io("cannot write the IDE secret", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_never_prints_its_value() {
        let s = Sensitive::new("hunter2".to_string());
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn one_stable_private_secret_per_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = IdeSecrets::new(dir.path());
        let a = secrets.get_or_create("a").unwrap();
        assert_eq!(a.expose().len(), 64);
        assert_eq!(secrets.get_or_create("a").unwrap(), a);
        assert_ne!(secrets.get_or_create("b").unwrap(), a);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secrets/a"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        secrets.remove("a").unwrap();
        assert_ne!(secrets.get_or_create("a").unwrap(), a);
    }

    #[test]
    fn the_hash_verifies_the_secret_and_not_another() {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        let secret = Sensitive::new("s3cret".to_string());
        let hash = argon2_hash(&secret).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let parsed = PasswordHash::new(&hash).unwrap();
        let argon = argon2::Argon2::default();
        assert!(argon.verify_password(b"s3cret", &parsed).is_ok());
        assert!(argon.verify_password(b"wrong", &parsed).is_err());
    }
}
