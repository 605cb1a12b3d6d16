//! The OS keychain (macOS Keychain, Windows Credential Manager, the Secret Service on Linux),
//! which holds one thing of Berth's: each install's master key.
//!
//! All access goes through one worker thread: the Secret Service misbehaves under concurrent
//! use, and a call that hangs (an unlock prompt nobody answers, a bus that never replies)
//! must cost the caller a timeout, not a stuck daemon.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

/// How long one keychain call may take. Long enough for a user to answer an unlock prompt.
pub const KEYCHAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the keychain could not be used. Never answered by writing anything elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeychainError {
    /// No keychain service, or it is locked (headless Linux without a Secret Service).
    Unavailable(String),
    /// It did not answer within [`KEYCHAIN_TIMEOUT`].
    TimedOut,
}

impl std::fmt::Display for KeychainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeychainError::Unavailable(why) => {
                write!(f, "OS keychain unavailable or locked ({why})")
            }
            KeychainError::TimedOut => write!(
                f,
                "OS keychain unavailable or locked (no answer within {} s; is an unlock prompt waiting?)",
                KEYCHAIN_TIMEOUT.as_secs()
            ),
        }
    }
}

/// Where secrets are kept: the OS keychain, or (in unit tests) memory.
pub trait KeyStore: Send + Sync + 'static {
    fn get(&self, account: &str) -> Result<Option<Vec<u8>>, KeychainError>;
    fn set(&self, account: &str, value: &[u8]) -> Result<(), KeychainError>;
    fn delete(&self, account: &str) -> Result<(), KeychainError>;
}

/// The platform's keychain through `keyring`, under one service name.
pub struct OsKeyStore {
    service: String,
}

impl OsKeyStore {
    pub fn new(service: &str) -> OsKeyStore {
        OsKeyStore {
            service: service.to_string(),
        }
    }

    fn entry(&self, account: &str) -> Result<keyring::Entry, KeychainError> {
        keyring::Entry::new(&self.service, account).map_err(unavailable)
    }
}

fn unavailable(e: keyring::Error) -> KeychainError {
    KeychainError::Unavailable(e.to_string())
}

impl KeyStore for OsKeyStore {
    fn get(&self, account: &str) -> Result<Option<Vec<u8>>, KeychainError> {
        match self.entry(account)?.get_secret() {
            Ok(v) => Ok(Some(v)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn set(&self, account: &str, value: &[u8]) -> Result<(), KeychainError> {
        self.entry(account)?.set_secret(value).map_err(unavailable)
    }

    fn delete(&self, account: &str) -> Result<(), KeychainError> {
        match self.entry(account)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// Secrets in memory, for unit tests of what sits on top of a keychain.
#[derive(Default)]
pub struct MemoryKeyStore {
    entries: std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>,
    /// When set, every call fails as a locked keychain does.
    pub locked: std::sync::atomic::AtomicBool,
}

impl MemoryKeyStore {
    fn check(&self) -> Result<(), KeychainError> {
        if self.locked.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(KeychainError::Unavailable("locked".into()));
        }
        Ok(())
    }
}

impl KeyStore for MemoryKeyStore {
    fn get(&self, account: &str) -> Result<Option<Vec<u8>>, KeychainError> {
        self.check()?;
        Ok(self.entries.lock().unwrap().get(account).cloned())
    }

    fn set(&self, account: &str, value: &[u8]) -> Result<(), KeychainError> {
        self.check()?;
        self.entries
            .lock()
            .unwrap()
            .insert(account.to_string(), value.to_vec());
        Ok(())
    }

    fn delete(&self, account: &str) -> Result<(), KeychainError> {
        self.check()?;
        self.entries.lock().unwrap().remove(account);
        Ok(())
    }
}

type Job = Box<dyn FnOnce(&dyn KeyStore) + Send>;

/// The keychain behind its one worker thread.
#[derive(Clone)]
pub struct Keychain {
    jobs: mpsc::Sender<Job>,
    timeout: Duration,
}

impl Keychain {
    pub fn new(store: Arc<dyn KeyStore>) -> Keychain {
        Keychain::with_timeout(store, KEYCHAIN_TIMEOUT)
    }

    pub fn with_timeout(store: Arc<dyn KeyStore>, timeout: Duration) -> Keychain {
        let (jobs, rx) = mpsc::channel::<Job>();
        // Ends when the last Keychain is dropped (the channel closes).
        let spawned = std::thread::Builder::new()
            .name("keychain".into())
            .spawn(move || {
                for job in rx {
                    job(store.as_ref());
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the keychain thread: {e}");
        }
        Keychain { jobs, timeout }
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn KeyStore) -> Result<T, KeychainError> + Send + 'static,
    ) -> Result<T, KeychainError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |store| {
                let _ = tx.send(f(store));
            }))
            .map_err(|_| KeychainError::Unavailable("the keychain thread is gone".into()))?;
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(KeychainError::Unavailable(
                "the keychain thread is gone".into(),
            )),
            Err(_) => Err(KeychainError::TimedOut),
        }
    }

    pub async fn get(&self, account: &str) -> Result<Option<Vec<u8>>, KeychainError> {
        let account = account.to_string();
        self.run(move |s| s.get(&account)).await
    }

    pub async fn set(&self, account: &str, value: Vec<u8>) -> Result<(), KeychainError> {
        let account = account.to_string();
        let value = super::Sensitive::new(value);
        self.run(move |s| s.set(&account, value.expose())).await
    }

    pub async fn delete(&self, account: &str) -> Result<(), KeychainError> {
        let account = account.to_string();
        self.run(move |s| s.delete(&account)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A keychain that never answers, as a Secret Service waiting on a prompt.
    struct Hanging;
    impl KeyStore for Hanging {
        fn get(&self, _: &str) -> Result<Option<Vec<u8>>, KeychainError> {
            loop {
                std::thread::park();
            }
        }
        fn set(&self, _: &str, _: &[u8]) -> Result<(), KeychainError> {
            Ok(())
        }
        fn delete(&self, _: &str) -> Result<(), KeychainError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_hanging_keychain_costs_a_timeout() {
        let k = Keychain::with_timeout(Arc::new(Hanging), Duration::from_millis(50));
        assert_eq!(k.get("a").await.unwrap_err(), KeychainError::TimedOut);
        assert!(
            KeychainError::TimedOut
                .to_string()
                .contains("OS keychain unavailable or locked")
        );
    }

    #[tokio::test]
    async fn calls_go_through_in_order() {
        let store = Arc::new(MemoryKeyStore::default());
        let k = Keychain::new(store.clone());
        assert_eq!(k.get("a").await.unwrap(), None);
        k.set("a", b"1".to_vec()).await.unwrap();
        assert_eq!(k.get("a").await.unwrap(), Some(b"1".to_vec()));
        k.delete("a").await.unwrap();
        assert_eq!(k.get("a").await.unwrap(), None);
        store
            .locked
            .store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(matches!(
            k.get("a").await,
            Err(KeychainError::Unavailable(_))
        ));
    }
}
