//! API keys and IDE secrets: sealed with the master key from the OS keychain, stored in the
//! database, opened only in the daemon's memory. Without a keychain, API keys cannot be used
//! (a clear error, nothing written) and IDE secrets live in memory only: workspaces still work.

use super::Engine;
use crate::credentials;
use crate::error::{Code, Error, Result};
use crate::model::{KeyInfo, KeyName, KeyUse, WorkspaceId, last4, parse_base_url};
use crate::secrets::{self, MasterKey, Sealed, Sensitive};
use crate::store::{Outcome, ide_row, key_row};
use std::sync::Arc;

const KEY_CHECK_ROW: &str = "key-check";
/// Keys longer than this are not API keys (and would bloat every container's environment).
const MAX_KEY_LEN: usize = 4096;

/// The answer of `berth key test`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct KeyTest {
    pub ok: bool,
    /// `ok`, or why the provider did not accept the key.
    pub message: String,
}

impl Engine {
    /// The master key, unlocked once per daemon. Stores the key-check value when the key is
    /// made (or found without one).
    async fn master_key(&self) -> Result<Arc<MasterKey>> {
        let sealed = self.db(|s| {
            Ok(Sealed {
                key_check: s.sealed(KEY_CHECK_ROW)?,
                values: s.sealed_count()?,
                sample: s.sealed_sample()?,
            })
        })?;
        let unlocked = self.vault.unlock(&sealed).await?;
        if let Some(check) = unlocked.new_key_check {
            self.db(|s| s.put_sealed(KEY_CHECK_ROW, &check))?;
        }
        Ok(unlocked.key)
    }

    fn seal(&self, key: &MasterKey, row: &str, plain: &[u8]) -> Result<Vec<u8>> {
        secrets::envelope::seal(key, row, plain)
            .map_err(|e| Error::new(Code::Io, format!("no randomness for a nonce: {e}")))
    }

    /// Opens the sealed value of `row`; `what` names it in the error.
    async fn open_sealed(&self, row: &str, what: &str) -> Result<Option<Sensitive<String>>> {
        let Some(envelope) = self.db(|s| s.sealed(row))? else {
            return Ok(None);
        };
        let key = self.master_key().await?;
        let plain = secrets::envelope::open(&key, row, &envelope).map_err(|why| {
            Error::new(
                Code::Store,
                format!("{what} cannot be read: {why}; set it again"),
            )
            .keyed("secret_unreadable", [("what", what.to_string())])
        })?;
        let text = String::from_utf8(plain.expose().clone())
            .map_err(|_| Error::new(Code::Store, format!("{what} is not text; set it again")))?;
        Ok(Some(Sensitive::new(text)))
    }

