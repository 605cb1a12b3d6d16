//! The API of stored keys and of what workspaces used: thin calls into the engine. A key's
//! value arrives once (in `PUT`) and never leaves.

use super::Daemon;
use super::server::{ApiError, Body};
use crate::api::{SetKey, path};
use crate::engine::{KeyTest, KeyUsage};
use crate::model::KeyInfo;
use crate::secrets::Sensitive;
use crate::store::AuditEntry;
use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use std::sync::Arc;

type D = State<Arc<Daemon>>;
type R<T> = std::result::Result<Json<T>, ApiError>;

pub fn routes() -> Router<Arc<Daemon>> {
    Router::new()
        .route(path::KEYS, get(list))
        .route(path::KEYS_LOG, get(log))
        .route("/v1/keys/{name}", put(set).delete(remove))
        .route("/v1/keys/{name}/test", post(test))
        .route("/v1/workspaces/{name}/usage", get(usage))
}

async fn list(State(d): D) -> R<Vec<KeyInfo>> {
    Ok(Json(d.engine.keys()?))
}

async fn log(State(d): D) -> R<Vec<AuditEntry>> {
    Ok(Json(d.engine.key_log()?))
}

async fn set(State(d): D, Path(name): Path<String>, Body(req): Body<SetKey>) -> R<KeyInfo> {
    let value = Sensitive::new(req.value);
    Ok(Json(
        d.engine
            .set_key(&name, value, req.base_url.as_deref())
            .await?,
    ))
}

async fn test(State(d): D, Path(name): Path<String>) -> R<KeyTest> {
    Ok(Json(d.engine.test_key(&name).await?))
}

async fn remove(State(d): D, Path(name): Path<String>) -> R<()> {
    d.engine.remove_key(&name).await?;
    Ok(Json(()))
}

async fn usage(State(d): D, Path(name): Path<String>) -> R<Vec<KeyUsage>> {
    Ok(Json(d.engine.usage_of(&name)?))
}
