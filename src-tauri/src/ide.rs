//! IDE windows: one per workspace, on the workspace's URL. Remote content, so: no capability
//! (nothing grants `ide-*` windows anything), navigation only within the workspace's own
//! origin (other links go to the system browser), and a cookie/storage directory of its own.

use crate::dto::IdeWindowView;
use crate::state::AppState;
use berth::{Code, Error, Result};
use tauri::webview::{Cookie, NewWindowResponse, PageLoadEvent};
use tauri::{AppHandle, Manager, Url, WebviewUrl, WebviewWindowBuilder};

fn label(id: &berth::model::WorkspaceId) -> String {
    format!("ide-{id}")
}

/// Starts the workspace if needed (progress reaches the main window as engine events), logs
/// the window in, then opens its IDE window or brings the open one to the front.
pub async fn open(app: &AppHandle, state: &AppState, name: &str) -> Result<IdeWindowView> {
    let session = state.client.ide_login(name).await?;
    let ws = &session.workspace.workspace;
    let label = label(&ws.id);
    if let Some(window) = app.get_webview_window(&label) {
        let _ = window.unminimize();
        let _ = window.set_focus();
        return view_of(state, &label, &session.url);
    }
    let bad_url = |e: url::ParseError| {
        Error::new(Code::Io, format!("bad workspace URL {}: {e}", session.url))
    };
    let url: Url = session.url.parse().map_err(bad_url)?;
    // With a login, the window first opens a page that needs none (the health path, same
    // origin), gets the session cookie in its own store, and only then loads the IDE.
    let first: Url = match &session.cookie {
        Some(_) => url.join(&ws.ide.health_path).map_err(bad_url)?,
        None => url.clone(),
    };
    let origin = url.origin();
    let data_dir = state
        .client
        .data_dir()
        .join("webviews")
        .join(ws.id.to_string());
    let loaded_label = label.clone();
    let window = WebviewWindowBuilder::new(app, &label, WebviewUrl::External(first))
        .title(ws.name.as_str())
        .inner_size(1280.0, 820.0)
        .data_directory(data_dir)
        .on_navigation(move |target| {
            if target.origin() == origin {
                return true;
            }
            open_outside(target);
            false
        })
        .on_new_window(|target, _features| {
            open_outside(&target);
            NewWindowResponse::Deny
        })
        .on_page_load(move |window, payload| {
            if payload.event() == PageLoadEvent::Finished {
                let state = window.app_handle().state::<AppState>();
                state
                    .ide_loaded
                    .lock()
                    .expect("ide lock")
                    .insert(loaded_label.clone(), payload.url().to_string());
            }
        })
        .build()
        .map_err(|e| Error::new(Code::Io, format!("cannot open the IDE window: {e}")))?;
    if let Some(login) = session.cookie {
        let cookie = Cookie::build((login.name, login.value))
            .domain("127.0.0.1")
            .path("/")
            .http_only(true)
            .build();
        window
            .set_cookie(cookie)
            .and_then(|_| window.navigate(url))
            .map_err(|e| Error::new(Code::Io, format!("cannot log the IDE window in: {e}")))?;
    }
    view_of(state, &label, &session.url)
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

fn open_outside(url: &Url) {
    if matches!(url.scheme(), "http" | "https" | "mailto") {
        let _ = tauri_plugin_opener::open_url(url.as_str(), None::<&str>);
    }
}
