//! Berth desktop: a thin Tauri shell, a client of the Berth daemon (started here when none
//! runs). Windows, tray, events and the command adapters live here; everything about
//! workspaces lives in the daemon's engine.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod dto;
mod events;
mod i18n;
mod ide;
// Reading a drop is Linux's (WebKitGTK no longer hands pages dropped files); elsewhere only
// its tests use it.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
mod ide_drop;
mod ide_policy;
mod ide_rules;
mod preview;
mod resources;
mod state;
mod tray;
mod update;

#[cfg(test)]
mod bindings;

use berth::client::{self, Autostart, Client};
use state::AppState;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tauri::{AppHandle, Manager, RunEvent, WindowEvent};

/// Set once the quit path has told the daemon; the exit that follows is then let through.
static QUITTING: AtomicBool = AtomicBool::new(false);

fn main() {
    let state = match build_state() {
        Ok(state) => state,
        Err(e) => {
            eprintln!("berth: {e}");
            std::process::exit(1);
        }
    };
    tauri::Builder::default()
        // First: a second launch focuses the running app instead of starting another.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            show_main(app)
        }))
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_updater::Builder::new().build())
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            commands::list_workspaces,
            commands::get_workspace,
            commands::check_name,
            commands::check_project,
            commands::create_workspace,
            commands::start_workspace,
            commands::stop_workspace,
            commands::restart_workspace,
            commands::delete_workspace,
            commands::edit_workspace,
            commands::audit_log,
            commands::follow_logs,
            commands::stop_logs,
            commands::list_images,
            commands::build_image,
            commands::get_settings,
            commands::save_settings,
            commands::open_ide,
            commands::ide_window,
            commands::open_in_browser,
            commands::tray_menu,
            commands::list_activity,
            commands::workspace_activity,
            commands::snooze_workspace,
            commands::list_keys,
            commands::set_key,
            commands::test_key,
            commands::remove_key,
            commands::workspace_usage,
            commands::preview_defaults,
            commands::list_previews,
            commands::create_preview,
            commands::extend_preview,
            commands::share_preview,
            commands::remove_preview,
            commands::open_preview,
            commands::open_preview_in_browser,
            commands::update_status,
            commands::check_update,
            commands::install_update,
            resources::watch_resources,
            resources::stop_resources,
            resources::force_stop_workspace,
            resources::force_stop_preview,
            resources::disk_usage,
            resources::prune,
        ])
        .on_window_event(|window, event| {
            // Closing the main window keeps Berth in the tray; Quit is in the tray menu.
            if let WindowEvent::CloseRequested { api, .. } = event
                && window.label() == "main"
                && window.app_handle().tray_by_id("berth").is_some()
            {
                api.prevent_close();
                let _ = window.hide();
            }
        })
        .setup(|app| {
            tray::create(app.handle());
            events::forward(app.handle().clone());
            quit_on_signals(app.handle().clone());
            update::schedule(app.handle().clone());
            Ok(())
        })
        .build(tauri::generate_context!())
        .expect("error while building Berth")
        .run(|app, event| {
            // The last window closed without a tray (or the OS asks): quit the way Quit does.
            if let RunEvent::ExitRequested { api, .. } = event
                && !QUITTING.load(Ordering::SeqCst)
            {
                api.prevent_exit();
                let app = app.clone();
                tauri::async_runtime::spawn(async move { quit(&app).await });
            }
        });
}

/// Every way out of the app: the daemon hears that Berth quits (and stops the workspaces if
/// the settings say so), then the app exits.
pub async fn quit(app: &AppHandle) {
    if QUITTING.swap(true, Ordering::SeqCst) {
        return;
    }
    tray::quit(app).await;
}

/// Lets the exit of an update's restart through without the quit path: the daemon is not told
/// Berth quits, so no workspace is stopped.
pub fn leave_for_restart() {
    QUITTING.store(true, Ordering::SeqCst);
}

/// SIGTERM, SIGINT and SIGHUP (logout, `kill`, Ctrl-C in a terminal) quit like Quit does.
fn quit_on_signals(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        match berth::signals::quit_requested().await {
            Ok(()) => quit(&app).await,
            Err(e) => {
                eprintln!("berth: cannot listen for signals ({e}); a signal skips stop-on-quit")
            }
        }
    });
}

/// Connects to the daemon (starting it if none runs) before any window exists.
fn build_state() -> berth::Result<AppState> {
    let client = tauri::async_runtime::block_on(async {
        Client::connect(&client::data_dir()?, Autostart::from_env()).await
    })?;
    let client = Arc::new(client);
    let language = tauri::async_runtime::block_on(client.settings())?.language;
    Ok(AppState::new(client, i18n::I18n::new(language.as_deref())))
}

pub fn show_main(app: &AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}
