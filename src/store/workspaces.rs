//! Workspaces, their projects and their port allocation.

use super::{Store, now_secs};
use crate::error::{Error, Result};
use crate::model::{
    IdeAuth, IdeEndpoint, ImageRef, LimitOverrides, Status, Workspace, WorkspaceId, WorkspaceName,
};
use rusqlite::{OptionalExtension, Row, Transaction, params};
use std::collections::BTreeSet;
use std::path::PathBuf;
use uuid::Uuid;

const SELECT: &str = "SELECT w.id, w.name, w.description, w.image, w.cpus, w.memory_bytes,
    w.pids, w.idle_timeout_secs, w.ide_port, w.health_path, w.container_id, w.status,
    w.created_at, w.updated_at, p.port, w.ide_auth
    FROM workspaces w LEFT JOIN port_allocations p ON p.workspace_id = w.id";

impl Store {
    /// Inserts a new workspace and allocates its port in one transaction. `pick_port` gets the
    /// ports already allocated in this install and returns a free one (or an error).
    pub fn insert_workspace(
        &mut self,
        ws: &Workspace,
        pick_port: impl FnOnce(&BTreeSet<u16>) -> Result<u16>,
    ) -> Result<Workspace> {
        let id = ws.id;
        self.immediate(|tx| {
            let taken_name: Option<String> = tx
                .query_row(
                    "SELECT name FROM workspaces WHERE name = ?1",
                    [ws.name.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(existing) = taken_name {
                return Err(Error::conflict(format!(
                    "a workspace named {existing:?} already exists"
                )));
            }
            let port = pick_port(&taken_ports(tx, id.0)?)?;
            let now = now_secs();
            tx.execute(
                "INSERT INTO workspaces (id, name, description, image, cpus, memory_bytes, pids,
                    idle_timeout_secs, ide_port, health_path, container_id, status, created_at,
                    updated_at, ide_auth)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, ?14)",
                params![
                    ws.id.to_string(),
                    ws.name.as_str(),
                    ws.description,
                    ws.image.as_str(),
                    ws.limits.cpus,
                    ws.limits.memory_bytes.map(|m| m as i64),
                    ws.limits.pids,
                    ws.idle_timeout_secs.map(|s| s as i64),
                    ws.ide.port,
                    ws.ide.health_path,
                    ws.container_id,
                    ws.status.as_str(),
                    now,
                    ws.ide.auth.map(|a| a.as_str()),
                ],
            )?;
            for (pos, path) in ws.projects.iter().enumerate() {
                tx.execute(
                    "INSERT INTO projects (workspace_id, position, host_path) VALUES (?1, ?2, ?3)",
                    params![ws.id.to_string(), pos as i64, path.to_string_lossy()],
                )?;
            }
            for k in &ws.keys {
                tx.execute(
                    "INSERT INTO workspace_keys (workspace_id, key_name, mode, requests_per_day, tokens_per_day)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        ws.id.to_string(),
                        k.key.as_str(),
                        k.mode.as_str(),
                        k.budget.requests_per_day.map(|n| n as i64),
                        k.budget.tokens_per_day.map(|n| n as i64)
                    ],
                )?;
            }
            tx.execute(
                "INSERT INTO port_allocations (port, workspace_id, allocated_at) VALUES (?1, ?2, ?3)",
                params![port, ws.id.to_string(), now],
            )?;
            record_last_port(tx, port)?;
            Ok(())
        })?;
        self.workspace(id)?
            .ok_or_else(|| Error::not_found("workspace vanished right after insert"))
    }

    /// Moves a workspace to another port, chosen by `pick_port` from what is not allocated.
    pub fn reassign_port(
        &mut self,
        id: WorkspaceId,
        pick_port: impl FnOnce(&BTreeSet<u16>) -> Result<u16>,
    ) -> Result<u16> {
        self.immediate(|tx| {
            let port = pick_port(&taken_ports(tx, id.0)?)?;
            tx.execute(
                "INSERT INTO port_allocations (port, workspace_id, allocated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (workspace_id) DO UPDATE SET port = excluded.port,
                    allocated_at = excluded.allocated_at",
                params![port, id.to_string(), now_secs()],
            )?;
            record_last_port(tx, port)?;
            Ok(port)
        })
    }

    /// Records that a web browser is sent to `port` for workspace `id`: from now on the port
    /// is never handed to another workspace (`taken_ports`).
    pub fn record_browser_port(&mut self, id: Uuid, port: u16) -> Result<()> {
        self.conn.execute(
            "INSERT INTO browser_ports (port, workspace_id, first_opened_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (port) DO NOTHING",
            params![port, id.to_string(), now_secs()],
        )?;
        Ok(())
    }

    /// The port handed out last, if any.
    pub fn last_port(&self) -> Result<Option<u16>> {
        let raw: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM settings WHERE key = 'last_port'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(raw.and_then(|r| r.parse().ok()))
    }

    pub fn workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>> {
        self.query_one(&format!("{SELECT} WHERE w.id = ?1"), &id.to_string())
    }

    pub fn workspace_by_name(&self, name: &str) -> Result<Option<Workspace>> {
        self.query_one(&format!("{SELECT} WHERE w.name = ?1"), name)
    }

    pub fn workspaces(&self) -> Result<Vec<Workspace>> {
        let mut stmt = self.conn.prepare(&format!("{SELECT} ORDER BY w.name"))?;
        let rows = stmt
            .query_map([], read_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(|ws| self.with_projects(ws)).collect()
    }

    pub fn set_status(&mut self, id: WorkspaceId, status: Status) -> Result<()> {
        self.conn.execute(
            "UPDATE workspaces SET status = ?2, updated_at = ?3 WHERE id = ?1",
            params![id.to_string(), status.as_str(), now_secs()],
        )?;
        Ok(())
    }

    /// Records the container (and its status). Recording a container ends its pending token:
    /// from now on only this id is the workspace's container.
    pub fn set_container(
        &mut self,
        id: WorkspaceId,
        container_id: Option<&str>,
        status: Status,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE workspaces SET container_id = ?2, status = ?3, updated_at = ?4,
                pending_token = CASE WHEN ?2 IS NULL THEN pending_token ELSE NULL END
             WHERE id = ?1",
            params![id.to_string(), container_id, status.as_str(), now_secs()],
        )?;
        Ok(())
    }

    /// Stores the token of a container about to be created (before Docker sees it).
    pub fn set_pending_token(&mut self, id: WorkspaceId, token: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE workspaces SET pending_token = ?2 WHERE id = ?1",
            params![id.to_string(), token],
        )?;
        Ok(())
    }

    /// Tokens of containers whose creation was never recorded, by workspace.
    pub fn pending_tokens(&self) -> Result<std::collections::HashMap<WorkspaceId, String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, pending_token FROM workspaces WHERE pending_token IS NOT NULL")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((parse_id(&r.get::<_, String>(0)?)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Workspaces whose container runs (or is being started or stopped).
    pub fn running_count(&self) -> Result<usize> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM workspaces WHERE status IN ('running', 'starting', 'stopping')",
            [],
            |r| r.get(0),
        )?;
        Ok(n as usize)
    }

    /// The editable part of a workspace: description, limits, idle timeout.
    pub fn update_details(&mut self, ws: &Workspace) -> Result<()> {
        self.conn.execute(
            "UPDATE workspaces SET description = ?2, cpus = ?3, memory_bytes = ?4, pids = ?5,
                idle_timeout_secs = ?6, updated_at = ?7 WHERE id = ?1",
            params![
                ws.id.to_string(),
                ws.description,
                ws.limits.cpus,
                ws.limits.memory_bytes.map(|m| m as i64),
                ws.limits.pids,
                ws.idle_timeout_secs.map(|s| s as i64),
                now_secs()
            ],
        )?;
        Ok(())
    }

    /// Removes the workspace, its projects and its port allocation (cascade).
    pub fn delete_workspace(&mut self, id: WorkspaceId) -> Result<()> {
        self.conn
            .execute("DELETE FROM workspaces WHERE id = ?1", [id.to_string()])?;
        Ok(())
    }

    /// Port allocations of this install, for tests and diagnostics.
    pub fn port_allocations(&self) -> Result<Vec<(u16, WorkspaceId)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT port, workspace_id FROM port_allocations ORDER BY port")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, u16>(0)?, parse_id(&r.get::<_, String>(1)?)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn query_one(&self, sql: &str, key: &str) -> Result<Option<Workspace>> {
        let ws = self.conn.query_row(sql, [key], read_row).optional()?;
        ws.map(|ws| self.with_projects(ws)).transpose()
    }

    fn with_projects(&self, mut ws: Workspace) -> Result<Workspace> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT host_path FROM projects WHERE workspace_id = ?1 ORDER BY position",
        )?;
        ws.projects = stmt
            .query_map([ws.id.to_string()], |r| {
                r.get::<_, String>(0).map(PathBuf::from)
            })?
            .collect::<Result<Vec<_>, _>>()?;
        ws.keys = self.workspace_keys(ws.id)?;
        Ok(ws)
    }
}

