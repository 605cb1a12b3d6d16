//! Ownership labels (DESIGN.md). Berth finds its objects by these, never by parsing names,
//! and never touches an object whose `dev.berth.install` is not its own.

use crate::model::Workspace;
use std::collections::HashMap;
use uuid::Uuid;

pub const MANAGED: &str = "dev.berth.managed";
pub const INSTALL: &str = "dev.berth.install";
pub const KIND: &str = "dev.berth.kind";
pub const ID: &str = "dev.berth.id";
pub const NAME: &str = "dev.berth.name";

/// Image labels of the image contract.
pub const IDE_PORT: &str = "dev.berth.ide.port";
pub const IDE_HEALTH: &str = "dev.berth.ide.health";
pub const IDE_AUTH: &str = "dev.berth.ide.auth";
/// Set by `berth image build` on bundled images: which bundle and which inputs made it.
pub const BUNDLE: &str = "dev.berth.bundle";
pub const CONTEXT_HASH: &str = "dev.berth.context-hash";

pub fn for_workspace(install: Uuid, ws: &Workspace) -> HashMap<String, String> {
    HashMap::from([
        (MANAGED.to_string(), "true".to_string()),
        (INSTALL.to_string(), install.to_string()),
        (KIND.to_string(), "workspace".to_string()),
        (ID.to_string(), ws.id.to_string()),
        (NAME.to_string(), ws.name.to_string()),
    ])
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
