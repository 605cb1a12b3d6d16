//! Running previews: the snapshot into a new container (or a build from it), the start and the
//! wait for the app's first answer; removing everything a preview made; the reaper's pass; and
//! serving the previews found when the daemon starts. A preview's container is its own by
//! proof (recorded id or creation token), as a workspace's is.

use super::containers::{last_output, one_line};
use super::health::{Health, wait_for};
use super::reconcile::owns;
use super::{Engine, failpoint};
use crate::docker::{self, BuildProgress, WORKSPACE_ROOT};
use crate::error::{Code, Error, Result};
use crate::model::{Kind, Preview, PreviewSource, PreviewStatus, Workspace, due};
use crate::preview::snapshot;
use crate::store::now_secs;
use std::time::Duration;

/// How long a preview's Dockerfile may take to build.
const BUILD_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// How long the reaper sleeps at most (a clock jump or a missed wake-up is caught by then).
const REAPER_NAP: Duration = Duration::from_secs(60);

impl Engine {
    /// Everything after the record: snapshot (built into an image, or copied into the
    /// container's volume), network, container, port, start, first answer.
    pub(super) async fn run_preview(
        &self,
        docker: &docker::Client,
        ws: &Workspace,
        p: &Preview,
        token: &str,
        with_deps: bool,
        progress: &(dyn Fn(String) + Send + Sync),
    ) -> Result<()> {
        let owner = if docker.rootless().await? {
            Some((0, 0))
        } else {
            super::lifecycle::host_user()
        };
        let targets = docker::mount_targets(&ws.projects);
        let folder = |t: &String| {
            t.trim_start_matches(&format!("{WORKSPACE_ROOT}/"))
                .to_string()
        };
        let spec = snapshot::Spec {
            roots: ws
                .projects
                .iter()
                .cloned()
                .zip(targets.iter().map(folder))
                .collect(),
            with_deps,
            owner,
            max: (snapshot::MAX_BYTES, snapshot::MAX_FILES),
        };
        if p.source == PreviewSource::Dockerfile {
            progress("building the project's Dockerfile".to_string());
            // The first project is the build context, its Dockerfile at the root.
            let context = snapshot::Spec {
                roots: vec![(ws.projects[0].clone(), ".".to_string())],
                ..spec.clone()
            };
            let (chunks, made) = snapshot::stream(context);
            let labels = docker::labels::for_preview(self.install, p);
            let limits = crate::model::preview_limits(&self.settings()?.default_limits);
            let build = docker.build_image(chunks, &p.image, &labels, Some(&limits), |step| {
                if let BuildProgress::Line(line) = step {
                    progress(line);
                }
            });
            // A build that never ends would hold the preview (and its place under the cap)
            // past its lifetime.
            tokio::time::timeout(BUILD_TIMEOUT, build)
                .await
                .map_err(|_| {
                    Error::new(
                        Code::StartFailed,
                        format!(
                            "the preview's Dockerfile did not build within {} min",
                            BUILD_TIMEOUT.as_secs() / 60
                        ),
                    )
                })??;
            joined(made).await?;
        }
        docker
            .ensure_network(docker::plan_preview_network(p, self.install), self.install)
            .await?;
        if matches!(p.source, PreviewSource::Image { .. }) {
            docker
                .ensure_volume(docker::plan_preview_volume(p, self.install), self.install)
                .await?;
        }
        let limits = crate::model::preview_limits(&self.settings()?.default_limits);
        let run = docker::PreviewRun {
            user: owner.map(|(uid, gid)| format!("{uid}:{gid}")),
            working_dir: targets[0].clone(),
            token: token.to_string(),
        };
        let publish = !cfg!(target_os = "linux");
        let cid = docker
            .create_container(docker::plan_preview(
                p,
                &limits,
                self.install,
                &run,
                publish,
            ))
            .await?;
        failpoint("after-preview-create");
        self.db(|s| s.set_preview_container(p.id, &cid, PreviewStatus::Creating))?;
        if matches!(p.source, PreviewSource::Image { .. }) {
            progress("copying the snapshot".to_string());
            let (chunks, made) = snapshot::stream(spec);
            docker.unpack_into(&cid, WORKSPACE_ROOT, chunks).await?;
            let taken = joined(made).await?;
            progress(format!(
                "snapshot: {} files, {}",
                taken.files,
                crate::model::format_memory(taken.bytes.max(1 << 20))
            ));
        }
        let share = p.share_token.clone().map(crate::secrets::Sensitive::new);
        self.gateway
            .bind_preview(p.id, p.workspace_id, p.port, share.as_ref())
            .await?;
        progress(format!(
            "starting; waiting for the app on port {}",
            p.app_port
        ));
        docker.start_container(&cid).await?;
        let timeout = Duration::from_secs(self.settings()?.start_timeout_secs);
        // Any HTTP answer means the app is up: a 404 at `/` is still an app.
        match wait_for(docker, &cid, p.app_port, "/", timeout, |_| true).await? {
            Health::Healthy(_, addr) => {
                self.gateway.serve_preview(p.id, addr);
                self.db(|s| s.set_preview_container(p.id, &cid, PreviewStatus::Running))?;
                Ok(())
            }
            Health::Exited(info) => {
                let code = info.and_then(|c| c.exit_code).unwrap_or(-1);
                let output = match one_line(&last_output(docker, &cid).await) {
                    tail if tail.is_empty() => String::new(),
                    tail => format!("; its last output: {tail}"),
                };
                Err(Error::new(
                    Code::StartFailed,
                    format!(
                        "the preview's app exited (code {code}) before it answered on port {}{output}",
                        p.app_port
                    ),
                ))
            }
            Health::TimedOut => Err(Error::new(
                Code::StartFailed,
                format!(
                    "the preview's app did not answer on port {} within {} s (does it listen on 0.0.0.0:{}?)",
                    p.app_port,
                    timeout.as_secs(),
                    p.app_port
                ),
            )),
        }
    }

