//! Engine events to the main window (only), the tray, and native notifications.

use crate::state::AppState;
use crate::tray;
use berth::engine::EngineEvent;
use berth::model::Status;
use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_notification::NotificationExt;
use tokio::sync::broadcast::error::RecvError;

/// The one event name the UI listens to.
pub const ENGINE_EVENT: &str = "engine-event";

/// Watches Docker through the engine and forwards what changes, for the app's lifetime.
pub fn forward(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        let engine = app.state::<AppState>().engine.clone();
        let mut events = engine.subscribe();
        let _watcher = engine.watch();
        tray::refresh(&app).await;
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            };
            let _ = app.emit_to("main", ENGINE_EVENT, &event);
            match &event {
                EngineEvent::Status { name, status, .. } => {
                    tray::refresh(&app).await;
                    if *status == Status::Stopped && !main_focused(&app) {
                        notify_stopped(&app, name);
                    }
                }
                EngineEvent::Removed { .. } => tray::refresh(&app).await,
                _ => {}
            }
        }
    });
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
            &[("name", name), ("message", &err.message)],
        ))
        .show();
}
