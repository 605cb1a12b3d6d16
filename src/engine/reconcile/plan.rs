//! Reconcile as a pure function: records and what Docker has in, actions out. Tested without
//! Docker. Kind-aware: each record has a kind (workspace, later preview) and only objects
//! labelled with the same kind and id can be its container.
//!
//! Ownership is by proof, not by label: a container is a record's only if its id is the one
//! recorded, or it carries the creation token stored for the record and not yet retired (the
//! window between creating a container and recording its id). Labels alone prove nothing: a
//! `docker commit` + `docker run` copy carries every label of the original, and such a
//! container is never adopted and never removed.

use crate::docker::{ContainerInfo, NetworkInfo};
use crate::model::{Kind, Status};
use std::collections::HashSet;
use uuid::Uuid;

/// What reconcile knows of one record.
#[derive(Debug, Clone)]
pub struct Record {
    pub kind: Kind,
    pub id: Uuid,
    pub container_id: Option<String>,
    pub pending_token: Option<String>,
    pub status: Status,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A second container of the record's own (recorded id or token): remove it.
    RemoveDuplicate { owner: Uuid, container: String },
    /// No container of the record's exists any more.
    MarkMissing { owner: Uuid },
    /// A container made under the stored token whose id was never recorded: record it.
    Adopt {
        owner: Uuid,
        container: String,
        name: String,
        state: String,
        running: bool,
    },
    /// The recorded container is in another state than the record says.
    FixStatus {
        owner: Uuid,
        container: String,
        from: Status,
        to: Status,
    },
    /// A network of this install whose owner has no record (a delete that could not remove
    /// it). Removing a network can never harm a container: Docker refuses while one is on it.
    RemoveOrphanNetwork {
        owner: Uuid,
        owner_name: Option<String>,
        network: String,
    },
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Containers with this install's labels that Berth never recorded (copies, or made by
    /// hand): left alone.
    pub not_ours: Vec<String>,
}

/// Whether `c` is provably the container of record `id` (of `kind`): its id is the one
/// recorded, or it carries the creation token stored for it. The one ownership rule — reconcile,
/// finding and removing a workspace's container all ask it.
pub fn owns(
    c: &ContainerInfo,
    kind: Kind,
    id: Uuid,
    recorded: Option<&str>,
    token: Option<&str>,
) -> bool {
    c.owner() == Some(id)
        && c.kind() == Some(kind)
        && (recorded == Some(c.id.as_str()) || (token.is_some() && c.token() == token))
}

