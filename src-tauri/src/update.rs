//! Signed updates of the installed app (tauri-plugin-updater).
//!
//! A check asks the update endpoint; a newer version is downloaded and verified at once — a
//! minisign signature by Berth's key over the package bytes *and* the version it was signed
//! for (`requireSignedVersion`), so an endpoint cannot pass an older genuine package off as a
//! new one. Only then is it "ready": Settings → Updates offers "Install and restart", the tray
//! an item. Installing hands the package to the system's package tool (pkexec or sudo with
//! dpkg/rpm) and restarts the app. The daemon is not stopped: workspaces keep running, and the
//! restarted app, being newer, has the daemon hand over to its version (DAEMON.md 15).
//!
//! The endpoint may be plain http only on loopback (a local mirror, the tests): the settings
//! refuse anything else (`UpdateSettings::validate`), which is why the plugin's own https rule
//! is switched off in tauri.conf.json. Packages themselves may come over http: their signature
//! is what protects them.

use crate::state::AppState;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_updater::{Error as PluginError, Update, UpdaterExt};
use ts_rs::TS;

/// The app event carrying an `UpdateView` whenever it changes.
pub const EVENT: &str = "update";
/// How often the automatic check looks whether a day has passed since the last check.
const TICK: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);
/// A check that takes longer than this is given up (and tried again next time).
const TIMEOUT: Duration = Duration::from_secs(60);
/// A download that takes longer than this, or sends nothing for `STALL`, is given up.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const STALL: Duration = Duration::from_secs(60);
/// Berth's packages are tens of MiB; a server sending more is not sending Berth (and the
/// whole package is held in memory until it is installed).
const MAX_PACKAGE: u64 = 1 << 30;

/// What Settings → Updates shows.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct UpdateView {
    /// This app's version (Cargo.toml's).
    pub current: String,
    /// Installed from a package, so it can replace itself. A build run from the sources
    /// cannot: its updates come with the sources.
    pub packaged: bool,
    pub state: UpdateState,
    /// When the last check ended (Unix ms).
    pub checked_at_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum UpdateState {
    Idle,
    Checking,
    UpToDate,
    Downloading {
        version: String,
        received: u64,
        total: Option<u64>,
    },
    /// Downloaded and verified; installs on request.
    Ready {
        version: String,
        /// What's new (the release's CHANGELOG section).
        notes: String,
    },
    Installing {
        version: String,
    },
    Failed {
        failure: Failure,
        /// What the plugin or the package tool said, for the curious.
        detail: String,
    },
}

/// Why an update did not happen. Nothing was installed in any of these cases.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Failure {
    /// The endpoint did not answer, or not with a release.
    Unreachable,
    /// The release has no package for this system.
    NoPackage,
    /// The endpoint offers an older version than this one.
    Older { offered: String },
    /// The package's signature is not Berth's, or not for the version offered — or the
    /// download came short, which breaks the signature too.
    Signature,
    /// The download broke off, stalled, or grew past any package of Berth's.
    Download,
    /// The release names its package at a plain-http address off this machine.
    Insecure,
    /// The package tool could not get administrator rights (cancelled, no pkexec/sudo).
    Permission,
    /// The package tool ran and failed.
    Install,
}

/// The updater's state, shared by the commands, the automatic check and the tray.
#[derive(Default)]
pub struct Updates {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    state: Option<UpdateState>,
    checked_at: Option<SystemTime>,
    /// The verified package, held until it is installed.
    ready: Option<Arc<(Update, Vec<u8>)>>,
    busy: bool,
}

/// Whether this binary came from a package (the bundler marks it), so it can replace itself.
pub fn packaged() -> bool {
    tauri::utils::platform::bundle_type().is_some()
}

impl Updates {
    pub fn view(&self) -> UpdateView {
        let inner = self.inner.lock().expect("updates lock");
        UpdateView {
            current: berth::api::VERSION.to_string(),
            packaged: packaged(),
            state: inner.state.clone().unwrap_or(UpdateState::Idle),
            checked_at_ms: inner.checked_at.map(unix_ms),
        }
    }

    /// The version waiting to be installed (for the tray).
    pub fn ready_version(&self) -> Option<String> {
        let inner = self.inner.lock().expect("updates lock");
        inner.ready.as_ref().map(|r| r.0.version.clone())
    }

    fn set(&self, app: &AppHandle, state: UpdateState) {
        self.inner.lock().expect("updates lock").state = Some(state);
        let _ = app.emit(EVENT, self.view());
    }

    /// Takes the one check/install slot; `false` when one runs already.
    fn begin(&self) -> bool {
        let mut inner = self.inner.lock().expect("updates lock");
        !std::mem::replace(&mut inner.busy, true)
    }

    fn end(&self) {
        self.inner.lock().expect("updates lock").busy = false;
    }
}

/// Checks now; a newer version is downloaded and verified before this returns.
pub async fn check(app: &AppHandle) -> UpdateView {
    let updates = &app.state::<AppState>().updates;
    if !updates.begin() {
        return updates.view();
    }
    let state = check_and_fetch(app).await;
    updates.inner.lock().expect("updates lock").checked_at = Some(SystemTime::now());
    updates.end();
    updates.set(app, state);
    crate::tray::redraw(app);
    updates.view()
}

