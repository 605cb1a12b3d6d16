//! The audit log: every action on a workspace, kept after the workspace is gone.

use super::{Store, now_ms};
use crate::error::Result;
use crate::model::Workspace;
use rusqlite::params;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Failed,
    /// Reconcile changed something to make the database and Docker agree.
    Repaired,
    Info,
}

impl Outcome {
    fn as_str(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Repaired => "repaired",
            Outcome::Info => "info",
        }
    }

    fn parse(raw: &str) -> Outcome {
        match raw {
            "ok" => Outcome::Ok,
            "failed" => Outcome::Failed,
            "repaired" => Outcome::Repaired,
            _ => Outcome::Info,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AuditEntry {
    pub at_ms: i64,
    pub workspace_id: Option<String>,
    pub workspace_name: Option<String>,
    pub action: String,
    pub outcome: Outcome,
    pub detail: String,
}

impl Store {
    pub fn audit(
        &mut self,
        ws: Option<&Workspace>,
        action: &str,
        outcome: Outcome,
        detail: &str,
    ) -> Result<()> {
        self.audit_raw(
            ws.map(|w| w.id.to_string()),
            ws.map(|w| w.name.to_string()),
            action,
            outcome,
            detail,
        )
    }

    /// For objects that have no workspace row (an orphan container found by reconcile).
    pub fn audit_raw(
        &mut self,
        workspace_id: Option<String>,
        workspace_name: Option<String>,
        action: &str,
        outcome: Outcome,
        detail: &str,
    ) -> Result<()> {
        // Details quote containers (their last output, their names): stored defused, so no
        // reader of the log — terminal, app, export — meets an escape sequence.
        let detail = crate::model::escape_controls(detail);
        self.conn.execute(
            "INSERT INTO audit_log (at_ms, workspace_id, workspace_name, action, outcome, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                now_ms(),
                workspace_id,
                workspace_name,
                action,
                outcome.as_str(),
                detail
            ],
        )?;
        Ok(())
    }

    /// Oldest first, of one workspace by id: a workspace that reuses a deleted one's name
    /// starts with a history of its own.
    pub fn audit_for(&self, workspace_id: &str) -> Result<Vec<AuditEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT at_ms, workspace_id, workspace_name, action, outcome, detail
             FROM audit_log WHERE workspace_id = ?1 ORDER BY id",
        )?;
        let rows = stmt
            .query_map([workspace_id], read_entry)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Entries of no workspace whose action starts with `prefix` (`key `), oldest first.
    pub fn audit_actions(&self, prefix: &str) -> Result<Vec<AuditEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT at_ms, workspace_id, workspace_name, action, outcome, detail
             FROM audit_log WHERE workspace_id IS NULL AND substr(action, 1, length(?1)) = ?1
             ORDER BY id",
        )?;
        let rows = stmt
            .query_map([prefix], read_entry)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The id of the workspace last called `name` in the log (to read a deleted one's log).
    pub fn last_audited_id(&self, name: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn
            .query_row(
                "SELECT workspace_id FROM audit_log
                 WHERE workspace_name = ?1 AND workspace_id IS NOT NULL ORDER BY id DESC LIMIT 1",
                [name],
                |r| r.get(0),
            )
            .optional()?)
    }
}

/// An entry from a row of `SELECT at_ms, workspace_id, workspace_name, action, outcome, detail`.
fn read_entry(r: &rusqlite::Row) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        at_ms: r.get(0)?,
        workspace_id: r.get(1)?,
        workspace_name: r.get(2)?,
        action: r.get(3)?,
        outcome: Outcome::parse(&r.get::<_, String>(4)?),
        detail: r.get(5)?,
    })
}
