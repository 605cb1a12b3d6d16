//! Level-triggered reconcile: lock what can be locked, list this install's containers and
//! networks (two calls), plan (a pure function, `plan.rs`), act. Runs when the daemon starts
//! and whenever the Docker connection comes back. Each action stands alone: one that fails is
//! audited and the rest go on (a network that cannot be removed must not block anything).

mod plan;

pub(super) use plan::owns;
use plan::{Action, Record, plan};

use super::Engine;
use crate::docker;
use crate::error::Result;
use crate::lockfile::FileLock;
use crate::model::{Kind, PreviewId, Status, Workspace, WorkspaceId};
use crate::store::Outcome;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReconcileReport {
    pub workspaces: usize,
    /// Containers made by a process that died before recording them.
    pub adopted: usize,
    pub marked_missing: usize,
    pub status_fixed: usize,
    pub removed_duplicates: usize,
    /// Networks of this install with no record.
    pub removed_orphans: usize,
    /// Containers with this install's labels that Berth never recorded (left alone).
    pub not_ours: usize,
    /// Workspaces skipped because an operation holds them.
    pub skipped_busy: usize,
    /// Actions that failed (each in the audit log).
    pub failed: usize,
}

impl Engine {
    pub async fn reconcile(&self) -> Result<ReconcileReport> {
        let docker = self.docker().await?;
        self.reconcile_with(docker).await
    }

    pub(super) async fn reconcile_with(&self, docker: &docker::Client) -> Result<ReconcileReport> {
        // Lock first, list second: a listing taken before the lock could be older than the
        // last change an operation made under it.
        let mut locks: HashMap<WorkspaceId, FileLock> = HashMap::new();
        for ws in self.db(|s| s.workspaces())? {
            if let Some(lock) = self.try_lock_workspace(&ws.id)? {
                locks.insert(ws.id, lock);
            }
        }
        // Previews are records too: their containers are claimed and their networks kept.
        let mut preview_locks = HashMap::new();
        let mut busy_previews = HashSet::new();
        for p in self.db(|s| s.previews(None))? {
            match self.try_lock_preview(p.id)? {
                Some(lock) => {
                    preview_locks.insert(p.id, lock);
                }
                None => {
                    busy_previews.insert(p.id.0);
                }
            }
        }
        let containers = docker.list_containers(self.install, None).await?;
        let networks = docker.list_networks(self.install).await?;
        let rows = self.db(|s| s.workspaces())?;
        let tokens = self.db(|s| s.pending_tokens())?;
        let mut records: Vec<Record> = rows
            .iter()
            .map(|w| Record {
                kind: Kind::Workspace,
                id: w.id.0,
                container_id: w.container_id.clone(),
                pending_token: tokens.get(&w.id).cloned(),
                status: w.status,
            })
            .collect();
        let preview_tokens = self.db(|s| s.preview_tokens())?;
        records.extend(self.db(|s| s.previews(None))?.into_iter().map(|p| Record {
            kind: Kind::Preview,
            id: p.id.0,
            container_id: p.container_id.clone(),
            pending_token: preview_tokens.get(&p.id.0).cloned(),
            // Previews have no workspace status: reconcile only keeps their objects; the
            // preview sync below serves, restarts or removes them.
            status: Status::Running,
        }));
        let mut busy: HashSet<Uuid> = rows
            .iter()
            .filter(|w| !locks.contains_key(&w.id))
            .map(|w| w.id.0)
            .collect();
        busy.extend(busy_previews);
        let plan = plan(&records, &busy, &containers, &networks);
        let by_id: HashMap<Uuid, &Workspace> = rows.iter().map(|w| (w.id.0, w)).collect();
        let mut report = ReconcileReport {
            workspaces: rows.len(),
            skipped_busy: busy.len(),
            not_ours: plan.not_ours.len(),
            ..Default::default()
        };
        for action in plan.actions {
            if let Err(e) = self.act(docker, &action, &by_id, &mut report).await {
                report.failed += 1;
                let (owner, name, what) = describe(&action, &by_id);
                tracing::warn!("reconcile could not {what}: {}", e.message);
                let _ = self.db(|s| {
                    s.audit_raw(
                        Some(owner.to_string()),
                        name,
                        "reconcile",
                        Outcome::Failed,
                        &format!("could not {what}: {}", e.message),
                    )
                });
            }
        }
        // Running workspaces are served, others not (after a daemon restart, or changes made
        // outside Berth while nobody watched).
        let locked: Vec<WorkspaceId> = locks.keys().copied().collect();
        self.sync_gateway(docker, &locked).await;
        drop(locks);
        // Previews too, from the same listing, still under their locks (a create that began
        // since holds its own and is left alone).
        let locked: HashSet<PreviewId> = preview_locks.keys().copied().collect();
        self.sync_previews(docker, &containers, &locked).await;
        drop(preview_locks);
        Ok(report)
    }

