//! Starting the daemon when none answers: take the start lock, look again (another client may
//! have won), spawn `berth daemon run` fully detached, and wait until `hello` answers — while
//! watching the child, so a daemon that fails to start is reported with its log, never as a
//! bare timeout. A daemon that holds the lock but does not answer is wedged: it is ended and
//! replaced.

use super::transport;
use crate::api::endpoint::{self, Endpoint};
use crate::api::{Hello, path};
use crate::error::{Code, Error, Result};
use crate::lockfile::FileLock;
use hyper::Method;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a new daemon may take to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(25);
/// A probe that takes longer than this is a daemon that does not answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Rotate the daemon log past this size (at spawn, before the new daemon opens it).
const LOG_ROTATE_BYTES: u64 = 5 << 20;

pub enum Probe {
    Ready(Hello),
    NotRunning,
    /// Connected but no answer in time.
    Silent,
}

pub async fn probe(endpoint: &Endpoint) -> Probe {
    let exchange = async {
        let res = transport::send(endpoint, Method::GET, path::HELLO, None).await;
        match res {
            Ok(res) => match transport::decode::<Hello>(res).await {
                Ok(hello) => Probe::Ready(hello),
                Err(_) => Probe::Silent,
            },
            Err(transport::Failure::NotRunning(_)) => Probe::NotRunning,
            // Accepted and then dropped: a daemon on its way out.
            Err(transport::Failure::Lost(_)) => Probe::NotRunning,
            // Not ours: never talked to, and no daemon of ours can bind there either.
            Err(transport::Failure::Impostor(_)) => Probe::Silent,
        }
    };
    tokio::time::timeout(PROBE_TIMEOUT, exchange)
        .await
        .unwrap_or(Probe::Silent)
}

/// Makes sure a daemon answers on `endpoint`, starting `program daemon run` if needed.
pub async fn ensure(data_dir: &Path, endpoint: &Endpoint, program: &Path) -> Result<Hello> {
    if let Probe::Ready(hello) = probe(endpoint).await {
        return Ok(hello);
    }
    let _start = start_lock(data_dir).await?;
    start_locked(data_dir, endpoint, program).await
}

/// The lock every client takes to start a daemon (and to hand one over).
pub async fn start_lock(data_dir: &Path) -> Result<FileLock> {
    FileLock::acquire(
        &data_dir.join(endpoint::START_LOCK_FILE),
        "starting the Berth daemon",
        READY_TIMEOUT * 3,
    )
    .await
}

