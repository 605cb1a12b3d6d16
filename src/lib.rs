//! Berth: developer workspaces as hardened local Docker containers. The engine works headless;
//! one daemon per data dir hosts it ([`daemon`]), and the CLI and the desktop app are thin
//! clients of that daemon ([`client`]) over the contract in [`api`].

pub mod activity;
pub mod api;
pub mod client;
pub mod credentials;
pub mod daemon;
pub mod docker;
pub mod engine;
pub mod error;
pub mod gateway;
pub mod lockfile;
pub mod model;
pub mod ports;
pub mod preview;
pub mod private;
pub mod resources;
pub mod secrets;
pub mod signals;
pub mod store;

pub use error::{Code, Error, Result};
