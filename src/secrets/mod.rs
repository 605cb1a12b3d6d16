//! Secrets: API keys and IDE passwords, sealed with the install's master key (kept in the OS
//! keychain) and never written, printed or serialised in plaintext.
//!
//! [`Sensitive`] redacts `Debug`/`Display`, has no `Serialize` and wipes itself on drop;
//! [`envelope`] seals values (AES-256-GCM, bound to their row); [`Vault`] holds the master
//! key; [`IdeConfig`] writes code-server's config (a hash of the IDE secret, never the secret).

pub mod envelope;
pub mod keychain;
mod sensitive;
mod vault;

pub use envelope::{MasterKey, OpenError};
pub use keychain::{KeyStore, Keychain, KeychainError, MemoryKeyStore, OsKeyStore};
pub use sensitive::Sensitive;
pub use vault::{KEYCHAIN_SERVICE, Sealed, Unlocked, Vault, keychain_error, master_key_account};

use crate::error::{Code, Error, Result};
use std::path::{Path, PathBuf};

pub struct IdeConfig {
    /// Where Berth before 0.2 kept IDE secrets in plaintext files (read once, then removed).
    legacy_dir: PathBuf,
    config_root: PathBuf,
}

impl IdeConfig {
    pub fn new(data_dir: &Path) -> IdeConfig {
        IdeConfig {
            legacy_dir: data_dir.join("secrets"),
            config_root: data_dir.join("ide-config"),
        }
    }

    /// Writes code-server's config (the argon2 hash of `secret`, never the secret) into the
    /// workspace's private folder and returns the folder, which the container mounts
    /// read-only. A fresh salt each time: the hash of one container says nothing about the next.
    pub fn write(&self, workspace_id: &str, secret: &Sensitive<String>) -> Result<PathBuf> {
        let dir = self.config_root.join(workspace_id);
        let hash = argon2_hash(secret)?;
        let yaml = format!("auth: password\nhashed-password: \"{hash}\"\n");
        write_private(&dir, &dir.join("code-server.yaml"), &yaml)?;
        Ok(dir)
    }

    /// The plaintext secret an older Berth left for the workspace, removed as it is read: from
    /// now on it lives sealed in the store (or, without a keychain, in memory only).
    pub fn take_legacy(&self, workspace_id: &str) -> Option<Sensitive<String>> {
        let path = self.legacy_dir.join(workspace_id);
        let raw = Sensitive::new(std::fs::read_to_string(&path).ok()?);
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&self.legacy_dir);
        let secret = raw.expose().trim();
        (secret.len() == 64).then(|| Sensitive::new(secret.to_string()))
    }

    pub fn remove(&self, workspace_id: &str) -> Result<()> {
        let _ = self.take_legacy(workspace_id);
        match std::fs::remove_dir_all(self.config_root.join(workspace_id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("cannot remove the IDE config", e)),
        }
    }
}

/// 256 random bits, as 64 hex digits.
pub fn random_secret() -> Result<Sensitive<String>> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::new(Code::Io, format!("no randomness for a secret: {e}")))?;
    let hex = bytes.iter().map(|b| format!("{b:02x}")).collect();
    zeroize::Zeroize::zeroize(&mut bytes);
    Ok(Sensitive::new(hex))
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
    let fail = |e| Error::io("cannot write the IDE config", e);
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
    fn secrets_are_random_hex() {
        let a = random_secret().unwrap();
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(random_secret().unwrap(), a);
    }

    #[test]
    fn the_ide_config_holds_only_a_hash_of_the_secret_privately() {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        let dir = tempfile::tempdir().unwrap();
        let config = IdeConfig::new(dir.path());
        let secret = random_secret().unwrap();
        let folder = config.write("w", &secret).unwrap();
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
        // Rewritten: nothing but the file itself in the folder (no temp).
        config.write("w", &random_secret().unwrap()).unwrap();
        assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 1);
        config.remove("w").unwrap();
        assert!(!folder.exists());
    }

    #[test]
    fn a_plaintext_secret_of_an_older_berth_is_read_once_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("secrets")).unwrap();
        let old = "ab".repeat(32);
        std::fs::write(dir.path().join("secrets/w"), format!("{old}\n")).unwrap();
        let config = IdeConfig::new(dir.path());
        assert_eq!(config.take_legacy("w").unwrap().expose(), &old);
        assert!(!dir.path().join("secrets").exists());
        assert!(config.take_legacy("w").is_none());
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
