//! What Clean up may take as proof: the bundled images this install built, and the workspaces
//! it deleted (from the audit log, kept after a delete).

use super::{Store, now_ms};
use crate::error::Result;
use rusqlite::params;
use std::collections::HashSet;
use uuid::Uuid;

impl Store {
    pub fn record_bundled_build(&mut self, image_id: &str, bundle: &str) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO bundled_builds (image_id, bundle, built_ms) VALUES (?1, ?2, ?3)",
            params![image_id, bundle, now_ms()],
        )?;
        Ok(())
    }

    pub fn bundled_builds(&self) -> Result<HashSet<String>> {
        let mut stmt = self.conn.prepare("SELECT image_id FROM bundled_builds")?;
        let ids = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<std::result::Result<_, _>>()?;
        Ok(ids)
    }

    pub fn forget_bundled_build(&mut self, image_id: &str) -> Result<()> {
        self.conn.execute(
            "DELETE FROM bundled_builds WHERE image_id = ?1",
            params![image_id],
        )?;
        Ok(())
    }

    /// Workspaces this install deleted: their ids in the audit log's successful `delete`
    /// entries (a failed delete leaves the workspace).
    pub fn deleted_workspaces(&self) -> Result<HashSet<Uuid>> {
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT workspace_id FROM audit_log WHERE action = 'delete' AND outcome = 'ok' AND workspace_id IS NOT NULL",
        )?;
        let ids = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(ids.iter().filter_map(|s| Uuid::parse_str(s).ok()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_are_recorded_listed_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        s.record_bundled_build("sha256:a", "test").unwrap();
        s.record_bundled_build("sha256:b", "test").unwrap();
        s.forget_bundled_build("sha256:a").unwrap();
        assert_eq!(
            s.bundled_builds().unwrap(),
            HashSet::from(["sha256:b".to_string()])
        );
    }

    #[test]
    fn a_deleted_workspace_is_known_by_its_audit_entry() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        let gone = Uuid::new_v4();
        let kept = Uuid::new_v4();
        s.audit_raw(
            Some(gone.to_string()),
            Some("gone".into()),
            "delete",
            super::super::Outcome::Ok,
            "removed",
        )
        .unwrap();
        s.audit_raw(
            Some(kept.to_string()),
            Some("kept".into()),
            "stop",
            super::super::Outcome::Ok,
            "",
        )
        .unwrap();
        // A delete that failed leaves the workspace: no proof.
        s.audit_raw(
            Some(kept.to_string()),
            Some("kept".into()),
            "delete",
            super::super::Outcome::Failed,
            "busy",
        )
        .unwrap();
        assert_eq!(s.deleted_workspaces().unwrap(), HashSet::from([gone]));
    }
}
