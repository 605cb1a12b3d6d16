//! Ownership labels (DESIGN.md). Berth finds its objects by these, never by parsing names,
//! and never touches an object whose `dev.berth.install` is not its own.

use crate::model::{Kind, Workspace};
use std::collections::HashMap;
use uuid::Uuid;

pub const MANAGED: &str = "dev.berth.managed";
pub const INSTALL: &str = "dev.berth.install";
pub const KIND: &str = "dev.berth.kind";
pub const ID: &str = "dev.berth.id";
pub const NAME: &str = "dev.berth.name";
/// A preview's workspace (its id) and when the preview expires (Unix seconds).
pub const WORKSPACE: &str = "dev.berth.workspace";
pub const EXPIRES_AT: &str = "dev.berth.expires-at";
/// Per-container creation token (see `store` migration 003).
pub const TOKEN: &str = "dev.berth.token";

/// Image labels of the image contract.
pub const IDE_PORT: &str = "dev.berth.ide.port";
pub const IDE_HEALTH: &str = "dev.berth.ide.health";
pub const IDE_AUTH: &str = "dev.berth.ide.auth";
/// Which tool in the image Berth may use for Docker's health check: `wget`, `curl` or `node`.
pub const IDE_PROBE: &str = "dev.berth.ide.probe";
/// Which container layout Berth made a container with ([`crate::docker::SPEC`]): a container
/// of an older layout is recreated at its next start (never while it runs).
pub const SPEC: &str = "dev.berth.spec";
/// Set by `berth image build` on bundled images: which bundle and which inputs made it.
pub const BUNDLE: &str = "dev.berth.bundle";
pub const CONTEXT_HASH: &str = "dev.berth.context-hash";

pub fn for_workspace(install: Uuid, ws: &Workspace) -> HashMap<String, String> {
    HashMap::from([
        (MANAGED.to_string(), "true".to_string()),
        (INSTALL.to_string(), install.to_string()),
        (KIND.to_string(), Kind::Workspace.as_str().to_string()),
        (ID.to_string(), ws.id.to_string()),
        (NAME.to_string(), ws.name.to_string()),
    ])
}

/// A preview's: the workspace's kind of labels, its own id, its workspace and its end.
pub fn for_preview(install: Uuid, p: &crate::model::Preview) -> HashMap<String, String> {
    HashMap::from([
        (MANAGED.to_string(), "true".to_string()),
        (INSTALL.to_string(), install.to_string()),
        (KIND.to_string(), Kind::Preview.as_str().to_string()),
        (ID.to_string(), p.id.to_string()),
        (NAME.to_string(), p.workspace.clone()),
        (WORKSPACE.to_string(), p.workspace_id.to_string()),
        (EXPIRES_AT.to_string(), p.expires_at.to_string()),
    ])
}

/// The owner id of an object, if its label holds a real UUID.
pub fn owner(labels: &HashMap<String, String>) -> Option<Uuid> {
    labels.get(ID).and_then(|raw| Uuid::parse_str(raw).ok())
}

pub fn kind(labels: &HashMap<String, String>) -> Option<Kind> {
    labels.get(KIND).and_then(|raw| Kind::parse(raw))
}

/// A `filters` argument selecting every object of this install (optionally one workspace).
pub fn install_filter(install: Uuid, workspace: Option<&str>) -> HashMap<String, Vec<String>> {
    let mut labels = vec![format!("{MANAGED}=true"), format!("{INSTALL}={install}")];
    if let Some(id) = workspace {
        labels.push(format!("{ID}={id}"));
    }
    HashMap::from([("label".to_string(), labels)])
}

/// True only for objects this install owns: both labels must match exactly.
pub fn is_ours(labels: Option<&HashMap<String, String>>, install: Uuid) -> bool {
    labels.is_some_and(|l| {
        l.get(MANAGED).map(String::as_str) == Some("true")
            && l.get(INSTALL).map(String::as_str) == Some(install.to_string().as_str())
    })
}
