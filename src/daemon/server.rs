//! The daemon's HTTP API over its socket: one handler per route, each a thin call into the
//! engine. Operations that change something run as their own task, so a client that goes away
//! (Ctrl-C on `berth start`) does not cut them off; they count for the idle exit while they
//! run, and shutdown waits for them (up to its deadline; reconcile repairs what a cut-off
//! operation leaves). Errors leave as `{code, message, key, args}` with a fitting status.

use super::Daemon;
use super::stream::{self, sse_from};
use crate::activity::ActivityView;
use crate::api::{
    self, Hello, ImageBody, LogsQuery, NameQuery, NewWorkspace, PathBody, ShutdownRequest,
    StartedView, StopQuery, path, sse,
};
use crate::engine::WorkspaceEdit;
use crate::error::{Code, Error, Result};
use crate::model::{Settings, WorkspaceView};
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::Stream;
use serde::de::DeserializeOwned;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

type D = State<Arc<Daemon>>;

pub fn router(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route(path::HELLO, get(hello))
        .route(path::STATUS, get(status))
        .route(path::SHUTDOWN, post(shutdown))
        .route(path::EVENTS, get(events))
        .route(path::WORKSPACES, get(list).post(create))
        .route(
            "/v1/workspaces/{name}",
            get(show).patch(edit).delete(delete),
        )
        .route("/v1/workspaces/{name}/start", post(start))
        .route("/v1/workspaces/{name}/stop", post(stop))
        .route("/v1/workspaces/{name}/restart", post(restart))
        .route("/v1/workspaces/{name}/ide-login", post(ide_login))
        .route("/v1/workspaces/{name}/audit", get(audit))
        .route("/v1/workspaces/{name}/logs", get(logs))
        .route("/v1/workspaces/{name}/activity", get(activity))
        .route("/v1/workspaces/{name}/snooze", post(snooze))
        .route("/v1/workspaces/{name}/hold", post(hold))
        .route(path::ACTIVITY, get(activities))
        .route(path::CHECK_NAME, get(check_name))
        .route(path::CHECK_PROJECT, post(check_project))
        .route(path::SETTINGS, get(settings).put(save_settings))
        .route(path::IMAGES, get(images))
        .route(path::IMAGE_CHECK, post(image_check))
        .route("/v1/images/{name}/build", post(build_image))
        .route(path::DOCTOR, get(doctor))
        .route(path::QUIT, post(quit))
        .merge(super::keys::routes())
        .merge(super::previews::routes())
        .merge(super::resources::routes())
        .fallback(unknown_route)
        .layer(middleware::from_fn_with_state(daemon.clone(), stamp))
        .with_state(daemon)
}

/// Every response says who answered; every real request (not a bare probe) pushes back the
/// idle exit.
async fn stamp(State(d): D, req: Request, next: Next) -> Response {
    let probe = matches!(req.uri().path(), path::HELLO | path::STATUS);
    if !probe {
        d.life.touch();
    }
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    if let Ok(version) = HeaderValue::from_str(&d.hello.version) {
        headers.insert(api::VERSION_HEADER, version);
    }
    headers.insert(api::PROTOCOL_HEADER, HeaderValue::from(api::PROTOCOL));
    res
}

/// The engine's error as a response.
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self.0.code {
            Code::InvalidInput => StatusCode::BAD_REQUEST,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::Conflict | Code::PortsExhausted | Code::LimitReached | Code::Busy => {
                StatusCode::CONFLICT
            }
            Code::DockerUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::Docker => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(self.0)).into_response()
    }
}

type R<T> = std::result::Result<Json<T>, ApiError>;

/// A JSON body whose rejection is one of our errors, not axum's plain text.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> std::result::Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| Error::invalid(format!("cannot read the request: {e}")))?;
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| ApiError(Error::invalid(format!("malformed request: {e}"))))
    }
}

