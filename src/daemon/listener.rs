//! The daemon's socket: a Unix socket created private (bind → chmod 0600 → listen, so there is
//! never a moment anyone else could connect), accepting only the user's own uid; on Windows a
//! named pipe for the user alone. Every accepted connection carries a guard that counts it for
//! the idle exit.

use super::lifetime::{ConnectionGuard, Lifetime};
use crate::api::endpoint::Endpoint;
use crate::error::{Error, Result};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// One accepted connection and its place in the count.
pub struct Conn<S> {
    stream: S,
    _guard: ConnectionGuard,
}

impl<S> Conn<S> {
    /// An accepted connection, counted until it closes; in the shape `accept` returns.
    fn counted(stream: S, life: &Arc<Lifetime>) -> (Conn<S>, ()) {
        let guard = life.connection();
        (
            Conn {
                stream,
                _guard: guard,
            },
            (),
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Conn<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Conn<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(unix)]
pub use unix::bind;

#[cfg(unix)]
mod unix {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::Path;
    use tokio::net::{UnixSocket, UnixStream};

    pub struct SocketListener {
        inner: tokio::net::UnixListener,
        life: Arc<Lifetime>,
        uid: u32,
    }

    /// Binds the endpoint. The caller holds the daemon lock, so a socket file left there is a
    /// dead daemon's and is removed first.
    pub fn bind(
        endpoint: &Endpoint,
        data_dir: &Path,
        life: Arc<Lifetime>,
    ) -> Result<SocketListener> {
        let Endpoint::Unix(path) = endpoint else {
            return Err(Error::invalid("a Unix daemon needs a socket path"));
        };
        if let Some(dir) = endpoint.private_dir(data_dir) {
            ensure_private_dir(&dir)?;
        }
        match std::fs::remove_file(path) {
            Ok(()) => tracing::info!("removed the stale socket {}", path.display()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::io(
                    &format!("cannot remove the stale socket {}", path.display()),
                    e,
                ));
            }
        }
        let fail = |what: &str, e: io::Error| {
            Error::io(
                &format!("cannot {what} the daemon socket {}", path.display()),
                e,
            )
        };
        let socket = UnixSocket::new_stream().map_err(|e| fail("create", e))?;
        socket.bind(path).map_err(|e| fail("bind", e))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| fail("restrict", e))?;
        let inner = socket.listen(128).map_err(|e| fail("listen on", e))?;
        // SAFETY: getuid cannot fail and touches no memory.
        let uid = unsafe { libc::getuid() };
        Ok(SocketListener { inner, life, uid })
    }

