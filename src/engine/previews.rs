//! Previews as a user sees them: create from a workspace, list with the time left, extend,
//! share on the LAN, delete. Each preview has a lock of its own (a file lock, like a
//! workspace's); a create holds its workspace's lock only while it records the preview, so a
//! workspace's delete either sees the preview (and removes it) or the create finds no workspace.

use super::{Engine, EngineEvent};
use crate::docker;
use crate::error::{Code, Error, Result};
use crate::lockfile::{FileLock, lock_path};
use crate::model::{
    Preview, PreviewDefaults, PreviewForm, PreviewId, PreviewSource, PreviewView, Remembered,
    Workspace, check_ttl, choose_source, extended,
};
use crate::preview::{lan, snapshot};
use crate::store::{NewPreview, Outcome, now_secs};
use std::time::Duration;

/// Why a preview went away (event `preview_removed`).
pub const GONE_DELETED: &str = "deleted";
pub const GONE_EXPIRED: &str = "expired";
pub const GONE_FAILED: &str = "failed";

impl Engine {
    /// Where the next preview of workspace `name` comes from, for the create form.
    pub fn preview_defaults(&self, name: &str) -> Result<PreviewDefaults> {
        let ws = self.find(name)?;
        let remembered = self.db(|s| s.remembered_preview(ws.id))?;
        Ok(PreviewDefaults {
            dockerfile: ws
                .projects
                .first()
                .is_some_and(|p| snapshot::has_dockerfile(p)),
            image: remembered.as_ref().map(|r| r.image.clone()),
            command: remembered.as_ref().and_then(|r| r.command.clone()),
            app_port: remembered.as_ref().map(|r| r.app_port),
            ttl_secs: self.settings()?.preview_ttl_secs,
        })
    }

    /// Snapshots the workspace's projects and runs the app from it; `progress` hears each step
    /// (and a build's output). Nothing half-made stays behind when it fails.
    pub async fn create_preview(
        &self,
        form: PreviewForm,
        progress: &(dyn Fn(String) + Send + Sync),
    ) -> Result<PreviewView> {
        let ws = self.find(&form.workspace)?;
        let settings = self.settings()?;
        let ttl = match form.ttl_secs {
            Some(secs) => check_ttl(Duration::from_secs(secs))?,
            None => Duration::from_secs(settings.preview_ttl_secs),
        };
        let first = ws
            .projects
            .first()
            .ok_or_else(|| Error::invalid("the workspace has no project folder"))?;
        let has_dockerfile = snapshot::has_dockerfile(first);
        let remembered = self.db(|s| s.remembered_preview(ws.id))?;
        let (source, app_port) = choose_source(&form, has_dockerfile, remembered.as_ref())?;
        let app_port = match app_port {
            Some(port) => port,
            None => dockerfile_port(first)?,
        };
        let docker = self.docker().await?;
        let id = PreviewId::new();
        let mut draft = Preview {
            id,
            workspace_id: ws.id,
            workspace: ws.name.to_string(),
            image: String::new(),
            source,
            app_port,
            port: 0,
            container_id: None,
            status: crate::model::PreviewStatus::Creating,
            created_at: now_secs(),
            expires_at: now_secs() + ttl.as_secs() as i64,
            share_token: if form.lan {
                Some(crate::secrets::random_secret()?.expose().clone())
            } else {
                None
            },
        };
        draft.image = match &draft.source {
            PreviewSource::Image { image, .. } => {
                if docker.inspect_image(image).await?.is_none() {
                    return Err(Error::not_found(format!(
                        "image {image:?} is not on this machine (`berth image ls`; build or load it first)"
                    ))
                    .keyed("image_missing", [("image", image.clone())]));
                }
                image.clone()
            }
            PreviewSource::Dockerfile => docker::preview_image_tag(&draft),
        };
        let token = uuid::Uuid::new_v4().simple().to_string();
        // Held from before the record exists: nothing (reconcile, a workspace's delete, the
        // reaper) can take the preview from under its create.
        let _lock = self.lock_preview(id).await?;
        let preview = {
            let _ws_lock = self.lock_workspace(&ws).await?;
            let ws = self.reload(ws.id, ws.name.as_str())?;
            self.check_projects(&ws)?;
            let range = settings.port_range;
            self.db(|s| {
                let after = s.last_port()?;
                let new = NewPreview {
                    preview: &draft,
                    token: &token,
                    cap: settings.max_previews,
                };
                s.insert_preview(new, |taken| {
                    crate::ports::pick_free(range, taken, crate::ports::in_use, after)
                })
            })?
        };
        self.emit_preview(&preview);
        self.preview_timer.notify_one();
        match self
            .run_preview(docker, &ws, &preview, &token, form.with_deps, progress)
            .await
        {
            Ok(()) => {
                let preview = self.find_preview_by_id(id)?;
                if let (Some(_), PreviewSource::Image { image, command }) =
                    (&form.image, &preview.source)
                {
                    let r = Remembered {
                        image: image.clone(),
                        command: command.clone(),
                        app_port: preview.app_port,
                    };
                    self.db(|s| s.remember_preview(ws.id, &r))?;
                }
                let detail = format!(
                    "preview {} from {}, port {}, expires {}",
                    preview.id.short(),
                    describe_source(&preview),
                    preview.port,
                    crate::model::human_duration(ttl.as_secs() as i64)
                );
                self.audit(&ws, "preview-create", Outcome::Ok, &detail);
                self.emit_preview(&preview);
                Ok(self.preview_view(&preview))
            }
            Err(e) => {
                let cleanup = self
                    .remove_preview_objects(docker, &preview, Some(&token))
                    .await;
                let detail = format!("preview {}: {}", preview.id.short(), e.message);
                self.audit(&ws, "preview-create", Outcome::Failed, &detail);
                match cleanup {
                    Ok(()) => self.emit_preview_removed(&preview, GONE_FAILED),
                    // Its record stays: the next reconcile (or its expiry) removes the rest.
                    Err(left) => tracing::warn!("could not clean up the failed preview: {left}"),
                }
                Err(e)
            }
        }
    }

