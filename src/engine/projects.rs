//! Project folders at create and at every start: the rules of `model::project`, one folder per
//! workspace of the install, and the same folder (device + inode) each time — checked before
//! the container starts and again, through the container's own view, once it runs.

use super::Engine;
use crate::docker::{self, mount_targets};
use crate::error::{Error, Result};
use crate::model::{FolderId, Workspace, check_same_folder, validate_project_path};
use std::path::{Path, PathBuf};

impl Engine {
    /// No folder of `projects` may be, hold or sit in a project of another workspace of this
    /// install: one workspace could otherwise plant files (tasks, hooks) that another runs.
    pub(super) fn check_overlaps(&self, projects: &[PathBuf]) -> Result<()> {
        for other in self.db(|s| s.workspaces())? {
            for theirs in &other.projects {
                if let Some(mine) = projects
                    .iter()
                    .find(|p| p.starts_with(theirs) || theirs.starts_with(p))
                {
                    return Err(Error::invalid(format!(
                        "project folder {:?} overlaps {:?}, a project of workspace {}; each folder belongs to one workspace",
                        mine.display(),
                        theirs.display(),
                        other.name
                    ))
                    .keyed(
                        "project_overlaps_workspace",
                        [
                            ("path", mine.display().to_string()),
                            ("other", other.name.to_string()),
                        ],
                    ));
                }
            }
        }
        Ok(())
    }

    /// Before a start (and right after create): every project is still the folder recorded,
    /// and still allowed. A folder never recorded (made by an older Berth) is recorded now.
    pub(super) fn check_projects(&self, ws: &Workspace) -> Result<Vec<Option<FolderId>>> {
        let protected = self.protected_paths();
        let mut recorded = self.db(|s| s.project_identities(ws.id))?;
        recorded.resize(ws.projects.len(), None);
        for (pos, path) in ws.projects.iter().enumerate() {
            let now = check_same_folder(path, recorded[pos])?;
            validate_project_path(path, &protected)?;
            if recorded[pos].is_none()
                && let Some(now) = now
            {
                self.db(|s| s.record_project_identity(ws.id, pos, now))?;
                recorded[pos] = Some(now);
            }
        }
        Ok(recorded)
    }

    /// Once the container runs: what it mounted at each project's target is the recorded
    /// folder, looked at through the container's own root (`/proc/<pid>/root`), so a folder
    /// swapped between the check and Docker's mount is caught. Linux only; where the
    /// container's root cannot be read (another user's process), the host path is checked.
    pub(super) async fn check_mounted(
        &self,
        docker: &docker::Client,
        ws: &Workspace,
        container_id: &str,
        recorded: &[Option<FolderId>],
    ) -> Result<()> {
        let pid = docker
            .inspect_container(container_id)
            .await?
            .and_then(|c| c.pid)
            .filter(|p| *p > 0);
        for ((path, target), was) in ws
            .projects
            .iter()
            .zip(mount_targets(&ws.projects))
            .zip(recorded)
        {
            let seen = pid.and_then(|pid| inside(pid, &target));
            let now = match seen {
                Some(id) => Some(id),
                None => check_same_folder(path, *was)?,
            };
            if let (Some(was), Some(now)) = (was, now)
                && *was != now
            {
                return Err(Error::invalid(format!(
                    "project folder {:?} changed while {} started: the container got another folder; Berth stopped it",
                    path.display(),
                    ws.name
                ))
                .keyed("project_replaced", [("path", path.display().to_string())]));
            }
        }
        Ok(())
    }
}

/// The identity of `target` as the container with init `pid` sees it. Every component is
/// looked at without following links: behind `/proc/<pid>/root` an absolute symlink the image
/// planted would resolve against the host's root, not the container's.
fn inside(pid: i64, target: &str) -> Option<FolderId> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let mut path = PathBuf::from(format!("/proc/{pid}/root"));
    for part in Path::new(target).strip_prefix("/").ok()?.components() {
        path.push(part);
        if std::fs::symlink_metadata(&path)
            .ok()?
            .file_type()
            .is_symlink()
        {
            return None;
        }
    }
    FolderId::of(&path)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_link_behind_the_containers_root_is_never_followed() {
        // This process's own root stands in for a container's.
        let pid = std::process::id() as i64;
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(real.join("ws/app")).unwrap();
        std::os::unix::fs::symlink(real.join("ws"), real.join("link")).unwrap();
        let seen = inside(pid, real.join("ws/app").to_str().unwrap());
        assert_eq!(seen, FolderId::of(&real.join("ws/app")));
        assert_eq!(inside(pid, real.join("link/app").to_str().unwrap()), None);
    }
}
