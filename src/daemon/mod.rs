//! The daemon: the one process per data dir that owns SQLite and Docker. The CLI and the app
//! are clients over its socket (see `client`). Startup order: lock → remove a stale socket →
//! bind → chmod → listen → open SQLite → ready; background work runs under one supervisor;
//! it exits after ten quiet minutes with nothing running and no client, on a signal, or when
//! asked — always through the same bounded shutdown.

mod keys;
mod lifetime;
mod listener;
mod previews;
mod resources;
mod server;
mod stream;
mod supervisor;

pub use lifetime::{Activity, idle_exit_in};
pub use supervisor::Supervisor;

use crate::api::endpoint::{self, DaemonInfo, Endpoint};
use crate::api::{self, DaemonStatus, EventEnvelope, Hello, ProtocolRange, ShutdownReason};
use crate::engine::Engine;
use crate::error::{Code, Error, Result};
use crate::lockfile::FileLock;
use lifetime::Lifetime;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

/// Quiet time before the daemon exits on its own; `BERTH_DAEMON_IDLE_SECS` overrides it (tests).
const IDLE_EXIT: Duration = Duration::from_secs(600);
/// How long shutdown waits for requests, streams and tasks before it goes anyway.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Events a slow client may fall behind before it is told to resync.
const EVENT_BUFFER: usize = 1024;
/// How long connections already queued are still accepted once the socket is gone.
const QUEUE_GRACE: Duration = Duration::from_millis(100);

/// Why the daemon is ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    Request(ShutdownReason),
    /// SIGTERM, SIGINT, console close, logout: Berth quits, so "stop on quit" applies.
    Signal,
    Idle,
}

pub struct Daemon {
    pub engine: Arc<Engine>,
    pub hello: Hello,
    endpoint: String,
    log_file: PathBuf,
    started: Instant,
    life: Arc<Lifetime>,
    supervisor: Supervisor,
    events: broadcast::Sender<EventEnvelope>,
    shutdown: CancellationToken,
    reason: Mutex<Option<ExitReason>>,
    /// Operations running detached from their requests; shutdown waits for them.
    operations: TaskTracker,
}

impl Daemon {
    /// What keeps the daemon from its idle exit besides clients: running workspaces, and
    /// previews (their ports and their reaper live here).
    fn keeping(&self) -> Result<usize> {
        Ok(self.engine.running_count()? + self.engine.preview_count()?)
    }

    fn status(&self) -> DaemonStatus {
        let running = self.engine.running_count().unwrap_or(0);
        let mut activity = self.life.activity(self.keeping().unwrap_or(running));
        // Not counting the connection this status is asked on.
        activity.connections = activity.connections.saturating_sub(1);
        DaemonStatus {
            version: self.hello.version.clone(),
            protocol: self.hello.protocol,
            pid: self.hello.pid,
            instance_id: self.hello.instance_id,
            data_dir: self.hello.data_dir.clone(),
            endpoint: self.endpoint.clone(),
            log_file: self.log_file.clone(),
            uptime_secs: self.started.elapsed().as_secs(),
            connections: activity.connections,
            operations: activity.operations,
            event_followers: self.events.receiver_count(),
            running_workspaces: running,
            idle_exit_in_secs: idle_exit_in(activity, self.life.idle_exit_after)
                .map(|d| d.as_secs()),
            tasks: self.supervisor.status(),
        }
    }

    /// The first reason wins; the rest of the daemon sees one shutdown.
    fn request_exit(&self, reason: ExitReason) {
        let mut slot = self.reason.lock().expect("reason lock");
        if slot.is_none() {
            tracing::info!("shutting down: {reason:?}");
            *slot = Some(reason);
        }
        self.shutdown.cancel();
    }
}

/// How `berth daemon run` ended.
pub enum Outcome {
    /// Served until asked, signalled or idle.
    Served,
    /// Another daemon holds the data dir.
    AlreadyRunning,
}

