//! The tray: every workspace with its status and Start/Stop/Open IDE, then Open Berth and
//! Quit. Rebuilt on every status change and language switch. Failing to create it (no tray
//! host) is logged and the app goes on.

use crate::i18n::I18n;
use crate::ide;
use crate::state::AppState;
use berth::model::{Status, Workspace, human_duration};
use std::collections::HashMap;
use tauri::image::Image;
use tauri::menu::{Menu, MenuBuilder, MenuEvent, SubmenuBuilder};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Wry};

const TRAY_ID: &str = "berth";
const ICON_RUNNING: &[u8] = include_bytes!("../../icons/tray-running.png");
const ICON_STOPPED: &[u8] = include_bytes!("../../icons/tray-stopped.png");

pub fn create(app: &AppHandle) {
    let state = app.state::<AppState>();
    let built = menu(app, &state, &[], &HashMap::new()).and_then(|menu| {
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
    let Ok(views) = state.client.list().await else {
        return;
    };
    *state.tray_list.lock().expect("tray lock") = views.into_iter().map(|v| v.workspace).collect();
    redraw(app);
}

/// Draws the tray from the list it last fetched (the countdown redraws it every second
/// without asking the daemon).
pub fn redraw(app: &AppHandle) {
    let state = app.state::<AppState>();
    let list = state.tray_list.lock().expect("tray lock").clone();
    let warnings = state.warnings.lock().expect("warnings lock").clone();
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    if let Ok(menu) = menu(app, &state, &list, &warnings) {
        let _ = tray.set_menu(Some(menu));
    }
    let running = list.iter().any(|w| w.status == Status::Running);
    if let Ok(icon) = Image::from_bytes(if running { ICON_RUNNING } else { ICON_STOPPED }) {
        let _ = tray.set_icon(Some(icon));
    }
}

/// Redraws the tray every second while a warning is out, for its countdown; then stops.
pub fn tick(app: &AppHandle) {
    let state = app.state::<AppState>();
    if state
        .ticking
        .swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let state = app.state::<AppState>();
            if state.warnings.lock().expect("warnings lock").is_empty() {
                state
                    .ticking
                    .store(false, std::sync::atomic::Ordering::SeqCst);
                return;
            }
            redraw(&app);
        }
    });
}

/// What the tray menu shows now: what a tray host would draw, readable without one.
pub fn titles(state: &AppState) -> Vec<String> {
    state.tray_titles.lock().expect("tray lock").clone()
}

pub async fn apply_language(app: &AppHandle, state: &AppState, choice: Option<&str>) {
    *state.i18n.write().expect("i18n lock") = I18n::new(choice);
    refresh(app).await;
}

/// One line of the tray menu: a workspace with its actions, or a plain item.
#[derive(Debug, PartialEq)]
enum Entry {
    Workspace {
        title: String,
        /// (menu id, label): `start:<name>` or `stop:<name>`, then `ide:<name>`.
        actions: Vec<(String, String)>,
    },
    Item(String, String),
    Separator,
}