/// The port handed out last (see `ports::pick_free`: next-fit).
pub(super) fn record_last_port(tx: &Transaction, port: u16) -> Result<()> {
    tx.execute(
        "INSERT INTO settings (key, value) VALUES ('last_port', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [port.to_string()],
    )?;
    Ok(())
}

/// Ports `id` (a workspace or a preview) may not take: every workspace's and preview's, and
/// those a browser visited while another one (perhaps deleted since) served them.
pub(super) fn taken_ports(tx: &Transaction, id: uuid::Uuid) -> Result<BTreeSet<u16>> {
    let mut stmt = tx.prepare(
        "SELECT port FROM port_allocations
         UNION SELECT port FROM previews
         UNION SELECT port FROM browser_ports WHERE workspace_id != ?1",
    )?;
    let ports = stmt
        .query_map([id.to_string()], |r| r.get::<_, u16>(0))?
        .collect::<Result<BTreeSet<_>, _>>()?;
    Ok(ports)
}

fn parse_id(raw: &str) -> rusqlite::Result<WorkspaceId> {
    Uuid::parse_str(raw).map(WorkspaceId).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn corrupt(col: usize, e: Error) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, Box::new(e))
}

fn read_row(r: &Row) -> rusqlite::Result<Workspace> {
    Ok(Workspace {
        id: parse_id(&r.get::<_, String>(0)?)?,
        name: WorkspaceName::parse(&r.get::<_, String>(1)?).map_err(|e| corrupt(1, e))?,
        description: r.get(2)?,
        image: ImageRef::parse(&r.get::<_, String>(3)?).map_err(|e| corrupt(3, e))?,
        projects: Vec::new(),
        keys: Vec::new(),
        limits: LimitOverrides {
            cpus: r.get(4)?,
            memory_bytes: r.get::<_, Option<i64>>(5)?.map(|m| m as u64),
            pids: r.get(6)?,
        },
        idle_timeout_secs: r.get::<_, Option<i64>>(7)?.map(|s| s as u64),
        ide: IdeEndpoint {
            port: r.get(8)?,
            health_path: r.get(9)?,
            auth: r
                .get::<_, Option<String>>(15)?
                .as_deref()
                .and_then(IdeAuth::parse),
        },
        container_id: r.get(10)?,
        status: {
            let raw: String = r.get(11)?;
            Status::parse(&raw)
                .ok_or_else(|| corrupt(11, Error::invalid(format!("unknown status {raw:?}"))))?
        },
        created_at: r.get(12)?,
        updated_at: r.get(13)?,
        port: r.get(14)?,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn sample(name: &str) -> Workspace {
        Workspace {
            id: WorkspaceId::new(),
            name: WorkspaceName::parse(name).unwrap(),
            description: "d".into(),
            image: ImageRef::parse("berth-test:latest").unwrap(),
            projects: vec![PathBuf::from("/tmp/a b"), PathBuf::from("/tmp/c")],
            limits: LimitOverrides {
                cpus: Some(1.5),
                ..Default::default()
            },
            idle_timeout_secs: Some(600),
            keys: Vec::new(),
            ide: IdeEndpoint::default(),
            port: None,
            container_id: None,
            status: Status::Stopped,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn insert_read_update_delete() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let ws = sample("demo");
        let saved = store
            .insert_workspace(&ws, |taken| {
                assert!(taken.is_empty());
                Ok(10000)
            })
            .unwrap();
        assert_eq!(saved.port, Some(10000));
        assert_eq!(saved.projects, ws.projects);
        assert_eq!(saved.limits, ws.limits);
        let dup = store
            .insert_workspace(&sample("demo"), |_| Ok(10001))
            .unwrap_err();
        assert!(dup.message.contains("already exists"));

        store
            .set_container(ws.id, Some("abc"), Status::Running)
            .unwrap();
        let got = store.workspace_by_name("demo").unwrap().unwrap();
        assert_eq!(
            (got.container_id.as_deref(), got.status),
            (Some("abc"), Status::Running)
        );

        let other = store
            .insert_workspace(&sample("other"), |taken| {
                assert!(taken.contains(&10000));
                Ok(10001)
            })
            .unwrap();
        assert_eq!(store.reassign_port(other.id, |_| Ok(10005)).unwrap(), 10005);
        assert_eq!(store.workspaces().unwrap().len(), 2);

        store.delete_workspace(ws.id).unwrap();
        assert!(store.workspace(ws.id).unwrap().is_none());
        assert_eq!(store.port_allocations().unwrap(), vec![(10005, other.id)]);
    }

    #[test]
    fn recording_a_container_ends_its_pending_token() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let ws = store
            .insert_workspace(&sample("demo"), |_| Ok(10000))
            .unwrap();
        store.set_pending_token(ws.id, "t1").unwrap();
        store.set_container(ws.id, None, Status::Missing).unwrap();
        assert_eq!(
            store
                .pending_tokens()
                .unwrap()
                .get(&ws.id)
                .map(String::as_str),
            Some("t1")
        );
        store
            .set_container(ws.id, Some("c1"), Status::Stopped)
            .unwrap();
        assert!(store.pending_tokens().unwrap().is_empty());
        assert_eq!(store.running_count().unwrap(), 0);
        store.set_status(ws.id, Status::Running).unwrap();
        assert_eq!(store.running_count().unwrap(), 1);
    }

    #[test]
    fn a_failed_port_pick_inserts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let err = store
            .insert_workspace(&sample("demo"), |_| Err(Error::invalid("no port")))
            .unwrap_err();
        assert_eq!(err.message, "no port");
        assert!(store.workspaces().unwrap().is_empty());
    }

    #[test]
    fn a_port_a_browser_visited_never_goes_to_another_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let first = store
            .insert_workspace(&sample("first"), |_| Ok(10000))
            .unwrap();
        store.record_browser_port(first.id.0, 10000).unwrap();
        store.delete_workspace(first.id).unwrap();
        let second = sample("second");
        store
            .insert_workspace(&second, |taken| {
                assert!(taken.contains(&10000), "{taken:?}");
                Ok(10001)
            })
            .unwrap();
        // Its own browser port stays open to the workspace that was served there.
        store.record_browser_port(second.id.0, 10001).unwrap();
        store
            .reassign_port(second.id, |taken| {
                assert_eq!(taken, &BTreeSet::from([10000, 10001]));
                Ok(10002)
            })
            .unwrap();
        store
            .reassign_port(second.id, |taken| {
                assert_eq!(taken, &BTreeSet::from([10000, 10002]));
                Ok(10001)
            })
            .unwrap();
    }
}
