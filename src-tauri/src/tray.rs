//! The tray: every workspace with its status and Start/Stop/Open IDE, then Open Berth and
//! Quit. Rebuilt on every status change and language switch. Failing to create it (no tray
//! host) is logged and the app goes on.

use crate::i18n::I18n;
use crate::ide;
use crate::state::AppState;
use berth::model::{QuitBehavior, Status, Workspace};
use tauri::image::Image;
use tauri::menu::{Menu, MenuBuilder, MenuEvent, SubmenuBuilder};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Wry};

const TRAY_ID: &str = "berth";
const ICON_RUNNING: &[u8] = include_bytes!("../../icons/tray-running.png");
const ICON_STOPPED: &[u8] = include_bytes!("../../icons/tray-stopped.png");

pub fn create(app: &AppHandle) {
    let state = app.state::<AppState>();
    let built = menu(app, &state, &[]).and_then(|menu| {
        TrayIconBuilder::with_id(TRAY_ID)
            .icon(Image::from_bytes(ICON_STOPPED)?)
            .tooltip("Berth")
            .menu(&menu)
            .show_menu_on_left_click(true)
            .on_menu_event(on_menu)
            .build(app)
    });
    if let Err(e) = built {
        eprintln!("berth: no tray icon ({e}); the main window stays the way in");
    }
}

/// Rebuilds the menu and icon from the current workspaces.
pub async fn refresh(app: &AppHandle) {
    let state = app.state::<AppState>();
    let Ok(list) = state.engine.list().await else {
        return;
    };
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    if let Ok(menu) = menu(app, &state, &list) {
        let _ = tray.set_menu(Some(menu));
    }
    let running = list.iter().any(|w| w.status == Status::Running);
    if let Ok(icon) = Image::from_bytes(if running { ICON_RUNNING } else { ICON_STOPPED }) {
        let _ = tray.set_icon(Some(icon));
    }
}

pub async fn apply_language(app: &AppHandle, state: &AppState, choice: Option<&str>) {
    *state.i18n.write().expect("i18n lock") = I18n::new(choice);
    refresh(app).await;
}

fn menu(app: &AppHandle, state: &AppState, list: &[Workspace]) -> tauri::Result<Menu<Wry>> {
    let mut builder = MenuBuilder::new(app);
    if list.is_empty() {
        builder = builder.text("none", state.t("tray.no_workspaces", &[]));
    }
    for ws in list {
        let name = ws.name.as_str();
        let status = state.t(&format!("status.{}", ws.status), &[]);
        let title = state.t("tray.item", &[("name", name), ("status", &status)]);
        let mut sub = SubmenuBuilder::new(app, title);
        sub = if ws.status == Status::Running {
            sub.text(format!("stop:{name}"), state.t("tray.stop", &[]))
        } else {
            sub.text(format!("start:{name}"), state.t("tray.start", &[]))
        };
        sub = sub.text(format!("ide:{name}"), state.t("tray.open_ide", &[]));
        builder = builder.item(&sub.build()?);
    }
    builder
        .separator()
        .text("open", state.t("tray.open_berth", &[]))
        .text("quit", state.t("tray.quit", &[]))
        .build()
}

fn on_menu(app: &AppHandle, event: MenuEvent) {
    let id = event.id().as_ref().to_string();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let result = match id.split_once(':') {
            Some(("start", name)) => state.engine.start(name).await.map(drop),
            Some(("stop", name)) => state.engine.stop(name).await.map(drop),
            Some(("ide", name)) => ide::open(&app, &state, name).await.map(drop),
            _ if id == "open" => {
                crate::show_main(&app);
                Ok(())
            }
            _ if id == "quit" => {
                quit(&app).await;
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            crate::events::notify_failure(&app, &id, &e);
        }
    });
}

/// Quits, first stopping workspaces if the settings say so.
pub async fn quit(app: &AppHandle) {
    let state = app.state::<AppState>();
    let stop_all = state
        .engine
        .settings()
        .is_ok_and(|s| s.on_quit == QuitBehavior::StopWorkspaces);
    if stop_all && let Ok(list) = state.engine.list().await {
        for ws in list.iter().filter(|w| w.status == Status::Running) {
            let _ = state.engine.stop(ws.name.as_str()).await;
        }
    }
    app.exit(0);
}
