//! The typed client of the daemon: what the CLI and the desktop app use instead of the engine.
//! `connect` finds (or starts) the daemon of the data dir and checks it speaks our protocol;
//! every method is one request. A daemon that went away between two requests (idle exit, a
//! crash) is started again once, and only requests that are safe to repeat are retried.

mod autostart;
mod keys;
pub mod login_page;
mod previews;
mod resources;
mod transport;

pub use autostart::log_path;
pub use transport::SseEvent;

use crate::activity::ActivityView;
use crate::api::endpoint::{self, Endpoint};
use crate::api::{
    self, BuildEvent, DaemonStatus, EventEnvelope, Hello, HoldRequest, IdeLogin, IdeLoginRequest,
    LogChunk, NameQuery, NewWorkspace, PathBody, QuitOutcome, ShutdownReason, ShutdownRequest,
    SnoozeRequest, StartedView, Viewer, path, sse,
};
use crate::engine::{
    BuildOutcome, Deleted, DoctorReport, EngineEvent, ImageCheck, ImageEntry, WorkspaceEdit,
};
use crate::error::{Code, Error, Result};
use crate::model::{Settings, WorkspaceView};
use crate::store::AuditEntry;
use futures_util::{Stream, StreamExt};
use hyper::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How the client may start a daemon.
#[derive(Debug, Clone)]
pub enum Autostart {
    /// Run this program as `PROGRAM daemon run` (the `berth` CLI).
    Program(PathBuf),
    /// Never (`BERTH_NO_AUTOSTART=1`, and `berth daemon status|stop`).
    Off,
}

impl Autostart {
    /// The `berth` CLI beside the running program (the CLI itself, or the app's bundled CLI),
    /// or `BERTH_BIN`; off with `BERTH_NO_AUTOSTART=1`.
    pub fn from_env() -> Autostart {
        if std::env::var_os("BERTH_NO_AUTOSTART").is_some_and(|v| !v.is_empty() && v != "0") {
            return Autostart::Off;
        }
        if let Some(bin) = std::env::var_os("BERTH_BIN").filter(|v| !v.is_empty()) {
            return Autostart::Program(bin.into());
        }
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("berth"));
        Autostart::Program(cli_beside(&exe, std::env::consts::EXE_SUFFIX))
    }
}

/// The `berth` CLI for the running program `exe`: itself if it is the CLI, else the one beside
/// it (`berth-desktop` → `berth`; `berth-desktop.exe` → `berth.exe`). Pure.
pub fn cli_beside(exe: &Path, exe_suffix: &str) -> PathBuf {
    let cli = format!("berth{exe_suffix}");
    if exe.file_name().is_some_and(|n| n == cli.as_str()) {
        exe.to_path_buf()
    } else {
        exe.with_file_name(cli)
    }
}

/// A client event: an engine event, or "you missed some: reload what you show".
#[derive(Debug, Clone)]
pub enum ClientEvent {
    Engine(EngineEvent),
    Resync,
}

pub struct Client {
    data_dir: PathBuf,
    endpoint: Endpoint,
    autostart: Autostart,
    hello: Hello,
}

impl Client {
    /// Connects to the daemon of `data_dir`, starting it if allowed and needed. A daemon older
    /// than this client is asked to hand over to a new one (the newest binary wins); a newer
    /// one is used if it still speaks our protocol.
    pub async fn connect(data_dir: &Path, autostart: Autostart) -> Result<Client> {
        crate::private::create_dir(data_dir)
            .map_err(|e| Error::io(&format!("cannot create data dir {}", data_dir.display()), e))?;
        let endpoint = Endpoint::for_data_dir(data_dir)?;
        let hello = Self::reach(data_dir, &endpoint, &autostart).await?;
        same_data_dir(&hello, data_dir)?;
        let mut client = Client {
            data_dir: data_dir.to_path_buf(),
            endpoint,
            autostart,
            hello,
        };
        client.check_version().await?;
        Ok(client)
    }