/// What the tray shows for `list`, in the current language; a warned workspace (`warnings`:
/// name → when it stops) shows its countdown and "Keep running" first; a verified update
/// waiting to be installed (`update`: its version) gets an item above Quit. Pure, so it is
/// tested without a tray host.
fn entries(
    i18n: &I18n,
    list: &[Workspace],
    warnings: &HashMap<String, i64>,
    update: Option<&str>,
    now_ms: i64,
) -> Vec<Entry> {
    let mut out = Vec::new();
    if list.is_empty() {
        out.push(Entry::Item(
            "none".into(),
            i18n.t("tray.no_workspaces", &[]),
        ));
    }
    for ws in list {
        let name = ws.name.as_str();
        let status = i18n.t(&format!("status.{}", ws.status), &[]);
        let toggle = if ws.status == Status::Running {
            (format!("stop:{name}"), i18n.t("tray.stop", &[]))
        } else {
            (format!("start:{name}"), i18n.t("tray.start", &[]))
        };
        let mut actions = vec![
            toggle,
            (format!("ide:{name}"), i18n.t("tray.open_ide", &[])),
        ];
        let warned = warnings.get(name).filter(|_| ws.status == Status::Running);
        let title = match warned {
            Some(stops_at) => {
                let left = human_duration((stops_at - now_ms).max(0) / 1000);
                actions.insert(
                    0,
                    (format!("snooze:{name}"), i18n.t("tray.keep_running", &[])),
                );
                i18n.t("tray.item_warned", &[("name", name), ("left", &left)])
            }
            None => i18n.t("tray.item", &[("name", name), ("status", &status)]),
        };
        out.push(Entry::Workspace { title, actions });
    }
    out.push(Entry::Separator);
    out.push(Entry::Item("open".into(), i18n.t("tray.open_berth", &[])));
    if let Some(version) = update {
        out.push(Entry::Item(
            "update".into(),
            i18n.t("tray.update", &[("version", version)]),
        ));
    }
    out.push(Entry::Item("quit".into(), i18n.t("tray.quit", &[])));
    out
}

fn menu(
    app: &AppHandle,
    state: &AppState,
    list: &[Workspace],
    warnings: &HashMap<String, i64>,
) -> tauri::Result<Menu<Wry>> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let update = state.updates.ready_version();
    let entries = entries(
        &state.i18n.read().expect("i18n lock"),
        list,
        warnings,
        update.as_deref(),
        now_ms,
    );
    *state.tray_titles.lock().expect("tray lock") = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Workspace { title, .. } => Some(title.clone()),
            Entry::Item(_, label) => Some(label.clone()),
            Entry::Separator => None,
        })
        .collect();
    let mut builder = MenuBuilder::new(app);
    for entry in entries {
        builder = match entry {
            Entry::Workspace { title, actions } => {
                let mut sub = SubmenuBuilder::new(app, title);
                for (id, label) in actions {
                    sub = sub.text(id, label);
                }
                builder.item(&sub.build()?)
            }
            Entry::Item(id, label) => builder.text(id, label),
            Entry::Separator => builder.separator(),
        };
    }
    builder.build()
}

fn on_menu(app: &AppHandle, event: MenuEvent) {
    let id = event.id().as_ref().to_string();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let result = match id.split_once(':') {
            Some(("start", name)) => state.client.start(name).await.map(drop),
            Some(("stop", name)) => state.client.stop(name).await.map(drop),
            Some(("snooze", name)) => state.client.snooze(name, None).await.map(drop),
            Some(("ide", name)) => ide::open(&app, &state, name).await.map(drop),
            _ if id == "open" => {
                crate::show_main(&app);
                Ok(())
            }
            _ if id == "update" => {
                crate::update::install_and_restart(&app).await;
                Ok(())
            }
            _ if id == "quit" => {
                crate::quit(&app).await;
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            crate::events::notify_failure(&app, &id, &e);
        }
    });
}