async fn check_and_fetch(app: &AppHandle) -> UpdateState {
    let updates = &app.state::<AppState>().updates;
    // A package fetched by an earlier check is dropped: this check says what is current.
    updates.inner.lock().expect("updates lock").ready = None;
    updates.set(app, UpdateState::Checking);
    let settings = match app.state::<AppState>().client.settings().await {
        Ok(s) => s.updates,
        Err(e) => return failed(Failure::Unreachable, e.message),
    };
    // What the endpoint offered, kept by the comparator: an older offer is reported as such.
    let offered = Arc::new(Mutex::new(None::<String>));
    let seen = offered.clone();
    let mut builder = app
        .updater_builder()
        .timeout(TIMEOUT)
        // Reaches the download too: a server that stops sending is given up on, and a
        // redirect may only lead where an update address may point.
        .configure_client(|client| client.read_timeout(STALL).redirect(redirects()))
        .version_comparator(move |current, release| {
            *seen.lock().expect("offered lock") = Some(release.version.to_string());
            newer_release(&current, &release.version)
        });
    if let Some(endpoint) = &settings.endpoint {
        match endpoint.parse() {
            Ok(url) => match builder.endpoints(vec![url]) {
                Ok(b) => builder = b,
                Err(e) => return failed(Failure::Unreachable, e.to_string()),
            },
            Err(e) => return failed(Failure::Unreachable, format!("{endpoint}: {e}")),
        }
    }
    let checked = match builder.build() {
        Ok(updater) => updater.check().await,
        Err(e) => Err(e),
    };
    let update = match checked {
        Ok(Some(update)) => update,
        Ok(None) => {
            let offered = offered.lock().expect("offered lock").clone();
            return match offered {
                // The plugin has dropped any leading `v` from the version it parsed.
                Some(v) if berth::client::is_older(&v, berth::api::VERSION) => {
                    failed(Failure::Older { offered: v }, String::new())
                }
                _ => UpdateState::UpToDate,
            };
        }
        // Whatever the answer was, it was no release: the server is not one.
        Err(e) => {
            let failure = match classify(&e) {
                Failure::Download => Failure::Unreachable,
                other => other,
            };
            return failed(failure, e.to_string());
        }
    };
    if let Err(why) = berth::model::check_update_url(&update.download_url) {
        return failed(Failure::Insecure, why);
    }
    let version = update.version.clone();
    let mut received = 0u64;
    let mut last_emit = std::time::Instant::now();
    let too_big = tokio::sync::Notify::new();
    let download = update.download(
        |chunk, total| {
            received += chunk as u64;
            if received > MAX_PACKAGE || total.is_some_and(|t| t > MAX_PACKAGE) {
                too_big.notify_one();
            }
            // A progress event at most every 100 ms: the UI redraws a bar, not a log.
            if last_emit.elapsed() >= Duration::from_millis(100) {
                last_emit = std::time::Instant::now();
                updates.set(
                    app,
                    UpdateState::Downloading {
                        version: version.clone(),
                        received,
                        total,
                    },
                );
            }
        },
        || {},
    );
    let downloaded = tokio::select! {
        done = tokio::time::timeout(DOWNLOAD_TIMEOUT, download) => match done {
            Ok(result) => result,
            Err(_) => {
                let why = format!("no end after {} min", DOWNLOAD_TIMEOUT.as_secs() / 60);
                return failed(Failure::Download, why);
            }
        },
        () = too_big.notified() => {
            return failed(Failure::Download, format!("larger than {} MiB", MAX_PACKAGE >> 20));
        }
    };
    match downloaded {
        Ok(bytes) => {
            let ready = UpdateState::Ready {
                version: update.version.clone(),
                notes: update.body.clone().unwrap_or_default(),
            };
            updates.inner.lock().expect("updates lock").ready = Some(Arc::new((update, bytes)));
            ready
        }
        Err(e) => failed(classify(&e), e.to_string()),
    }
}

/// Where a redirect may lead: where an update address may point (https, or http on this
/// machine), in at most five hops.
fn redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 5 {
            return attempt.error("more than five redirects");
        }
        match berth::model::check_update_url(attempt.url()) {
            Ok(()) => attempt.follow(),
            Err(why) => attempt.error(why),
        }
    })
}

/// Whether `offered` is an update for `current`: newer, and a release — a pre-release or a
/// build-tagged version is never offered to everyone.
fn newer_release(current: &semver::Version, offered: &semver::Version) -> bool {
    offered > current && offered.pre.is_empty() && offered.build.is_empty()
}

