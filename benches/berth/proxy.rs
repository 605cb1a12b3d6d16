//! A counting proxy in front of the Docker socket: the engine talks to it through
//! DOCKER_HOST, and the bench reads how many API requests it made and which.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

#[derive(Clone, Default)]
pub struct Requests(Arc<Mutex<Vec<String>>>);

impl Requests {
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

/// Listens on `at`, forwards to the real socket, records each request line.
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
            tokio::spawn(async move {
                let Ok(server) = UnixStream::connect(&upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async move {
                    let mut buf = vec![0u8; 65536];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        record(&buf[..n], &log);
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                };
                let down = tokio::io::copy(&mut sr, &mut cw);
                tokio::select! { _ = up => {}, _ = down => {} }
            });
        }
    });
    seen
}

/// Request lines end in " HTTP/1.1\r\n"; a client writes each request in one go.
fn record(bytes: &[u8], log: &Requests) {
    let text = String::from_utf8_lossy(bytes);
    for line in text.split("\r\n").filter(|l| l.ends_with(" HTTP/1.1")) {
        if ["GET ", "POST ", "PUT ", "DELETE ", "HEAD "]
            .iter()
            .any(|m| line.starts_with(m))
        {
            log.0
                .lock()
                .unwrap()
                .push(line.trim_end_matches(" HTTP/1.1").to_string());
        }
    }
}
