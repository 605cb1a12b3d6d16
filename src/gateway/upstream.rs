//! Where a workspace's IDE really listens, and Berth's own requests to it (health probes, the
//! code-server login) on hyper: one fresh connection each, `Connection: close` (a kept-alive
//! probe would look like IDE activity and could hide a restart), bounded in time and size.

use crate::docker::ContainerInfo;
use crate::error::{Code, Error, Result};
use crate::secrets::Sensitive;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, SET_COOKIE};
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(10);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// A login answer is a redirect or a small page; more than this is not an IDE's login.
const LOGIN_BODY_CAP: usize = 64 * 1024;

/// The IDE's address as seen from the daemon. On Linux the container's own address on its
/// workspace network: the container publishes nothing. Elsewhere (Docker Desktop runs
/// containers in a VM the host cannot route to) the port Docker published on 127.0.0.1.
pub fn address(container: &ContainerInfo, ide_port: u16) -> Option<SocketAddr> {
    if cfg!(target_os = "linux") {
        container_address(container, ide_port)
    } else {
        published_address(container)
    }
}

fn container_address(container: &ContainerInfo, ide_port: u16) -> Option<SocketAddr> {
    let ip: IpAddr = container.ip.as_deref()?.parse().ok()?;
    Some(SocketAddr::new(ip, ide_port))
}

fn published_address(container: &ContainerInfo) -> Option<SocketAddr> {
    let port = *container.host_ports.first()?;
    Some(SocketAddr::from(([127, 0, 0, 1], port)))
}

/// One request on a fresh connection; the answer's head and body (read up to `cap`).
async fn once(
    addr: SocketAddr,
    req: Request<Full<Bytes>>,
    cap: usize,
) -> std::result::Result<(hyper::http::response::Parts, Bytes), String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(conn);
    let result = async {
        let response = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, cap)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((parts, body))
    }
    .await;
    driver.abort();
    result
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Bytes,
) -> std::result::Result<Request<Full<Bytes>>, String> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, addr.to_string())
        .header(CONNECTION, "close")
        .body(Full::new(body))
        .map_err(|e| format!("cannot ask for {path:?}: {e}"))
}

/// The HTTP status of `GET path`, or `None` if nothing answered in time. Only the head
/// matters: the body is read up to 4 KiB and dropped.
pub async fn probe(addr: SocketAddr, path: &str) -> Option<u16> {
    let req = request(addr, "GET", path, Bytes::new()).ok()?;
    match tokio::time::timeout(PROBE_TIMEOUT, once(addr, req, 4096)).await {
        Ok(Ok((parts, _))) => Some(parts.status.as_u16()),
        // A body over the cap still came with a status line, but a probe needs none of it.
        _ => None,
    }
}

/// Logs in to code-server with the workspace's secret: `POST /login`, the session cookie
/// from `Set-Cookie`. The gateway adds that cookie to what it forwards; no browser holds it.
pub async fn code_server_login(
    addr: SocketAddr,
    secret: &Sensitive<String>,
) -> Result<(String, Sensitive<String>)> {
    let fail = |why: &str| {
        Error::new(
            Code::StartFailed,
            format!("cannot log in to the IDE at {addr}: {why}"),
        )
    };
    let body = format!("password={}", secret.expose());
    let mut req = request(addr, "POST", "/login", Bytes::from(body)).map_err(|e| fail(&e))?;
    req.headers_mut().insert(
        CONTENT_TYPE,
        "application/x-www-form-urlencoded".parse().expect("static"),
    );
    let (parts, _) = tokio::time::timeout(TIMEOUT, once(addr, req, LOGIN_BODY_CAP))
        .await
        .map_err(|_| fail("no answer within 10 s"))?
        .map_err(|e| fail(&e))?;
    let cookies: Vec<&str> = parts
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    session_cookie(&cookies).ok_or_else(|| fail("the IDE refused Berth's secret"))
}

/// The `code-server-session…` cookie among `Set-Cookie` values, if one was set.
fn session_cookie(set_cookies: &[&str]) -> Option<(String, Sensitive<String>)> {
    set_cookies
        .iter()
        .filter_map(|c| c.split(';').next()?.split_once('='))
        .map(|(n, v)| (n.trim(), v.trim()))
        .find(|(name, value)| name.starts_with("code-server-session") && !value.is_empty())
        .map(|(n, v)| (n.to_string(), Sensitive::new(v.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn finds_the_session_cookie() {
        let (name, value) = session_cookie(&[
            "other=1; Path=/",
            "code-server-session=abc%3D; Path=/; HttpOnly",
        ])
        .unwrap();
        assert_eq!(
            (name.as_str(), value.expose().as_str()),
            ("code-server-session", "abc%3D")
        );
        assert!(session_cookie(&["code-server-session=; Path=/"]).is_none());
        assert!(session_cookie(&[]).is_none());
    }

    fn container(ip: Option<&str>, ports: &[u16]) -> ContainerInfo {
        ContainerInfo {
            id: "c".into(),
            name: "n".into(),
            labels: Default::default(),
            running: true,
            state: "running".into(),
            exit_code: None,
            oom_killed: false,
            host_ports: ports.to_vec(),
            ip: ip.map(str::to_string),
            pid: None,
        }
    }

    #[test]
    fn linux_uses_the_container_address_elsewhere_the_published_port() {
        let c = container(Some("172.30.0.2"), &[49153]);
        assert_eq!(
            container_address(&c, 8080),
            Some("172.30.0.2:8080".parse().unwrap())
        );
        assert_eq!(
            published_address(&c),
            Some("127.0.0.1:49153".parse().unwrap())
        );
        assert_eq!(container_address(&container(None, &[]), 8080), None);
        assert_eq!(published_address(&container(None, &[])), None);
        assert_eq!(
            container_address(&container(Some("garbage"), &[]), 8080),
            None
        );
    }

    /// A server that answers `answer` to one request; `endless`: then sends body bytes until
    /// the client goes away.
    async fn serve_once(answer: &'static [u8], endless: bool) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(answer).await;
            let chunk = vec![b'a'; 64 * 1024];
            while endless && s.write_all(&chunk).await.is_ok() {}
        });
        addr
    }

    #[tokio::test]
    async fn probes_a_real_server_and_a_closed_port() {
        let addr = serve_once(b"HTTP/1.1 204 No Content\r\n\r\n", false).await;
        assert_eq!(probe(addr, "/healthz").await, Some(204));
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_addr = closed.local_addr().unwrap();
        drop(closed);
        assert_eq!(probe(closed_addr, "/healthz").await, None);
    }

    #[tokio::test]
    async fn a_login_answer_over_the_cap_is_refused() {
        // An endless body: the login gives up at the cap instead of reading forever.
        let addr = serve_once(
            b"HTTP/1.1 200 OK\r\nSet-Cookie: code-server-session=x\r\n\r\n",
            true,
        )
        .await;
        let err = code_server_login(addr, &Sensitive::new("s".into()))
            .await
            .unwrap_err();
        assert_eq!(err.code, Code::StartFailed);
    }

    #[tokio::test]
    async fn a_login_takes_the_session_cookie() {
        let addr = serve_once(
            b"HTTP/1.1 302 Found\r\nLocation: ./\r\nSet-Cookie: code-server-session=abc; Path=/\r\nContent-Length: 0\r\n\r\n",
            false,
        )
        .await;
        let (name, value) = code_server_login(addr, &Sensitive::new("s".into()))
            .await
            .unwrap();
        assert_eq!(
            (name.as_str(), value.expose().as_str()),
            ("code-server-session", "abc")
        );
    }
}
