//! The install's master key, fetched from the keychain once and kept in the daemon's memory.
//!
//! A key-check value (a known text sealed with the master key) is stored next to the secrets:
//! it tells "this is not the key they were sealed with" from "this one value is damaged", and
//! its presence forbids making a new master key — a new key over old ciphertext would turn
//! every stored secret into noise.

use super::envelope::{self, MasterKey};
use super::keychain::{Keychain, KeychainError};
use crate::error::{Code, Error, Result};
use std::sync::Arc;

/// The associated data of the key-check value.
pub const KEY_CHECK_AAD: &str = "berth:key-check";
const KEY_CHECK_TEXT: &[u8] = b"Berth master key check";

/// The keychain's service name: what a user sees in Seahorse or Keychain Access.
pub const KEYCHAIN_SERVICE: &str = "Berth";

/// What the store holds already, for deciding whether a master key may be made.
#[derive(Debug, Clone, Default)]
pub struct Sealed {
    pub key_check: Option<Vec<u8>>,
    /// Values sealed with some master key (API keys, IDE secrets).
    pub values: usize,
    /// One of them (row id, envelope): without a key check, a key found in the keychain must
    /// open it before Berth trusts that key and writes a check for it.
    pub sample: Option<(String, Vec<u8>)>,
}

/// What `unlock` found: the key, and a key-check value to store when it was just made.
#[derive(Debug)]
pub struct Unlocked {
    pub key: Arc<MasterKey>,
    pub new_key_check: Option<Vec<u8>>,
}

pub struct Vault {
    keychain: Keychain,
    account: String,
    master: tokio::sync::Mutex<Option<Arc<MasterKey>>>,
}

impl Vault {
    /// The vault of one install (one data dir): its own keychain entry.
    pub fn new(keychain: Keychain, install: uuid::Uuid) -> Vault {
        Vault {
            keychain,
            account: master_key_account(install),
            master: tokio::sync::Mutex::new(None),
        }
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// The master key: from memory, else from the keychain, else made — only when nothing is
    /// sealed yet.
    pub async fn unlock(&self, sealed: &Sealed) -> Result<Unlocked> {
        let mut master = self.master.lock().await;
        if let Some(key) = master.as_ref() {
            return Ok(Unlocked {
                key: key.clone(),
                new_key_check: None,
            });
        }
        let stored = self
            .keychain
            .get(&self.account)
            .await
            .map_err(keychain_error)?;
        let (key, new_key_check) = match stored {
            Some(bytes) => {
                let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                    Error::new(
                        Code::KeychainUnavailable,
                        format!(
                            "the OS keychain's entry {:?} of service {KEYCHAIN_SERVICE:?} is not a Berth master key ({} bytes)",
                            self.account,
                            bytes.len()
                        ),
                    )
                })?;
                let key = MasterKey::from_bytes(bytes);
                match &sealed.key_check {
                    Some(check) => {
                        envelope::open(&key, KEY_CHECK_AAD, check).map_err(|_| {
                            Error::new(
                                Code::KeychainUnavailable,
                                format!(
                                    "the master key in the OS keychain ({:?}) is not the one Berth's stored keys were sealed with; restore the keychain entry (the stored keys stay untouched)",
                                    self.account
                                ),
                            )
                        })?;
                        (key, None)
                    }
                    None => {
                        if let Some((row, envelope)) = &sealed.sample
                            && envelope::open(&key, row, envelope).is_err()
                        {
                            return Err(Error::new(
                                Code::KeychainUnavailable,
                                format!(
                                    "the master key in the OS keychain ({:?}) does not open Berth's stored values; restore the keychain entry (the stored values stay untouched)",
                                    self.account
                                ),
                            ));
                        }
                        let check = seal_check(&key)?;
                        (key, Some(check))
                    }
                }
            }
            None if sealed.key_check.is_some() || sealed.values > 0 => {
                return Err(Error::new(
                    Code::KeychainUnavailable,
                    format!(
                        "the master key is missing from the OS keychain (service {KEYCHAIN_SERVICE:?}, {:?}); Berth will not make a new one over the {} value(s) sealed with it — restore the entry, or remove the stored keys",
                        self.account, sealed.values
                    ),
                ));
            }
            None => {
                let key = MasterKey::generate()
                    .map_err(|e| Error::new(Code::Io, format!("no randomness for a key: {e}")))?;
                self.keychain
                    .set(&self.account, key.bytes().to_vec())
                    .await
                    .map_err(keychain_error)?;
                // Read back: a keychain that "stores" without keeping (a mock store, a
                // session-only collection) must fail here, not after secrets were sealed.
                let back = self
                    .keychain
                    .get(&self.account)
                    .await
                    .map_err(keychain_error)?;
                if back.as_deref() != Some(key.bytes().as_slice()) {
                    return Err(Error::new(
                        Code::KeychainUnavailable,
                        "OS keychain unavailable or locked (it did not keep the master key Berth stored)",
                    ));
                }
                let check = seal_check(&key)?;
                (key, Some(check))
            }
        };
        let key = Arc::new(key);
        *master = Some(key.clone());
        Ok(Unlocked { key, new_key_check })
    }

    /// Removes the master key from the keychain and memory (the install's data is gone).
    pub async fn forget(&self) -> Result<()> {
        *self.master.lock().await = None;
        self.keychain
            .delete(&self.account)
            .await
            .map_err(keychain_error)
    }
}