    /// Stores (or replaces) a key. The value comes from a hidden input or stdin, never an
    /// argument; only its last four characters are kept in the clear.
    pub async fn set_key(
        &self,
        name: &str,
        value: Sensitive<String>,
        base_url: Option<&str>,
    ) -> Result<KeyInfo> {
        let name = KeyName::parse(name)?;
        let trimmed = Sensitive::new(value.expose().trim().to_string());
        let v = trimmed.expose();
        if v.is_empty() {
            return Err(Error::invalid("the key is empty").keyed("key_empty", []));
        }
        if v.len() > MAX_KEY_LEN || v.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(Error::invalid(
                "that is not an API key: it holds spaces or control characters, or is longer than 4096 characters",
            )
            .keyed("key_malformed", []));
        }
        let base_url = match base_url.filter(|u| !u.trim().is_empty()) {
            Some(u) => Some(parse_base_url(u)?),
            None => None,
        };
        let master = self.master_key().await?;
        let envelope = self.seal(&master, &key_row(&name), v.as_bytes())?;
        self.db(|s| s.put_key(&name, &last4(v), base_url.as_deref(), &envelope))?;
        self.audit_key(
            "key set",
            Outcome::Ok,
            &name,
            "stored in the encrypted store",
        );
        self.key_info(&name)
    }

    pub fn keys(&self) -> Result<Vec<KeyInfo>> {
        self.db(|s| s.keys())
    }

    fn key_info(&self, name: &KeyName) -> Result<KeyInfo> {
        self.db(|s| s.key(name))?
            .ok_or_else(|| no_such_key(name.as_str()))
    }

    /// Asks the provider whether it accepts the key, and records the answer.
    pub async fn test_key(&self, name: &str) -> Result<KeyTest> {
        let name = KeyName::parse(name)?;
        let info = self.key_info(&name)?;
        let value = self.key_value(&name).await?;
        let base = self.key_base_url(&info)?;
        let result = credentials::test_key(self.proxy.client(), info.provider, &base, &value).await;
        let message = match &result {
            Ok(()) => "ok".to_string(),
            Err(why) => why.clone(),
        };
        self.db(|s| s.record_key_test(&name, &message))?;
        let outcome = if result.is_ok() {
            Outcome::Ok
        } else {
            Outcome::Failed
        };
        self.audit_key("key test", outcome, &name, &message);
        Ok(KeyTest {
            ok: result.is_ok(),
            message,
        })
    }

    /// Removes a key that no workspace uses.
    pub async fn remove_key(&self, name: &str) -> Result<()> {
        let name = KeyName::parse(name)?;
        let info = self.key_info(&name)?;
        if !info.used_by.is_empty() {
            return Err(Error::conflict(format!(
                "the key {name} is used by {}; delete those workspaces first (a workspace's keys are chosen when it is created)",
                info.used_by.join(", ")
            ))
            .keyed(
                "key_in_use",
                [
                    ("name", name.to_string()),
                    ("workspaces", info.used_by.join(", ")),
                ],
            ));
        }
        self.db(|s| s.remove_key(&name))?;
        self.audit_key("key rm", Outcome::Ok, &name, "removed");
        Ok(())
    }

    /// The keys a new workspace asks for: each stored, each once, each mode allowed.
    pub(super) fn check_key_uses(&self, uses: &[KeyUse]) -> Result<Vec<KeyUse>> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for u in uses {
            let u = u.clone().checked()?;
            if !seen.insert(u.key.clone()) {
                return Err(Error::invalid(format!("the key {} is given twice", u.key)));
            }
            self.key_info(&u.key)?;
            out.push(u);
        }
        Ok(out)
    }

    /// The key's value, opened in memory for the proxy or an env-mode container.
    pub(super) async fn key_value(&self, name: &KeyName) -> Result<Sensitive<String>> {
        self.open_sealed(&key_row(name), &format!("the stored key {name}"))
            .await?
            .ok_or_else(|| no_such_key(name.as_str()))
    }

    pub(super) fn key_base_url(&self, info: &KeyInfo) -> Result<String> {
        info.base_url
            .clone()
            .or_else(|| info.provider.default_base_url().map(str::to_string))
            .ok_or_else(|| Error::invalid(format!("the secret {} has no API to call", info.name)))
    }

    /// The audit log of key changes and tests, oldest first.
    pub fn key_log(&self) -> Result<Vec<crate::store::AuditEntry>> {
        self.db(|s| s.audit_actions("key "))
    }

    fn audit_key(&self, action: &str, outcome: Outcome, name: &KeyName, detail: &str) {
        let detail = format!("{name}: {detail}");
        if let Err(e) = self.db(|s| s.audit_raw(None, None, action, outcome, &detail)) {
            tracing::error!("could not write the audit log: {e}");
        }
    }

    /// The workspace's IDE secret: sealed in the store when the keychain can be used, else
    /// kept in this daemon's memory only (never a plaintext file). Made on first use.
    pub(super) async fn ide_secret(&self, id: WorkspaceId) -> Result<Sensitive<String>> {
        if let Some(s) = self.ide_memory.lock().expect("ide secrets").get(&id) {
            return Ok(s.clone());
        }
        let legacy = self.ide_config.take_legacy(&id.to_string());
        match self.open_sealed(&ide_row(id), "the IDE secret").await {
            Ok(Some(secret)) => return Ok(secret),
            Ok(None) => {}
            // Damaged: a new one (the login repair restarts the IDE with it).
            Err(e) if e.code == Code::Store => {}
            Err(e) if e.code == Code::KeychainUnavailable => {
                tracing::warn!("IDE secrets kept in memory only: {}", e.message);
            }
            Err(e) => return Err(e),
        }
        let secret = match legacy {
            Some(s) => s,
            None => secrets::random_secret()?,
        };
        self.keep_ide_secret(id, &secret).await?;
        Ok(secret)
    }

    /// A new IDE secret for the workspace (the IDE refused the stored one).
    pub(super) async fn renew_ide_secret(&self, id: WorkspaceId) -> Result<Sensitive<String>> {
        let secret = secrets::random_secret()?;
        self.keep_ide_secret(id, &secret).await?;
        Ok(secret)
    }

    async fn keep_ide_secret(&self, id: WorkspaceId, secret: &Sensitive<String>) -> Result<()> {
        match self.master_key().await {
            Ok(master) => {
                let envelope = self.seal(&master, &ide_row(id), secret.expose().as_bytes())?;
                self.db(|s| s.put_sealed(&ide_row(id), &envelope))?;
                self.ide_memory.lock().expect("ide secrets").remove(&id);
            }
            Err(e) if e.code == Code::KeychainUnavailable => {
                self.ide_memory
                    .lock()
                    .expect("ide secrets")
                    .insert(id, secret.clone());
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    pub(super) fn forget_ide_secret(&self, id: WorkspaceId) -> Result<()> {
        self.ide_memory.lock().expect("ide secrets").remove(&id);
        self.db(|s| s.remove_sealed(&ide_row(id)))?;
        self.ide_config.remove(&id.to_string())
    }
}

fn no_such_key(name: &str) -> Error {
    Error::not_found(format!(
        "no key named {name:?} is stored; `berth key set {name}` stores one"
    ))
    .keyed("no_such_key", [("name", name.to_string())])
}