/// Quits Berth's app. The daemon applies "stop workspaces when Berth quits" (it owns them);
/// every way out — tray Quit, the last window closed without a tray, a signal — comes here.
pub async fn quit(app: &AppHandle) {
    let state = app.state::<AppState>();
    match state.client.quit().await {
        Ok(outcome) if !outcome.failed.is_empty() => eprintln!(
            "berth: could not stop {} on quit",
            outcome.failed.join(", ")
        ),
        Err(e) => eprintln!("berth: could not tell the daemon Berth quits: {e}"),
        _ => {}
    }
    app.exit(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth::model::{IdeEndpoint, ImageRef, LimitOverrides, WorkspaceId, WorkspaceName};

    fn ws(name: &str, status: Status) -> Workspace {
        Workspace {
            id: WorkspaceId::new(),
            name: WorkspaceName::parse(name).unwrap(),
            description: String::new(),
            image: ImageRef::parse("berth-test:latest").unwrap(),
            projects: vec![],
            limits: LimitOverrides::default(),
            idle_timeout_secs: None,
            keys: Vec::new(),
            ide: IdeEndpoint::default(),
            port: Some(10000),
            container_id: None,
            status,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn lists_every_workspace_with_its_status_and_actions() {
        let list = [ws("api", Status::Running), ws("web", Status::Stopped)];
        let got = entries(&I18n::new(Some("en")), &list, &HashMap::new(), None, 0);
        assert_eq!(
            got[0],
            Entry::Workspace {
                title: "api — Running".into(),
                actions: vec![
                    ("stop:api".into(), "Stop".into()),
                    ("ide:api".into(), "Open IDE".into())
                ],
            }
        );
        assert_eq!(
            got[1],
            Entry::Workspace {
                title: "web — Stopped".into(),
                actions: vec![
                    ("start:web".into(), "Start".into()),
                    ("ide:web".into(), "Open IDE".into())
                ],
            }
        );
        assert_eq!(got[2], Entry::Separator);
        assert_eq!(got[3], Entry::Item("open".into(), "Open Berth".into()));
        assert_eq!(got[4], Entry::Item("quit".into(), "Quit Berth".into()));
    }

    #[test]
    fn speaks_the_chosen_language_and_explains_an_empty_list() {
        let got = entries(
            &I18n::new(Some("de")),
            &[ws("api", Status::Running)],
            &HashMap::new(),
            None,
            0,
        );
        assert!(matches!(&got[0], Entry::Workspace { title, .. } if title == "api — Läuft"));
        let empty = entries(&I18n::new(Some("de")), &[], &HashMap::new(), None, 0);
        assert_eq!(
            empty[0],
            Entry::Item("none".into(), "Keine Arbeitsumgebungen".into())
        );
    }

    #[test]
    fn a_warned_workspace_shows_its_countdown_and_keep_running_first() {
        let list = [ws("api", Status::Running), ws("web", Status::Stopped)];
        // A stale warning of a stopped workspace shows nothing.
        let warnings = HashMap::from([("api".into(), 250_000), ("web".into(), 250_000)]);
        let got = entries(&I18n::new(Some("en")), &list, &warnings, None, 10_000);
        assert_eq!(
            got[0],
            Entry::Workspace {
                title: "api — stops in 4 min".into(),
                actions: vec![
                    ("snooze:api".into(), "Keep running".into()),
                    ("stop:api".into(), "Stop".into()),
                    ("ide:api".into(), "Open IDE".into())
                ],
            }
        );
        assert!(matches!(&got[1], Entry::Workspace { title, .. } if title == "web — Stopped"));
        let de = entries(&I18n::new(Some("de")), &list[..1], &warnings, None, 10_000);
        assert!(
            matches!(&de[0], Entry::Workspace { title, .. } if title == "api — stoppt in 4 min")
        );
    }
    #[test]
    fn a_verified_update_offers_a_restart_above_quit() {
        let list = [ws("api", Status::Running)];
        let got = entries(
            &I18n::new(Some("en")),
            &list,
            &HashMap::new(),
            Some("0.2.0"),
            0,
        );
        let n = got.len();
        assert_eq!(
            got[n - 2],
            Entry::Item("update".into(), "Restart to update to Berth 0.2.0".into())
        );
        assert_eq!(got[n - 1], Entry::Item("quit".into(), "Quit Berth".into()));
        let de = entries(
            &I18n::new(Some("de")),
            &list,
            &HashMap::new(),
            Some("0.2.0"),
            0,
        );
        assert_eq!(
            de[n - 2],
            Entry::Item("update".into(), "Neu starten mit Berth 0.2.0".into())
        );
        let none = entries(&I18n::new(Some("en")), &list, &HashMap::new(), None, 0);
        assert!(
            !none
                .iter()
                .any(|e| matches!(e, Entry::Item(id, _) if id == "update"))
        );
    }
}
