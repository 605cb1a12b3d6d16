//! The identity (device + inode) of each project folder, recorded so that a folder swapped
//! for another (or for a symlink to one) is never mounted in its place.

use super::Store;
use crate::error::Result;
use crate::model::{FolderId, WorkspaceId};

impl Store {
    /// The recorded identity of each project, in project order (`None`: not recorded yet).
    pub fn project_identities(&self, id: WorkspaceId) -> Result<Vec<Option<FolderId>>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT dev, ino FROM projects WHERE workspace_id = ?1 ORDER BY position",
        )?;
        let rows = stmt
            .query_map([id.to_string()], |r| {
                let dev: Option<i64> = r.get(0)?;
                let ino: Option<i64> = r.get(1)?;
                // Stored bit for bit: SQLite integers are signed.
                Ok(dev.zip(ino).map(|(dev, ino)| FolderId {
                    dev: dev as u64,
                    ino: ino as u64,
                }))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn record_project_identity(
        &mut self,
        id: WorkspaceId,
        position: usize,
        folder: FolderId,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE projects SET dev = ?1, ino = ?2 WHERE workspace_id = ?3 AND position = ?4",
            rusqlite::params![
                folder.dev as i64,
                folder.ino as i64,
                id.to_string(),
                position as i64
            ],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_round_trip_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let ws = crate::store::workspaces::tests::sample("ident");
        store.insert_workspace(&ws, |_| Ok(100)).unwrap();
        assert_eq!(store.project_identities(ws.id).unwrap(), vec![None, None]);
        let big = FolderId {
            dev: u64::MAX - 1,
            ino: 42,
        };
        store.record_project_identity(ws.id, 1, big).unwrap();
        assert_eq!(
            store.project_identities(ws.id).unwrap(),
            vec![None, Some(big)]
        );
    }
}