/// Starts the daemon unless one answers; the caller holds the start lock.
pub async fn start_locked(data_dir: &Path, endpoint: &Endpoint, program: &Path) -> Result<Hello> {
    // Whoever held the start lock before us may have started it already.
    if let Probe::Ready(hello) = probe(endpoint).await {
        return Ok(hello);
    }
    let lock = data_dir.join(endpoint::LOCK_FILE);
    if FileLock::is_held(&lock)? {
        // A daemon exists: starting up, shutting down, or wedged.
        if let Some(hello) = wait_ready(endpoint, &lock, None).await? {
            return Ok(hello);
        }
        end_wedged(data_dir, &lock).await?;
    }
    let mut child = spawn(data_dir, program)?;
    let mut spawns = 1;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Probe::Ready(hello) = probe(endpoint).await {
            reap(child);
            return Ok(hello);
        }
        if let Ok(Some(status)) = child.try_wait() {
            if !status.success() {
                return Err(failed_to_start(data_dir, &format!("it exited ({status})")));
            }
            // Exit 0 means another daemon held the lock (one shutting down, or a racing
            // start). Once that one is gone, start ours.
            if !FileLock::is_held(&lock)? && spawns < 3 {
                child = spawn(data_dir, program)?;
                spawns += 1;
            }
        }
        if Instant::now() >= deadline {
            return Err(failed_to_start(
                data_dir,
                &format!("it did not answer within {} s", READY_TIMEOUT.as_secs()),
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Polls `hello` until it answers, the lock is released (the daemon went away: `None`), or the
/// deadline passes (`None` too; the caller decides).
async fn wait_ready(
    endpoint: &Endpoint,
    lock: &Path,
    timeout: Option<Duration>,
) -> Result<Option<Hello>> {
    let deadline = Instant::now() + timeout.unwrap_or(READY_TIMEOUT);
    while Instant::now() < deadline {
        if let Probe::Ready(hello) = probe(endpoint).await {
            return Ok(Some(hello));
        }
        if !FileLock::is_held(lock)? {
            return Ok(None);
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(None)
}

/// Waits until the daemon of `data_dir` has released its lock (it exited).
pub async fn wait_gone(data_dir: &Path, timeout: Duration) -> Result<bool> {
    let lock = data_dir.join(endpoint::LOCK_FILE);
    let deadline = Instant::now() + timeout;
    while FileLock::is_held(&lock)? {
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(true)
}

/// The lock holder answers nothing: end it (TERM, then KILL) — only after checking that the pid
/// it recorded is a process that holds this very lock file open (never a pid on its own word:
/// pids are reused).
async fn end_wedged(data_dir: &Path, lock: &Path) -> Result<()> {
    if !FileLock::is_held(lock)? {
        return Ok(());
    }
    let info = endpoint::read_info(data_dir);
    let wedged = |why: &str| {
        Error::new(
            Code::DaemonUnavailable,
            format!(
                "the Berth daemon of {} holds its lock but does not answer ({why}); end it (`berth daemon stop`, or kill it) — its log: {}",
                data_dir.display(),
                log_path(data_dir).display()
            ),
        )
    };
    let Some(info) = info else {
        return Err(wedged("no daemon.json to find it by"));
    };
    #[cfg(target_os = "linux")]
    {
        let lock = endpoint::canonical(data_dir)?.join(endpoint::LOCK_FILE);
        let holds_lock = std::fs::read_dir(format!("/proc/{}/fd", info.pid))
            .map(|fds| {
                fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                    .any(|target| target == lock)
            })
            .unwrap_or(false);
        if !holds_lock {
            return Err(wedged(&format!(
                "pid {} from daemon.json does not hold {}",
                info.pid,
                lock.display()
            )));
        }
        tracing::warn!("ending the wedged daemon, pid {}", info.pid);
        for signal in [libc::SIGTERM, libc::SIGKILL] {
            // SAFETY: plain kill(2) on the pid checked above.
            unsafe { libc::kill(info.pid as i32, signal) };
            if wait_gone(data_dir, Duration::from_secs(5)).await? {
                return Ok(());
            }
        }
        Err(wedged(&format!("pid {} survived SIGKILL", info.pid)))
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(wedged(&format!("pid {}", info.pid)))
    }
}

pub fn log_path(data_dir: &Path) -> PathBuf {
    data_dir.join(endpoint::LOG_DIR).join(endpoint::LOG_FILE)
}

/// `program daemon run`, detached from this process: its own session (no SIGHUP or Ctrl-C from
/// our terminal), no stdin, output to the daemon log (never our pipes: `$(berth ls)` must not
/// wait for the daemon to close them).
fn spawn(data_dir: &Path, program: &Path) -> Result<std::process::Child> {
    let log = open_log(data_dir)?;
    let err_log = log
        .try_clone()
        .map_err(|e| Error::io("cannot share the daemon log", e))?;
    let mut cmd = Command::new(program);
    cmd.args(["daemon", "run"])
        .env("BERTH_DATA_DIR", data_dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log);
    detach(&mut cmd);
    let spawned = cmd.spawn();
    #[cfg(windows)]
    let spawned = match spawned {
        // Some job objects forbid breaking away; then stay in the job rather than not start.
        Err(e) if e.raw_os_error() == Some(5) => {
            use std::os::windows::process::CommandExt;
            cmd.creation_flags(windows_flags(false));
            cmd.spawn()
        }
        other => other,
    };
    spawned.map_err(|e| {
        Error::new(
            Code::DaemonUnavailable,
            format!(
                "cannot start the Berth daemon ({} daemon run): {e}",
                program.display()
            ),
        )
    })
}

#[cfg(unix)]
fn detach(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(windows)]
fn detach(cmd: &mut Command) {
    use std::os::windows::process::CommandExt;
    cmd.creation_flags(windows_flags(true));
}

/// New process group (no Ctrl-C from our console), no console window, and out of our job
/// object (Windows Terminal and CI jobs would kill the daemon with us). Not
/// `DETACHED_PROCESS`: it leaves the standard handles NULL.
#[cfg(windows)]
fn windows_flags(breakaway: bool) -> u32 {
    const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
    const CREATE_NO_WINDOW: u32 = 0x0800_0000;
    const CREATE_BREAKAWAY_FROM_JOB: u32 = 0x0100_0000;
    let mut flags = CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW;
    if breakaway {
        flags |= CREATE_BREAKAWAY_FROM_JOB;
    }
    flags
}

/// Waits for the child in the background once it runs on its own, so it never lingers as a
/// zombie of a long-lived client (the app).
fn reap(mut child: std::process::Child) {
    std::thread::spawn(move || {
        let _ = child.wait();
    });
}

fn open_log(data_dir: &Path) -> Result<std::fs::File> {
    let path = log_path(data_dir);
    if let Some(dir) = path.parent() {
        crate::private::create_dir(dir)
            .map_err(|e| Error::io(&format!("cannot create {}", dir.display()), e))?;
    }
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > LOG_ROTATE_BYTES) {
        let _ = std::fs::rename(&path, path.with_extension("log.1"));
    }
    crate::private::file_options()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::io(&format!("cannot open the daemon log {}", path.display()), e))
}

/// The error for a daemon that would not start: why, and the end of its log.
fn failed_to_start(data_dir: &Path, why: &str) -> Error {
    let path = log_path(data_dir);
    let tail = std::fs::read_to_string(&path)
        .map(|log| {
            let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
            lines[lines.len().saturating_sub(3)..].join(" | ")
        })
        .unwrap_or_default();
    Error::new(
        Code::DaemonUnavailable,
        format!(
            "the Berth daemon did not start: {why}; last lines of {}: {}",
            path.display(),
            if tail.is_empty() { "(empty)" } else { &tail }
        ),
    )
}
