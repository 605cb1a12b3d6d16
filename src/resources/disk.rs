//! What Berth takes on disk, and which of it is a leftover Clean up may remove. A leftover must
//! prove it is this install's and nobody's any more — labels alone prove nothing (an image
//! built `FROM` a bundled one inherits every label; a restored data dir forgets records):
//! - an untagged older build of a bundled image whose id this install recorded when it built
//!   it, and that no container (anyone's) uses;
//! - a home volume of this install whose workspace this install deleted (its audit log says
//!   so) and that has no record (a delete that could not remove it: it was in use);
//! - a stopped preview: the container recorded for a running preview no longer runs.
//!
//! Anything else — another install's objects, anything without Berth's labels, a stopped
//! workspace — is never a leftover.

use crate::docker::labels;
use crate::model::Kind;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum LeftoverKind {
    Image,
    Volume,
    Preview,
}

impl LeftoverKind {
    /// In English, for the CLI and the audit log (the app has its own words).
    pub fn describe(&self) -> &'static str {
        match self {
            LeftoverKind::Image => "older build",
            LeftoverKind::Volume => "volume",
            LeftoverKind::Preview => "stopped preview",
        }
    }
}

/// One thing Clean up would remove.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Leftover {
    pub kind: LeftoverKind,
    /// Docker's image id, the volume's name or the preview's id: what removal is asked for.
    pub id: String,
    /// Its name, for people: the bundle, the volume, the preview's workspace and id (what
    /// kind of leftover it is, each client says in its own language).
    pub label: String,
    pub size_bytes: Option<u64>,
}

/// What Docker has, and what the store records, for planning.
#[derive(Debug, Clone, Default)]
pub struct PruneInput {
    pub install: Uuid,
    pub images: Vec<ImageFacts>,
    pub volumes: Vec<VolumeFacts>,
    /// Workspaces and previews with a record.
    pub records: HashSet<Uuid>,
    /// Workspaces this install deleted (from its audit log).
    pub deleted: HashSet<Uuid>,
    /// Images this install built from its bundled recipes.
    pub built: HashSet<String>,
    /// Running previews (not those being made) and their recorded containers.
    pub previews: Vec<PreviewFacts>,
    /// Containers of this install that run, by id.
    pub running: HashSet<String>,
    /// Images any container (anyone's) was made from.
    pub in_use: HashSet<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ImageFacts {
    pub id: String,
    pub tags: Vec<String>,
    pub labels: HashMap<String, String>,
    pub size_bytes: u64,
}

#[derive(Debug, Clone, Default)]
pub struct VolumeFacts {
    pub name: String,
    pub labels: HashMap<String, String>,
    pub size_bytes: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct PreviewFacts {
    pub id: String,
    pub workspace: String,
    pub container: Option<String>,
}

/// Docker's word for an untagged image.
fn dangling(tags: &[String]) -> bool {
    tags.iter().all(|t| t == "<none>:<none>" || t.is_empty())
}

pub fn plan_prune(input: &PruneInput) -> Vec<Leftover> {
    let mut out = Vec::new();
    for image in &input.images {
        let Some(bundle) = image.labels.get(labels::BUNDLE) else {
            continue;
        };
        if input.built.contains(&image.id)
            && dangling(&image.tags)
            && !input.in_use.contains(&image.id)
        {
            out.push(Leftover {
                kind: LeftoverKind::Image,
                id: image.id.clone(),
                label: bundle.clone(),
                size_bytes: Some(image.size_bytes),
            });
        }
    }
    for volume in &input.volumes {
        let l = &volume.labels;
        // Its name must be the one Berth gives that workspace's home, too.
        let gone = labels::owner(l).is_some_and(|o| {
            input.deleted.contains(&o)
                && !input.records.contains(&o)
                && volume.name == format!("berth-home-{}", o.simple())
        });
        if labels::is_ours(Some(l), input.install)
            && labels::kind(l) == Some(Kind::Workspace)
            && gone
        {
            out.push(Leftover {
                kind: LeftoverKind::Volume,
                id: volume.name.clone(),
                label: volume.name.clone(),
                size_bytes: volume.size_bytes,
            });
        }
    }
    for p in &input.previews {
        let stopped = p
            .container
            .as_ref()
            .is_none_or(|c| !input.running.contains(c));
        if stopped {
            out.push(Leftover {
                kind: LeftoverKind::Preview,
                id: p.id.clone(),
                label: format!("{} · {}", p.workspace, p.id),
                size_bytes: None,
            });
        }
    }
    out
}

/// One volume of this install with its size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DiskVolume {
    pub name: String,
    /// The workspace it belongs to (a preview's: its workspace), if it has a record.
    pub owner: Option<String>,
    /// `None` when the engine does not tell (it measures volumes only in its disk-usage API).
    pub size_bytes: Option<u64>,
}

/// `berth df`: what Berth takes on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DiskUsage {
    /// Bundled images (every install on this engine shares them) and this install's preview
    /// builds.
    pub images_bytes: u64,
    pub images: u32,
    pub volumes: Vec<DiskVolume>,
    /// What the writable layers of this install's containers take, and of the stopped ones.
    pub containers_bytes: u64,
    pub containers: u32,
    pub stopped_containers: u32,
    pub stopped_containers_bytes: u64,
    /// What Clean up would remove.
    pub leftovers: Vec<Leftover>,
    pub reclaimable_bytes: u64,
}

