//! Secrets: values that must never reach a log, an error message, `--json` or the UI.
//!
//! [`Sensitive`] redacts `Debug`/`Display` and has no `Serialize`, so a secret cannot leak by
//! accident. [`IdeSecrets`] keeps one random secret per workspace (the IDE password) and the
//! code-server config with its hash. Today the secret is a 0600 file per workspace in the data
//! dir; the keychain-backed encrypted store replaces this one type later.

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
    config_root: PathBuf,
}

impl IdeSecrets {
    pub fn new(data_dir: &Path) -> IdeSecrets {
        IdeSecrets {
            dir: data_dir.join("secrets"),
            config_root: data_dir.join("ide-config"),
        }
    }

    /// A new secret for the workspace, replacing the old one (a repair: the IDE refused the
    /// stored one). The caller holds the workspace lock.
    pub fn renew(&self, workspace_id: &str) -> Result<Sensitive<String>> {
        let secret = random_secret()?;
        write_private(&self.dir, &self.dir.join(workspace_id), secret.expose())?;
        Ok(secret)
    }

    /// Writes code-server's config (the argon2 hash of `secret`, never the secret) into the
    /// workspace's private folder and returns the folder, which the container mounts
    /// read-only. A fresh salt each time: the hash of one container says nothing about the next.
    pub fn write_ide_config(
        &self,
        workspace_id: &str,
        secret: &Sensitive<String>,
    ) -> Result<PathBuf> {
        let dir = self.config_root.join(workspace_id);
        let hash = argon2_hash(secret)?;
        let yaml = format!("auth: password\nhashed-password: \"{hash}\"\n");
        write_private(&dir, &dir.join("code-server.yaml"), &yaml)?;
        Ok(dir)
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
        match std::fs::remove_dir_all(self.config_root.join(workspace_id)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot remove the IDE config", e)),
        }
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

/// The argon2id hash (PHC string) of a secret, as code-server's `hashed-password` wants it.
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

/// Writes `value` to `path` so that a reader sees the old file or the new one, never a torn
/// one: a 0600 temporary file in the same (0700) folder, fsynced, then renamed over `path`.
fn write_private(dir: &Path, path: &Path, value: &str) -> Result<()> {
    use std::io::Write;
    let fail = |e| Error::io("cannot write the IDE secret", e);
    crate::private::create_dir(dir).map_err(fail)?;
    // tempfile makes the file 0600 on Unix.
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    tmp.write_all(value.as_bytes())
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    // The rename is durable once the folder is.
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(fail)?;
    Ok(())
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
    fn the_ide_config_holds_only_a_hash_of_the_secret_privately() {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        let dir = tempfile::tempdir().unwrap();
        let secrets = IdeSecrets::new(dir.path());
        let secret = secrets.get_or_create("w").unwrap();
        let folder = secrets.write_ide_config("w", &secret).unwrap();
        let yaml = std::fs::read_to_string(folder.join("code-server.yaml")).unwrap();
        assert!(!yaml.contains(secret.expose().as_str()));
        let hash = yaml
            .lines()
            .find_map(|l| l.strip_prefix("hashed-password: "))
            .unwrap()
            .trim_matches('"');
        let parsed = PasswordHash::new(hash).unwrap();
        assert!(
            argon2::Argon2::default()
                .verify_password(secret.expose().as_bytes(), &parsed)
                .is_ok()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&folder), 0o700);
            assert_eq!(mode(&folder.join("code-server.yaml")), 0o600);
        }
        // Renewed: a new secret, and nothing but the file itself in the folder (no temp).
        let renewed = secrets.renew("w").unwrap();
        assert_ne!(renewed, secret);
        assert_eq!(secrets.get_or_create("w").unwrap(), renewed);
        assert_eq!(
            std::fs::read_dir(dir.path().join("secrets"))
                .unwrap()
                .count(),
            1
        );
        secrets.remove("w").unwrap();
        assert!(!folder.exists());
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
