//! Preview windows: a preview's app in a Berth window of its own, treated like an IDE window
//! (remote, untrusted content: no capability, navigation and loads confined to the preview's
//! origin, downloads behind a save dialog) with a cookie and storage folder of its own — so
//! no IDE login is ever in its cookie jar.

use crate::ide::{Remote, remote_window};
use crate::state::AppState;
use berth::api::Viewer;
use berth::{Code, Error, Result};
use tauri::{AppHandle, Manager, Url};

fn label(id: &str) -> String {
    format!("preview-{id}")
}

/// Opens preview `id` in its window, or brings the open one to the front.
pub async fn open(app: &AppHandle, state: &AppState, id: &str) -> Result<()> {
    let preview = state.client.open_preview(id, Viewer::AppWindow).await?;
    let label = label(&preview.id);
    if let Some(window) = app.get_webview_window(&label) {
        let _ = window.unminimize();
        let _ = window.set_focus();
        return Ok(());
    }
    let url: Url = preview
        .url
        .parse()
        .map_err(|e| Error::new(Code::Io, format!("bad preview URL: {e}")))?;
    let data_dir = state.client.data_dir();
    let folder = format!("preview-{}", preview.id);
    // macOS data store: "preview-" and the short id, 16 bytes, apart from every workspace's.
    let mut store_id = [0u8; 16];
    for (slot, byte) in store_id.iter_mut().zip(folder.bytes()) {
        *slot = byte;
    }
    let store = data_dir.join("webviews").join(&folder);
    let window = remote_window(
        app,
        Remote {
            label: &label,
            title: &format!("{} · preview {}", preview.workspace, preview.id),
            url: &url,
            store: store.clone(),
            staging: data_dir.join("downloads").join(&folder),
            store_id,
        },
        |_, _| {},
    )
    .await?;
    // Its preview went while it was open (expired): the daemon removed the window's folder,
    // which the window may have written again as it closed. Gone with the window, then.
    let (handle, id) = (app.clone(), preview.id.clone());
    window.on_window_event(move |event| {
        if let tauri::WindowEvent::Destroyed = event {
            let (handle, id, store) = (handle.clone(), id.clone(), store.clone());
            tauri::async_runtime::spawn(async move {
                let state = handle.state::<AppState>();
                if let Ok(all) = state.client.previews(None).await
                    && !all.iter().any(|p| p.id == id)
                {
                    let _ = std::fs::remove_dir_all(&store);
                }
            });
        }
    });
    window
        .navigate(url)
        .map_err(|e| Error::new(Code::Io, format!("cannot open the preview window: {e}")))
}

/// Closes the window of preview `id` (it was deleted or expired).
pub fn close(app: &AppHandle, id: &str) {
    if let Some(window) = app.get_webview_window(&label(id)) {
        let _ = window.close();
    }
}
