//! The one owner of the daemon's background work. Each task is named, gets a child
//! cancellation token, and is restarted with back-off when it fails or panics — a failing task
//! is logged and retried, it never takes the daemon down. `status` is what `berth daemon
//! status` shows; `shutdown` cancels everything and waits a bounded time.

use crate::api::{TaskState, TaskStatus};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A task that ran this long before failing starts over at the first back-off.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Supervisor {
    cancel: CancellationToken,
    tracker: TaskTracker,
    tasks: Arc<Mutex<BTreeMap<&'static str, TaskStatus>>>,
}

impl Supervisor {
    pub fn new(cancel: CancellationToken) -> Supervisor {
        Supervisor {
            cancel,
            tracker: TaskTracker::new(),
            tasks: Arc::default(),
        }
    }

    /// Runs `make(token)` until the supervisor is cancelled. `Ok(())` ends the task for good;
    /// an error or a panic restarts it after a back-off.
    pub fn spawn<F, Fut>(&self, name: &'static str, make: F)
    where
        F: Fn(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.set(name, TaskState::Running, None, false);
        let this = self.clone();
        self.tracker.spawn(async move {
            let mut backoff = FIRST_BACKOFF;
            loop {
                let token = this.cancel.child_token();
                let began = Instant::now();
                // Its own task, so a panic surfaces as a JoinError instead of unwinding here.
                let mut run = tokio::spawn(make(token.clone()));
                let outcome = tokio::select! {
                    joined = &mut run => joined,
                    _ = this.cancel.cancelled() => {
                        // Tell the task, and wait for it (shutdown bounds the wait).
                        token.cancel();
                        let _ = run.await;
                        break;
                    }
                };
                let error = match outcome {
                    Ok(Ok(())) => break,
                    Ok(Err(e)) => e,
                    Err(e) if e.is_panic() => format!("panicked: {}", panic_message(e)),
                    Err(e) => e.to_string(),
                };
                if began.elapsed() >= HEALTHY_RUN {
                    backoff = FIRST_BACKOFF;
                }
                tracing::warn!(task = name, "failed: {error}; restarting in {backoff:?}");
                this.set(name, TaskState::Restarting, Some(error), true);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = this.cancel.cancelled() => break,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                this.set(name, TaskState::Running, None, false);
            }
            this.set(name, TaskState::Stopped, None, false);
        });
    }

    fn set(&self, name: &'static str, state: TaskState, error: Option<String>, failed: bool) {
        let mut tasks = self.tasks.lock().expect("supervisor lock");
        let entry = tasks.entry(name).or_insert_with(|| TaskStatus {
            name: name.to_string(),
            state,
            restarts: 0,
            last_error: None,
        });
        entry.state = state;
        if failed {
            entry.restarts += 1;
        }
        if error.is_some() {
            entry.last_error = error;
        }
    }

    pub fn status(&self) -> Vec<TaskStatus> {
        self.tasks
            .lock()
            .expect("supervisor lock")
            .values()
            .cloned()
            .collect()
    }

    /// Cancels every task and waits at most `timeout` for them to end. False if some did not.
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        self.cancel.cancel();
        self.tracker.close();
        tokio::time::timeout(timeout, self.tracker.wait())
            .await
            .is_ok()
    }
}

fn panic_message(e: tokio::task::JoinError) -> String {
    let payload = e.into_panic();
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Polls `f` every 10 ms until true or 5 s pass.
    async fn eventually(what: &str, f: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !f() {
            assert!(Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_panicking_task_is_restarted_and_reported() {
        let sup = Supervisor::new(CancellationToken::new());
        let runs = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&runs);
        sup.spawn("flaky", move |token| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    panic!("boom {n}");
                }
                token.cancelled().await;
                Ok(())
            }
        });
        eventually("third run", || runs.load(Ordering::SeqCst) == 3).await;
        let status = &sup.status()[0];
        assert_eq!(status.name, "flaky");
        assert_eq!(status.restarts, 2);
        assert_eq!(status.state, TaskState::Running);
        assert!(
            status.last_error.as_deref().unwrap().contains("boom 1"),
            "{status:?}"
        );
        assert!(sup.shutdown(Duration::from_secs(5)).await);
        assert_eq!(sup.status()[0].state, TaskState::Stopped);
    }

    #[tokio::test]
    async fn an_error_is_retried_and_shutdown_cancels_a_waiting_task() {
        let sup = Supervisor::new(CancellationToken::new());
        sup.spawn("failing", |_token| async {
            Err("docker is gone".to_string())
        });
        eventually("a restart", || sup.status()[0].restarts >= 1).await;
        assert_eq!(
            sup.status()[0].last_error.as_deref(),
            Some("docker is gone")
        );
        // It now sleeps in its back-off; shutdown must not wait for that.
        let began = Instant::now();
        assert!(sup.shutdown(Duration::from_secs(5)).await);
        assert!(began.elapsed() < Duration::from_secs(2));
    }
}
