//! Tauri commands: one-line adapters over the engine (and the app's windows). No Docker, no
//! SQL here. Errors reach the UI as the engine's `{code, message, key, args}`.

use crate::dto::{BuildEvent, CreateForm, IdeWindowView, LogChunk, StartedView};
use crate::state::AppState;
use crate::{ide, logs, tray};
use berth::engine::{BuildOutcome, ImageEntry, WorkspaceEdit};
use berth::model::{Settings, WorkspaceView};
use berth::store::AuditEntry;
use berth::{Error, Result};
use tauri::ipc::Channel;
use tauri::{AppHandle, State};

type S<'a> = State<'a, AppState>;

#[tauri::command]
pub async fn list_workspaces(state: S<'_>) -> Result<Vec<WorkspaceView>> {
    Ok(state
        .engine
        .list()
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

#[tauri::command]
pub async fn get_workspace(state: S<'_>, name: String) -> Result<WorkspaceView> {
    state.engine.show(&name).await.map(Into::into)
}

#[tauri::command]
pub fn check_name(state: S<'_>, name: String) -> Result<()> {
    state.engine.check_name(&name)
}

#[tauri::command]
pub fn check_project(state: S<'_>, path: String) -> Result<String> {
    Ok(state
        .engine
        .check_project(path.as_ref())?
        .display()
        .to_string())
}

#[tauri::command]
pub async fn create_workspace(state: S<'_>, form: CreateForm) -> Result<WorkspaceView> {
    state.engine.create(form.into()).await.map(Into::into)
}

#[tauri::command]
pub async fn start_workspace(state: S<'_>, name: String) -> Result<StartedView> {
    state.engine.start(&name).await.map(Into::into)
}

#[tauri::command]
pub async fn stop_workspace(state: S<'_>, name: String) -> Result<WorkspaceView> {
    state.engine.stop(&name).await.map(Into::into)
}

#[tauri::command]
pub async fn restart_workspace(state: S<'_>, name: String) -> Result<StartedView> {
    state.engine.restart(&name).await.map(Into::into)
}

#[tauri::command]
pub async fn delete_workspace(app: AppHandle, state: S<'_>, name: String) -> Result<()> {
    ide::close(&app, &state, &name).await?;
    state.engine.delete(&name).await
}

#[tauri::command]
pub async fn edit_workspace(
    state: S<'_>,
    name: String,
    edit: WorkspaceEdit,
) -> Result<WorkspaceView> {
    state.engine.edit(&name, edit).await.map(Into::into)
}

#[tauri::command]
pub fn audit_log(state: S<'_>, name: String) -> Result<Vec<AuditEntry>> {
    state.engine.audit_log(&name)
}

#[tauri::command]
pub async fn follow_logs(
    state: S<'_>,
    name: String,
    follow: bool,
    on_chunk: Channel<LogChunk>,
) -> Result<u32> {
    logs::follow(&state, &name, follow, on_chunk).await
}

#[tauri::command]
pub fn stop_logs(state: S<'_>, id: u32) {
    state.cancel_follow(id)
}

#[tauri::command]
pub async fn list_images(state: S<'_>) -> Result<Vec<ImageEntry>> {
    state.engine.images().await
}

#[tauri::command]
pub async fn build_image(
    state: S<'_>,
    name: String,
    on_event: Channel<BuildEvent>,
) -> Result<BuildOutcome> {
    logs::build(&state, &name, on_event).await
}

#[tauri::command]
pub fn get_settings(state: S<'_>) -> Result<Settings> {
    state.engine.settings()
}

#[tauri::command]
pub async fn save_settings(app: AppHandle, state: S<'_>, settings: Settings) -> Result<()> {
    state.engine.save_settings(&settings)?;
    tray::apply_language(&app, &state, settings.language.as_deref()).await;
    Ok(())
}

#[tauri::command]
pub async fn open_ide(app: AppHandle, state: S<'_>, name: String) -> Result<IdeWindowView> {
    ide::open(&app, &state, &name).await
}

#[tauri::command]
pub async fn ide_window(
    app: AppHandle,
    state: S<'_>,
    name: String,
) -> Result<Option<IdeWindowView>> {
    ide::view(&app, &state, &name).await
}

#[tauri::command]
pub async fn open_in_browser(state: S<'_>, name: String) -> Result<()> {
    // The system browser is not logged in: an IDE with a login shows its login page there.
    let url = state.engine.start(&name).await?.url;
    tauri_plugin_opener::open_url(&url, None::<&str>)
        .map_err(|e| Error::new(berth::Code::Io, format!("cannot open a browser: {e}")))
}
