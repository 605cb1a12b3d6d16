//! When the daemon may exit on its own: counters of open connections and running operations
//! (RAII guards), a deadline that every real request pushes back, and the containers Berth
//! runs. The decision itself is a pure function.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub struct Lifetime {
    connections: AtomicUsize,
    operations: AtomicUsize,
    last_request: Mutex<Instant>,
    pub idle_exit_after: Duration,
}

/// Held while a connection is open; dropping it closes the count.
pub struct ConnectionGuard(Arc<Lifetime>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::SeqCst);
        self.0.touch();
    }
}

/// Held while an operation runs (it may outlive the request that started it).
pub struct OperationGuard(Arc<Lifetime>);

impl Drop for OperationGuard {
    fn drop(&mut self) {
        self.0.operations.fetch_sub(1, Ordering::SeqCst);
        self.0.touch();
    }
}

/// What keeps the daemon alive right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    pub connections: usize,
    pub operations: usize,
    /// Containers Berth runs.
    pub running: usize,
    pub since_last_request: Duration,
}

/// `None` while something keeps the daemon; else how long until it exits (zero: now). A
/// running container or an open connection (the app's event stream) keeps it indefinitely.
pub fn idle_exit_in(a: Activity, idle: Duration) -> Option<Duration> {
    if a.connections > 0 || a.operations > 0 || a.running > 0 {
        return None;
    }
    Some(idle.saturating_sub(a.since_last_request))
}

impl Lifetime {
    /// The clock starts at boot, so a daemon whose spawner died still exits.
    pub fn new(idle_exit_after: Duration) -> Arc<Lifetime> {
        Arc::new(Lifetime {
            connections: AtomicUsize::new(0),
            operations: AtomicUsize::new(0),
            last_request: Mutex::new(Instant::now()),
            idle_exit_after,
        })
    }

    pub fn connection(self: &Arc<Self>) -> ConnectionGuard {
        self.connections.fetch_add(1, Ordering::SeqCst);
        ConnectionGuard(Arc::clone(self))
    }

    pub fn operation(self: &Arc<Self>) -> OperationGuard {
        self.operations.fetch_add(1, Ordering::SeqCst);
        self.touch();
        OperationGuard(Arc::clone(self))
    }

    /// A real request arrived (not a bare `hello` or `status` probe).
    pub fn touch(&self) {
        *self.last_request.lock().expect("lifetime lock") = Instant::now();
    }

    pub fn activity(&self, running: usize) -> Activity {
        Activity {
            connections: self.connections.load(Ordering::SeqCst),
            operations: self.operations.load(Ordering::SeqCst),
            running,
            since_last_request: self.last_request.lock().expect("lifetime lock").elapsed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEN_MIN: Duration = Duration::from_secs(600);

    fn quiet(since: u64) -> Activity {
        Activity {
            connections: 0,
            operations: 0,
            running: 0,
            since_last_request: Duration::from_secs(since),
        }
    }

    #[test]
    fn exits_only_after_ten_quiet_minutes() {
        assert_eq!(
            idle_exit_in(quiet(60), TEN_MIN),
            Some(Duration::from_secs(540))
        );
        assert_eq!(idle_exit_in(quiet(600), TEN_MIN), Some(Duration::ZERO));
        assert_eq!(idle_exit_in(quiet(4000), TEN_MIN), Some(Duration::ZERO));
    }

    #[test]
    fn a_connection_an_operation_or_a_running_container_keeps_it() {
        for a in [
            Activity {
                connections: 1,
                ..quiet(4000)
            },
            Activity {
                operations: 1,
                ..quiet(4000)
            },
            Activity {
                running: 1,
                ..quiet(4000)
            },
        ] {
            assert_eq!(idle_exit_in(a, TEN_MIN), None, "{a:?}");
        }
    }

    #[test]
    fn guards_count_and_closing_restarts_the_clock() {
        let life = Lifetime::new(TEN_MIN);
        let c = life.connection();
        let o = life.operation();
        assert_eq!(
            (life.activity(0).connections, life.activity(0).operations),
            (1, 1)
        );
        drop(c);
        drop(o);
        let a = life.activity(0);
        assert_eq!((a.connections, a.operations), (0, 0));
        assert!(a.since_last_request < Duration::from_secs(1));
    }
}
