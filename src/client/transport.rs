//! One HTTP/1.1 exchange over the daemon's socket (hyper), and server-sent event streams
//! (eventsource-stream). A fresh connection per request: on a local socket it costs tens of
//! microseconds, and a client that holds nothing open never keeps an idle daemon alive.

use crate::api::endpoint::Endpoint;
use crate::error::{Code, Error, Result};
use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt, TryStreamExt};
use http_body_util::{BodyExt, BodyStream, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use std::io;

/// Why a request got no answer.
#[derive(Debug)]
pub enum Failure {
    /// Nothing listens (no socket, or a stale one refuses): start a daemon.
    NotRunning(io::Error),
    /// Connected, then lost before the answer (the daemon exited or was killed meanwhile).
    Lost(String),
    /// Something answers on the socket that is not ours (another user's process).
    Impostor(String),
}

impl Failure {
    pub fn into_error(self, endpoint: &Endpoint) -> Error {
        match self {
            Failure::NotRunning(e) => Error::new(
                Code::DaemonUnavailable,
                format!("no Berth daemon answers on {endpoint} ({e})"),
            ),
            Failure::Lost(e) => Error::new(
                Code::DaemonUnavailable,
                format!("lost the Berth daemon on {endpoint} mid-request: {e}"),
            ),
            Failure::Impostor(who) => Error::new(
                Code::DaemonUnavailable,
                format!(
                    "refusing to talk to {endpoint}: it is served by {who}, not by your own Berth daemon; remove it"
                ),
            ),
        }
    }
}

#[cfg(unix)]
async fn connect(endpoint: &Endpoint) -> io::Result<tokio::net::UnixStream> {
    match endpoint {
        Endpoint::Unix(path) => tokio::net::UnixStream::connect(path).await,
        Endpoint::Pipe(_) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "named pipes exist only on Windows",
        )),
    }
}

#[cfg(windows)]
async fn connect(
    endpoint: &Endpoint,
) -> io::Result<tokio::net::windows::named_pipe::NamedPipeClient> {
    use tokio::net::windows::named_pipe::ClientOptions;
    const ERROR_PIPE_BUSY: i32 = 231;
    let Endpoint::Pipe(name) = endpoint else {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "Unix sockets are not used on Windows",
        ));
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match ClientOptions::new().open(name) {
            // Every instance is taken for a moment: the daemon makes the next one right away.
            Err(e)
                if e.raw_os_error() == Some(ERROR_PIPE_BUSY)
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

/// Sends one request; the response with its body still streaming.
pub async fn send(
    endpoint: &Endpoint,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> std::result::Result<Response<Incoming>, Failure> {
    let stream = connect(endpoint).await.map_err(Failure::NotRunning)?;
    // Whoever listens must be us: a socket in /tmp could have been put there by someone else.
    #[cfg(unix)]
    {
        // SAFETY: getuid cannot fail and touches no memory.
        let me = unsafe { libc::getuid() };
        match stream.peer_cred() {
            Ok(cred) if cred.uid() == me => {}
            Ok(cred) => return Err(Failure::Impostor(format!("uid {}", cred.uid()))),
            Err(e) => return Err(Failure::Impostor(format!("an unknown peer ({e})"))),
        }
    }
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Failure::Lost(e.to_string()))?;
    tokio::spawn(async move {
        // Ends with the response (or when the daemon closes the connection).
        let _ = conn.await;
    });
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://berth{path}"))
        .header(hyper::header::HOST, "berth");
    if body.is_some() {
        req = req.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .expect("a well-formed request");
    sender
        .send_request(req)
        .await
        .map_err(|e| Failure::Lost(e.to_string()))
}

/// The body as `T`, or the daemon's `{code, message, key, args}`.
pub async fn decode<T: DeserializeOwned>(res: Response<Incoming>) -> Result<T> {
    let status = res.status();
    let bytes = res
        .into_body()
        .collect()
        .await
        .map_err(|e| {
            Error::new(
                Code::DaemonUnavailable,
                format!("lost the daemon's answer: {e}"),
            )
        })?
        .to_bytes();
    if status.is_success() {
        let raw: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        return serde_json::from_slice(raw).map_err(|e| {
            Error::new(
                Code::Io,
                format!("the Berth daemon sent an answer this berth cannot read ({e}); `berth daemon status` shows its version"),
            )
        });
    }
    Err(serde_json::from_slice::<Error>(&bytes).unwrap_or_else(|_| {
        Error::new(
            Code::Io,
            format!(
                "the Berth daemon answered {status}: {}",
                String::from_utf8_lossy(&bytes).trim()
            ),
        )
    }))
}

/// One server-sent event: its name and JSON data.
pub struct SseEvent {
    pub name: String,
    pub data: String,
}

impl SseEvent {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(&self.data).map_err(|e| {
            Error::new(
                Code::Io,
                format!("unreadable {} event from the daemon: {e}", self.name),
            )
        })
    }

    /// An `error` event's `{code, message, ...}`.
    pub fn error(&self) -> Error {
        self.json::<Error>().unwrap_or_else(|e| e)
    }
}

/// The events of an SSE response (which must be a success: errors come before the stream).
pub async fn events(
    res: Response<Incoming>,
) -> Result<impl Stream<Item = Result<SseEvent>> + Send + 'static> {
    if !res.status().is_success() {
        return Err(decode::<()>(res)
            .await
            .err()
            .unwrap_or_else(|| Error::new(Code::Io, "the daemon refused the stream")));
    }
    let frames = BodyStream::new(res.into_body())
        .try_filter_map(|frame| async move { Ok(frame.into_data().ok()) });
    Ok(frames.eventsource().map(|item| match item {
        Ok(e) => Ok(SseEvent {
            name: if e.event.is_empty() {
                "message".into()
            } else {
                e.event
            },
            data: e.data,
        }),
        Err(e) => Err(Error::new(
            Code::DaemonUnavailable,
            format!("lost the daemon's stream: {e}"),
        )),
    }))
}
