//! The Resources screen's commands: live usage over a channel while the screen is open (the
//! daemon samples only while some watch is open), force stops, disk usage and Clean up.

use crate::state::AppState;
use berth::Result;
use berth::model::WorkspaceView;
use berth::resources::{DiskUsage, PruneOutcome, ResourcesView};
use tauri::ipc::Channel;
use tauri::{AppHandle, State};

type S<'a> = State<'a, AppState>;

/// Sends a view about every second to `on_view` until `stop_resources` (or the screen is
/// gone). Returns the id `stop_resources` takes.
#[tauri::command]
pub async fn watch_resources(state: S<'_>, on_view: Channel<ResourcesView>) -> Result<u32> {
    // Opened here, so a daemon without Docker fails the command itself. Dropping the stream
    // closes the watch: the daemon stops sampling if nobody else looks.
    let views = state.client.watch_resources().await?;
    Ok(state.forward(views, on_view))
}

#[tauri::command]
pub fn stop_resources(state: S<'_>, id: u32) {
    state.cancel_follow(id)
}

/// Stops a workspace at once (SIGKILL after the short wait), audited as forced.
#[tauri::command]
pub async fn force_stop_workspace(state: S<'_>, name: String) -> Result<WorkspaceView> {
    state.client.force_stop(&name).await
}

/// Kills a preview's app after the short wait and removes the preview (and its window).
#[tauri::command]
pub async fn force_stop_preview(app: AppHandle, state: S<'_>, id: String) -> Result<()> {
    crate::preview::close(&app, &id);
    state.client.force_stop_preview(&id).await
}

#[tauri::command]
pub async fn disk_usage(state: S<'_>) -> Result<DiskUsage> {
    state.client.disk_usage().await
}

/// `only`: the leftovers the user was shown; with `dry_run`, nothing is removed.
#[tauri::command]
pub async fn prune(state: S<'_>, dry_run: bool, only: Option<Vec<String>>) -> Result<PruneOutcome> {
    state.client.prune(dry_run, only).await
}
