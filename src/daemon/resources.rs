//! The API of the resources overview: live usage (one view, or a stream that holds Docker's
//! stats streams open only while its client stays), disk usage, clean-up, and force-stopping
//! a preview.

use super::Daemon;
use super::server::{ApiError, Body, json_event};
use super::stream::sse_from;
use crate::api::{PruneRequest, path, sse};
use crate::resources::{DiskUsage, PruneOutcome, ResourcesView};
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::Stream;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

type D = State<Arc<Daemon>>;
type R<T> = std::result::Result<Json<T>, ApiError>;

pub fn routes() -> Router<Arc<Daemon>> {
    Router::new()
        .route(path::RESOURCES, get(now))
        .route(path::RESOURCES_WATCH, get(watch))
        .route(path::DISK, get(disk))
        .route(path::PRUNE, post(prune))
        .route("/v1/previews/{id}/force-stop", post(force_stop_preview))
}

async fn now(State(d): D) -> R<ResourcesView> {
    Ok(Json(d.engine.resources_now().await?))
}

/// A view a second until the client goes: dropping the stream drops the watch, and the last
/// watch to go closes every stats stream. Without Docker, an error instead of a silent stream.
async fn watch(
    State(d): D,
) -> std::result::Result<Sse<impl Stream<Item = std::result::Result<Event, Infallible>>>, ApiError>
{
    d.engine.docker().await?;
    let watch = d.engine.watch_resources();
    let views = futures_util::stream::unfold(watch, |mut watch| async move {
        let view = watch.next().await?;
        Some((json_event(sse::RESOURCES, &view), watch))
    });
    Ok(sse_from(views, d.shutdown.clone())
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

async fn disk(State(d): D) -> R<DiskUsage> {
    Ok(Json(d.engine.disk_usage().await?))
}

async fn prune(State(d): D, Body(req): Body<PruneRequest>) -> R<PruneOutcome> {
    let engine = d.engine.clone();
    let outcome = super::server::detached(&d, async move {
        engine.prune(req.dry_run, req.only.as_deref()).await
    })
    .await?;
    Ok(Json(outcome))
}

async fn force_stop_preview(State(d): D, Path(id): Path<String>) -> R<()> {
    let engine = d.engine.clone();
    super::server::detached(&d, async move { engine.force_stop_preview(&id).await }).await?;
    Ok(Json(()))
}