    /// Removes the preview's container(s), network, volume, built image, route and record
    /// (which frees its port). The caller holds the preview's lock.
    pub(super) async fn remove_preview_objects(
        &self,
        docker: &docker::Client,
        p: &Preview,
        known_token: Option<&str>,
    ) -> Result<()> {
        self.gateway.close_preview(p.id);
        // The record as it is now: `p` may be from before its container was recorded.
        let recorded = self
            .db(|s| s.preview(p.id))?
            .and_then(|now| now.container_id)
            .or_else(|| p.container_id.clone());
        let token = self
            .db(|s| s.preview_tokens())?
            .remove(&p.id.0)
            .or_else(|| known_token.map(str::to_string));
        for c in docker
            .list_containers(self.install, Some(&p.id.to_string()))
            .await?
        {
            if owns(
                &c,
                Kind::Preview,
                p.id.0,
                recorded.as_deref(),
                token.as_deref(),
            ) {
                docker.remove_container(&c.id).await?;
            }
        }
        for n in docker.list_networks(self.install).await? {
            if n.owner == Some(p.id.0) {
                docker.remove_network(&n.name).await?;
            }
        }
        docker.remove_volume(&p.object_name(), self.install).await?;
        if p.source == PreviewSource::Dockerfile {
            docker.remove_own_image(&p.image, self.install).await?;
        }
        // Its window's cookies and storage, and downloads it left waiting (the app names
        // them by the short id).
        let folder = format!("preview-{}", p.id.short());
        let _ = std::fs::remove_dir_all(self.data_dir.join("webviews").join(&folder));
        let _ = std::fs::remove_dir_all(self.data_dir.join("downloads").join(&folder));
        self.db(|s| s.delete_preview(p.id))
    }

    /// The reaper's pass: removes every preview whose time is up (one that another operation
    /// holds is looked at again in a second) and says when the next one is due.
    pub async fn reap_previews(&self) -> Duration {
        let now = now_secs();
        let all = match self.db(|s| s.previews(None)) {
            Ok(all) => all,
            Err(e) => {
                tracing::warn!("preview reaper: {e}");
                return REAPER_NAP;
            }
        };
        let expiries: Vec<_> = all.iter().map(|p| (p.id, p.expires_at)).collect();
        let (expired, next) = due(&expiries, now);
        let mut retry = false;
        for id in expired {
            match self.reap(id).await {
                Ok(true) => {}
                Ok(false) => retry = true,
                Err(e) => {
                    retry = true;
                    tracing::warn!("could not remove expired preview {}: {e}", id.short());
                }
            }
        }
        let until_next = next.map(|at| Duration::from_secs((at - now).max(0) as u64));
        let wait = match (retry, until_next) {
            (true, _) => Duration::from_secs(1),
            (false, Some(d)) => d,
            (false, None) => REAPER_NAP,
        };
        wait.min(REAPER_NAP)
    }

