//! The signals that mean "Berth quits" — for the daemon and for the app alike: SIGTERM (logout,
//! `kill`, service managers), SIGINT (Ctrl-C) and SIGHUP (a closed terminal); on Windows Ctrl-C,
//! console close and logoff.

use std::io;

/// Resolves when a quit signal arrives; an error if the signals cannot be listened for.
pub async fn quit_requested() -> io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = hup.recv() => {}
        }
    }
    #[cfg(windows)]
    {
        let mut close = tokio::signal::windows::ctrl_close()?;
        let mut logoff = tokio::signal::windows::ctrl_logoff()?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            _ = close.recv() => {}
            _ = logoff.recv() => {}
        }
    }
    Ok(())
}
