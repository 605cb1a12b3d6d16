//! Level-triggered reconcile: list this install's containers and networks (two calls), then
//! make the database and Docker agree. Runs on the first Docker use of every engine and after
//! a lost Docker connection comes back. Workspaces another process is working on (locked) are
//! left alone; objects of other installs are never even listed.

use super::Engine;
use super::lock::FileLock;
use crate::docker::{self, ContainerInfo};
use crate::error::Result;
use crate::model::{Status, Workspace};
use crate::store::Outcome;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct ReconcileReport {
    pub workspaces: usize,
    /// Containers made by a process that died before recording them.
    pub adopted: usize,
    pub marked_missing: usize,
    pub status_fixed: usize,
    pub removed_duplicates: usize,
    /// Containers and networks of this install with no workspace row.
    pub removed_orphans: usize,
    /// Workspaces skipped because another Berth process holds them.
    pub skipped_busy: usize,
}

impl Engine {
    pub async fn reconcile(&self) -> Result<ReconcileReport> {
        let docker = self.docker().await?;
        self.reconcile_with(docker).await
    }

    pub(super) async fn reconcile_with(&self, docker: &docker::Client) -> Result<ReconcileReport> {
        let mut report = ReconcileReport::default();
        // Lock first, list second: a listing taken before the lock could be older than the
        // last change another process made under it.
        let mut locks: HashMap<String, FileLock> = HashMap::new();
        for ws in self.db(|s| s.workspaces())? {
            match self.try_lock_workspace(&ws.id.to_string())? {
                Some(lock) => {
                    locks.insert(ws.id.to_string(), lock);
                }
                None => report.skipped_busy += 1,
            }
        }
        let containers = docker.list_containers(self.install, None).await?;
        let networks = docker.list_networks(self.install).await?;
        let rows = self.db(|s| s.workspaces())?;
        report.workspaces = rows.len();

        let mut by_workspace: HashMap<String, Vec<ContainerInfo>> = HashMap::new();
        for c in containers {
            let key = c.workspace_id().unwrap_or_default().to_string();
            by_workspace.entry(key).or_default().push(c);
        }
        for ws in rows
            .iter()
            .filter(|w| locks.contains_key(&w.id.to_string()))
        {
            let found = by_workspace.remove(&ws.id.to_string()).unwrap_or_default();
            self.reconcile_one(docker, ws, found, &mut report).await?;
        }
        drop(locks);

        // What is left belongs to no workspace row: leftovers of a delete that died halfway.
        let known: Vec<String> = rows.iter().map(|w| w.id.to_string()).collect();
        for (owner, containers) in by_workspace {
            // A busy workspace is handled by whoever holds it; an object without an id label
            // is not one Berth made, so it is not Berth's to remove.
            if owner.is_empty() || known.contains(&owner) {
                continue;
            }
            let Some(_lock) = self.try_lock_workspace(&owner)? else {
                continue;
            };
            if self.owner_exists(&owner)? {
                continue;
            }
            for c in containers {
                docker.remove_container(&c.id).await?;
                self.orphan_removed(&owner, &c.labels, &format!("container {}", c.name));
                report.removed_orphans += 1;
            }
        }
        for (name, owner) in networks {
            let owner = owner.unwrap_or_default();
            if owner.is_empty() || known.contains(&owner) {
                continue;
            }
            let Some(_lock) = self.try_lock_workspace(&owner)? else {
                continue;
            };
            if self.owner_exists(&owner)? {
                continue;
            }
            docker.remove_network(&name).await?;
            self.orphan_removed(&owner, &HashMap::new(), &format!("network {name}"));
            report.removed_orphans += 1;
        }
        Ok(report)
    }

    async fn reconcile_one(
        &self,
        docker: &docker::Client,
        ws: &Workspace,
        mut found: Vec<ContainerInfo>,
        report: &mut ReconcileReport,
    ) -> Result<()> {
        // Keep the recorded container, else a running one, else the first; a workspace has
        // exactly one container.
        found.sort_by_key(|c| {
            (
                Some(&c.id) != ws.container_id.as_ref(),
                !c.running,
                c.id.clone(),
            )
        });
        let mut found = found.into_iter();
        let kept = found.next();
        for extra in found {
            docker.remove_container(&extra.id).await?;
            self.audit(
                ws,
                "reconcile",
                Outcome::Repaired,
                &format!("removed duplicate container {}", extra.id),
            );
            report.removed_duplicates += 1;
        }
        let Some(c) = kept else {
            if ws.status != Status::Missing || ws.container_id.is_some() {
                self.db(|s| s.set_container(ws.id, None, Status::Missing))?;
                self.audit(
                    ws,
                    "reconcile",
                    Outcome::Repaired,
                    "container is gone (removed outside Berth); `start` recreates it",
                );
                self.emit_status(ws, Status::Missing);
                report.marked_missing += 1;
            }
            return Ok(());
        };
        let status = if c.running {
            Status::Running
        } else {
            Status::Stopped
        };
        if ws.container_id.as_deref() != Some(c.id.as_str()) {
            self.audit(
                ws,
                "reconcile",
                Outcome::Repaired,
                &format!("adopted container {} ({})", c.name, c.state),
            );
            report.adopted += 1;
        } else if ws.status != status {
            let why = match ws.status {
                Status::Starting | Status::Stopping => {
                    format!("an interrupted {} left it {}", ws.status, status)
                }
                _ => format!("changed outside Berth: {} → {}", ws.status, status),
            };
            self.audit(ws, "reconcile", Outcome::Repaired, &why);
            report.status_fixed += 1;
        } else {
            return Ok(());
        }
        self.db(|s| s.set_container(ws.id, Some(&c.id), status))?;
        self.emit_status(ws, status);
        Ok(())
    }

    fn owner_exists(&self, owner: &str) -> Result<bool> {
        let Ok(uuid) = uuid::Uuid::parse_str(owner) else {
            return Ok(false);
        };
        Ok(self
            .db(|s| s.workspace(crate::model::WorkspaceId(uuid)))?
            .is_some())
    }

    fn orphan_removed(&self, owner: &str, labels: &HashMap<String, String>, what: &str) {
        let name = labels.get(docker::labels::NAME).cloned();
        let _ = self.db(|s| {
            s.audit_raw(
                Some(owner.to_string()),
                name,
                "reconcile",
                Outcome::Repaired,
                &format!("removed orphan {what} (no workspace of this install owns it)"),
            )
        });
    }
}
