//! The API of previews: thin calls into the engine. A create streams its progress (and a
//! build's output) as server-sent events and ends with the preview.

use super::Daemon;
use super::server::{ApiError, Body, json_event};
use super::stream::{self, sse_from};
use crate::api::{BuildEvent, PreviewChange, PreviewOpen, PreviewsQuery, path, sse};
use crate::model::{PreviewDefaults, PreviewForm, PreviewView};
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, Sse};
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
        .route(path::PREVIEWS, get(list).post(create))
        .route("/v1/previews/{id}", axum::routing::delete(remove))
        .route("/v1/previews/{id}/extend", post(extend))
        .route("/v1/previews/{id}/share", post(share))
        .route("/v1/previews/{id}/open", post(open))
        .route("/v1/workspaces/{name}/preview-defaults", get(defaults))
}

async fn list(State(d): D, Query(q): Query<PreviewsQuery>) -> R<Vec<PreviewView>> {
    Ok(Json(d.engine.previews(q.workspace.as_deref())?))
}

async fn defaults(State(d): D, Path(name): Path<String>) -> R<PreviewDefaults> {
    Ok(Json(d.engine.preview_defaults(&name)?))
}

/// Streamed: the steps (and a build's output), then the preview. A client that goes away
/// does not leave half a preview: the create finishes or cleans up.
async fn create(
    State(d): D,
    Body(form): Body<PreviewForm>,
) -> Sse<impl Stream<Item = std::result::Result<Event, Infallible>>> {
    let engine = d.engine.clone();
    let events = stream::operation(&d, move |lines| async move {
        let progress = move |text: String| {
            let _ = lines.send(json_event(sse::CHUNK, &BuildEvent::Line { text }));
        };
        engine.create_preview(form, &progress).await
    });
    sse_from(events, d.shutdown.clone())
}

async fn extend(
    State(d): D,
    Path(id): Path<String>,
    Body(c): Body<PreviewChange>,
) -> R<PreviewView> {
    let by = Duration::from_secs(c.secs.unwrap_or(0));
    Ok(Json(d.engine.extend_preview(&id, by).await?))
}

async fn share(
    State(d): D,
    Path(id): Path<String>,
    Body(c): Body<PreviewChange>,
) -> R<PreviewView> {
    Ok(Json(
        d.engine
            .share_preview(&id, c.share.unwrap_or(false))
            .await?,
    ))
}

async fn open(State(d): D, Path(id): Path<String>, Body(o): Body<PreviewOpen>) -> R<PreviewView> {
    Ok(Json(d.engine.preview_url(&id, o.viewer)?))
}

async fn remove(State(d): D, Path(id): Path<String>) -> R<()> {
    d.engine.remove_preview(&id).await?;
    Ok(Json(()))
}