    /// The daemon of `data_dir` if one answers; never starts one.
    pub async fn running(data_dir: &Path) -> Result<Option<Client>> {
        if !data_dir.exists() {
            return Ok(None);
        }
        let endpoint = Endpoint::for_data_dir(data_dir)?;
        match autostart::probe(&endpoint).await {
            autostart::Probe::Ready(hello) => Ok(Some(Client {
                hello: {
                    same_data_dir(&hello, data_dir)?;
                    hello
                },
                data_dir: data_dir.to_path_buf(),
                endpoint,
                autostart: Autostart::Off,
            })),
            autostart::Probe::NotRunning => Ok(None),
            autostart::Probe::Silent => Err(Error::new(
                Code::DaemonUnavailable,
                format!(
                    "the Berth daemon on {endpoint} accepts connections but does not answer; see {}",
                    log_path(data_dir).display()
                ),
            )),
        }
    }

    async fn reach(data_dir: &Path, endpoint: &Endpoint, autostart: &Autostart) -> Result<Hello> {
        match autostart {
            Autostart::Program(program) => autostart::ensure(data_dir, endpoint, program).await,
            Autostart::Off => match autostart::probe(endpoint).await {
                autostart::Probe::Ready(hello) => Ok(hello),
                _ => Err(Error::new(
                    Code::DaemonUnavailable,
                    format!(
                        "no Berth daemon runs for {} and BERTH_NO_AUTOSTART is set; start one with `berth daemon run`",
                        data_dir.display()
                    ),
                )),
            },
        }
    }

    /// The version policy: newest binary wins, and never a downgrade.
    async fn check_version(&mut self) -> Result<()> {
        let theirs = self.hello.version.clone();
        if !is_older(&theirs, api::VERSION) {
            if self.hello.protocol.speaks(api::PROTOCOL) {
                return Ok(());
            }
            return Err(Error::new(
                Code::DaemonUnavailable,
                format!(
                    "the running Berth daemon ({theirs}) no longer speaks protocol {} of this berth ({}); update this berth (or the app it came with)",
                    api::PROTOCOL,
                    api::VERSION
                ),
            ));
        }
        let Autostart::Program(program) = &self.autostart else {
            return if self.hello.protocol.speaks(api::PROTOCOL) {
                Ok(())
            } else {
                Err(Error::new(
                    Code::DaemonUnavailable,
                    format!(
                        "the running Berth daemon ({theirs}) is older than this berth ({}) and speaks another protocol; restart it with `berth daemon stop`",
                        api::VERSION
                    ),
                ))
            };
        };
        tracing::info!("handing the daemon over: {theirs} → {}", api::VERSION);
        // Under the start lock, so no other (older) client starts its daemon in between.
        let _start = autostart::start_lock(&self.data_dir).await?;
        self.shutdown(ShutdownReason::Upgrade).await?;
        if !autostart::wait_gone(&self.data_dir, Duration::from_secs(15)).await? {
            return Err(Error::new(
                Code::DaemonUnavailable,
                format!(
                    "the old Berth daemon ({theirs}) did not hand over within 15 s; stop it with `berth daemon stop`"
                ),
            ));
        }
        self.hello = autostart::start_locked(&self.data_dir, &self.endpoint, program).await?;
        if is_older(&self.hello.version, api::VERSION) {
            return Err(Error::new(
                Code::DaemonUnavailable,
                format!(
                    "the daemon started for this berth ({}) reports the older version {}; check BERTH_BIN",
                    api::VERSION,
                    self.hello.version
                ),
            ));
        }
        Ok(())
    }

    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// One request; a daemon that is gone is started again (once) and the request retried when
    /// it never reached a daemon or is safe to repeat.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T> {
        let res = self.send(method, path, body).await?;
        transport::decode(res).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>> {
        let idempotent = matches!(method, Method::GET | Method::PUT | Method::DELETE);
        match transport::send(&self.endpoint, method.clone(), path, body.clone()).await {
            Ok(res) => Ok(res),
            Err(failure) => {
                let retry = match &failure {
                    transport::Failure::NotRunning(_) => true,
                    transport::Failure::Lost(_) => idempotent,
                    transport::Failure::Impostor(_) => false,
                };
                if !retry || matches!(self.autostart, Autostart::Off) {
                    return Err(failure.into_error(&self.endpoint));
                }
                Self::reach(&self.data_dir, &self.endpoint, &self.autostart).await?;
                transport::send(&self.endpoint, method, path, body)
                    .await
                    .map_err(|f| f.into_error(&self.endpoint))
            }
        }
    }