    /// Every preview, or those of workspace `name`; soonest to expire first.
    pub fn previews(&self, workspace: Option<&str>) -> Result<Vec<PreviewView>> {
        let id = match workspace {
            Some(name) => Some(self.find(name)?.id),
            None => None,
        };
        Ok(self
            .db(|s| s.previews(id))?
            .iter()
            .map(|p| self.preview_view(p))
            .collect())
    }

    /// Pushes the expiry of preview `id` (a prefix of its id) by `by`.
    pub async fn extend_preview(&self, id: &str, by: Duration) -> Result<PreviewView> {
        let p = self.find_preview(id)?;
        let _lock = self.lock_preview(p.id).await?;
        let p = self.find_preview_by_id(p.id)?;
        let until = extended(p.expires_at, now_secs(), by)?;
        self.db(|s| s.set_preview_expiry(p.id, until))?;
        let p = self.find_preview_by_id(p.id)?;
        self.audit_preview(
            &p,
            "preview-extend",
            &format!(
                "preview {} by {}, now expires in {}",
                p.id.short(),
                crate::model::human_duration(by.as_secs() as i64),
                crate::model::human_duration(until - now_secs())
            ),
        );
        self.emit_preview(&p);
        self.preview_timer.notify_one();
        Ok(self.preview_view(&p))
    }

    /// Shares preview `id` on the LAN with a new token, or ends the share (the old token and
    /// every cookie made from it stop working at once).
    pub async fn share_preview(&self, id: &str, on: bool) -> Result<PreviewView> {
        let p = self.find_preview(id)?;
        let _lock = self.lock_preview(p.id).await?;
        let p = self.find_preview_by_id(p.id)?;
        let token = if on {
            Some(crate::secrets::random_secret()?)
        } else {
            None
        };
        self.gateway
            .bind_preview(p.id, p.workspace_id, p.port, token.as_ref())
            .await?;
        self.db(|s| s.set_preview_share(p.id, token.as_ref().map(|t| t.expose().as_str())))?;
        let p = self.find_preview_by_id(p.id)?;
        let what = if on {
            "shared on the LAN with a new token"
        } else {
            "no longer shared on the LAN"
        };
        self.audit_preview(
            &p,
            "preview-share",
            &format!("preview {}: {what}", p.id.short()),
        );
        self.emit_preview(&p);
        Ok(self.preview_view(&p))
    }

