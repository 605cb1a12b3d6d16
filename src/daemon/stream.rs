//! Server-sent event streams: engine events, container output, build progress. Each ends when
//! its source ends, when the client goes away, or when the daemon shuts down.

use super::Daemon;
use super::server::json_event;
use crate::api::{BuildEvent, LogChunk, LogsQuery, sse};
use crate::docker::{BuildProgress, LogLine};
use crate::engine::Engine;
use axum::response::sse::{Event, Sse};
use futures_util::{Stream, StreamExt};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// Makes an SSE response of `events` that also ends on daemon shutdown.
pub fn sse_from(
    events: impl Stream<Item = Event> + Send + 'static,
    shutdown: CancellationToken,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let until = async move { shutdown.cancelled_owned().await };
    Sse::new(events.take_until(until).map(Ok))
}

/// A broadcast receiver as a stream: `Ok(value)`, or `Err(n)` when this subscriber fell `n`
/// events behind (the stream goes on; the client must resync).
pub fn broadcast_events<T: Clone + Send + 'static>(
    rx: broadcast::Receiver<T>,
    map: impl Fn(Result<T, u64>) -> Event + Send + 'static,
) -> impl Stream<Item = Event> + Send + 'static {
    futures_util::stream::unfold((rx, map), |(mut rx, map)| async move {
        let item = match rx.recv().await {
            Ok(v) => Ok(v),
            Err(broadcast::error::RecvError::Lagged(n)) => Err(n),
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        let event = map(item);
        Some((event, (rx, map)))
    })
}

/// A receiver as a stream.
fn receiver<T: Send + 'static>(rx: mpsc::Receiver<T>) -> impl Stream<Item = T> + Send + 'static {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}

/// Container output as `chunk` events, then `done` (or `error`). The engine's stream borrows
/// the engine, so a task owns both and hands events over a channel; it stops as soon as the
/// client is gone (the channel closes).
pub fn logs(engine: Arc<Engine>, name: String, q: LogsQuery) -> impl Stream<Item = Event> + Send {
    let (tx, rx) = mpsc::channel::<Event>(64);
    tokio::spawn(async move {
        let mut lines = match engine.logs(&name, q.follow, q.tail).await {
            Ok(lines) => lines,
            Err(e) => {
                let _ = tx.send(json_event(sse::ERROR, &e)).await;
                return;
            }
        };
        loop {
            let line = tokio::select! {
                line = lines.next() => line,
                _ = tx.closed() => return,
            };
            let (event, last) = match line {
                Some(Ok(LogLine::Out(b))) => (chunk(false, &b), false),
                Some(Ok(LogLine::Err(b))) => (chunk(true, &b), false),
                Some(Err(e)) => (json_event(sse::ERROR, &e), true),
                None => (json_event(sse::DONE, &()), true),
            };
            if tx.send(event).await.is_err() || last {
                return;
            }
        }
    });
    receiver(rx)
}

fn chunk(stderr: bool, bytes: &[u8]) -> Event {
    json_event(
        sse::CHUNK,
        &LogChunk {
            stderr,
            text: String::from_utf8_lossy(bytes).into_owned(),
        },
    )
}

/// A bundled image build: `chunk`/`step` events as it goes, then `done` with the outcome or
/// `error`. The build runs to its end even if the client leaves.
pub fn build(daemon: Arc<Daemon>, name: String) -> impl Stream<Item = Event> + Send {
    let engine = daemon.engine.clone();
    operation(&daemon, move |progress| async move {
        engine
            .build_bundled(&name, move |p| {
                let event = match p {
                    BuildProgress::Line(text) => json_event(sse::CHUNK, &BuildEvent::Line { text }),
                    BuildProgress::Step { current, total } => {
                        json_event(sse::STEP, &BuildEvent::Step { current, total })
                    }
                };
                let _ = progress.send(event);
            })
            .await
    })
}

/// A long operation as an event stream: `op` runs as a daemon operation, detached from the
/// request (a client that goes away leaves nothing half-done), sends its progress on the
/// sender it gets, and its result ends the stream (`done` or `error`).
pub fn operation<T, Fut, Op>(
    daemon: &Arc<Daemon>,
    op: Op,
) -> impl Stream<Item = Event> + Send + 'static + use<T, Fut, Op>
where
    Op: FnOnce(mpsc::UnboundedSender<Event>) -> Fut,
    T: serde::Serialize,
    Fut: std::future::Future<Output = crate::error::Result<T>> + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel::<Event>();
    let guard = daemon.life.operation();
    let running = op(tx.clone());
    daemon.operations.spawn(async move {
        let _guard = guard;
        let _ = tx.send(match running.await {
            Ok(outcome) => json_event(sse::DONE, &outcome),
            Err(e) => json_event(sse::ERROR, &e),
        });
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}
