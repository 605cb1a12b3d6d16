//! What Berth takes on disk (`berth df`) and Clean up (`berth prune`): the plan is pure
//! (`resources::plan_prune`); here it is fed from Docker and the store, and carried out.

use super::Engine;
use crate::docker;
use crate::error::Result;
use crate::model::PreviewStatus;
use crate::resources::{
    DiskUsage, DiskVolume, ImageFacts, Leftover, LeftoverKind, PreviewFacts, PruneInput,
    PruneOutcome, plan_prune,
};
use crate::store::Outcome;
use std::collections::{HashMap, HashSet};

impl Engine {
    pub async fn disk_usage(&self) -> Result<DiskUsage> {
        let docker = self.docker().await?;
        let Gathered {
            input,
            containers,
            owners,
        } = self.gather(docker, true).await?;
        let leftovers = plan_prune(&input);
        let owner_of = |id: Option<uuid::Uuid>| owners.get(&id?).cloned();
        // Bundled images are shared by every install on the engine; preview builds are ours.
        let images: Vec<&ImageFacts> = input
            .images
            .iter()
            .filter(|i| {
                i.labels.contains_key(docker::labels::BUNDLE)
                    && (!i.tags.is_empty() || leftovers.iter().any(|l| l.id == i.id))
                    || docker::labels::is_ours(Some(&i.labels), self.install)
            })
            .collect();
        let stopped: Vec<_> = containers.iter().filter(|c| !c.running).collect();
        Ok(DiskUsage {
            images_bytes: images.iter().map(|i| i.size_bytes).sum(),
            images: images.len() as u32,
            volumes: input
                .volumes
                .iter()
                .map(|v| DiskVolume {
                    name: v.name.clone(),
                    owner: owner_of(docker::labels::owner(&v.labels)),
                    size_bytes: v.size_bytes,
                })
                .collect(),
            containers_bytes: containers.iter().map(|c| c.size_bytes).sum(),
            containers: containers.len() as u32,
            stopped_containers: stopped.len() as u32,
            stopped_containers_bytes: stopped.iter().map(|c| c.size_bytes).sum(),
            reclaimable_bytes: leftovers.iter().filter_map(|l| l.size_bytes).sum(),
            leftovers,
        })
    }

    /// Removes this install's leftovers (with `dry_run`, only says which). `only`: the ids a
    /// user was shown — anything that turned up since is left for the next look, and an id
    /// that is no longer a leftover is not removed.
    pub async fn prune(&self, dry_run: bool, only: Option<&[String]>) -> Result<PruneOutcome> {
        let docker = self.docker().await?;
        // Sizes only for a dry run: removing needs no measurement to wait for.
        let input = self.gather(docker, dry_run).await?.input;
        let plan: Vec<Leftover> = plan_prune(&input)
            .into_iter()
            .filter(|l| only.is_none_or(|ids| ids.contains(&l.id)))
            .collect();
        let mut out = PruneOutcome {
            removed: Vec::new(),
            failed: Vec::new(),
            reclaimed_bytes: 0,
            dry_run,
        };
        for leftover in plan {
            if dry_run {
                out.reclaimed_bytes += leftover.size_bytes.unwrap_or(0);
                out.removed.push(leftover);
                continue;
            }
            let done = match leftover.kind {
                LeftoverKind::Image => self.remove_older_build(docker, &leftover.id).await,
                LeftoverKind::Volume => docker.remove_volume(&leftover.id, self.install).await,
                LeftoverKind::Preview => self.remove_stopped_preview(docker, &leftover.id).await,
            };
            match done {
                Ok(()) => {
                    out.reclaimed_bytes += leftover.size_bytes.unwrap_or(0);
                    out.removed.push(leftover);
                }
                Err(e) => out.failed.push((leftover, e.message)),
            }
        }
        let touched = !out.removed.is_empty() || !out.failed.is_empty();
        if !dry_run && touched {
            let names: Vec<String> = out
                .removed
                .iter()
                .map(|l| format!("{} {}", l.kind.describe(), l.label))
                .collect();
            self.db(|s| {
                s.audit_raw(
                    None,
                    None,
                    "prune",
                    if out.failed.is_empty() {
                        Outcome::Ok
                    } else {
                        Outcome::Failed
                    },
                    &format!(
                        "removed {} leftover(s): {}{}",
                        names.len(),
                        names.join(", "),
                        if out.failed.is_empty() {
                            String::new()
                        } else {
                            format!("; {} could not be removed", out.failed.len())
                        }
                    ),
                )
            })?;
        }
        Ok(out)
    }

