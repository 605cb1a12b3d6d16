//! Waiting for the IDE: a tight poll of its health path on the host port. Each probe is a
//! fresh connection with `Connection: close` — a kept-alive connection would count as IDE
//! activity (code-server) and could hide a restart.

use crate::docker::{self, ContainerInfo};
use crate::error::Result;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(50);
/// How often, while waiting, Docker is asked whether the container died.
const LIVENESS_EVERY: Duration = Duration::from_millis(500);

/// How a wait for the IDE ended.
pub enum Health {
    /// Answered 2xx after this long.
    Healthy(Duration),
    /// The container stopped (or vanished) while we waited.
    Exited(Option<ContainerInfo>),
    TimedOut,
}

/// Polls `path` on 127.0.0.1:`port` until it answers 2xx, the container dies, or `timeout`
/// passes. Used by every start and by `berth image check`, so both judge an IDE alike.
pub async fn wait(
    docker: &docker::Client,
    container_id: &str,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<Health> {
    let started = Instant::now();
    let mut last_liveness = Instant::now();
    loop {
        if let Some(status) = probe(port, path).await
            && (200..300).contains(&status)
        {
            return Ok(Health::Healthy(started.elapsed()));
        }
        if last_liveness.elapsed() >= LIVENESS_EVERY {
            last_liveness = Instant::now();
            let info = docker.inspect_container(container_id).await?;
            if !info.as_ref().is_some_and(|c| c.running) {
                return Ok(Health::Exited(info));
            }
        }
        if started.elapsed() >= timeout {
            return Ok(Health::TimedOut);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The HTTP status of `GET path` on 127.0.0.1:port, or `None` if nothing answered.
pub async fn probe(port: u16, path: &str) -> Option<u16> {
    tokio::time::timeout(PROBE_TIMEOUT, probe_once(port, path))
        .await
        .ok()
        .flatten()
}

async fn probe_once(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut head = [0u8; 64];
    let mut len = 0;
    // The status line is all we need: "HTTP/1.1 200 OK".
    while len < head.len() {
        let n = stream.read(&mut head[len..]).await.ok()?;
        if n == 0 {
            break;
        }
        len += n;
        if head[..len].contains(&b'\n') {
            break;
        }
    }
    parse_status(&head[..len])
}

fn parse_status(head: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(head).ok()?.lines().next()?;
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            parse_status(b"HTTP/1.0 302 Found\r\nLocation: /"),
            Some(302)
        );
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status(b""), None);
    }

    #[tokio::test]
    async fn probes_a_real_server_and_a_closed_port() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf).await;
            s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                .await
                .unwrap();
        });
        assert_eq!(probe(port, "/healthz").await, Some(204));
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        assert_eq!(probe(closed_port, "/healthz").await, None);
    }
}
