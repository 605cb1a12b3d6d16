//! The daemon's events to the main window (only), the tray, and native notifications. The
//! stream is held for the app's whole life (it also keeps the daemon from its idle exit); if
//! the daemon goes away, the app starts a new one and tells the UI to reload.

use crate::state::AppState;
use crate::tray;
use berth::client::ClientEvent;
use berth::engine::EngineEvent;
use berth::model::Status;
use berth::model::escape_controls;
use futures_util::StreamExt;
use std::time::Duration;
use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_notification::NotificationExt;

/// The event name the UI listens to for engine events.
pub const ENGINE_EVENT: &str = "engine-event";
/// The UI must reload what it shows: events were missed (a new daemon, a slow client).
pub const RESYNC_EVENT: &str = "engine-resync";

const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Follows the daemon's events for the app's lifetime.
pub fn forward(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        let client = app.state::<AppState>().client.clone();
        let mut backoff = Duration::from_millis(100);
        loop {
            match client.events().await {
                Ok(events) => {
                    backoff = Duration::from_millis(100);
                    // Whatever happened while we were not listening is in a fresh list.
                    resync(&app).await;
                    let mut events = std::pin::pin!(events);
                    while let Some(Ok(event)) = events.next().await {
                        match event {
                            ClientEvent::Engine(e) => on_engine_event(&app, e).await,
                            ClientEvent::Resync => resync(&app).await,
                        }
                    }
                }
                Err(e) => eprintln!("berth: lost the daemon's events ({e}); reconnecting"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    });
}

async fn resync(app: &AppHandle) {
    let _ = app.emit_to("main", RESYNC_EVENT, ());
    tray::refresh(app).await;
}

async fn on_engine_event(app: &AppHandle, event: EngineEvent) {
    let _ = app.emit_to("main", ENGINE_EVENT, &event);
    match &event {
        EngineEvent::Status { name, status, .. } => {
            tray::refresh(app).await;
            if *status == Status::Stopped && !main_focused(app) {
                notify_stopped(app, name);
            }
        }
        EngineEvent::Removed { .. } | EngineEvent::Updated { .. } => tray::refresh(app).await,
        _ => {}
    }
}

fn main_focused(app: &AppHandle) -> bool {
    app.get_webview_window("main")
        .and_then(|w| w.is_focused().ok())
        .unwrap_or(false)
}

fn notify_stopped(app: &AppHandle, name: &str) {
    let state = app.state::<AppState>();
    let _ = app
        .notification()
        .builder()
        .title(state.t("notify.stopped_title", &[]))
        .body(state.t("notify.stopped_body", &[("name", name)]))
        .show();
}

/// A tray action failed: tell the user natively, since no window may be open.
pub fn notify_failure(app: &AppHandle, action: &str, err: &berth::Error) {
    let state = app.state::<AppState>();
    let name = action.split_once(':').map(|(_, n)| n).unwrap_or(action);
    let _ = app
        .notification()
        .builder()
        .title(state.t("notify.start_failed_title", &[]))
        .body(state.t(
            "notify.start_failed_body",
            &[("name", name), ("message", &escape_controls(&err.message))],
        ))
        .show();
}