    /// Deletes preview `id` now: container, network, snapshot volume, built image, port.
    pub async fn remove_preview(&self, id: &str) -> Result<()> {
        let p = self.find_preview(id)?;
        let docker = self.docker().await?;
        let _lock = self.lock_preview(p.id).await?;
        let Some(p) = self.db(|s| s.preview(p.id))? else {
            return Ok(());
        };
        self.remove_preview_locked(docker, &p).await
    }

    /// The delete itself, for a caller that holds the preview's lock.
    pub(super) async fn remove_preview_locked(
        &self,
        docker: &crate::docker::Client,
        p: &Preview,
    ) -> Result<()> {
        self.remove_preview_objects(docker, p, None).await?;
        self.audit_preview(
            p,
            "preview-delete",
            &format!(
                "preview {}: removed container, network, volume and port {}",
                p.id.short(),
                p.port
            ),
        );
        self.emit_preview_removed(p, GONE_DELETED);
        Ok(())
    }

    /// Ends preview `id` at once: its container is killed if it is still running after
    /// [`super::FORCE_GRACE_SECS`], then the preview goes like a delete (a preview has no
    /// stopped state to come back from). Audited as forced.
    pub async fn force_stop_preview(&self, id: &str) -> Result<()> {
        let p = self.find_preview(id)?;
        let docker = self.docker().await?;
        let _lock = self.lock_preview(p.id).await?;
        let Some(p) = self.db(|s| s.preview(p.id))? else {
            return Ok(());
        };
        if let Some(container) = &p.container_id {
            docker
                .stop_container(container, super::FORCE_GRACE_SECS)
                .await?;
        }
        self.remove_preview_objects(docker, &p, None).await?;
        self.audit_preview(
            &p,
            "force-stop",
            &format!(
                "preview {}: forced: killed if still running after {} s, then removed",
                p.id.short(),
                super::FORCE_GRACE_SECS
            ),
        );
        self.emit_preview_removed(&p, GONE_DELETED);
        Ok(())
    }

    /// The URL to open preview `id` at; a browser sent there keeps the port from everyone
    /// else (what the app left in the browser stays with that origin).
    pub fn preview_url(&self, id: &str, viewer: super::Viewer) -> Result<PreviewView> {
        let p = self.find_preview(id)?;
        if viewer == super::Viewer::Browser {
            self.db(|s| s.record_browser_port(p.id.0, p.port))?;
        }
        Ok(self.preview_view(&p))
    }

    /// Someone visited a preview of `workspace`: its work is being looked at.
    pub fn record_preview_visit(&self, workspace: crate::model::WorkspaceId) {
        self.activity.record(
            workspace,
            crate::activity::Signal::Preview,
            None,
            crate::store::now_ms(),
        );
    }

    /// Previews that exist (each keeps the daemon, and so its reaper, alive).
    pub fn preview_count(&self) -> Result<usize> {
        self.db(|s| s.preview_count())
    }

    pub(super) fn preview_view(&self, p: &Preview) -> PreviewView {
        let share_urls = match &p.share_token {
            Some(_) => lan::addresses()
                .into_iter()
                .filter_map(|ip| p.share_url(ip))
                .collect(),
            None => Vec::new(),
        };
        PreviewView {
            id: p.id.short(),
            workspace: p.workspace.clone(),
            url: p.url(),
            source: p.source.clone(),
            image: p.image.clone(),
            app_port: p.app_port,
            port: p.port,
            status: p.status,
            created_at: p.created_at,
            expires_at: p.expires_at,
            remaining_secs: p.remaining(now_secs()).as_secs(),
            shared: p.share_token.is_some(),
            share_urls,
        }
    }

    pub(super) fn find_preview(&self, prefix: &str) -> Result<Preview> {
        self.db(|s| s.preview_by_prefix(prefix))?.ok_or_else(|| {
            Error::not_found(format!(
                "no preview with the id {prefix:?} (see `berth preview ls`)"
            ))
            .keyed("preview_not_found", [("id", prefix.to_string())])
        })
    }