/// `busy`: records another operation holds right now; they and their objects are skipped.
pub fn plan(
    records: &[Record],
    busy: &HashSet<Uuid>,
    containers: &[ContainerInfo],
    networks: &[NetworkInfo],
) -> Plan {
    let mut out = Plan::default();
    let mut claimed: HashSet<&str> = HashSet::new();
    for rec in records {
        if busy.contains(&rec.id) {
            continue;
        }
        let mut owned: Vec<&ContainerInfo> = containers
            .iter()
            .filter(|c| {
                owns(
                    c,
                    rec.kind,
                    rec.id,
                    rec.container_id.as_deref(),
                    rec.pending_token.as_deref(),
                )
            })
            .collect();
        claimed.extend(owned.iter().map(|c| c.id.as_str()));
        // Keep the recorded container, else a running one; a record has exactly one.
        owned.sort_by_key(|c| {
            (
                rec.container_id.as_deref() != Some(c.id.as_str()),
                !c.running,
                c.id.clone(),
            )
        });
        let mut owned = owned.into_iter();
        let kept = owned.next();
        for extra in owned {
            out.actions.push(Action::RemoveDuplicate {
                owner: rec.id,
                container: extra.id.clone(),
            });
        }
        let Some(c) = kept else {
            if rec.status != Status::Missing || rec.container_id.is_some() {
                out.actions.push(Action::MarkMissing { owner: rec.id });
            }
            continue;
        };
        let to = if c.running {
            Status::Running
        } else {
            Status::Stopped
        };
        if rec.container_id.as_deref() != Some(c.id.as_str()) {
            out.actions.push(Action::Adopt {
                owner: rec.id,
                container: c.id.clone(),
                name: c.name.clone(),
                state: c.state.clone(),
                running: c.running,
            });
        } else if rec.status != to {
            out.actions.push(Action::FixStatus {
                owner: rec.id,
                container: c.id.clone(),
                from: rec.status,
                to,
            });
        }
    }
    out.not_ours = containers
        .iter()
        .filter(|c| !claimed.contains(c.id.as_str()))
        .filter(|c| !c.owner().is_some_and(|o| busy.contains(&o)))
        .map(|c| c.id.clone())
        .collect();
    let known: HashSet<Uuid> = records.iter().map(|r| r.id).collect();
    for n in networks {
        // A network without a readable owner is not one Berth made.
        let Some(owner) = n.owner else { continue };
        if n.kind.is_some() && !known.contains(&owner) && !busy.contains(&owner) {
            out.actions.push(Action::RemoveOrphanNetwork {
                owner,
                owner_name: n.owner_name.clone(),
                network: n.name.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::labels;
    use std::collections::HashMap;

    fn container(
        id: &str,
        owner: Uuid,
        kind: Kind,
        token: Option<&str>,
        running: bool,
    ) -> ContainerInfo {
        let mut l = HashMap::from([
            (labels::ID.to_string(), owner.to_string()),
            (labels::KIND.to_string(), kind.as_str().to_string()),
        ]);
        if let Some(t) = token {
            l.insert(labels::TOKEN.to_string(), t.to_string());
        }
        ContainerInfo {
            id: id.into(),
            name: format!("berth-x-{id}"),
            labels: l,
            running,
            state: if running { "running" } else { "exited" }.into(),
            exit_code: None,
            oom_killed: false,
            host_ports: vec![],
            ip: None,
            pid: None,
        }
    }

    fn record(id: Uuid, container: Option<&str>, token: Option<&str>, status: Status) -> Record {
        Record {
            kind: Kind::Workspace,
            id,
            container_id: container.map(Into::into),
            pending_token: token.map(Into::into),
            status,
        }
    }

    fn net(name: &str, owner: Option<Uuid>) -> NetworkInfo {
        NetworkInfo {
            name: name.into(),
            owner,
            kind: Some(Kind::Workspace),
            owner_name: Some("w".into()),
        }
    }

    fn none() -> HashSet<Uuid> {
        HashSet::new()
    }

    #[test]
    fn agreement_needs_no_action() {
        let id = Uuid::new_v4();
        let p = plan(
            &[record(id, Some("c1"), None, Status::Running)],
            &none(),
            &[container("c1", id, Kind::Workspace, Some("old"), true)],
            &[],
        );
        assert_eq!(p, Plan::default());
    }

    #[test]
    fn a_stopped_outside_container_fixes_the_status() {
        let id = Uuid::new_v4();
        let p = plan(
            &[record(id, Some("c1"), None, Status::Starting)],
            &none(),
            &[container("c1", id, Kind::Workspace, None, false)],
            &[],
        );
        assert_eq!(
            p.actions,
            [Action::FixStatus {
                owner: id,
                container: "c1".into(),
                from: Status::Starting,
                to: Status::Stopped
            }]
        );
    }

    #[test]
    fn a_container_made_under_the_pending_token_is_adopted() {
        let id = Uuid::new_v4();
        let p = plan(
            &[record(id, None, Some("t1"), Status::Stopped)],
            &none(),
            &[container("c9", id, Kind::Workspace, Some("t1"), false)],
            &[],
        );
        assert!(
            matches!(&p.actions[..], [Action::Adopt { container, running: false, .. }] if container == "c9")
        );
    }

    #[test]
    fn a_docker_commit_copy_is_never_adopted_or_removed() {
        let id = Uuid::new_v4();
        // The original is recorded; the copy has every label, the old token included.
        let p = plan(
            &[record(id, Some("orig"), None, Status::Running)],
            &none(),
            &[
                container("orig", id, Kind::Workspace, Some("t1"), true),
                container("copy", id, Kind::Workspace, Some("t1"), true),
            ],
            &[],
        );
        assert_eq!(p.actions, []);
        assert_eq!(p.not_ours, ["copy"]);
        // And when the original is gone, the copy still is not the workspace's container.
        let p = plan(
            &[record(id, Some("orig"), None, Status::Running)],
            &none(),
            &[container("copy", id, Kind::Workspace, Some("t1"), true)],
            &[],
        );
        assert_eq!(p.actions, [Action::MarkMissing { owner: id }]);
        assert_eq!(p.not_ours, ["copy"]);
    }

    #[test]
    fn a_container_without_a_record_is_left_alone() {
        let p = plan(
            &[],
            &none(),
            &[container(
                "c1",
                Uuid::new_v4(),
                Kind::Workspace,
                Some("t"),
                true,
            )],
            &[],
        );
        assert_eq!(p.actions, []);
        assert_eq!(p.not_ours, ["c1"]);
    }

    #[test]
    fn duplicates_of_our_own_keep_the_recorded_one() {
        let id = Uuid::new_v4();
        let p = plan(
            &[record(id, Some("c1"), Some("t2"), Status::Stopped)],
            &none(),
            &[
                container("c1", id, Kind::Workspace, Some("t1"), false),
                container("c2", id, Kind::Workspace, Some("t2"), true),
            ],
            &[],
        );
        assert_eq!(
            p.actions,
            [Action::RemoveDuplicate {
                owner: id,
                container: "c2".into()
            }]
        );
    }

    #[test]
    fn kinds_do_not_mix() {
        let id = Uuid::new_v4();
        let p = plan(
            &[record(id, Some("c1"), None, Status::Running)],
            &none(),
            &[container("c1", id, Kind::Preview, None, true)],
            &[],
        );
        assert_eq!(p.actions, [Action::MarkMissing { owner: id }]);
    }

    #[test]
    fn busy_records_and_their_objects_are_skipped() {
        let id = Uuid::new_v4();
        let busy = HashSet::from([id]);
        let p = plan(
            &[record(id, Some("gone"), None, Status::Starting)],
            &busy,
            &[container("c2", id, Kind::Workspace, None, true)],
            &[NetworkInfo {
                name: "n".into(),
                owner: Some(id),
                kind: Some(Kind::Workspace),
                owner_name: None,
            }],
        );
        assert_eq!(p, Plan::default());
    }

    #[test]
    fn networks_of_deleted_records_are_removed_and_unlabelled_ones_kept() {
        let gone = Uuid::new_v4();
        let live = Uuid::new_v4();
        let p = plan(
            &[record(live, Some("c1"), None, Status::Stopped)],
            &none(),
            &[container("c1", live, Kind::Workspace, None, false)],
            &[
                net("live", Some(live)),
                net("gone", Some(gone)),
                net("odd", None),
            ],
        );
        assert_eq!(
            p.actions,
            [Action::RemoveOrphanNetwork {
                owner: gone,
                owner_name: Some("w".into()),
                network: "gone".into()
            }]
        );
    }
}
