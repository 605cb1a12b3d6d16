//! Editing a workspace: description, limits and idle timeout. Name, image and projects are
//! fixed for the workspace's life (they are its container); changing those means a new one.

use super::Engine;
use crate::error::Result;
use crate::model::{LimitOverrides, Workspace, validate_idle_timeout};
use crate::store::Outcome;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct WorkspaceEdit {
    pub description: String,
    pub limits: LimitOverrides,
    pub idle_timeout_secs: Option<u64>,
}

impl Engine {
    /// Saves the edit and applies new limits to the existing container right away. Everything
    /// is checked here, whatever the client checked already.
    pub async fn edit(&self, name: &str, edit: WorkspaceEdit) -> Result<Workspace> {
        super::lifecycle::check_description(&edit.description)?;
        edit.limits.validate()?;
        validate_idle_timeout(edit.idle_timeout_secs)?;
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
        let ws = self.reload(ws.id, name)?;
        self.emit_updated(&ws);
        Ok(ws)
    }
}