/// The keychain account of an install's master key (one per data dir).
pub fn master_key_account(install: uuid::Uuid) -> String {
    format!("master key of install {install}")
}

fn seal_check(key: &MasterKey) -> Result<Vec<u8>> {
    envelope::seal(key, KEY_CHECK_AAD, KEY_CHECK_TEXT)
        .map_err(|e| Error::new(Code::Io, format!("no randomness for a nonce: {e}")))
}

pub fn keychain_error(e: KeychainError) -> Error {
    Error::new(Code::KeychainUnavailable, e.to_string()).keyed("keychain_unavailable", [])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::keychain::{KeyStore, MemoryKeyStore};

    fn vault(store: &Arc<MemoryKeyStore>, install: uuid::Uuid) -> Vault {
        Vault::new(Keychain::new(store.clone()), install)
    }

    #[tokio::test]
    async fn a_key_is_made_once_and_found_again() {
        let store = Arc::new(MemoryKeyStore::default());
        let install = uuid::Uuid::new_v4();
        let first = vault(&store, install)
            .unlock(&Sealed::default())
            .await
            .unwrap();
        let check = first.new_key_check.clone().unwrap();
        let sealed = Sealed {
            key_check: Some(check),
            values: 1,
            sample: None,
        };
        // Another daemon (a restart) finds the same key, and the check fits it.
        let again = vault(&store, install).unlock(&sealed).await.unwrap();
        assert!(again.new_key_check.is_none());
        assert_eq!(again.key.bytes(), first.key.bytes());
        // Another install has a key of its own.
        let other = vault(&store, uuid::Uuid::new_v4())
            .unlock(&Sealed::default())
            .await
            .unwrap();
        assert_ne!(other.key.bytes(), first.key.bytes());
    }

    #[tokio::test]
    async fn never_a_new_key_over_sealed_values() {
        let store = Arc::new(MemoryKeyStore::default());
        let install = uuid::Uuid::new_v4();
        let first = vault(&store, install)
            .unlock(&Sealed::default())
            .await
            .unwrap();
        let sealed = Sealed {
            key_check: first.new_key_check.clone(),
            values: 2,
            sample: None,
        };
        // The keychain entry is lost: Berth refuses instead of making a new key.
        vault(&store, install).forget().await.unwrap();
        let e = vault(&store, install).unlock(&sealed).await.unwrap_err();
        assert_eq!(e.code, Code::KeychainUnavailable);
        assert!(
            e.message.contains("will not make a new one"),
            "{}",
            e.message
        );
        assert!(
            store
                .get(&format!("master key of install {install}"))
                .unwrap()
                .is_none()
        );
        // Without the check, a key that does not open a stored value is refused too.
        let value = envelope::seal(&first.key, "key:x", b"v").unwrap();
        let unchecked = Sealed {
            key_check: None,
            values: 1,
            sample: Some(("key:x".into(), value)),
        };
        store.set(&master_key_account(install), &[7u8; 32]).unwrap();
        let e = vault(&store, install).unlock(&unchecked).await.unwrap_err();
        assert!(e.message.contains("does not open"), "{}", e.message);
        // A different key in its place is named as such.
        store
            .set(&format!("master key of install {install}"), &[9u8; 32])
            .unwrap();
        let e = vault(&store, install).unlock(&sealed).await.unwrap_err();
        assert!(e.message.contains("is not the one"), "{}", e.message);
    }

    /// Counts reads, to see the keychain asked once per daemon.
    #[derive(Default)]
    struct Counting {
        inner: MemoryKeyStore,
        gets: std::sync::atomic::AtomicUsize,
    }

    impl KeyStore for Counting {
        fn get(&self, account: &str) -> Result<Option<Vec<u8>>, crate::secrets::KeychainError> {
            self.gets.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.get(account)
        }
        fn set(&self, account: &str, value: &[u8]) -> Result<(), crate::secrets::KeychainError> {
            self.inner.set(account, value)
        }
        fn delete(&self, account: &str) -> Result<(), crate::secrets::KeychainError> {
            self.inner.delete(account)
        }
    }

    #[tokio::test]
    async fn the_keychain_is_read_once_per_daemon() {
        let store = Arc::new(Counting::default());
        let install = uuid::Uuid::new_v4();
        let first = Vault::new(Keychain::new(store.clone()), install)
            .unlock(&Sealed::default())
            .await
            .unwrap();
        let sealed = Sealed {
            key_check: first.new_key_check,
            values: 1,
            sample: None,
        };
        let daemon = Vault::new(Keychain::new(store.clone()), install);
        let before = store.gets.load(std::sync::atomic::Ordering::SeqCst);
        for _ in 0..3 {
            daemon.unlock(&sealed).await.unwrap();
        }
        assert_eq!(
            store.gets.load(std::sync::atomic::Ordering::SeqCst),
            before + 1
        );
    }

    #[tokio::test]
    async fn a_locked_keychain_is_an_error_and_nothing_is_kept() {
        let store = Arc::new(MemoryKeyStore::default());
        store
            .locked
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let e = vault(&store, uuid::Uuid::new_v4())
            .unlock(&Sealed::default())
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::KeychainUnavailable);
        assert!(e.message.contains("OS keychain unavailable or locked"));
    }
}
