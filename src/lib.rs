//! Berth's engine: developer workspaces as hardened local Docker containers. Everything here
//! works headless; the CLI and the desktop app are thin layers over [`engine::Engine`].

pub mod docker;
pub mod engine;
pub mod error;
pub mod model;
pub mod ports;
pub mod secrets;
pub mod store;

pub use error::{Code, Error, Result};