async fn unknown_route(req: Request) -> ApiError {
    ApiError(Error::not_found(format!(
        "the Berth daemon has no API {} {} (is the client newer than the daemon? `berth daemon status`)",
        req.method(),
        req.uri().path()
    )))
}

/// Runs an operation to completion in its own task, counted as daemon activity.
pub(super) async fn detached<T: Send + 'static>(
    d: &Arc<Daemon>,
    op: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    let guard = d.life.operation();
    d.operations
        .spawn(async move {
            let _guard = guard;
            op.await
        })
        .await
        .map_err(|e| {
            Error::new(
                Code::Io,
                format!("the operation failed inside the daemon: {e}"),
            )
        })?
}

async fn hello(State(d): D) -> Json<Hello> {
    Json(d.hello.clone())
}

async fn status(State(d): D) -> Json<api::DaemonStatus> {
    Json(d.status())
}

async fn shutdown(State(d): D, Body(req): Body<ShutdownRequest>) -> StatusCode {
    d.request_exit(super::ExitReason::Request(req.reason));
    StatusCode::ACCEPTED
}

async fn events(State(d): D) -> Sse<impl Stream<Item = std::result::Result<Event, Infallible>>> {
    let rx = d.events.subscribe();
    let items = stream::broadcast_events(rx, |item| match item {
        Ok(envelope) => json_event(sse::ENGINE, &envelope),
        Err(missed) => Event::default().event(sse::RESYNC).data(missed.to_string()),
    });
    sse_from(items, d.shutdown.clone())
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

pub fn json_event(name: &str, value: &impl serde::Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(value)
        .unwrap_or_else(|e| Event::default().event(sse::ERROR).data(e.to_string()))
}

async fn list(State(d): D) -> R<Vec<WorkspaceView>> {
    let list = d.engine.list().await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

async fn show(State(d): D, Path(name): Path<String>) -> R<WorkspaceView> {
    Ok(Json(d.engine.show(&name).await?.into()))
}

async fn create(State(d): D, Body(form): Body<NewWorkspace>) -> R<WorkspaceView> {
    let engine = d.engine.clone();
    let ws = detached(&d, async move { engine.create(form.into()).await }).await?;
    Ok(Json(ws.into()))
}

async fn edit(
    State(d): D,
    Path(name): Path<String>,
    Body(e): Body<WorkspaceEdit>,
) -> R<WorkspaceView> {
    let engine = d.engine.clone();
    Ok(Json(
        detached(&d, async move { engine.edit(&name, e).await })
            .await?
            .into(),
    ))
}

async fn delete(State(d): D, Path(name): Path<String>) -> R<crate::engine::Deleted> {
    let engine = d.engine.clone();
    Ok(Json(
        detached(&d, async move { engine.delete(&name).await }).await?,
    ))
}

async fn start(State(d): D, Path(name): Path<String>) -> R<StartedView> {
    let engine = d.engine.clone();
    Ok(Json(
        detached(&d, async move { engine.start(&name).await })
            .await?
            .into(),
    ))
}

async fn stop(
    State(d): D,
    Path(name): Path<String>,
    Query(q): Query<StopQuery>,
) -> R<WorkspaceView> {
    let engine = d.engine.clone();
    let stopped = detached(&d, async move {
        if q.force {
            engine.force_stop(&name).await
        } else {
            engine.stop(&name).await
        }
    });
    Ok(Json(stopped.await?.into()))
}

async fn restart(State(d): D, Path(name): Path<String>) -> R<StartedView> {
    let engine = d.engine.clone();
    Ok(Json(
        detached(&d, async move { engine.restart(&name).await })
            .await?
            .into(),
    ))
}

async fn ide_login(
    State(d): D,
    Path(name): Path<String>,
    Json(req): Json<api::IdeLoginRequest>,
) -> R<api::IdeLogin> {
    let engine = d.engine.clone();
    let session = detached(
        &d,
        async move { engine.ide_session(&name, req.viewer).await },
    )
    .await?;
    Ok(Json(api::IdeLogin {
        url: session.url,
        login_url: session.login_url.expose().clone(),
        workspace: session.workspace.into(),
    }))
}

async fn audit(State(d): D, Path(name): Path<String>) -> R<Vec<crate::store::AuditEntry>> {
    Ok(Json(d.engine.audit_log(&name)?))
}

async fn logs(
    State(d): D,
    Path(name): Path<String>,
    Query(q): Query<LogsQuery>,
) -> std::result::Result<Sse<impl Stream<Item = std::result::Result<Event, Infallible>>>, ApiError>
{
    // Fail here (unknown workspace, no container) with a proper status, not mid-stream.
    drop(d.engine.logs(&name, false, Some(0)).await?);
    let rx = stream::logs(d.engine.clone(), name, q);
    Ok(sse_from(rx, d.shutdown.clone()))
}

async fn activity(State(d): D, Path(name): Path<String>) -> R<ActivityView> {
    Ok(Json(d.engine.activity(&name).await?))
}

async fn activities(State(d): D) -> R<Vec<ActivityView>> {
    Ok(Json(d.engine.activities().await?))
}

async fn snooze(
    State(d): D,
    Path(name): Path<String>,
    Body(req): Body<api::SnoozeRequest>,
) -> R<ActivityView> {
    let duration = req.secs.map(Duration::from_secs);
    Ok(Json(d.engine.snooze(&name, duration).await?))
}

/// Holds the workspace awake while the stream is open: the hold ends when the client goes
/// (its next keep-alive write fails), when it hangs up, or when the daemon stops.
async fn hold(
    State(d): D,
    Path(name): Path<String>,
    Body(req): Body<api::HoldRequest>,
) -> std::result::Result<Sse<impl Stream<Item = std::result::Result<Event, Infallible>>>, ApiError>
{
    let held = d.engine.hold(&name, &req.command).await?;
    let first =
        futures_util::stream::once(async { Event::default().event(sse::HELD).data("held") });
    let rest = futures_util::stream::pending::<Event>();
    let events = futures_util::StreamExt::chain(first, rest);
    let events = futures_util::StreamExt::map(events, move |e| {
        let _held = &held;
        e
    });
    Ok(sse_from(events, d.shutdown.clone())
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(5))))
}