    async fn act(
        &self,
        docker: &docker::Client,
        action: &Action,
        rows: &HashMap<Uuid, &Workspace>,
        report: &mut ReconcileReport,
    ) -> Result<()> {
        let ws = |owner: &Uuid| rows.get(owner).copied();
        match action {
            Action::RemoveDuplicate { owner, container } => {
                docker.remove_container(container).await?;
                if let Some(ws) = ws(owner) {
                    self.audit(
                        ws,
                        "reconcile",
                        Outcome::Repaired,
                        &format!("removed duplicate container {container}"),
                    );
                }
                report.removed_duplicates += 1;
            }
            Action::MarkMissing { owner } => {
                let Some(ws) = ws(owner) else { return Ok(()) };
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
            Action::Adopt {
                owner,
                container,
                name,
                state,
                running,
            } => {
                let Some(ws) = ws(owner) else { return Ok(()) };
                let status = if *running {
                    Status::Running
                } else {
                    Status::Stopped
                };
                self.db(|s| s.set_container(ws.id, Some(container), status))?;
                self.audit(
                    ws,
                    "reconcile",
                    Outcome::Repaired,
                    &format!("adopted container {name} ({state})"),
                );
                self.emit_status(ws, status);
                report.adopted += 1;
            }
            Action::FixStatus {
                owner,
                container,
                from,
                to,
            } => {
                let Some(ws) = ws(owner) else { return Ok(()) };
                let why = match from {
                    Status::Starting | Status::Stopping => {
                        format!("an interrupted {from} left it {to}")
                    }
                    _ => format!("changed outside Berth: {from} → {to}"),
                };
                self.db(|s| s.set_container(ws.id, Some(container), *to))?;
                self.audit(ws, "reconcile", Outcome::Repaired, &why);
                self.emit_status(ws, *to);
                report.status_fixed += 1;
            }
            Action::RemoveOrphanNetwork {
                owner,
                owner_name,
                network,
            } => {
                // A create may have made its row and network since the listing: look again
                // under the owner's lock.
                let owner_id = WorkspaceId(*owner);
                let Some(_lock) = self.try_lock_workspace(&owner_id)? else {
                    return Ok(());
                };
                if self.db(|s| s.workspace(owner_id))?.is_some() {
                    return Ok(());
                }
                docker.remove_network(network).await?;
                let _ = self.db(|s| {
                    s.audit_raw(Some(owner.to_string()), owner_name.clone(), "reconcile", Outcome::Repaired, &format!("removed orphan network {network} (no workspace of this install owns it)"))
                });
                report.removed_orphans += 1;
            }
        }
        Ok(())
    }
}

/// The owner of an action, its name, and what it tried, for the audit log of a failure.
fn describe(action: &Action, rows: &HashMap<Uuid, &Workspace>) -> (Uuid, Option<String>, String) {
    let (owner, what) = match action {
        Action::RemoveDuplicate { owner, container } => {
            (*owner, format!("remove duplicate container {container}"))
        }
        Action::MarkMissing { owner } => (*owner, "mark the workspace missing".into()),
        Action::Adopt { owner, name, .. } => (*owner, format!("adopt container {name}")),
        Action::FixStatus { owner, to, .. } => (*owner, format!("record the status {to}")),
        Action::RemoveOrphanNetwork {
            owner,
            owner_name,
            network,
        } => {
            let what = format!("remove orphan network {network}");
            return (*owner, owner_name.clone(), what);
        }
    };
    (owner, rows.get(&owner).map(|w| w.name.to_string()), what)
}
