//! Editing a workspace: description, limits and idle timeout. Name, image and projects are
//! fixed for the workspace's life (they are its container); changing those means a new one.

use super::Engine;
use crate::error::{Error, Result};
use crate::model::{LimitOverrides, Workspace};
use crate::store::Outcome;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct WorkspaceEdit {
    pub description: String,
    pub limits: LimitOverrides,
    pub idle_timeout_secs: Option<u64>,
}

const MIN_IDLE_SECS: u64 = 60;

impl Engine {
    /// Saves the edit and applies new limits to the existing container right away.
    pub async fn edit(&self, name: &str, edit: WorkspaceEdit) -> Result<Workspace> {
        if edit.idle_timeout_secs.is_some_and(|s| s < MIN_IDLE_SECS) {
            return Err(Error::invalid("the idle timeout must be at least a minute")
                .keyed("idle_too_short", []));
        }
        let ws = self.find(name)?;
        let docker = self.docker().await?;
        let _lock = self.lock_workspace(&ws).await?;
        let mut ws = self.reload(ws.id, name)?;
        ws.description = edit.description;
        ws.limits = edit.limits;
        ws.idle_timeout_secs = edit.idle_timeout_secs;
        if let Some(container) = self.find_container(docker, &ws).await? {
            let limits = ws.limits.over(&self.settings()?.default_limits);
            docker.update_limits(&container.id, &limits).await?;
        }
        self.db(|s| s.update_details(&ws))?;
        self.audit(
            &ws,
            "edit",
            Outcome::Ok,
            "description, limits or idle timeout changed",
        );
        self.reload(ws.id, name)
    }
}
