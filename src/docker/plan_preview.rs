//! Pure planning for previews: a preview in, its container, network and snapshot volume out.
//! Hardened beyond a workspace: the same read-only root and dropped capabilities, tighter
//! limits, no keys, no IDE secret, no activity folder, no project folder of the host — only
//! the snapshot, which later edits in the workspace never reach.

use super::labels;
use super::plan::{ContainerPlan, WORKSPACE_ROOT, hardened, loopback_port};
use crate::model::{Limits, Preview, PreviewSource};
use bollard::models::{
    ContainerCreateBody, Mount, MountType, NetworkCreateRequest, VolumeCreateRequest,
};
use uuid::Uuid;

/// What a preview's container needs beyond its record.
#[derive(Debug, Clone, Default)]
pub struct PreviewRun {
    /// `uid:gid`: the host user, who owns the snapshot's files.
    pub user: Option<String>,
    /// Where the app starts: the first project's folder in the snapshot.
    pub working_dir: String,
    /// The creation token Berth stored (label `dev.berth.token`).
    pub token: String,
}

pub fn plan_preview(
    p: &Preview,
    limits: &Limits,
    install: Uuid,
    run: &PreviewRun,
    publish: bool,
) -> ContainerPlan {
    let app_port = format!("{}/tcp", p.app_port);
    let mut host_config = hardened(limits, p.object_name());
    host_config.port_bindings = publish.then(|| loopback_port(&app_port));
    let (cmd, working_dir) = match &p.source {
        // The snapshot, at the paths the workspace has them: a command that works in the
        // workspace's terminal works here.
        PreviewSource::Image { command, .. } => {
            host_config.mounts = Some(vec![Mount {
                typ: Some(MountType::VOLUME),
                source: Some(p.object_name()),
                target: Some(WORKSPACE_ROOT.to_string()),
                read_only: Some(false),
                ..Default::default()
            }]);
            let cmd = command
                .as_ref()
                .map(|c| vec!["/bin/sh".to_string(), "-c".to_string(), c.clone()]);
            (cmd, Some(run.working_dir.clone()))
        }
        // Built from the snapshot: the image has it, its own command and folder.
        PreviewSource::Dockerfile => (None, None),
    };
    let mut labels = labels::for_preview(install, p);
    labels.insert(labels::TOKEN.to_string(), run.token.clone());
    ContainerPlan {
        name: p.container_name(),
        body: ContainerCreateBody {
            image: Some(p.image.clone()),
            user: run.user.clone(),
            cmd,
            // Tools that write to HOME (npm, pip caches) find a writable one.
            env: Some(vec!["HOME=/tmp".to_string()]),
            hostname: Some(format!("preview-{}", p.id.short())),
            labels: Some(labels),
            exposed_ports: Some(vec![app_port]),
            working_dir,
            host_config: Some(host_config),
            ..Default::default()
        },
    }
}

/// Its own bridge network: a preview reaches neither workspaces nor other previews.
pub fn plan_preview_network(p: &Preview, install: Uuid) -> NetworkCreateRequest {
    NetworkCreateRequest {
        name: p.object_name(),
        driver: Some("bridge".to_string()),
        labels: Some(labels::for_preview(install, p)),
        ..Default::default()
    }
}

pub fn plan_preview_volume(p: &Preview, install: Uuid) -> VolumeCreateRequest {
    VolumeCreateRequest {
        name: Some(p.object_name()),
        labels: Some(labels::for_preview(install, p)),
        ..Default::default()
    }
}

/// The tag of the image built from a preview's Dockerfile.
pub fn preview_image_tag(p: &Preview) -> String {
    format!("{}:latest", p.object_name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PreviewId, PreviewStatus, WorkspaceId};

    fn preview(source: PreviewSource) -> Preview {
        Preview {
            id: PreviewId::new(),
            workspace_id: WorkspaceId::new(),
            workspace: "demo".into(),
            source,
            image: "berth-test:latest".into(),
            app_port: 3000,
            port: 10005,
            container_id: None,
            status: PreviewStatus::Creating,
            created_at: 0,
            expires_at: 1_900_000_000,
            share_token: None,
        }
    }

    const LIMITS: Limits = Limits {
        cpus: 1.0,
        memory_bytes: 1 << 30,
        pids: 512,
    };

    fn run() -> PreviewRun {
        PreviewRun {
            user: Some("1000:1000".into()),
            working_dir: "/workspace/app".into(),
            token: "tok".into(),
        }
    }

    #[test]
    fn a_preview_is_hardened_and_labelled_as_one() {
        let p = preview(PreviewSource::Image {
            image: "berth-test:latest".into(),
            command: Some("httpd -f -p 3000".into()),
        });
        let plan = plan_preview(&p, &LIMITS, Uuid::nil(), &run(), false);
        let hc = plan.body.host_config.as_ref().unwrap();
        assert_eq!(hc.readonly_rootfs, Some(true));
        assert_eq!(hc.cap_drop.as_deref(), Some(&["ALL".to_string()][..]));
        assert_eq!(
            hc.security_opt.as_deref(),
            Some(&["no-new-privileges:true".to_string()][..])
        );
        assert!(hc.tmpfs.as_ref().unwrap().contains_key("/tmp"));
        assert_eq!(hc.memory, Some(1 << 30));
        assert_eq!(hc.network_mode.as_deref(), Some(p.object_name().as_str()));
        assert!(hc.port_bindings.is_none(), "nothing published on Linux");
        let labels = plan.body.labels.as_ref().unwrap();
        assert_eq!(labels[labels::KIND], "preview");
        assert_eq!(labels[labels::EXPIRES_AT], "1900000000");
        assert_eq!(labels[labels::TOKEN], "tok");
        // Only the snapshot volume: no host folder, no secret, no activity folder.
        let mounts = hc.mounts.as_ref().unwrap();
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].typ, Some(MountType::VOLUME));
        assert_eq!(mounts[0].target.as_deref(), Some("/workspace"));
        assert_eq!(
            plan.body.cmd.as_deref(),
            Some(&["/bin/sh".into(), "-c".into(), "httpd -f -p 3000".into()][..])
        );
        assert_eq!(plan.body.working_dir.as_deref(), Some("/workspace/app"));
        assert_eq!(
            plan.body.env.as_deref(),
            Some(&["HOME=/tmp".to_string()][..])
        );
    }

    #[test]
    fn a_dockerfile_preview_runs_its_image_as_built() {
        let p = preview(PreviewSource::Dockerfile);
        let plan = plan_preview(&p, &LIMITS, Uuid::nil(), &run(), true);
        assert_eq!(plan.body.cmd, None);
        assert_eq!(plan.body.working_dir, None);
        let hc = plan.body.host_config.unwrap();
        assert!(hc.mounts.is_none());
        let published = hc.port_bindings.unwrap();
        assert_eq!(
            published["3000/tcp"].as_ref().unwrap()[0]
                .host_ip
                .as_deref(),
            Some("127.0.0.1")
        );
    }
}