/// Runs the daemon of `data_dir` on this thread until it ends.
pub fn run(data_dir: &Path) -> Result<Outcome> {
    // Everything the daemon makes (database, logs, secrets, the code-workspace files) is the
    // user's alone: files 0600, folders 0700, whatever the login shell's umask says.
    #[cfg(unix)]
    // SAFETY: umask only sets the process's file mode mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| Error::io(&format!("cannot create data dir {}", data_dir.display()), e))?;
    make_private(data_dir)?;
    raise_file_limit();
    // 1. The lock is the daemon's identity, held for life; the kernel frees it on a crash.
    let Some(lock) = take_lock(&data_dir.join(endpoint::LOCK_FILE))? else {
        return Ok(Outcome::AlreadyRunning);
    };
    // Recorded at once, so a client that finds the lock held but no answer can tell this
    // process is the holder (it checks the pid's open files) and end it if it is wedged.
    let endpoint = Endpoint::for_data_dir(data_dir)?;
    write_info(data_dir, &endpoint)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the async runtime", e))?;
    let served = runtime.block_on(serve(data_dir, endpoint));
    // Tasks that ignored cancellation must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    let _ = std::fs::remove_file(data_dir.join(endpoint::INFO_FILE));
    drop(lock);
    served.map(|()| Outcome::Served)
}

/// The daemon lock, waiting a moment first: a client checking whether a daemon runs holds it
/// for an instant, and that must not send a starting daemon away.
fn take_lock(path: &Path) -> Result<Option<FileLock>> {
    let deadline = Instant::now() + Duration::from_millis(200);
    loop {
        if let Some(lock) = FileLock::try_acquire(path)? {
            return Ok(Some(lock));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn serve(data_dir: &Path, endpoint: Endpoint) -> Result<()> {
    let idle = std::env::var("BERTH_DAEMON_IDLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(IDLE_EXIT);
    let life = Lifetime::new(idle);
    // 2–5. Stale socket out, bind, chmod, listen — all while holding the lock.
    let listener = listener::bind(&endpoint, data_dir, life.clone())?;
    // 6. SQLite; Docker is connected by the watcher (and by the first request that needs it).
    let engine = Arc::new(Engine::open(data_dir)?);
    let shutdown = CancellationToken::new();
    let daemon = Arc::new(Daemon {
        hello: Hello {
            version: reported_version(),
            protocol: ProtocolRange::CURRENT,
            pid: std::process::id(),
            instance_id: Uuid::new_v4(),
            data_dir: endpoint::canonical(data_dir)?,
        },
        endpoint: endpoint.to_string(),
        log_file: data_dir.join(endpoint::LOG_DIR).join(endpoint::LOG_FILE),
        started: Instant::now(),
        supervisor: Supervisor::new(shutdown.child_token()),
        events: broadcast::channel(EVENT_BUFFER).0,
        life,
        shutdown: shutdown.clone(),
        reason: Mutex::new(None),
        operations: TaskTracker::new(),
        engine,
    });
    start_tasks(&daemon);
    watch_signals(daemon.clone());
    tracing::info!(
        "berth daemon {} (pid {}) serving {} on {endpoint}",
        api::VERSION,
        std::process::id(),
        data_dir.display()
    );

    let app = server::router(daemon.clone());
    let stop_accepting = CancellationToken::new();
    let stop = stop_accepting.clone();
    let mut server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled_owned().await })
            .await
    });
    tokio::select! {
        _ = shutdown.cancelled() => {}
        result = &mut server => {
            // The server never ends by itself; if it did, go down cleanly rather than hang.
            tracing::error!("the API server ended: {result:?}");
            daemon.request_exit(ExitReason::Request(ShutdownReason::Stop));
        }
    }
    // New clients find no socket from here on (they start, or wait for, a new daemon); ones
    // already queued on the listener are still accepted and served for a moment, so a request
    // that raced the idle exit is answered rather than cut off.
    if let Endpoint::Unix(path) = &endpoint {
        let _ = std::fs::remove_file(path);
    }
    tokio::time::sleep(QUEUE_GRACE).await;
    stop_accepting.cancel();
    let reason = daemon
        .reason
        .lock()
        .expect("reason lock")
        .unwrap_or(ExitReason::Signal);
    let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
    if reason == ExitReason::Signal {
        // Berth is quitting (logout, kill): honour "stop workspaces when Berth quits".
        match tokio::time::timeout(SHUTDOWN_TIMEOUT, daemon.engine.stop_on_quit()).await {
            Ok(Ok(outcome)) if !outcome.stopped.is_empty() => {
                tracing::info!("stopped on quit: {}", outcome.stopped.join(", "))
            }
            Ok(Err(e)) => tracing::warn!("stop on quit failed: {e}"),
            Err(_) => tracing::warn!("stop on quit did not finish in time"),
            _ => {}
        }
    }
    let left = deadline.saturating_duration_since(Instant::now());
    if tokio::time::timeout(left, &mut server).await.is_err() {
        tracing::warn!("open requests did not finish in time; closing them");
        server.abort();
    }
    // Operations whose clients left (a start, a build) finish or are cut at the deadline.
    daemon.operations.close();
    let left = deadline.saturating_duration_since(Instant::now());
    if tokio::time::timeout(left, daemon.operations.wait())
        .await
        .is_err()
    {
        tracing::warn!("operations did not finish in time; reconcile repairs what they left");
    }
    let left = deadline.saturating_duration_since(Instant::now());
    if !daemon
        .supervisor
        .shutdown(left.max(Duration::from_millis(100)))
        .await
    {
        tracing::warn!("background tasks did not stop in time");
    }
    daemon.engine.gateway().close_all();
    daemon.engine.close_proxies();
    daemon.engine.checkpoint();
    tracing::info!("berth daemon stopped ({reason:?})");
    Ok(())
}