/// Installs the verified package and restarts into the new version. Returns only when it
/// could not: the state says why (a refused password leaves the app as it was; a package tool
/// that stopped half way is named, with how to complete it).
pub async fn install_and_restart(app: &AppHandle) -> UpdateView {
    let updates = &app.state::<AppState>().updates;
    let ready = updates.inner.lock().expect("updates lock").ready.clone();
    let Some(ready) = ready else {
        return updates.view();
    };
    if !packaged() || !updates.begin() {
        return updates.view();
    }
    updates.set(
        app,
        UpdateState::Installing {
            version: ready.0.version.clone(),
        },
    );
    // The package tool may wait on a password dialog: off the async runtime.
    let job = ready.clone();
    let installed = tauri::async_runtime::spawn_blocking(move || job.0.install(&job.1)).await;
    updates.end();
    match installed {
        Ok(Ok(())) => {
            // Not the quit path: the daemon hears nothing, so "stop workspaces when Berth
            // quits" does not apply and every workspace keeps running through the update.
            crate::leave_for_restart();
            app.restart();
        }
        Ok(Err(e)) => updates.set(app, failed(classify(&e), e.to_string())),
        Err(e) => updates.set(app, failed(Failure::Install, e.to_string())),
    }
    crate::tray::redraw(app);
    updates.view()
}

/// The daily automatic check, while the settings ask for it and the app is a package.
pub fn schedule(app: AppHandle) {
    if !packaged() {
        return;
    }
    tauri::async_runtime::spawn(async move {
        loop {
            let state = app.state::<AppState>();
            let auto = state
                .client
                .settings()
                .await
                .map(|s| s.updates.auto_check)
                .unwrap_or(false);
            let last = state.updates.inner.lock().expect("updates lock").checked_at;
            if due(auto, last, SystemTime::now()) {
                check(&app).await;
            }
            tokio::time::sleep(TICK).await;
        }
    });
}

/// Whether the automatic check should run now: on, and never checked or a day ago.
fn due(auto: bool, last: Option<SystemTime>, now: SystemTime) -> bool {
    auto && last.is_none_or(|t| now.duration_since(t).is_ok_and(|d| d >= DAY))
}

fn failed(failure: Failure, detail: String) -> UpdateState {
    UpdateState::Failed { failure, detail }
}

/// The plugin's error, as what the user can do about it.
fn classify(e: &PluginError) -> Failure {
    match e {
        PluginError::Minisign(_)
        | PluginError::Base64(_)
        | PluginError::SignatureUtf8(_)
        | PluginError::SignedVersionMismatch { .. }
        | PluginError::MissingSignedVersion
        | PluginError::InvalidUpdaterFormat => Failure::Signature,
        PluginError::TargetNotFound(_) | PluginError::TargetsNotFound(_) => Failure::NoPackage,
        // No pkexec, no sudo: nothing could ask for the rights.
        PluginError::AuthenticationFailed => Failure::Permission,
        PluginError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => Failure::Permission,
        PluginError::Reqwest(_) | PluginError::Network(_) => Failure::Download,
        PluginError::PackageInstallFailed
        | PluginError::DebInstallFailed
        | PluginError::TempDirNotFound
        | PluginError::Io(_) => Failure::Install,
        _ => Failure::Unreachable,
    }
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_automatic_check_runs_daily_and_only_when_on() {
        let now = SystemTime::now();
        assert!(due(true, None, now));
        assert!(!due(false, None, now));
        assert!(!due(true, Some(now - Duration::from_secs(3600)), now));
        assert!(due(true, Some(now - DAY), now));
        assert!(!due(false, Some(now - 2 * DAY), now));
        // A clock set back: not due until a day passes from the recorded check.
        assert!(!due(true, Some(now + DAY), now));
    }

    #[test]
    fn only_newer_releases_are_offered() {
        let v = |s: &str| semver::Version::parse(s).unwrap();
        assert!(newer_release(&v("0.1.0"), &v("0.1.1")));
        assert!(newer_release(&v("0.1.0"), &v("1.0.0")));
        assert!(!newer_release(&v("0.1.0"), &v("0.1.0")));
        assert!(!newer_release(&v("0.1.1"), &v("0.1.0")));
        assert!(!newer_release(&v("0.1.0"), &v("0.2.0-rc.1")));
        assert!(!newer_release(&v("0.1.0"), &v("0.1.0+evil")));
        assert!(!newer_release(&v("0.1.0"), &v("0.2.0+build.7")));
    }

    #[test]
    fn errors_become_what_the_user_can_act_on() {
        assert_eq!(
            classify(&PluginError::SignedVersionMismatch {
                signed: "0.1.0".into(),
                announced: "9.9.9".into()
            }),
            Failure::Signature
        );
        assert_eq!(
            classify(&PluginError::MissingSignedVersion),
            Failure::Signature
        );
        assert_eq!(
            classify(&PluginError::TargetsNotFound(vec!["linux-x86_64".into()])),
            Failure::NoPackage
        );
        assert_eq!(
            classify(&PluginError::AuthenticationFailed),
            Failure::Permission
        );
        assert_eq!(
            classify(&PluginError::PackageInstallFailed),
            Failure::Install
        );
        assert_eq!(
            classify(&PluginError::ReleaseNotFound),
            Failure::Unreachable
        );
        // Classified as a download failure; a check reports it as an unreachable server.
        assert_eq!(
            classify(&PluginError::Network("status 500".into())),
            Failure::Download
        );
    }
}
