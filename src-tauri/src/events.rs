//! The daemon's events to the main window (only), the tray, and native notifications. The
//! stream is held for the app's whole life (it also keeps the daemon from its idle exit); if
//! the daemon goes away, the app starts a new one and tells the UI to reload.

use crate::state::AppState;
use crate::tray;
use berth::activity::{ActivityState, ActivityView};
use berth::client::ClientEvent;
use berth::engine::EngineEvent;
use berth::model::Status;
use berth::model::{escape_controls, human_duration};
use futures_util::StreamExt;
use std::collections::HashMap;
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
            // A warned workspace's stop gets its own notice (with the reason) just after.
            let warned = warnings(app).contains_key(name);
            if *status == Status::Stopped && !warned && !main_focused(app) {
                notify_stopped(app, name);
            }
        }
        EngineEvent::Activity { activity } => on_activity(app, activity).await,
        EngineEvent::Removed { .. } | EngineEvent::Updated { .. } => tray::refresh(app).await,
        // Its time is up (or it went otherwise): its window has nothing left to show.
        EngineEvent::PreviewRemoved { id, .. } => crate::preview::close(app, id),
        _ => {}
    }
}

fn warnings(app: &AppHandle) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
    app.state::<AppState>()
        .inner()
        .warnings
        .lock()
        .expect("warnings lock")
}

/// Warnings come and go: a native notification when one comes (and when the stop happens),
/// the tray's countdown while any is out. The main window shows its banner from the same event.
async fn on_activity(app: &AppHandle, activity: &ActivityView) {
    let name = activity.name.as_str();
    let was_warned = warnings(app).remove(name).is_some();
    match activity.state {
        ActivityState::Warned { stops_at_ms, .. } => {
            warnings(app).insert(name.to_string(), stops_at_ms);
            if !was_warned {
                let left = human_duration((stops_at_ms - activity.now_ms).max(0) / 1000);
                notify(
                    app,
                    "notify.warned_title",
                    "notify.warned_body",
                    &[("name", name), ("left", &left)],
                );
            }
            tray::tick(app);
        }
        ActivityState::StoppedIdle {
            stopped_at_ms,
            idle_since_ms,
        } => {
            let idle = human_duration((stopped_at_ms - idle_since_ms).max(0) / 1000);
            notify(
                app,
                "notify.stopped_idle_title",
                "notify.stopped_idle_body",
                &[("name", name), ("idle", &idle)],
            );
        }
        _ => {}
    }
    tray::refresh(app).await;
}

fn notify(app: &AppHandle, title: &str, body: &str, args: &[(&str, &str)]) {
    let state = app.state::<AppState>();
    let _ = app
        .notification()
        .builder()
        .title(state.t(title, &[]))
        .body(state.t(body, args))
        .show();
}

fn main_focused(app: &AppHandle) -> bool {
    app.get_webview_window("main")
        .and_then(|w| w.is_focused().ok())
        .unwrap_or(false)
}

fn notify_stopped(app: &AppHandle, name: &str) {
    notify(
        app,
        "notify.stopped_title",
        "notify.stopped_body",
        &[("name", name)],
    );
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