/// The version this daemon reports. `BERTH_TEST_DAEMON_VERSION` lets the lifecycle tests play
/// an older daemon for the hand-over to a newer client.
fn reported_version() -> String {
    std::env::var("BERTH_TEST_DAEMON_VERSION").unwrap_or_else(|_| api::VERSION.to_string())
}

/// A supervised task that hands each message of `rx` (taken once from the engine) to
/// `handle` until the daemon stops; a restart after a failure goes on with the same receiver.
fn drain<T: Send + 'static>(
    daemon: &Arc<Daemon>,
    name: &'static str,
    rx: Option<tokio::sync::mpsc::UnboundedReceiver<T>>,
    handle: impl Fn(&Arc<Daemon>, T) + Send + Sync + 'static,
) {
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let handle = Arc::new(handle);
    let d = daemon.clone();
    daemon.supervisor.spawn(name, move |token| {
        let (d, rx, handle) = (d.clone(), rx.clone(), handle.clone());
        async move {
            let mut rx = rx.lock().await;
            let Some(rx) = rx.as_mut() else {
                return Ok(());
            };
            loop {
                tokio::select! {
                    _ = token.cancelled() => return Ok(()),
                    message = rx.recv() => match message {
                        Some(message) => handle(&d, message),
                        None => return Ok(()),
                    },
                }
            }
        }
    });
}

