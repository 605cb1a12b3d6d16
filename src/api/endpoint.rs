//! Where the daemon of a data dir listens, derived only from the canonical data dir (never from
//! env vars that differ between a desktop app and a shell, such as `XDG_RUNTIME_DIR`):
//! `<data>/daemon.sock` when that path is short enough for a Unix socket, else
//! `/tmp/berth-<uid>/<16 hex of sha256(data dir)>.sock`; on Windows a named pipe.

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// Longest socket path we use. `sun_path` holds 108 bytes on Linux and 104 on macOS, both
/// counting the NUL; 100 leaves room on either.
pub const MAX_SOCKET_PATH: usize = 100;

/// Files of the daemon in the data dir.
pub const LOCK_FILE: &str = "daemon.lock";
pub const START_LOCK_FILE: &str = "daemon.start.lock";
pub const INFO_FILE: &str = "daemon.json";
pub const LOG_DIR: &str = "logs";
pub const LOG_FILE: &str = "daemon.log";

/// `BERTH_DATA_DIR`, else the OS data dir (`~/.local/share/berth`, `~/Library/Application
/// Support/berth`, `%APPDATA%\berth`).
pub fn default_data_dir() -> Result<PathBuf> {
    match std::env::var_os("BERTH_DATA_DIR") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => dirs::data_dir()
            .map(|d| d.join("berth"))
            .ok_or_else(|| Error::invalid("cannot find the OS data folder; set BERTH_DATA_DIR")),
    }
}

/// What `daemon.json` records, written by the daemon right after it takes its lock: for
/// clients that find the lock held but get no answer (the pid is checked against the lock
/// before anything is done to it) and for `berth daemon status`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DaemonInfo {
    pub pid: u32,
    pub version: String,
    pub endpoint: String,
    pub started_at_ms: u64,
}

pub fn read_info(data_dir: &Path) -> Option<DaemonInfo> {
    let raw = std::fs::read(data_dir.join(INFO_FILE)).ok()?;
    serde_json::from_slice(&raw).ok()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    Pipe(String),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "{}", p.display()),
            Endpoint::Pipe(name) => f.write_str(name),
        }
    }
}

impl Endpoint {
    /// The endpoint of `data_dir`, which must exist (it is canonicalised: a symlinked path and
    /// its target are the same daemon).
    pub fn for_data_dir(data_dir: &Path) -> Result<Endpoint> {
        let canonical = canonical(data_dir)?;
        #[cfg(windows)]
        {
            Ok(Endpoint::Pipe(pipe_name(&canonical, &current_user_key())))
        }
        #[cfg(not(windows))]
        {
            // SAFETY: getuid cannot fail and touches no memory.
            let uid = unsafe { libc::getuid() };
            Ok(Endpoint::Unix(socket_path(
                &canonical,
                uid,
                Path::new("/tmp"),
            )))
        }
    }

    /// The folder that must be private to the user before the socket is bound in it: the
    /// fallback folder under /tmp, or `None` for the data dir itself.
    pub fn private_dir(&self, data_dir: &Path) -> Option<PathBuf> {
        match self {
            Endpoint::Unix(p) => {
                let parent = p.parent()?;
                let data = canonical(data_dir).ok()?;
                (parent != data).then(|| parent.to_path_buf())
            }
            Endpoint::Pipe(_) => None,
        }
    }
}

/// The data dir with symlinks resolved (and, on Windows, the drive letter's case normalised by
/// the OS), so every client of one folder finds the same daemon.
pub fn canonical(data_dir: &Path) -> Result<PathBuf> {
    resolve(data_dir).map_err(|e| {
        Error::io(
            &format!("cannot resolve the data dir {}", data_dir.display()),
            e,
        )
    })
}

fn resolve(p: &Path) -> std::io::Result<PathBuf> {
    let c = std::fs::canonicalize(p)?;
    // Windows returns `\\?\C:\...`; hash the plain form so every client agrees.
    if cfg!(windows) {
        return Ok(PathBuf::from(crate::model::windows_plain(
            &c.to_string_lossy(),
        )));
    }
    Ok(c)
}

/// 16 hex digits of sha256 of the canonical data dir.
pub fn dir_hash(canonical: &Path) -> String {
    let digest = Sha256::digest(canonical.to_string_lossy().as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// `<data>/daemon.sock` if short enough, else `<tmp>/berth-<uid>/<hash>.sock`. Pure.
pub fn socket_path(canonical: &Path, uid: u32, tmp: &Path) -> PathBuf {
    let inside = canonical.join("daemon.sock");
    if inside.as_os_str().len() < MAX_SOCKET_PATH {
        return inside;
    }
    tmp.join(format!("berth-{uid}"))
        .join(format!("{}.sock", dir_hash(canonical)))
}

/// `\\.\pipe\berth-<hash of user + data dir>`. Pure.
pub fn pipe_name(canonical: &Path, user: &str) -> String {
    let digest = Sha256::digest(format!("{user}\0{}", canonical.to_string_lossy()).as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!(r"\\.\pipe\berth-{hex}")
}

#[cfg(windows)]
fn current_user_key() -> String {
    // The user's profile path is unique per account on a machine and needs no Win32 call; the
    // pipe's DACL (see daemon::listener) is what actually keeps other users out.
    std::env::var("USERPROFILE").unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_data_dir_keeps_its_socket_inside() {
        let p = socket_path(
            Path::new("/home/ada/.local/share/berth"),
            1000,
            Path::new("/tmp"),
        );
        assert_eq!(p, Path::new("/home/ada/.local/share/berth/daemon.sock"));
    }

    #[test]
    fn a_long_data_dir_falls_back_to_a_hashed_socket_in_tmp() {
        let long = PathBuf::from(format!("/home/ada/{}", "very-long-folder/".repeat(6)));
        let p = socket_path(&long, 1000, Path::new("/tmp"));
        assert!(p.starts_with("/tmp/berth-1000"), "{}", p.display());
        assert!(p.as_os_str().len() < MAX_SOCKET_PATH);
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(name.len(), 16 + ".sock".len());
        // Stable, and different for another folder.
        assert_eq!(p, socket_path(&long, 1000, Path::new("/tmp")));
        assert_ne!(p, socket_path(&long.join("x"), 1000, Path::new("/tmp")));
    }

    #[test]
    fn pipe_names_differ_per_user_and_folder() {
        let a = pipe_name(Path::new(r"C:\Users\ada\berth"), "ada");
        assert!(a.starts_with(r"\\.\pipe\berth-"));
        assert_ne!(a, pipe_name(Path::new(r"C:\Users\ada\berth"), "bob"));
        assert_ne!(a, pipe_name(Path::new(r"C:\Users\ada\other"), "ada"));
    }

    #[test]
    fn a_symlinked_data_dir_is_the_same_endpoint() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = dir.path().join("link");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&real, &link).unwrap();
        #[cfg(unix)]
        assert_eq!(
            Endpoint::for_data_dir(&real).unwrap(),
            Endpoint::for_data_dir(&link).unwrap()
        );
    }
}
