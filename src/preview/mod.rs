//! Previews' own parts that need no engine: the snapshot of a workspace's projects and the
//! machine's LAN addresses for a share. The lifetime rules are plain data (`model::preview`),
//! the container plan is with the others (`docker::plan_preview`), and running, reaping and
//! serving them is the engine's and the gateway's, in the daemon.

pub mod lan;
pub mod snapshot;
