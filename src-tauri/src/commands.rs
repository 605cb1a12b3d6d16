//! Tauri commands: one-line adapters over the daemon's client (and the app's windows). No
//! Docker, no SQL here. Errors reach the UI as the engine's `{code, message, key, args}`.

use crate::dto::IdeWindowView;
use crate::state::AppState;
use crate::update::{self, UpdateView};
use crate::{ide, preview, tray};
use berth::activity::ActivityView;
use berth::api::{BuildEvent, LogChunk, NewWorkspace, StartedView, Viewer};
use berth::engine::{BuildOutcome, ImageEntry, KeyTest, KeyUsage, WorkspaceEdit};
use berth::model::{KeyInfo, PreviewDefaults, PreviewForm, PreviewView, Settings, WorkspaceView};
use berth::secrets::Sensitive;
use berth::store::AuditEntry;
use berth::{Error, Result};
use tauri::ipc::Channel;
use tauri::{AppHandle, State};

type S<'a> = State<'a, AppState>;

#[tauri::command]
pub async fn list_workspaces(state: S<'_>) -> Result<Vec<WorkspaceView>> {
    state.client.list().await
}

#[tauri::command]
pub async fn get_workspace(state: S<'_>, name: String) -> Result<WorkspaceView> {
    state.client.show(&name).await
}

/// Where every workspace stands on idleness (the list's countdowns, the banners).
#[tauri::command]
pub async fn list_activity(state: S<'_>) -> Result<Vec<ActivityView>> {
    state.client.activities().await
}

/// One workspace's activity with each signal's last time (the detail view).
#[tauri::command]
pub async fn workspace_activity(state: S<'_>, name: String) -> Result<ActivityView> {
    state.client.activity(&name).await
}

/// "Keep running": `secs` (default 30 min) without an idle stop.
#[tauri::command]
pub async fn snooze_workspace(
    state: S<'_>,
    name: String,
    secs: Option<u64>,
) -> Result<ActivityView> {
    state
        .client
        .snooze(&name, secs.map(std::time::Duration::from_secs))
        .await
}

#[tauri::command]
pub async fn check_name(state: S<'_>, name: String) -> Result<()> {
    state.client.check_name(&name).await
}

#[tauri::command]
pub async fn check_project(state: S<'_>, path: String) -> Result<String> {
    state.client.check_project(&path).await
}

#[tauri::command]
pub async fn create_workspace(state: S<'_>, form: NewWorkspace) -> Result<WorkspaceView> {
    state.client.create(&form).await
}

#[tauri::command]
pub async fn start_workspace(state: S<'_>, name: String) -> Result<StartedView> {
    state.client.start(&name).await
}

#[tauri::command]
pub async fn stop_workspace(state: S<'_>, name: String) -> Result<WorkspaceView> {
    state.client.stop(&name).await
}

#[tauri::command]
pub async fn restart_workspace(state: S<'_>, name: String) -> Result<StartedView> {
    state.client.restart(&name).await
}

#[tauri::command]
pub async fn delete_workspace(app: AppHandle, state: S<'_>, name: String) -> Result<()> {
    ide::close(&app, &state, &name).await?;
    state.client.delete(&name).await.map(drop)
}

#[tauri::command]
pub async fn edit_workspace(
    state: S<'_>,
    name: String,
    edit: WorkspaceEdit,
) -> Result<WorkspaceView> {
    state.client.edit(&name, &edit).await
}

#[tauri::command]
pub async fn audit_log(state: S<'_>, name: String) -> Result<Vec<AuditEntry>> {
    state.client.audit_log(&name).await
}

/// Container output to the page, optionally followed, until `stop_logs` or the view goes.
#[tauri::command]
pub async fn follow_logs(
    state: S<'_>,
    name: String,
    follow: bool,
    on_chunk: Channel<LogChunk>,
) -> Result<u32> {
    // Opened here, so an unknown workspace or a missing container fails the command itself.
    let chunks = state.client.logs(&name, follow, Some(500)).await?;
    Ok(state.forward(chunks, on_chunk))
}

#[tauri::command]
pub fn stop_logs(state: S<'_>, id: u32) {
    state.cancel_follow(id)
}

#[tauri::command]
pub async fn list_images(state: S<'_>) -> Result<Vec<ImageEntry>> {
    state.client.images().await
}

#[tauri::command]
pub async fn build_image(
    state: S<'_>,
    name: String,
    on_event: Channel<BuildEvent>,
) -> Result<BuildOutcome> {
    state
        .client
        .build_image(&name, |e| drop(on_event.send(e)))
        .await
}

#[tauri::command]
pub async fn get_settings(state: S<'_>) -> Result<Settings> {
    state.client.settings().await
}