    /// Removes expired preview `id` unless someone holds it (`Ok(false)`: try again soon).
    async fn reap(&self, id: crate::model::PreviewId) -> Result<bool> {
        let Some(_lock) = self.try_lock_preview(id)? else {
            return Ok(false);
        };
        let Some(p) = self.db(|s| s.preview(id))? else {
            return Ok(true);
        };
        // Extended meanwhile.
        if p.expires_at > now_secs() {
            return Ok(true);
        }
        let docker = self.docker().await?;
        self.remove_preview_objects(docker, &p, None).await?;
        let late = now_secs() - p.expires_at;
        let detail = match late {
            l if l > 5 => format!(
                "preview {}: its time was up {} ago (Berth was not running); removed",
                p.id.short(),
                crate::model::human_duration(l)
            ),
            _ => format!("preview {}: its time was up; removed", p.id.short()),
        };
        self.audit_preview(&p, "preview-expire", &detail);
        self.emit_preview_removed(&p, super::previews::GONE_EXPIRED);
        Ok(true)
    }

    /// After reconcile: previews whose container runs are served again; a stopped one (the
    /// machine restarted) is started; one whose container is gone, or whose create died with
    /// its process, is removed. Expired ones are left to the reaper, which runs next.
    /// `containers`: reconcile's listing; `locked`: the previews whose locks it holds.
    pub(super) async fn sync_previews(
        &self,
        docker: &docker::Client,
        containers: &[docker::ContainerInfo],
        locked: &std::collections::HashSet<crate::model::PreviewId>,
    ) {
        let Ok(all) = self.db(|s| s.previews(None)) else {
            return;
        };
        for p in all.iter().filter(|p| locked.contains(&p.id)) {
            let container = p.container_id.as_deref().and_then(|cid| {
                containers
                    .iter()
                    .find(|c| owns(c, Kind::Preview, p.id.0, Some(cid), None))
            });
            if let Err(e) = self.sync_preview(docker, p, container).await {
                tracing::warn!("preview {}: {e}", p.id.short());
                self.audit_preview(
                    p,
                    "preview-reconcile",
                    &format!("preview {}: {}", p.id.short(), e.message),
                );
            }
        }
    }

    async fn sync_preview(
        &self,
        docker: &docker::Client,
        p: &Preview,
        container: Option<&docker::ContainerInfo>,
    ) -> Result<()> {
        if p.expires_at <= now_secs() {
            // The reaper's, next: never started or served again, not even for a moment.
            return Ok(());
        }
        let container = match (container, p.status) {
            (Some(c), PreviewStatus::Running) => c,
            // Its container is gone, or its create died before it was up.
            _ => {
                self.remove_preview_objects(docker, p, None).await?;
                self.audit_preview(
                    p,
                    "preview-reconcile",
                    &format!(
                        "preview {}: its container is gone or was never finished; removed",
                        p.id.short()
                    ),
                );
                self.emit_preview_removed(p, super::previews::GONE_FAILED);
                return Ok(());
            }
        };
        if self.gateway.preview_serving(p.id) {
            return Ok(());
        }
        if !container.running {
            docker.start_container(&container.id).await?;
        }
        let share = p.share_token.clone().map(crate::secrets::Sensitive::new);
        self.gateway
            .bind_preview(p.id, p.workspace_id, p.port, share.as_ref())
            .await?;
        let info = docker.inspect_container(&container.id).await?;
        if let Some(addr) = info
            .as_ref()
            .and_then(|c| crate::gateway::upstream::address(c, p.app_port))
        {
            self.gateway.serve_preview(p.id, addr);
        }
        Ok(())
    }
}

/// The snapshot thread's outcome (a panic there is an error here, not a lost one).
async fn joined(made: tokio::task::JoinHandle<Result<snapshot::Taken>>) -> Result<snapshot::Taken> {
    made.await
        .map_err(|e| Error::new(Code::Io, format!("the snapshot failed: {e}")))?
}