    fn body(value: &impl Serialize) -> Option<Vec<u8>> {
        Some(serde_json::to_vec(value).expect("request bodies serialize"))
    }

    // --- meta (frozen) ---

    pub async fn status(&self) -> Result<DaemonStatus> {
        self.call(Method::GET, path::STATUS, None).await
    }

    /// Asks the daemon to exit. Returns once it has accepted; `wait_gone` waits for the exit.
    pub async fn shutdown(&self, reason: ShutdownReason) -> Result<()> {
        let res = transport::send(
            &self.endpoint,
            Method::POST,
            path::SHUTDOWN,
            Self::body(&ShutdownRequest { reason }),
        )
        .await
        .map_err(|f| f.into_error(&self.endpoint))?;
        transport::decode::<()>(res).await
    }

    pub async fn wait_gone(&self, timeout: Duration) -> Result<bool> {
        autostart::wait_gone(&self.data_dir, timeout).await
    }

    // --- workspaces ---

    pub async fn list(&self) -> Result<Vec<WorkspaceView>> {
        self.call(Method::GET, path::WORKSPACES, None).await
    }

    pub async fn show(&self, name: &str) -> Result<WorkspaceView> {
        self.call(Method::GET, &path::workspace(name, None), None)
            .await
    }

    pub async fn create(&self, form: &NewWorkspace) -> Result<WorkspaceView> {
        self.call(Method::POST, path::WORKSPACES, Self::body(form))
            .await
    }

    pub async fn edit(&self, name: &str, edit: &WorkspaceEdit) -> Result<WorkspaceView> {
        self.call(
            Method::PATCH,
            &path::workspace(name, None),
            Self::body(edit),
        )
        .await
    }

    pub async fn delete(&self, name: &str) -> Result<Deleted> {
        self.call(Method::DELETE, &path::workspace(name, None), None)
            .await
    }

    pub async fn start(&self, name: &str) -> Result<StartedView> {
        self.call(Method::POST, &path::workspace(name, Some("start")), None)
            .await
    }

    pub async fn stop(&self, name: &str) -> Result<WorkspaceView> {
        self.call(Method::POST, &path::workspace(name, Some("stop")), None)
            .await
    }

    /// Stops `name` at once: SIGKILL after a short wait, audited as forced.
    pub async fn force_stop(&self, name: &str) -> Result<WorkspaceView> {
        let at = format!("{}?force=true", path::workspace(name, Some("stop")));
        self.call(Method::POST, &at, None).await
    }

    pub async fn restart(&self, name: &str) -> Result<StartedView> {
        self.call(Method::POST, &path::workspace(name, Some("restart")), None)
            .await
    }

    /// A one-time login link for the IDE of `name`, for `viewer` (a browser's port is never
    /// handed to another workspace).
    pub async fn ide_login(&self, name: &str, viewer: Viewer) -> Result<IdeLogin> {
        self.call(
            Method::POST,
            &path::workspace(name, Some("ide-login")),
            Self::body(&IdeLoginRequest { viewer }),
        )
        .await
    }

    /// Where `name` stands on idleness, and why.
    pub async fn activity(&self, name: &str) -> Result<ActivityView> {
        self.call(Method::GET, &path::workspace(name, Some("activity")), None)
            .await
    }

    pub async fn activities(&self) -> Result<Vec<ActivityView>> {
        self.call(Method::GET, path::ACTIVITY, None).await
    }

    /// "Keep running": no idle stop for `duration` (the daemon's default: 30 min).
    pub async fn snooze(&self, name: &str, duration: Option<Duration>) -> Result<ActivityView> {
        let req = SnoozeRequest {
            secs: duration.map(|d| d.as_secs()),
        };
        self.call(
            Method::POST,
            &path::workspace(name, Some("snooze")),
            Self::body(&req),
        )
        .await
    }

