//! Idle stops: when a workspace was stopped for idleness, and since when it had been idle.

use super::Store;
use crate::error::Result;
use crate::model::WorkspaceId;
use rusqlite::{OptionalExtension, params};

/// The last idle stop of a workspace (Unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleStop {
    pub stopped_at_ms: i64,
    pub idle_since_ms: i64,
}

impl Store {
    pub fn record_idle_stop(&mut self, id: WorkspaceId, stop: IdleStop) -> Result<()> {
        self.conn.execute(
            "INSERT INTO idle_stops (workspace_id, stopped_at_ms, idle_since_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (workspace_id) DO UPDATE SET stopped_at_ms = ?2, idle_since_ms = ?3",
            params![id.to_string(), stop.stopped_at_ms, stop.idle_since_ms],
        )?;
        Ok(())
    }

    pub fn idle_stop(&self, id: WorkspaceId) -> Result<Option<IdleStop>> {
        Ok(self
            .conn
            .query_row(
                "SELECT stopped_at_ms, idle_since_ms FROM idle_stops WHERE workspace_id = ?1",
                [id.to_string()],
                |r| {
                    Ok(IdleStop {
                        stopped_at_ms: r.get(0)?,
                        idle_since_ms: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn clear_idle_stop(&mut self, id: WorkspaceId) -> Result<()> {
        self.conn.execute(
            "DELETE FROM idle_stops WHERE workspace_id = ?1",
            [id.to_string()],
        )?;
        Ok(())
    }
}