    pub(super) fn find_preview_by_id(&self, id: PreviewId) -> Result<Preview> {
        self.db(|s| s.preview(id))?
            .ok_or_else(|| Error::not_found(format!("preview {} is gone", id.short())))
    }

    pub(super) async fn lock_preview(&self, id: PreviewId) -> Result<FileLock> {
        FileLock::acquire(
            &lock_path(&self.data_dir, &id.to_string()),
            &format!("preview {}", id.short()),
            super::LOCK_WAIT,
        )
        .await
    }

    pub(super) fn try_lock_preview(&self, id: PreviewId) -> Result<Option<FileLock>> {
        FileLock::try_acquire(&lock_path(&self.data_dir, &id.to_string()))
    }

    /// The preview's lines go to its workspace's audit log (`berth log NAME`).
    pub(super) fn audit_preview(&self, p: &Preview, action: &str, detail: &str) {
        if let Err(e) = self.db(|s| {
            s.audit_raw(
                Some(p.workspace_id.to_string()),
                Some(p.workspace.clone()),
                action,
                Outcome::Ok,
                detail,
            )
        }) {
            tracing::error!("could not write the audit log: {e}");
        }
    }

    pub(super) fn emit_preview(&self, p: &Preview) {
        let _ = self.events.send(EngineEvent::Preview {
            preview: Box::new(self.preview_view(p)),
        });
    }

    pub(super) fn emit_preview_removed(&self, p: &Preview, reason: &str) {
        let _ = self.events.send(EngineEvent::PreviewRemoved {
            id: p.id.short(),
            workspace: p.workspace.clone(),
            reason: reason.to_string(),
        });
    }

    /// Removes every preview of `ws` (its delete): each under its own lock.
    pub(super) async fn remove_previews_of(
        &self,
        docker: &docker::Client,
        ws: &Workspace,
    ) -> Result<()> {
        for p in self.db(|s| s.previews(Some(ws.id)))? {
            let _lock = self.lock_preview(p.id).await?;
            self.remove_preview_objects(docker, &p, None).await?;
            self.audit_preview(
                &p,
                "preview-delete",
                &format!("preview {}: removed with its workspace", p.id.short()),
            );
            self.emit_preview_removed(&p, GONE_DELETED);
        }
        Ok(())
    }
}

fn describe_source(p: &Preview) -> String {
    match &p.source {
        PreviewSource::Dockerfile => "the project's Dockerfile".to_string(),
        PreviewSource::Image { image, command } => match command {
            Some(c) => format!("image {image} running {c:?}"),
            None => format!("image {image}"),
        },
    }
}

/// The app port a Dockerfile names (`EXPOSE 3000`, the first one), for a preview given none.
fn dockerfile_port(project: &std::path::Path) -> Result<u16> {
    let text = snapshot::read_dockerfile(project)?;
    exposed_port(&text).ok_or_else(|| {
        Error::new(
            Code::InvalidInput,
            "the Dockerfile exposes no port (EXPOSE): give the port its app listens on (--port)",
        )
        .keyed("preview_port_missing", [])
    })
}

/// The first port of an `EXPOSE` instruction (`EXPOSE 3000/tcp 8080` → 3000). Pure.
pub fn exposed_port(dockerfile: &str) -> Option<u16> {
    dockerfile.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let instruction = words.next()?;
        if !instruction.eq_ignore_ascii_case("EXPOSE") {
            return None;
        }
        let first = words.next()?;
        let port = first.split('/').next()?;
        port.parse::<u16>().ok().filter(|p| *p > 0)
    })
}

#[cfg(test)]
mod tests {
    use super::exposed_port;

    #[test]
    fn the_first_exposed_port_is_the_apps() {
        assert_eq!(exposed_port("FROM x\nEXPOSE 3000/tcp 8080\n"), Some(3000));
        assert_eq!(exposed_port("from x\n  expose 8000\n"), Some(8000));
        assert_eq!(exposed_port("FROM x\nEXPOSE $PORT\n"), None);
        assert_eq!(exposed_port("FROM x\nCMD run\n"), None);
    }
}