    /// Holds `name` awake until the returned stream is dropped or ends (the daemon went
    /// away: hold again). Returns once the daemon confirmed the hold.
    pub async fn hold(
        &self,
        name: &str,
        command: &str,
    ) -> Result<impl Stream<Item = Result<()>> + Send + 'static + use<>> {
        let req = HoldRequest {
            command: command.to_string(),
        };
        let res = self
            .send(
                Method::POST,
                &path::workspace(name, Some("hold")),
                Self::body(&req),
            )
            .await?;
        let mut events = Box::pin(transport::events(res).await?);
        match events.next().await {
            Some(Ok(e)) if e.name == sse::HELD => {}
            Some(Ok(e)) if e.name == sse::ERROR => return Err(e.error()),
            Some(Err(e)) => return Err(e),
            _ => {
                return Err(Error::new(
                    Code::DaemonUnavailable,
                    "the Berth daemon did not confirm the hold",
                ));
            }
        }
        Ok(events.map(|e| e.map(drop)))
    }

    pub async fn audit_log(&self, name: &str) -> Result<Vec<AuditEntry>> {
        self.call(Method::GET, &path::workspace(name, Some("audit")), None)
            .await
    }

    /// Container output as it comes; with `follow`, until the container stops or the stream
    /// is dropped.
    pub async fn logs(
        &self,
        name: &str,
        follow: bool,
        tail: Option<usize>,
    ) -> Result<impl Stream<Item = Result<LogChunk>> + Send + 'static + use<>> {
        let mut query = format!("?follow={follow}");
        if let Some(n) = tail {
            query.push_str(&format!("&tail={n}"));
        }
        let path = format!("{}{query}", path::workspace(name, Some("logs")));
        let res = self.send(Method::GET, &path, None).await?;
        let events = transport::events(res).await?;
        Ok(events
            .take_while(|e| {
                let go = !matches!(e, Ok(ev) if ev.name == sse::DONE);
                async move { go }
            })
            .map(|e| {
                let e = e?;
                if e.name == sse::ERROR {
                    Err(e.error())
                } else {
                    e.json::<LogChunk>()
                }
            }))
    }

    // --- checks, settings, images ---

    pub async fn check_name(&self, name: &str) -> Result<()> {
        let q = serde_urlencode(&NameQuery {
            name: name.to_string(),
        });
        self.call(Method::GET, &format!("{}?{q}", path::CHECK_NAME), None)
            .await
    }

    pub async fn check_project(&self, path: &str) -> Result<String> {
        let body = Self::body(&PathBody {
            path: path.to_string(),
        });
        let checked: PathBody = self.call(Method::POST, path::CHECK_PROJECT, body).await?;
        Ok(checked.path)
    }

    pub async fn settings(&self) -> Result<Settings> {
        self.call(Method::GET, path::SETTINGS, None).await
    }

    pub async fn save_settings(&self, settings: &Settings) -> Result<Settings> {
        self.call(Method::PUT, path::SETTINGS, Self::body(settings))
            .await
    }

    pub async fn images(&self) -> Result<Vec<ImageEntry>> {
        self.call(Method::GET, path::IMAGES, None).await
    }

    pub async fn check_image(&self, image: &str) -> Result<ImageCheck> {
        let body = Self::body(&api::ImageBody {
            image: image.to_string(),
        });
        self.call(Method::POST, path::IMAGE_CHECK, body).await
    }

    /// Builds a bundled image, handing progress to `on_event` as it comes.
    pub async fn build_image(
        &self,
        name: &str,
        mut on_event: impl FnMut(BuildEvent),
    ) -> Result<BuildOutcome> {
        let res = self
            .send(Method::POST, &path::image_build(name), None)
            .await?;
        streamed(res, "build", &mut on_event).await
    }

    pub async fn doctor(&self) -> Result<DoctorReport> {
        self.call(Method::GET, path::DOCTOR, None).await
    }

    /// The desktop app is quitting: the daemon applies "stop workspaces when Berth quits".
    pub async fn quit(&self) -> Result<QuitOutcome> {
        self.call(Method::POST, path::QUIT, None).await
    }

    /// Every engine event from now on, in order. A gap in the sequence, or the daemon saying
    /// this client fell behind, arrives as [`ClientEvent::Resync`]. Event kinds this client
    /// does not know (from a newer daemon) are skipped.
    pub async fn events(
        &self,
    ) -> Result<impl Stream<Item = Result<ClientEvent>> + Send + 'static + use<>> {
        let res = self.send(Method::GET, path::EVENTS, None).await?;
        let events = transport::events(res).await?;
        let mut last: Option<u64> = None;
        Ok(events.filter_map(move |item| {
            let out = match item {
                Err(e) => Some(Err(e)),
                Ok(e) if e.name == sse::RESYNC => Some(Ok(ClientEvent::Resync)),
                Ok(e) if e.name == sse::ENGINE => match e.json::<EventEnvelope>() {
                    Ok(env) => {
                        let gap = last.is_some_and(|l| env.seq != l + 1);
                        last = Some(env.seq);
                        Some(Ok(if gap {
                            ClientEvent::Resync
                        } else {
                            ClientEvent::Engine(env.event)
                        }))
                    }
                    // A kind this client does not know yet.
                    Err(_) => None,
                },
                Ok(_) => None,
            };
            async move { out }
        }))
    }
}

