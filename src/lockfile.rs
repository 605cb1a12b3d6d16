//! OS file locks: the daemon's identity (`daemon.lock`), the client's autostart lock, and one
//! lock per workspace (`<data dir>/locks/<id>.lock`). The OS drops a lock when its process
//! dies, so a killed process never leaves anything stuck, and no PID is ever trusted.

use crate::error::{Code, Error, Result};
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct FileLock {
    // Held for its lock; unlocked when the file is closed on drop.
    _file: File,
}

/// The lock of one workspace (or another engine-wide key such as the start gate). Keys are
/// parsed ids or fixed words, never raw label values.
pub fn lock_path(data_dir: &Path, key: &str) -> PathBuf {
    data_dir.join("locks").join(format!("{key}.lock"))
}

fn open(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        crate::private::create_dir(dir)
            .map_err(|e| Error::io("cannot create the locks folder", e))?;
    }
    crate::private::file_options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(&format!("cannot open lock {}", path.display()), e))
}

impl FileLock {
    /// `None` if another process (or another handle in this one) holds it.
    pub fn try_acquire(path: &Path) -> Result<Option<FileLock>> {
        let file = open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(FileLock { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(Error::io(
                &format!("cannot take the lock {}", path.display()),
                e,
            )),
        }
    }

    /// Whether someone holds the lock at `path` right now (taken and released at once).
    pub fn is_held(path: &Path) -> Result<bool> {
        Ok(Self::try_acquire(path)?.is_none())
    }

    /// Waits (without blocking the runtime) until the lock is free or `timeout` passes.
    pub async fn acquire(path: &Path, what: &str, timeout: Duration) -> Result<FileLock> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(lock) = Self::try_acquire(path)? {
                return Ok(lock);
            }
            if Instant::now() >= deadline {
                return Err(Error::new(
                    Code::Busy,
                    format!(
                        "{what} is busy: another Berth operation has held it for {} s",
                        timeout.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn excludes_a_second_holder_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path(), "w");
        let first = FileLock::try_acquire(&path).unwrap().unwrap();
        assert!(FileLock::try_acquire(&path).unwrap().is_none());
        let err = FileLock::acquire(&path, "workspace w", Duration::from_millis(50))
            .await
            .err()
            .unwrap();
        assert_eq!(err.code, Code::Busy);
        drop(first);
        assert!(FileLock::try_acquire(&path).unwrap().is_some());
    }
}
