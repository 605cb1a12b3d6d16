//! Previews and the per-workspace defaults of the next one.

use super::workspaces::{record_last_port, taken_ports};
use super::{Store, now_secs};
use crate::error::{Code, Error, Result};
use crate::model::{Preview, PreviewId, PreviewSource, PreviewStatus, Remembered, WorkspaceId};
use rusqlite::{OptionalExtension, Row, params};
use std::collections::BTreeSet;
use uuid::Uuid;

const SELECT: &str = "SELECT p.id, p.workspace_id, w.name, p.source, p.image, p.command,
    p.app_port, p.port, p.container_id, p.status, p.created_at, p.expires_at, p.share_token
    FROM previews p JOIN workspaces w ON w.id = p.workspace_id";

/// A preview about to be created: what the store needs besides a port.
pub struct NewPreview<'a> {
    pub preview: &'a Preview,
    pub token: &'a str,
    /// Previews at once, all workspaces together.
    pub cap: u32,
}

impl Store {
    /// Records a preview (status `creating`) with a port from `pick_port`, refusing one over
    /// the cap — both in one transaction, so two creates at once cannot both pass.
    pub fn insert_preview(
        &mut self,
        new: NewPreview<'_>,
        pick_port: impl FnOnce(&BTreeSet<u16>) -> Result<u16>,
    ) -> Result<Preview> {
        let p = new.preview;
        self.immediate(|tx| {
            let count: i64 = tx.query_row("SELECT count(*) FROM previews", [], |r| r.get(0))?;
            if count >= i64::from(new.cap) {
                return Err(Error::new(
                    Code::LimitReached,
                    format!(
                        "{count} previews exist and the limit is {}: delete one (`berth preview rm ID`) or raise the limit in the settings",
                        new.cap
                    ),
                )
                .keyed("previews_cap", [("cap", new.cap.to_string())]));
            }
            let port = pick_port(&taken_ports(tx, p.id.0)?)?;
            let (source, command) = match &p.source {
                PreviewSource::Dockerfile => ("dockerfile", None),
                PreviewSource::Image { command, .. } => ("image", command.as_deref()),
            };
            tx.execute(
                "INSERT INTO previews (id, workspace_id, source, image, command, app_port, port,
                    pending_token, status, created_at, expires_at, share_token)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'creating', ?9, ?10, ?11)",
                params![
                    p.id.to_string(),
                    p.workspace_id.to_string(),
                    source,
                    p.image,
                    command,
                    p.app_port,
                    port,
                    new.token,
                    now_secs(),
                    p.expires_at,
                    p.share_token,
                ],
            )?;
            record_last_port(tx, port)?;
            Ok(())
        })?;
        self.preview(p.id)?
            .ok_or_else(|| Error::not_found("preview vanished right after insert"))
    }

    /// How many previews exist (the daemon's idle exit asks every half minute).
    pub fn preview_count(&self) -> Result<usize> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM previews", [], |r| r.get(0))?;
        Ok(n as usize)
    }

    pub fn preview(&self, id: PreviewId) -> Result<Option<Preview>> {
        let mut stmt = self.conn.prepare(&format!("{SELECT} WHERE p.id = ?1"))?;
        stmt.query_row([id.to_string()], read_row)
            .optional()?
            .transpose()
    }

    /// Every preview, or those of one workspace; soonest to expire first.
    pub fn previews(&self, workspace: Option<WorkspaceId>) -> Result<Vec<Preview>> {
        let mut stmt = self.conn.prepare(&format!(
            "{SELECT} WHERE ?1 IS NULL OR p.workspace_id = ?1 ORDER BY p.expires_at, p.id"
        ))?;
        let rows = stmt
            .query_map([workspace.map(|w| w.to_string())], read_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().collect()
    }

    /// The preview whose id starts with `prefix` (at least 4 hex digits), if exactly one does.
    pub fn preview_by_prefix(&self, prefix: &str) -> Result<Option<Preview>> {
        let prefix = prefix.trim().to_ascii_lowercase().replace('-', "");
        if prefix.len() < 4 || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let found: Vec<Preview> = self
            .previews(None)?
            .into_iter()
            .filter(|p| p.id.0.simple().to_string().starts_with(&prefix))
            .collect();
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.into_iter().next()),
            _ => Err(Error::invalid(format!(
                "{prefix:?} names {} previews; type more of the id",
                found.len()
            ))),
        }
    }

    /// Records the container (ending its pending token) and the status.
    pub fn set_preview_container(
        &mut self,
        id: PreviewId,
        container_id: &str,
        status: PreviewStatus,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE previews SET container_id = ?2, status = ?3, pending_token = NULL WHERE id = ?1",
            params![id.to_string(), container_id, status.as_str()],
        )?;
        Ok(())
    }

    pub fn set_preview_expiry(&mut self, id: PreviewId, expires_at: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE previews SET expires_at = ?2 WHERE id = ?1",
            params![id.to_string(), expires_at],
        )?;
        Ok(())
    }

    pub fn set_preview_share(&mut self, id: PreviewId, token: Option<&str>) -> Result<()> {
        self.conn.execute(
            "UPDATE previews SET share_token = ?2 WHERE id = ?1",
            params![id.to_string(), token],
        )?;
        Ok(())
    }

    /// Creation tokens of previews whose container id was never recorded.
    pub fn preview_tokens(&self) -> Result<std::collections::HashMap<Uuid, String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, pending_token FROM previews WHERE pending_token IS NOT NULL")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
            .filter_map(|row| {
                row.ok()
                    .and_then(|(id, t)| Uuid::parse_str(&id).ok().map(|id| (id, t)))
            })
            .collect();
        Ok(rows)
    }

    /// Removes the record; its port is free again.
    pub fn delete_preview(&mut self, id: PreviewId) -> Result<()> {
        self.conn
            .execute("DELETE FROM previews WHERE id = ?1", [id.to_string()])?;
        Ok(())
    }

    pub fn remembered_preview(&self, workspace: WorkspaceId) -> Result<Option<Remembered>> {
        Ok(self
            .conn
            .query_row(
                "SELECT image, command, app_port FROM preview_defaults WHERE workspace_id = ?1",
                [workspace.to_string()],
                |r| {
                    Ok(Remembered {
                        image: r.get(0)?,
                        command: r.get(1)?,
                        app_port: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn remember_preview(&mut self, workspace: WorkspaceId, r: &Remembered) -> Result<()> {
        self.conn.execute(
            "INSERT INTO preview_defaults (workspace_id, image, command, app_port)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (workspace_id) DO UPDATE SET image = excluded.image,
                command = excluded.command, app_port = excluded.app_port",
            params![workspace.to_string(), r.image, r.command, r.app_port],
        )?;
        Ok(())
    }
}

fn read_row(r: &Row) -> rusqlite::Result<Result<Preview>> {
    let corrupt = |what: &str| Error::new(Code::Store, format!("stored preview has a bad {what}"));
    let id: String = r.get(0)?;
    let workspace_id: String = r.get(1)?;
    let source: String = r.get(3)?;
    let image: String = r.get(4)?;
    let command: Option<String> = r.get(5)?;
    let status: String = r.get(9)?;
    Ok((|| {
        let source = match source.as_str() {
            "dockerfile" => PreviewSource::Dockerfile,
            "image" => PreviewSource::Image {
                image: image.clone(),
                command,
            },
            _ => return Err(corrupt("source")),
        };
        Ok(Preview {
            id: PreviewId(Uuid::parse_str(&id).map_err(|_| corrupt("id"))?),
            workspace_id: WorkspaceId(
                Uuid::parse_str(&workspace_id).map_err(|_| corrupt("workspace id"))?,
            ),
            workspace: r.get(2)?,
            source,
            image,
            app_port: r.get(6)?,
            port: r.get(7)?,
            container_id: r.get(8)?,
            status: PreviewStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
            created_at: r.get(10)?,
            expires_at: r.get(11)?,
            share_token: r.get(12)?,
        })
    })())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Workspace;

    fn preview(ws: &Workspace, expires_at: i64) -> Preview {
        Preview {
            id: PreviewId::new(),
            workspace_id: ws.id,
            workspace: ws.name.to_string(),
            source: PreviewSource::Image {
                image: "img".into(),
                command: Some("serve".into()),
            },
            image: "img".into(),
            app_port: 3000,
            port: 0,
            container_id: None,
            status: PreviewStatus::Creating,
            created_at: 0,
            expires_at,
            share_token: None,
        }
    }

    fn store_with_workspace() -> (tempfile::TempDir, Store, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let ws = store
            .insert_workspace(&crate::store::sample_workspace("demo"), |_| Ok(10000))
            .unwrap();
        (dir, store, ws)
    }

    #[test]
    fn previews_get_ports_no_workspace_holds_and_respect_the_cap() {
        let (_dir, mut store, ws) = store_with_workspace();
        let p = preview(&ws, 100);
        let new = NewPreview {
            preview: &p,
            token: "t1",
            cap: 2,
        };
        let saved = store
            .insert_preview(new, |taken| {
                assert!(taken.contains(&10000), "the workspace's port is taken");
                Ok(10001)
            })
            .unwrap();
        assert_eq!((saved.port, saved.status), (10001, PreviewStatus::Creating));
        assert_eq!(saved.workspace, "demo");
        assert_eq!(saved.source, p.source);
        let q = preview(&ws, 50);
        store
            .insert_preview(
                NewPreview {
                    preview: &q,
                    token: "t2",
                    cap: 2,
                },
                |taken| {
                    assert!(taken.contains(&10001), "the first preview's port is taken");
                    Ok(10002)
                },
            )
            .unwrap();
        let r = preview(&ws, 10);
        let err = store
            .insert_preview(
                NewPreview {
                    preview: &r,
                    token: "t3",
                    cap: 2,
                },
                |_| Ok(10003),
            )
            .unwrap_err();
        assert_eq!(err.code, Code::LimitReached);
        // Soonest first; a prefix finds one.
        let all = store.previews(Some(ws.id)).unwrap();
        assert_eq!(
            all.iter().map(|p| p.id).collect::<Vec<_>>(),
            vec![q.id, p.id]
        );
        assert_eq!(
            store.preview_by_prefix(&p.id.short()).unwrap().unwrap().id,
            p.id
        );
        assert_eq!(store.preview_by_prefix("zz").unwrap(), None);
        assert_eq!(store.preview_tokens().unwrap().len(), 2);
        store
            .set_preview_container(p.id, "c1", PreviewStatus::Running)
            .unwrap();
        assert_eq!(store.preview_tokens().unwrap().len(), 1);
        assert_eq!(store.preview_count().unwrap(), 2);
        // A workspace's delete takes its previews along.
        store.delete_workspace(ws.id).unwrap();
        assert!(store.previews(None).unwrap().is_empty());
    }

    #[test]
    fn a_workspace_remembers_its_last_preview() {
        let (_dir, mut store, ws) = store_with_workspace();
        assert_eq!(store.remembered_preview(ws.id).unwrap(), None);
        let r = Remembered {
            image: "img:2".into(),
            command: None,
            app_port: 8000,
        };
        store.remember_preview(ws.id, &r).unwrap();
        store.remember_preview(ws.id, &r).unwrap();
        assert_eq!(store.remembered_preview(ws.id).unwrap(), Some(r));
    }
}
