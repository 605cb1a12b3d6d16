//! A counting proxy in front of the Docker socket: the engine talks to it through
//! DOCKER_HOST, and the reader learns which API requests it made and which connections are
//! still open (a stats stream holds its connection until it ends). Shared by the reconcile
//! benchmark and the integration tests (`#[path]`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// One client connection: its latest request line, and whether it is still open.
#[derive(Default)]
struct Connection {
    last: Mutex<String>,
    open: AtomicBool,
}

#[derive(Clone, Default)]
pub struct Requests {
    lines: Arc<Mutex<Vec<String>>>,
    connections: Arc<Mutex<Vec<Arc<Connection>>>>,
}

#[allow(dead_code)] // each user needs some of it
impl Requests {
    /// The request lines since the last take.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.lines.lock().unwrap())
    }

    /// Requests so far (since the last take) whose line `matches`.
    pub fn count(&self, matches: impl Fn(&str) -> bool) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| matches(l))
            .count()
    }

    /// Connections open now whose latest request `matches`.
    pub fn open(&self, matches: impl Fn(&str) -> bool) -> usize {
        self.connections
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.open.load(Ordering::SeqCst) && matches(&c.last.lock().unwrap()))
            .count()
    }
}

/// Listens on `at`, forwards to the real socket, records each request line. Needs a Tokio
/// runtime that outlives the reader.
pub fn start(at: &Path) -> Requests {
    let upstream = PathBuf::from(
        std::env::var("DOCKER_HOST")
            .ok()
            .and_then(|h| h.strip_prefix("unix://").map(String::from))
            .unwrap_or_else(|| "/var/run/docker.sock".into()),
    );
    let listener = UnixListener::bind(at).expect("proxy socket");
    let seen = Requests::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let log = log.clone();
            let conn = Arc::new(Connection::default());
            conn.open.store(true, Ordering::SeqCst);
            log.connections.lock().unwrap().push(conn.clone());
            tokio::spawn(async move {
                let Ok(server) = UnixStream::connect(&upstream).await else {
                    conn.open.store(false, Ordering::SeqCst);
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async {
                    let mut buf = vec![0u8; 65536];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        record(&buf[..n], &log, &conn);
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                };
                let down = tokio::io::copy(&mut sr, &mut cw);
                tokio::select! { _ = up => {}, _ = down => {} }
                conn.open.store(false, Ordering::SeqCst);
            });
        }
    });
    seen
}

/// Request lines end in " HTTP/1.1\r\n"; a client writes each request in one go.
fn record(bytes: &[u8], log: &Requests, conn: &Connection) {
    let text = String::from_utf8_lossy(bytes);
    for line in text.split("\r\n").filter(|l| l.ends_with(" HTTP/1.1")) {
        if ["GET ", "POST ", "PUT ", "DELETE ", "HEAD "]
            .iter()
            .any(|m| line.starts_with(m))
        {
            let line = line.trim_end_matches(" HTTP/1.1").to_string();
            *conn.last.lock().unwrap() = line.clone();
            log.lines.lock().unwrap().push(line);
        }
    }
}