#[tauri::command]
pub async fn save_settings(app: AppHandle, state: S<'_>, settings: Settings) -> Result<()> {
    let saved = state.client.save_settings(&settings).await?;
    tray::apply_language(&app, &state, saved.language.as_deref()).await;
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
    // Logged in by a one-time link (the gateway turns it into the browser's own login),
    // handed over in a private page: a link on the browser's command line could be read and
    // redeemed first by another local user.
    let url = state
        .client
        .ide_login(&name, Viewer::Browser)
        .await?
        .login_url;
    let page = berth::client::login_page::write(state.client.data_dir(), &url)?;
    tauri_plugin_opener::open_url(page, None::<&str>)
        .map_err(|e| Error::new(berth::Code::Io, format!("cannot open a browser: {e}")))
}

/// The tray menu's entries as it shows them now (the app's own view of its tray; the
/// end-to-end tests read it where no tray host draws one).
#[tauri::command]
pub fn tray_menu(state: S<'_>) -> Vec<String> {
    tray::titles(&state)
}

/// Stored API keys: provider, last four characters, last test — never a value.
#[tauri::command]
pub async fn list_keys(state: S<'_>) -> Result<Vec<KeyInfo>> {
    state.client.keys().await
}

/// Stores a key typed into the settings' hidden field; the value goes to the daemon and
/// nowhere else.
#[tauri::command]
pub async fn set_key(
    state: S<'_>,
    name: String,
    value: String,
    base_url: Option<String>,
) -> Result<KeyInfo> {
    let value = Sensitive::new(value);
    state.client.set_key(&name, &value, base_url).await
}

#[tauri::command]
pub async fn test_key(state: S<'_>, name: String) -> Result<KeyTest> {
    state.client.test_key(&name).await
}

#[tauri::command]
pub async fn remove_key(state: S<'_>, name: String) -> Result<()> {
    state.client.remove_key(&name).await
}

/// What a workspace used of each key today, against its budget.
#[tauri::command]
pub async fn workspace_usage(state: S<'_>, name: String) -> Result<Vec<KeyUsage>> {
    state.client.usage(&name).await
}

/// Where the next preview of a workspace comes from (the create form's defaults).
#[tauri::command]
pub async fn preview_defaults(state: S<'_>, name: String) -> Result<PreviewDefaults> {
    state.client.preview_defaults(&name).await
}

#[tauri::command]
pub async fn list_previews(state: S<'_>, name: Option<String>) -> Result<Vec<PreviewView>> {
    state.client.previews(name.as_deref()).await
}

/// Creates a preview; its steps (and a build's output) reach the form on `on_event`.
#[tauri::command]
pub async fn create_preview(
    state: S<'_>,
    form: PreviewForm,
    on_event: Channel<BuildEvent>,
) -> Result<PreviewView> {
    state
        .client
        .create_preview(&form, |e| drop(on_event.send(e)))
        .await
}

#[tauri::command]
pub async fn extend_preview(state: S<'_>, id: String, secs: u64) -> Result<PreviewView> {
    let by = std::time::Duration::from_secs(secs);
    state.client.extend_preview(&id, by).await
}

#[tauri::command]
pub async fn share_preview(state: S<'_>, id: String, on: bool) -> Result<PreviewView> {
    state.client.share_preview(&id, on).await
}

#[tauri::command]
pub async fn remove_preview(app: AppHandle, state: S<'_>, id: String) -> Result<()> {
    // The window first: the daemon then removes its cookie folder, which an open window
    // would write again.
    preview::close(&app, &id);
    state.client.remove_preview(&id).await
}

/// Opens a preview in a Berth window of its own.
#[tauri::command]
pub async fn open_preview(app: AppHandle, state: S<'_>, id: String) -> Result<()> {
    preview::open(&app, &state, &id).await
}

#[tauri::command]
pub async fn open_preview_in_browser(state: S<'_>, id: String) -> Result<()> {
    let p = state.client.open_preview(&id, Viewer::Browser).await?;
    tauri_plugin_opener::open_url(p.url, None::<&str>)
        .map_err(|e| Error::new(berth::Code::Io, format!("cannot open a browser: {e}")))
}

/// Settings → Updates: this version, and where the last check left things.
#[tauri::command]
pub async fn update_status(state: S<'_>) -> Result<UpdateView> {
    Ok(state.updates.view())
}

/// Checks now; a newer version is downloaded and verified before this answers.
#[tauri::command]
pub async fn check_update(app: AppHandle) -> Result<UpdateView> {
    Ok(update::check(&app).await)
}

/// Installs the verified update and restarts; answers only when it could not.
#[tauri::command]
pub async fn install_update(app: AppHandle) -> Result<UpdateView> {
    Ok(update::install_and_restart(&app).await)
}