    /// The fallback folder under /tmp: ours, a real folder (not a symlink someone planted), and
    /// closed to everyone else. The sticky bit keeps /tmp cleaners from removing the socket.
    fn ensure_private_dir(dir: &Path) -> Result<()> {
        match std::fs::symlink_metadata(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir(dir)
                    .map_err(|e| Error::io(&format!("cannot create {}", dir.display()), e))?;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1700))
                    .map_err(|e| Error::io(&format!("cannot restrict {}", dir.display()), e))?;
                Ok(())
            }
            Err(e) => Err(Error::io(&format!("cannot inspect {}", dir.display()), e)),
            Ok(meta) => {
                // SAFETY: getuid cannot fail and touches no memory.
                let uid = unsafe { libc::getuid() };
                if !meta.is_dir() || meta.file_type().is_symlink() {
                    Err(Error::invalid(format!(
                        "{} is not a folder (a symlink or a file is in its place); remove it so the Berth daemon can create its socket folder there",
                        dir.display()
                    )))
                } else if meta.uid() != uid || meta.mode() & 0o077 != 0 {
                    Err(Error::invalid(format!(
                        "{} belongs to another user or is open to others (mode {:o}); the Berth daemon refuses to put its socket there — remove the folder",
                        dir.display(),
                        meta.mode() & 0o7777
                    )))
                } else {
                    if meta.mode() & 0o1000 == 0 {
                        // Ours and private, but without the sticky bit that keeps /tmp
                        // cleaners away from the socket.
                        let _ =
                            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1700));
                    }
                    Ok(())
                }
            }
        }
    }

    /// Whether the peer shares the daemon's mount namespace (Linux; elsewhere there are no
    /// such namespaces to tell apart, and the uid check stands alone).
    fn same_host_namespace(peer: Option<i32>) -> bool {
        #[cfg(target_os = "linux")]
        {
            let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok();
            match (peer, ns("self")) {
                (Some(pid), Some(own)) if pid > 0 => ns(&pid.to_string()) == Some(own),
                // Without a pid or /proc there is nothing to compare; the uid check stands.
                (_, None) => true,
                _ => false,
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = peer;
            true
        }
    }

    impl axum::serve::Listener for SocketListener {
        type Io = Conn<UnixStream>;
        type Addr = ();

        async fn accept(&mut self) -> (Self::Io, Self::Addr) {
            loop {
                match self.inner.accept().await {
                    Ok((stream, _)) => {
                        // The socket is 0600 already; the uid check also turns away root's
                        // processes acting as another user. A container runs as this very uid
                        // (Berth runs workspaces as the user), so a process in another mount
                        // namespace — one that reached the socket through a bind mount — is
                        // refused too.
                        match stream.peer_cred() {
                            Ok(cred) if cred.uid() != self.uid => {
                                tracing::warn!("refused a connection from uid {}", cred.uid())
                            }
                            Ok(cred) if !same_host_namespace(cred.pid()) => tracing::warn!(
                                "refused a connection from pid {:?} in another mount namespace (a container?)",
                                cred.pid()
                            ),
                            Ok(_) => return Conn::counted(stream, &self.life),
                            Err(e) => {
                                tracing::warn!("refused a connection without credentials: {e}")
                            }
                        }
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        }

        fn local_addr(&self) -> io::Result<Self::Addr> {
            Ok(())
        }
    }
}

#[cfg(windows)]
pub use windows::bind;

/// Windows named pipe. Written to the same rules as the Unix socket but untested: Berth's build
/// machines have no Windows.
#[cfg(windows)]
mod windows {
    use super::*;
    use std::path::Path;
    use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};

    pub struct PipeListener {
        name: String,
        next: NamedPipeServer,
        life: Arc<Lifetime>,
    }

    /// Full access for the pipe's owner (SDDL `OW`, owner rights: the user running the daemon;
    /// for an elevated process that may be the Administrators group, not the user's own SID as
    /// DAEMON.md asks) and nobody else; remote clients are rejected.
    fn create(name: &str, first: bool) -> io::Result<NamedPipeServer> {
        use windows_sys::Win32::Foundation::{FALSE, LocalFree};
        use windows_sys::Win32::Security::Authorization::{
            ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
        };
        use windows_sys::Win32::Security::SECURITY_ATTRIBUTES;
        // Protected DACL: owner rights only.
        let sddl: Vec<u16> = "D:P(A;;GA;;;OW)\0".encode_utf16().collect();
        let mut descriptor = std::ptr::null_mut();
        // SAFETY: sddl is NUL-terminated; descriptor receives a LocalAlloc'd pointer freed below.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                sddl.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        let mut attrs = SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: descriptor,
            bInheritHandle: FALSE,
        };
        // SAFETY: attrs and the descriptor it points to live until after the call.
        let server = unsafe {
            ServerOptions::new()
                .first_pipe_instance(first)
                .reject_remote_clients(true)
                .create_with_security_attributes_raw(name, &mut attrs as *mut _ as *mut _)
        };
        // SAFETY: descriptor came from the conversion above and is not used after this.
        unsafe { LocalFree(descriptor as _) };
        server
    }

    pub fn bind(
        endpoint: &Endpoint,
        _data_dir: &Path,
        life: Arc<Lifetime>,
    ) -> Result<PipeListener> {
        let Endpoint::Pipe(name) = endpoint else {
            return Err(Error::invalid("a Windows daemon needs a pipe name"));
        };
        let next = create(name, true).map_err(|e| {
            Error::io(
                &format!("cannot create the daemon pipe {name} (is another daemon running?)"),
                e,
            )
        })?;
        Ok(PipeListener {
            name: name.clone(),
            next,
            life,
        })
    }

    impl axum::serve::Listener for PipeListener {
        type Io = Conn<NamedPipeServer>;
        type Addr = ();

        async fn accept(&mut self) -> (Self::Io, Self::Addr) {
            loop {
                if let Err(e) = self.next.connect().await {
                    tracing::warn!("pipe connect failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
                // Always have the next instance waiting before handing this one off.
                match create(&self.name, false) {
                    Ok(next) => {
                        let stream = std::mem::replace(&mut self.next, next);
                        return Conn::counted(stream, &self.life);
                    }
                    Err(e) => {
                        tracing::warn!("cannot create the next pipe instance: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        }

        fn local_addr(&self) -> io::Result<Self::Addr> {
            Ok(())
        }
    }
}