fn start_tasks(daemon: &Arc<Daemon>) {
    // Events first: it subscribes to the engine before the watcher's first reconcile can
    // announce anything, so no client misses a repair.
    let first = Mutex::new(Some(daemon.engine.subscribe()));
    let seq = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let d = daemon.clone();
    daemon.supervisor.spawn("events", move |token| {
        let d = d.clone();
        let seq = seq.clone();
        // The receiver made before any task ran; a restart subscribes anew (and its clients
        // see the gap in `seq`).
        let taken = first.lock().expect("events lock").take();
        let mut rx = taken.unwrap_or_else(|| d.engine.subscribe());
        async move {
            use std::sync::atomic::Ordering::SeqCst;
            loop {
                let event = tokio::select! {
                    _ = token.cancelled() => return Ok(()),
                    e = rx.recv() => e,
                };
                match event {
                    Ok(event) => {
                        let seq = seq.fetch_add(1, SeqCst) + 1;
                        let _ = d.events.send(EventEnvelope { seq, event });
                    }
                    // Fell behind the engine: the jump in seq tells every client to resync.
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        seq.fetch_add(n, SeqCst);
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                }
            }
        }
    });

    let d = daemon.clone();
    daemon.supervisor.spawn("docker-events", move |token| {
        let engine = d.engine.clone();
        async move {
            tokio::select! {
                _ = token.cancelled() => Ok(()),
                _ = engine.watch_docker() => Err("the Docker watcher ended".to_string()),
            }
        }
    });

    let d = daemon.clone();
    daemon.supervisor.spawn("idle-stop", move |token| {
        let engine = d.engine.clone();
        async move {
            engine.run_idle_timer(token).await;
            Ok(())
        }
    });

    // Start pressed on a stopped workspace's page: started like any start, as an operation.
    drain(
        daemon,
        "page-starts",
        daemon.engine.gateway().take_start_requests(),
        |d, id| {
            let (engine, guard) = (d.engine.clone(), d.life.operation());
            d.operations.spawn(async move {
                let _guard = guard;
                if let Err(e) = engine.start_from_page(id).await {
                    tracing::warn!("start from the stopped page failed: {e}");
                }
            });
        },
    );

    // What the credential proxy saw: usage into the store, each call an activity signal.
    drain(
        daemon,
        "credential-proxy",
        daemon.engine.take_proxy_records(),
        |d, record| d.engine.record_proxy(record),
    );

    // Previews whose time is up go (also those that expired while no daemon ran: the first
    // pass connects Docker, which reconciles first).
    let d = daemon.clone();
    daemon.supervisor.spawn("preview-reaper", move |token| {
        let engine = d.engine.clone();
        async move {
            loop {
                let nap = engine.reap_previews().await;
                tokio::select! {
                    _ = token.cancelled() => return Ok(()),
                    _ = engine.preview_timer(nap) => {}
                }
            }
        }
    });

    // Visits to a preview: activity of its workspace.
    drain(
        daemon,
        "preview-traffic",
        daemon.engine.gateway().take_preview_hits(),
        |d, workspace| d.engine.record_preview_visit(workspace),
    );

    let d = daemon.clone();
    daemon.supervisor.spawn("idle-exit", move |token| {
        let d = d.clone();
        async move {
            loop {
                let running = d.keeping().map_err(|e| e.message)?;
                let wait = match idle_exit_in(d.life.activity(running), d.life.idle_exit_after) {
                    Some(left) if left.is_zero() => {
                        d.request_exit(ExitReason::Idle);
                        return Ok(());
                    }
                    Some(left) => left.min(Duration::from_secs(30)),
                    // Something keeps us: look again later (closing a connection does not wake
                    // this task; the next look sees it).
                    None => d.life.idle_exit_after.min(Duration::from_secs(30)),
                };
                tokio::select! {
                    _ = token.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    });
}

fn watch_signals(daemon: Arc<Daemon>) {
    tokio::spawn(async move {
        tokio::select! {
            heard = crate::signals::quit_requested() => match heard {
                Ok(()) => daemon.request_exit(ExitReason::Signal),
                Err(e) => tracing::error!("cannot listen for signals: {e}"),
            },
            _ = daemon.shutdown.cancelled() => {}
        }
    });
}

fn write_info(data_dir: &Path, endpoint: &Endpoint) -> Result<()> {
    let info = DaemonInfo {
        pid: std::process::id(),
        version: reported_version(),
        endpoint: endpoint.to_string(),
        started_at_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    };
    let path = data_dir.join(endpoint::INFO_FILE);
    let tmp = path.with_extension("json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(&info).expect("info serializes"),
    )
    .and_then(|_| std::fs::rename(&tmp, &path))
    .map_err(|e| Error::io(&format!("cannot write {}", path.display()), e))
}

/// Every IDE connection through the gateway holds file descriptors; the soft limit (often
/// 1024) is raised to the hard one so that many open IDE windows never starve the daemon.
fn raise_file_limit() {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct passed.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0
                && limit.rlim_cur < limit.rlim_max
            {
                limit.rlim_cur = limit.rlim_max;
                let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
        }
    }
}

/// The data dir holds the database, secrets and the socket: the user's alone.
fn make_private(data_dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700)).map_err(
            |e| {
                Error::new(
                    Code::Io,
                    format!(
                        "cannot make the data dir {} private (mode 0700): {e}",
                        data_dir.display()
                    ),
                )
            },
        )?;
    }
    let _ = data_dir;
    Ok(())
}
