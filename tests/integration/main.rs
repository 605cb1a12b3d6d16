//! Integration tests of the engine and the `berth` CLI against a real Docker engine.
//! `scripts/test` installs and starts dockerd and builds the test image before running them.

mod env;

mod cis;
mod code_server;
mod concurrency;
mod daemon;
mod events;
mod failures;
mod gateway;
mod hardening;
mod idle;
mod keys;
mod lifecycle;
mod ports;
mod previews;
mod provider;
mod proxy;
mod reconcile;
mod resources;
mod scripts;
mod validation;
mod workspace_image;
