//! Berth desktop: a thin Tauri shell over the `berth` engine. Windows, tray, events and the
//! command adapters live here; everything about workspaces lives in the engine.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod dto;
mod events;
mod i18n;
mod ide;
mod logs;
mod state;
mod tray;

#[cfg(test)]
mod bindings;

use berth::engine::{Engine, default_data_dir};
use state::AppState;
use std::sync::Arc;
use tauri::{AppHandle, Manager, WindowEvent};

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
            Ok(())
        })
        .run(tauri::generate_context!())
        .expect("error while running Berth");
}

fn build_state() -> berth::Result<AppState> {
    let engine = Arc::new(Engine::open(&default_data_dir()?)?);
    let language = engine.settings()?.language;
    Ok(AppState::new(engine, i18n::I18n::new(language.as_deref())))
}

pub fn show_main(app: &AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}