    /// Removal is by id, and Docker deletes an image by id together with its only tag: one
    /// tagged since the plan (`docker tag`, a rebuild that hit the cache) is left alone.
    async fn remove_older_build(&self, docker: &docker::Client, id: &str) -> Result<()> {
        if let Some(image) = docker.inspect_image(id).await?
            && image.tags.iter().any(|t| t != "<none>:<none>")
        {
            return Err(crate::error::Error::conflict(format!(
                "{} is tagged {} now; left alone",
                id,
                image.tags.join(", ")
            )));
        }
        docker.remove_image_unforced(id).await?;
        self.db(|s| s.forget_bundled_build(id))
    }

    /// A stopped preview goes like a delete — unless it runs again by now (checked under its
    /// lock, so a start in between wins).
    async fn remove_stopped_preview(&self, docker: &docker::Client, id: &str) -> Result<()> {
        let p = self.find_preview(id)?;
        let lock = self.lock_preview(p.id).await?;
        let Some(p) = self.db(|s| s.preview(p.id))? else {
            return Ok(());
        };
        if let Some(c) = &p.container_id
            && docker
                .inspect_container(c)
                .await?
                .is_some_and(|c| up(&c.state))
        {
            return Err(crate::error::Error::conflict(format!(
                "preview {} runs again; left alone",
                p.id.short()
            )));
        }
        // Under the same lock: nothing can start it in between.
        let removed = self.remove_preview_locked(docker, &p).await;
        drop(lock);
        removed
    }

    /// What Docker has and the store records. The store is read first: a preview started
    /// after that is not in it as running, so it can never be taken for a stopped one.
    async fn gather(&self, docker: &docker::Client, measure: bool) -> Result<Gathered> {
        let (workspaces, previews, deleted, built) = self.db(|s| {
            Ok((
                s.workspaces()?,
                s.previews(None)?,
                s.deleted_workspaces()?,
                s.bundled_builds()?,
            ))
        })?;
        let containers = docker.container_sizes(self.install).await?;
        let images = docker.list_images().await?;
        let volumes = docker.volumes(self.install, measure).await?;
        let in_use = docker.images_in_use().await?;
        // Every record's id, with the workspace it is (or belongs to).
        let owners: HashMap<uuid::Uuid, String> = workspaces
            .iter()
            .map(|w| (w.id.0, w.name.to_string()))
            .chain(previews.iter().map(|p| (p.id.0, p.workspace.clone())))
            .collect();
        let records: HashSet<uuid::Uuid> = owners.keys().copied().collect();
        let input = PruneInput {
            install: self.install,
            images: images
                .into_iter()
                .map(|i| ImageFacts {
                    id: i.id,
                    tags: i.tags,
                    labels: i.labels,
                    size_bytes: i.size_bytes.max(0) as u64,
                })
                .collect(),
            volumes,
            records,
            deleted,
            built,
            // One being made has a container that has not started yet: not a leftover.
            previews: previews
                .iter()
                .filter(|p| p.status == PreviewStatus::Running)
                .map(|p| PreviewFacts {
                    // The id the API shows and takes.
                    id: p.id.short(),
                    workspace: p.workspace.clone(),
                    container: p.container_id.clone(),
                })
                .collect(),
            running: containers
                .iter()
                .filter(|c| up(&c.state))
                .map(|c| c.id.clone())
                .collect(),
            in_use,
        };
        Ok(Gathered {
            input,
            containers,
            owners,
        })
    }
}

/// What a disk report and a clean-up start from.
struct Gathered {
    input: PruneInput,
    containers: Vec<docker::ContainerSize>,
    /// Record id → its workspace's name.
    owners: HashMap<uuid::Uuid, String>,
}

/// Running, paused or restarting: not stopped.
fn up(state: &str) -> bool {
    matches!(state, "running" | "paused" | "restarting")
}
