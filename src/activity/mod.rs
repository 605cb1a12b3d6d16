//! Activity and idle stop (issue 12): which signals count as work, and the pure decision of
//! when an idle workspace is warned and stopped. Not wired into the daemon yet: an idle stop
//! without the IDE's own input signal would stop workspaces someone is typing in.

pub mod policy;

pub use policy::{Decision, Policy, Seen, Signal, decide};
