//! Streams to the UI over channels: container output (optionally followed) and image builds.

use crate::dto::{BuildEvent, LogChunk};
use crate::state::AppState;
use berth::Result;
use berth::docker::{BuildProgress, LogLine};
use berth::engine::BuildOutcome;
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
    let engine = state.engine.clone();
    // Fail here (unknown workspace, no container) rather than in the background task.
    drop(engine.logs(name, false, Some(0)).await?);
    let (id, token) = state.register_follow();
    let name = name.to_string();
    tauri::async_runtime::spawn(async move {
        let Ok(mut stream) = engine.logs(&name, follow, Some(500)).await else {
            return;
        };
        loop {
            let next = tokio::select! {
                _ = token.cancelled() => break,
                next = stream.next() => next,
            };
            let chunk = match next {
                Some(Ok(LogLine::Out(b))) => LogChunk {
                    stderr: false,
                    text: lossy(&b),
                },
                Some(Ok(LogLine::Err(b))) => LogChunk {
                    stderr: true,
                    text: lossy(&b),
                },
                Some(Err(_)) | None => break,
            };
            if channel.send(chunk).is_err() {
                break; // the view is gone
            }
        }
    });
    Ok(id)
}

pub async fn build(
    state: &AppState,
    name: &str,
    channel: Channel<BuildEvent>,
) -> Result<BuildOutcome> {
    state
        .engine
        .build_bundled(name, |p| {
            let event = match p {
                BuildProgress::Line(text) => BuildEvent::Line { text },
                BuildProgress::Step { current, total } => BuildEvent::Step { current, total },
            };
            let _ = channel.send(event);
        })
        .await
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
