//! Container output to the UI over a channel, optionally followed, until `stop_logs` or the
//! view goes away.

use crate::state::AppState;
use berth::Result;
use berth::api::LogChunk;
use futures_util::StreamExt;
use tauri::ipc::Channel;

/// Sends the container's output to `channel`; with `follow`, keeps going until `stop_logs`
/// or the container ends. Returns the id `stop_logs` takes.
pub async fn follow(
    state: &AppState,
    name: &str,
    follow: bool,
    channel: Channel<LogChunk>,
) -> Result<u32> {
    // Opened here, so an unknown workspace or a missing container fails the command itself.
    let mut stream = Box::pin(state.client.logs(name, follow, Some(500)).await?);
    let (id, token) = state.register_follow();
    tauri::async_runtime::spawn(async move {
        loop {
            let next = tokio::select! {
                _ = token.cancelled() => break,
                next = stream.next() => next,
            };
            match next {
                Some(Ok(chunk)) => {
                    if channel.send(chunk).is_err() {
                        break; // the view is gone
                    }
                }
                Some(Err(_)) | None => break,
            }
        }
    });
    Ok(id)
}