/// The daemon that answered must serve this data dir (two paths to one folder are fine: both
/// are canonical by now).
fn same_data_dir(hello: &Hello, data_dir: &Path) -> Result<()> {
    let ours = endpoint::canonical(data_dir)?;
    if hello.data_dir == ours {
        return Ok(());
    }
    Err(Error::new(
        Code::DaemonUnavailable,
        format!(
            "the Berth daemon that answers serves {}, not {}; refusing to use it",
            hello.data_dir.display(),
            ours.display()
        ),
    ))
}

/// `name=value` for one-field query structs.
fn serde_urlencode(q: &NameQuery) -> String {
    format!("name={}", api::percent_encode(&q.name))
}

/// Whether version `a` is older than `b` (numeric `major.minor.patch`; anything unreadable
/// counts as equal, so a garbled version never triggers a hand-over).
pub fn is_older(a: &str, b: &str) -> bool {
    fn parts(v: &str) -> Option<(u64, u64, u64)> {
        let core = v.split(['-', '+']).next()?;
        let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
        Some((it.next()??, it.next()??, it.next()??))
    }
    match (parts(a), parts(b)) {
        (Some(a), Some(b)) => a < b,
        _ => false,
    }
}

/// The data dir clients use: `BERTH_DATA_DIR` or the OS data dir.
pub fn data_dir() -> Result<PathBuf> {
    endpoint::default_data_dir()
}

/// A long operation's stream: each `chunk`/`step` to `on_event`, then its result (`done`) or
/// its error.
async fn streamed<T: serde::de::DeserializeOwned>(
    res: hyper::Response<hyper::body::Incoming>,
    what: &str,
    on_event: &mut impl FnMut(BuildEvent),
) -> Result<T> {
    let mut events = std::pin::pin!(transport::events(res).await?);
    while let Some(event) = events.next().await {
        let event = event?;
        match event.name.as_str() {
            sse::CHUNK | sse::STEP => on_event(event.json()?),
            sse::DONE => return event.json(),
            sse::ERROR => return Err(event.error()),
            _ => {}
        }
    }
    Err(Error::new(
        Code::DaemonUnavailable,
        format!(
            "the daemon ended the {what} stream without a result (did it exit? `berth daemon status`)"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_starts_from_the_cli_beside_the_program() {
        let cli = |exe: &str, suffix: &str| cli_beside(Path::new(exe), suffix);
        assert_eq!(
            cli("/usr/bin/berth-desktop", ""),
            Path::new("/usr/bin/berth")
        );
        assert_eq!(cli("/usr/bin/berth", ""), Path::new("/usr/bin/berth"));
        assert_eq!(
            cli("/Applications/Berth.app/Contents/MacOS/berth-desktop", ""),
            Path::new("/Applications/Berth.app/Contents/MacOS/berth")
        );
        assert_eq!(
            cli("C:/Program Files/Berth/berth-desktop.exe", ".exe"),
            Path::new("C:/Program Files/Berth/berth.exe")
        );
        assert_eq!(
            cli("C:/Program Files/Berth/berth.exe", ".exe"),
            Path::new("C:/Program Files/Berth/berth.exe")
        );
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(is_older("0.1.0", "0.2.0"));
        assert!(is_older("0.9.9", "0.10.0"));
        assert!(is_older("1.2.3-rc1", "1.2.4"));
        assert!(!is_older("0.2.0", "0.2.0"));
        assert!(!is_older("0.3.0", "0.2.9"));
        assert!(!is_older("garbage", "0.2.0"));
    }

    #[test]
    fn a_name_query_cannot_smuggle_parameters() {
        let q = serde_urlencode(&NameQuery {
            name: "a&b=c d".into(),
        });
        assert_eq!(q, "name=a%26b%3Dc%20d");
    }
}