async fn check_name(
    State(d): D,
    Query(q): Query<NameQuery>,
) -> std::result::Result<StatusCode, ApiError> {
    d.engine.check_name(&q.name)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn check_project(State(d): D, Body(p): Body<PathBody>) -> R<PathBody> {
    let path = d.engine.check_project(p.path.as_ref())?;
    Ok(Json(PathBody {
        path: path.display().to_string(),
    }))
}

async fn settings(State(d): D) -> R<Settings> {
    Ok(Json(d.engine.settings()?))
}

async fn save_settings(State(d): D, Body(s): Body<Settings>) -> R<Settings> {
    d.engine.save_settings(&s)?;
    Ok(Json(d.engine.settings()?))
}

async fn images(State(d): D) -> R<Vec<crate::engine::ImageEntry>> {
    Ok(Json(d.engine.images().await?))
}

async fn image_check(State(d): D, Body(b): Body<ImageBody>) -> R<crate::engine::ImageCheck> {
    let engine = d.engine.clone();
    Ok(Json(
        detached(&d, async move { engine.check_image(&b.image).await }).await?,
    ))
}

async fn build_image(
    State(d): D,
    Path(name): Path<String>,
) -> Sse<impl Stream<Item = std::result::Result<Event, Infallible>>> {
    let rx = stream::build(d.clone(), name);
    sse_from(rx, d.shutdown.clone())
}

async fn doctor(State(d): D) -> Json<crate::engine::DoctorReport> {
    Json(d.engine.doctor().await)
}

async fn quit(State(d): D) -> R<api::QuitOutcome> {
    let engine = d.engine.clone();
    Ok(Json(
        detached(&d, async move { engine.stop_on_quit().await }).await?,
    ))
}