/// What a clean-up did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PruneOutcome {
    /// With `dry_run`: what would go.
    pub removed: Vec<Leftover>,
    /// What could not be removed, and why (an image a container still uses, ...).
    pub failed: Vec<(Leftover, String)>,
    pub reclaimed_bytes: u64,
    pub dry_run: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> HashMap<String, String> {
        HashMap::from([(labels::BUNDLE.to_string(), "test".to_string())])
    }

    fn ours(install: Uuid, extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut l = HashMap::from([
            (labels::MANAGED.to_string(), "true".to_string()),
            (labels::INSTALL.to_string(), install.to_string()),
        ]);
        for (k, v) in extra {
            l.insert(k.to_string(), v.to_string());
        }
        l
    }

    #[test]
    fn only_this_installs_provable_leftovers_are_planned() {
        let install = Uuid::new_v4();
        let other = Uuid::new_v4();
        let (live, gone, never) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let (l, g, n) = (live.to_string(), gone.to_string(), never.to_string());
        let image = |id: &str, tags: &[&str], labels| ImageFacts {
            id: id.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            labels,
            size_bytes: 100,
        };
        let volume = |name: &str, labels| VolumeFacts {
            name: name.into(),
            labels,
            size_bytes: Some(7),
        };
        let ws = |id: &str| ours(install, &[(labels::KIND, "workspace"), (labels::ID, id)]);
        let input = PruneInput {
            install,
            images: vec![
                image("sha256:old", &[], bundle()),
                image("sha256:tagged", &["berth-test:latest"], bundle()),
                // Built FROM a bundled image by someone: every label inherited, not recorded.
                image("sha256:derived", &[], bundle()),
                // Recorded, but a stopped container still uses it.
                image("sha256:used", &[], bundle()),
                // Recorded, yet without the bundle label: not one of Berth's builds after all.
                image("sha256:relabelled", &[], HashMap::new()),
            ],
            volumes: vec![
                volume(&format!("berth-home-{}", gone.simple()), ws(&g)),
                // The right labels on a volume of another name.
                volume("berth-home-gone", ws(&g)),
                volume("berth-home-live", ws(&l)),
                // No record, but never deleted by this install (a restored data dir).
                volume("berth-home-unknown", ws(&n)),
                volume(
                    "berth-home-theirs",
                    ours(other, &[(labels::KIND, "workspace"), (labels::ID, &g)]),
                ),
                volume(
                    "berth-preview-x",
                    ours(install, &[(labels::KIND, "preview"), (labels::ID, &g)]),
                ),
                volume("plain", HashMap::new()),
            ],
            records: HashSet::from([live]),
            deleted: HashSet::from([gone, live]),
            built: [
                "sha256:old",
                "sha256:tagged",
                "sha256:used",
                "sha256:relabelled",
            ]
            .map(String::from)
            .into(),
            previews: vec![
                PreviewFacts {
                    id: "p-stopped".into(),
                    workspace: "ws".into(),
                    container: Some("c1".into()),
                },
                PreviewFacts {
                    id: "p-running".into(),
                    workspace: "ws".into(),
                    container: Some("c2".into()),
                },
            ],
            running: HashSet::from(["c2".to_string()]),
            in_use: HashSet::from(["sha256:used".to_string()]),
        };
        let plan = plan_prune(&input);
        let ids: Vec<(LeftoverKind, &str)> = plan.iter().map(|l| (l.kind, l.id.as_str())).collect();
        assert_eq!(
            ids,
            vec![
                (LeftoverKind::Image, "sha256:old"),
                (
                    LeftoverKind::Volume,
                    format!("berth-home-{}", gone.simple()).as_str()
                ),
                (LeftoverKind::Preview, "p-stopped"),
            ]
        );
        assert_eq!(plan[0].label, "test");
        assert_eq!(plan[1].size_bytes, Some(7));
    }

    #[test]
    fn a_label_that_only_looks_like_ours_is_not() {
        let install = Uuid::new_v4();
        let gone = Uuid::new_v4();
        let mut fake = ours(
            install,
            &[(labels::KIND, "workspace"), (labels::ID, &gone.to_string())],
        );
        fake.insert(labels::MANAGED.into(), "yes".into());
        let input = PruneInput {
            install,
            volumes: vec![VolumeFacts {
                name: "v".into(),
                labels: fake,
                size_bytes: None,
            }],
            deleted: HashSet::from([gone]),
            ..Default::default()
        };
        assert!(plan_prune(&input).is_empty());
    }
}
