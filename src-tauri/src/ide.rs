//! IDE windows: one per workspace, on the workspace's URL behind Berth's gateway. Remote,
//! untrusted content, so: no capability (nothing grants `ide-*` windows anything),
//! navigation only within the workspace's own origin (blocked, not forwarded), user-initiated
//! new windows to the system browser (http(s), rate-limited), every load confined to that
//! origin below the page (content rules, `ide_rules`), downloads held in Berth's data folder
//! until the user picks a place in a save dialog, and a cookie/storage folder of its own.

use crate::dto::IdeWindowView;
use crate::ide_policy::{self, LinkLimiter};
use crate::ide_rules;
use crate::state::AppState;
use berth::api::Viewer;
use berth::{Code, Error, Result};
use std::sync::Mutex;
use std::time::Instant;
use tauri::webview::{DownloadEvent, NewWindowResponse, PageLoadEvent};
use tauri::{AppHandle, Manager, Url, WebviewUrl, WebviewWindowBuilder};
use tauri_plugin_dialog::DialogExt;

fn label(id: &berth::model::WorkspaceId) -> String {
    format!("ide-{id}")
}

/// Starts the workspace if needed (progress reaches the main window as engine events), then
/// opens its IDE window on a one-time login link (the gateway sets Berth's cookie in this
/// window's own store and leads on to the IDE), or brings the open one to the front.
pub async fn open(app: &AppHandle, state: &AppState, name: &str) -> Result<IdeWindowView> {
    let session = state.client.ide_login(name, Viewer::AppWindow).await?;
    let ws = &session.workspace.workspace;
    let label = label(&ws.id);
    if let Some(window) = app.get_webview_window(&label) {
        let _ = window.unminimize();
        let _ = window.set_focus();
        return view_of(state, &label, &session.url);
    }
    let bad_url = |e: url::ParseError| Error::new(Code::Io, format!("bad workspace URL: {e}"));
    let url: Url = session.url.parse().map_err(bad_url)?;
    let login: Url = session.login_url.parse().map_err(bad_url)?;
    if login.origin() != url.origin() {
        return Err(Error::new(
            Code::Io,
            "the login link is not on the workspace's origin",
        ));
    }
    let data_dir = state.client.data_dir().to_path_buf();
    let store = data_dir.join("webviews").join(ws.id.to_string());
    let loaded_label = label.clone();
    let origin = url.origin();
    let window = remote_window(
        app,
        Remote {
            label: &label,
            title: ws.name.as_str(),
            url: &url,
            store: store.clone(),
            staging: data_dir.join("downloads").join(ws.id.to_string()),
            store_id: *ws.id.0.as_bytes(),
        },
        move |window, payload| {
            // The blank page before the login is not the IDE.
            if payload.event() == PageLoadEvent::Finished && payload.url().origin() == origin {
                let state = window.app_handle().state::<AppState>();
                state
                    .ide_loaded
                    .lock()
                    .expect("ide lock")
                    .insert(loaded_label.clone(), payload.url().to_string());
            }
        },
    )
    .await?;
    let cannot = |e: tauri::Error| Error::new(Code::Io, format!("cannot open the IDE window: {e}"));
    #[cfg(target_os = "linux")]
    window
        .with_webview({
            let protected = berth::model::Protected::of_user(&data_dir);
            move |webview| crate::ide_drop::attach(&webview.inner(), protected)
        })
        .map_err(cannot)?;
    window.navigate(login).map_err(cannot)?;
    view_of(state, &label, &session.url)
}

/// A window of remote content (an IDE, a preview).
pub struct Remote<'a> {
    pub label: &'a str,
    pub title: &'a str,
    /// Its origin is the only one it may navigate to or load from.
    pub url: &'a Url,
    /// Its own cookies and storage.
    pub store: std::path::PathBuf,
    /// Where its downloads wait for the save dialog.
    pub staging: std::path::PathBuf,
    /// macOS: the WKWebView data store of its own (one per workspace, one per preview).
    #[cfg_attr(not(target_os = "macos"), allow(dead_code))]
    pub store_id: [u8; 16],
}

