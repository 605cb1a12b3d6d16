// Declaring the app's commands makes Tauri generate one permission per command, denied unless
// a capability grants it: only the main window's capability does, so IDE and preview windows
// (remote content) can call nothing.
const COMMANDS: &[&str] = &[
    "list_workspaces",
    "get_workspace",
    "check_name",
    "check_project",
    "create_workspace",
    "start_workspace",
    "stop_workspace",
    "restart_workspace",
    "delete_workspace",
    "edit_workspace",
    "audit_log",
    "follow_logs",
    "stop_logs",
    "list_images",
    "build_image",
    "get_settings",
    "save_settings",
    "open_ide",
    "ide_window",
    "open_in_browser",
    "tray_menu",
    "list_activity",
    "workspace_activity",
    "snooze_workspace",
    "list_keys",
    "set_key",
    "test_key",
    "remove_key",
    "workspace_usage",
    "preview_defaults",
    "list_previews",
    "create_preview",
    "extend_preview",
    "share_preview",
    "remove_preview",
    "open_preview",
    "open_preview_in_browser",
    "update_status",
    "check_update",
    "install_update",
    "watch_resources",
    "stop_resources",
    "force_stop_workspace",
    "force_stop_preview",
    "disk_usage",
    "prune",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build");
}
