//! Logging Berth's own IDE window in: the user never sees or types the workspace's secret.
//! For code-server, Berth posts the secret to `/login` itself (fresh connection, loopback
//! only) and hands the resulting session cookie to the window's own cookie store.

use super::Engine;
use crate::error::{Code, Error, Result};
use crate::model::{IdeAuth, Workspace};
use crate::secrets::Sensitive;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where to point an IDE window, and the cookie that makes it logged in.
#[derive(Debug, Clone)]
pub struct IdeSession {
    pub workspace: Workspace,
    pub url: String,
    pub port: u16,
    /// (name, value) of the session cookie; `None` when the IDE has no login.
    pub cookie: Option<(String, Sensitive<String>)>,
}

impl Engine {
    /// Starts the workspace if needed and logs in to its IDE.
    pub async fn ide_session(&self, name: &str) -> Result<IdeSession> {
        let started = self.start(name).await?;
        let ws = started.workspace;
        let port = ws.port.unwrap_or_default();
        let cookie = match ws.ide.auth {
            None => None,
            Some(IdeAuth::CodeServerPassword) => {
                let secret = self.secrets.get_or_create(&ws.id.to_string())?;
                Some(code_server_login(port, &secret).await?)
            }
        };
        Ok(IdeSession {
            workspace: ws,
            url: started.url,
            port,
            cookie,
        })
    }
}

/// `POST /login` with the password; the session cookie from `Set-Cookie`.
pub async fn code_server_login(
    port: u16,
    secret: &Sensitive<String>,
) -> Result<(String, Sensitive<String>)> {
    let fail = |why: &str| {
        Error::new(
            Code::StartFailed,
            format!("cannot log in to the IDE on port {port}: {why}"),
        )
    };
    let body = format!("password={}", secret.expose());
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| fail(&e.to_string()))?;
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| fail(&e.to_string()))?;
    let mut response = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut response),
    )
    .await
    .map_err(|_| fail("no answer within 10 s"))?
    .map_err(|e| fail(&e.to_string()))?;
    session_cookie(&String::from_utf8_lossy(&response))
        .ok_or_else(|| fail("the IDE refused Berth's secret"))
}

/// The `code-server-session…` cookie of a login response, if it set one.
fn session_cookie(response: &str) -> Option<(String, Sensitive<String>)> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines()
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("set-cookie")
                .then_some(value.trim())
        })
        .filter_map(|c| c.split(';').next()?.split_once('='))
        .find(|(name, value)| name.starts_with("code-server-session") && !value.is_empty())
        .map(|(n, v)| (n.to_string(), Sensitive::new(v.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_cookie() {
        let ok = "HTTP/1.1 302 Found\r\nLocation: ./\r\nSet-Cookie: other=1; Path=/\r\nset-cookie: code-server-session=abc%3D; Path=/; HttpOnly\r\n\r\n";
        let (name, value) = session_cookie(ok).unwrap();
        assert_eq!(
            (name.as_str(), value.expose().as_str()),
            ("code-server-session", "abc%3D")
        );
        let refused =
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>Incorrect password</html>";
        assert!(session_cookie(refused).is_none());
    }
}