/// Builds a remote-content window, blank until its content rules are in force; the caller
/// navigates it. No capability names such windows, so they can call nothing.
pub async fn remote_window(
    app: &AppHandle,
    remote: Remote<'_>,
    on_load: impl Fn(tauri::WebviewWindow, tauri::webview::PageLoadPayload<'_>) + Send + Sync + 'static,
) -> Result<tauri::WebviewWindow> {
    let origin = remote.url.origin();
    let links = Mutex::new(LinkLimiter::new());
    let staging = remote.staging;
    let blank = WebviewUrl::External("about:blank".parse().expect("about:blank"));
    let builder = WebviewWindowBuilder::new(app, remote.label, blank)
        .title(remote.title)
        .inner_size(1280.0, 820.0)
        .data_directory(remote.store.clone())
        // HTML5 drag and drop reaches the page (files dropped into the IDE's explorer upload
        // there; on Linux with `ide_drop`'s help).
        .disable_drag_drop_handler()
        .on_navigation({
            let origin = origin.clone();
            move |target| ide_policy::navigation_allowed(&origin, target)
        })
        .on_new_window(move |target, _features| {
            let allowed = links
                .lock()
                .expect("links lock")
                .allow(&target, Instant::now());
            if allowed {
                let _ = tauri_plugin_opener::open_url(target.as_str(), None::<&str>);
            }
            NewWindowResponse::Deny
        })
        .on_download(move |webview, event| on_download(&webview, &staging, event))
        .on_page_load(on_load);
    // WKWebView keeps cookies and storage per data store, not per folder.
    #[cfg(target_os = "macos")]
    let builder = builder.data_store_identifier(remote.store_id);
    let cannot = |e: tauri::Error| Error::new(Code::Io, format!("cannot open the window: {e}"));
    let window = builder.build().map_err(cannot)?;
    if let Err(e) =
        ide_rules::confine(&window, &remote.store.join("content-rules"), remote.url).await
    {
        let _ = window.close();
        return Err(e);
    }
    Ok(window)
}

/// A download lands in `staging` (private to the user, inside Berth's data folder); once it
/// is complete a save dialog asks where it goes. Cancelled: the file is deleted.
fn on_download(
    webview: &tauri::Webview,
    staging: &std::path::Path,
    event: DownloadEvent<'_>,
) -> bool {
    match event {
        DownloadEvent::Requested { destination, .. } => {
            if std::fs::create_dir_all(staging).is_err() {
                return false;
            }
            let nonce = uuid::Uuid::new_v4().as_u64_pair().0;
            *destination = ide_policy::staging_path(staging, destination, nonce);
            true
        }
        DownloadEvent::Finished { path, success, .. } => {
            let Some(staged) = path.filter(|p| p.starts_with(staging)) else {
                return true;
            };
            if !success {
                let _ = std::fs::remove_file(&staged);
                return true;
            }
            let name = ide_policy::offered_name(&staged);
            webview
                .app_handle()
                .dialog()
                .file()
                .set_file_name(&name)
                .save_file(move |chosen| {
                    let target = chosen.and_then(|c| c.into_path().ok());
                    if let Some(target) = target
                        && std::fs::rename(&staged, &target).is_err()
                        && std::fs::copy(&staged, &target).is_err()
                    {
                        eprintln!("berth: could not save the download to {}", target.display());
                    }
                    let _ = std::fs::remove_file(&staged);
                });
            true
        }
        _ => true,
    }
}

/// The IDE window of `name`, if open.
pub async fn view(app: &AppHandle, state: &AppState, name: &str) -> Result<Option<IdeWindowView>> {
    let ws = state.client.show(name).await?.workspace;
    let label = label(&ws.id);
    match app.get_webview_window(&label) {
        None => Ok(None),
        Some(window) => {
            let url = window.url().map(|u| u.to_string()).unwrap_or_default();
            view_of(state, &label, &url).map(Some)
        }
    }
}

/// Closes the IDE window of `name` (before the workspace is deleted).
pub async fn close(app: &AppHandle, state: &AppState, name: &str) -> Result<()> {
    let ws = state.client.show(name).await?.workspace;
    if let Some(window) = app.get_webview_window(&label(&ws.id)) {
        let _ = window.close();
    }
    Ok(())
}

fn view_of(state: &AppState, label: &str, url: &str) -> Result<IdeWindowView> {
    let loaded = state
        .ide_loaded
        .lock()
        .expect("ide lock")
        .get(label)
        .cloned();
    Ok(IdeWindowView {
        label: label.to_string(),
        url: loaded.clone().unwrap_or_else(|| url.to_string()),
        loaded: loaded.is_some(),
    })
}
