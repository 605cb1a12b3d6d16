//! Pure planning: a workspace in, the exact Docker objects out. Everything about hardening
//! lives here, in one place, testable without a Docker engine.

use super::labels;
use crate::model::{Limits, Workspace, folder_name};
use bollard::models::{
    ContainerCreateBody, HealthConfig, HostConfig, HostConfigLogConfig, Mount, MountType,
    NetworkCreateRequest, PortBinding, RestartPolicy, RestartPolicyNameEnum, VolumeCreateRequest,
};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Where projects appear inside the container.
pub const WORKSPACE_ROOT: &str = "/workspace";

/// The container layout this Berth makes (label `dev.berth.spec`). Raise it when the plan
/// changes in a way a running container cannot pick up; older containers are then recreated
/// at their next start. 2: read-only root, home volume, no published port, password file.
pub const SPEC: &str = "3";

/// Where Berth's private files for the IDE (code-server's config with the password hash) are
/// mounted, read-only: a folder, so a repaired file (written by rename) is seen inside.
pub const IDE_CONFIG_DIR: &str = "/run/berth";
/// Where a container finds its activity folder (env `BERTH_ACTIVITY`).
pub const ACTIVITY_DIR: &str = "/run/berth-activity";
/// The home of an image that names none.
const DEFAULT_HOME: &str = "/home/berth";

/// Log rotation for the container's stdout/stderr: a chatty IDE must not fill the disk.
const LOG_MAX_SIZE: &str = "10m";
const LOG_MAX_FILES: &str = "3";

pub struct ContainerPlan {
    pub name: String,
    pub body: ContainerCreateBody,
}

/// What a container needs beyond the workspace's own record, decided at creation time.
#[derive(Debug, Clone, Default)]
pub struct RunAs {
    /// `uid:gid` the container runs as: the host user, so files made in projects are theirs.
    pub user: Option<String>,
    /// Host folder (0700, files 0600) mounted read-only at [`IDE_CONFIG_DIR`]: code-server's
    /// config with the hash of the IDE secret. Nothing in the container's environment, labels
    /// or layers (`docker inspect`, `docker commit`) logs anyone in.
    pub ide_config_dir: Option<std::path::PathBuf>,
    /// The image's `HOME`; the home volume goes there.
    pub home: Option<String>,
    /// The tool for Docker's health check (image label `dev.berth.ide.probe`); `None` when
    /// the image has its own check or no tool Berth knows.
    pub probe: Option<String>,
    /// Host file holding the multi-root `.code-workspace`, mounted at
    /// [`code_workspace_path`]. A bind mount costs nothing at create time; copying a file
    /// into the container took longer than creating the container.
    pub code_workspace_file: Option<std::path::PathBuf>,
    /// Host folder the container reports its activity into (the IDE extension's input
    /// reports, `berth-keepalive` leases), mounted read-write at [`ACTIVITY_DIR`]. Its own
    /// folder: a container can write nothing there that reaches another workspace.
    pub activity_dir: Option<std::path::PathBuf>,
    /// The creation token Berth stored for this container (label `dev.berth.token`).
    pub token: Option<String>,
    /// `NAME=value` for the workspace's API keys: in proxy mode the proxy's address and the
    /// workspace's token, in env mode the key itself (the user chose that).
    pub key_env: Vec<crate::secrets::Sensitive<String>>,
}

/// The container for `ws`. It publishes its IDE port only where the host cannot reach a
/// container's own address (`publish`: Docker Desktop), and then on 127.0.0.1 at a port Docker
/// picks; users only ever see the gateway's stable port.
pub fn plan_container(
    ws: &Workspace,
    limits: &Limits,
    install: Uuid,
    run: &RunAs,
    publish: bool,
) -> ContainerPlan {
    let home = run.home.clone().unwrap_or_else(|| DEFAULT_HOME.to_string());
    let mut env = vec![
        format!("BERTH_OPEN={}", code_workspace_path(ws)),
        // For the image's own use (Berth's built-in extension shows it in the status bar).
        format!("BERTH_WORKSPACE={}", ws.name),
        format!("HOME={home}"),
    ];
    if run.ide_config_dir.is_some() {
        // A path, not a secret: the file behind it is readable only inside the container.
        env.push(format!(
            "CODE_SERVER_CONFIG={IDE_CONFIG_DIR}/code-server.yaml"
        ));
    }
    env.extend(run.key_env.iter().map(|e| e.expose().clone()));
    let ide_port = format!("{}/tcp", ws.ide.port);
    let bind = |src: &std::path::Path, target: String, read_only: bool| Mount {
        // Structured mounts: a path with ':' or ',' cannot be misparsed, unlike `-v a:b`.
        typ: Some(MountType::BIND),
        source: Some(bind_source(src, cfg!(windows))),
        target: Some(target),
        read_only: Some(read_only),
        ..Default::default()
    };
    let mut mounts: Vec<Mount> = ws
        .projects
        .iter()
        .zip(mount_targets(&ws.projects))
        .map(|(src, target)| bind(src, target, false))
        .collect();
    if let Some(file) = &run.code_workspace_file {
        mounts.push(bind(file, code_workspace_path(ws), false));
    }
    if let Some(dir) = &run.ide_config_dir {
        mounts.push(bind(dir, IDE_CONFIG_DIR.to_string(), true));
    }
    if let Some(dir) = &run.activity_dir {
        mounts.push(bind(dir, ACTIVITY_DIR.to_string(), false));
        env.push(format!("BERTH_ACTIVITY={ACTIVITY_DIR}"));
    }
    // The home folder outlives the container (recreated for a new image or layout): a
    // volume of its own, filled from the image's home the first time, removed by `rm` only.
    mounts.push(Mount {
        typ: Some(MountType::VOLUME),
        source: Some(home_volume_name(ws)),
        target: Some(home),
        read_only: Some(false),
        ..Default::default()
    });
    let port_bindings = publish.then(|| loopback_port(&ide_port));
    let mut host_config = hardened(limits, ws.network_name());
    host_config.port_bindings = port_bindings;
    host_config.mounts = Some(mounts);
    if let Some(tmpfs) = host_config.tmpfs.as_mut() {
        tmpfs.insert(
            "/run".to_string(),
            "rw,nosuid,nodev,noexec,mode=755".to_string(),
        );
    }
    ContainerPlan {
        name: ws.container_name(),
        body: ContainerCreateBody {
            image: Some(ws.image.to_string()),
            user: run.user.clone(),
            env: Some(env),
            // The workspace's name as hostname: shells inside show where they are.
            hostname: Some(ws.name.to_string()),
            labels: Some({
                let mut l = labels::for_workspace(install, ws);
                l.insert(labels::SPEC.to_string(), SPEC.to_string());
                if let Some(token) = &run.token {
                    l.insert(labels::TOKEN.to_string(), token.clone());
                }
                l
            }),
            healthcheck: run
                .probe
                .as_deref()
                .and_then(|tool| health_check(tool, ws.ide.port, &ws.ide.health_path)),
            exposed_ports: Some(vec![ide_port]),
            working_dir: Some(WORKSPACE_ROOT.to_string()),
            host_config: Some(host_config),
            ..Default::default()
        },
    }
}

/// `port` (`8080/tcp`) published on 127.0.0.1 at a port Docker picks (the gateway reads it
/// back): only where the host cannot reach a container's own address (Docker Desktop).
pub(super) fn loopback_port(port: &str) -> HashMap<String, Option<Vec<PortBinding>>> {
    HashMap::from([(
        port.to_string(),
        Some(vec![PortBinding {
            host_ip: Some("127.0.0.1".to_string()),
            // Empty: Docker picks a free port.
            host_port: Some(String::new()),
        }]),
    )])
}

/// What every Berth container gets, workspace or preview: nothing writable outside its
/// volumes, binds and tmpfs (a compromised app cannot plant anything in the image's programs,
/// CIS 5.13), no capabilities, no privilege gain, an init, no restarts behind the user's back,
/// hard limits and rotated logs — on its own network.
pub(super) fn hardened(limits: &Limits, network: String) -> HostConfig {
    HostConfig {
        readonly_rootfs: Some(true),
        tmpfs: Some(HashMap::from([(
            "/tmp".to_string(),
            "rw,nosuid,nodev,mode=1777".to_string(),
        )])),
        network_mode: Some(network),
        cap_drop: Some(vec!["ALL".to_string()]),
        security_opt: Some(vec!["no-new-privileges:true".to_string()]),
        // An init as PID 1 reaps zombies and forwards SIGTERM, so `stop` takes milliseconds.
        init: Some(true),
        // Never restarted behind the user's back: a failing image gets one clear error.
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::NO),
            maximum_retry_count: None,
        }),
        memory: Some(limits.memory_bytes as i64),
        // Same as memory: no swap on top of the limit.
        memory_swap: Some(limits.memory_bytes as i64),
        nano_cpus: Some((limits.cpus * 1e9).round() as i64),
        pids_limit: Some(limits.pids),
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".to_string()),
            config: Some(HashMap::from([
                ("max-size".to_string(), LOG_MAX_SIZE.to_string()),
                ("max-file".to_string(), LOG_MAX_FILES.to_string()),
            ])),
        }),
        ..Default::default()
    }
}

/// The home volume of a workspace: by id, so it follows the workspace and nothing else.
pub fn home_volume_name(ws: &Workspace) -> String {
    format!("berth-home-{}", ws.id.0.simple())
}

pub fn plan_home_volume(ws: &Workspace, install: Uuid) -> VolumeCreateRequest {
    VolumeCreateRequest {
        name: Some(home_volume_name(ws)),
        labels: Some(labels::for_workspace(install, ws)),
        ..Default::default()
    }
}

/// Docker's health check of the IDE (CIS 5.27), with a tool the image says it has. Docker runs
/// it inside the container, so it asks the IDE on its own port; a status of 400 or more fails.
fn health_check(tool: &str, port: u16, path: &str) -> Option<HealthConfig> {
    let url = format!("http://127.0.0.1:{port}{path}");
    let test: Vec<String> = match tool {
        "wget" => vec!["CMD", "wget", "-q", "-O", "/dev/null", &url],
        "curl" => vec!["CMD", "curl", "-fsS", "-o", "/dev/null", &url],
        "node" => {
            let script = format!(
                "fetch({url:?}).then(r=>process.exit(r.status<400?0:1),()=>process.exit(1))"
            );
            return Some(health_config(vec![
                "CMD".into(),
                "node".into(),
                "-e".into(),
                script,
            ]));
        }
        _ => return None,
    }
    .into_iter()
    .map(str::to_string)
    .collect();
    Some(health_config(test))
}

fn health_config(test: Vec<String>) -> HealthConfig {
    const SECOND: i64 = 1_000_000_000;
    HealthConfig {
        test: Some(test),
        interval: Some(30 * SECOND),
        timeout: Some(5 * SECOND),
        retries: Some(3),
        start_period: Some(60 * SECOND),
        ..Default::default()
    }
}

/// Where the multi-root workspace file goes: `/workspace/<name>.code-workspace`.
pub fn code_workspace_path(ws: &Workspace) -> String {
    format!("{WORKSPACE_ROOT}/{}.code-workspace", ws.name)
}

/// The multi-root `.code-workspace` listing every project folder, in order.
pub fn code_workspace(ws: &Workspace) -> String {
    let folders: Vec<serde_json::Value> = mount_targets(&ws.projects)
        .iter()
        .map(|t| serde_json::json!({ "path": t.trim_start_matches(&format!("{WORKSPACE_ROOT}/")) }))
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({ "folders": folders, "settings": {} }))
        .expect("json")
}

/// One bridge network per workspace, so workspaces cannot reach each other.
pub fn plan_network(ws: &Workspace, install: Uuid) -> NetworkCreateRequest {
    NetworkCreateRequest {
        name: ws.network_name(),
        driver: Some("bridge".to_string()),
        labels: Some(labels::for_workspace(install, ws)),
        ..Default::default()
    }
}

/// `/workspace/<folder name>` for each project, in order; a repeated folder name gets `-2`,
/// `-3`, ... so two `app` folders from different parents both fit.
pub fn mount_targets(projects: &[std::path::PathBuf]) -> Vec<String> {
    let mut used = HashSet::new();
    projects
        .iter()
        .map(|p| {
            let base = folder_name(p);
            let mut candidate = base.clone();
            let mut n = 2;
            while !used.insert(candidate.clone()) {
                candidate = format!("{base}-{n}");
                n += 1;
            }
            format!("{WORKSPACE_ROOT}/{candidate}")
        })
        .collect()
}

/// A host folder as the engine takes it as a bind source: on Windows (Docker Desktop) the plain
/// `C:\…` form, not the `\\?\C:\…` one `canonicalize` gives.
fn bind_source(src: &std::path::Path, windows: bool) -> String {
    let raw = src.to_string_lossy();
    if windows {
        crate::model::windows_plain(&raw)
    } else {
        raw.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{IdeEndpoint, ImageRef, LimitOverrides, Status, WorkspaceId, WorkspaceName};
    use std::path::PathBuf;

    fn ws() -> Workspace {
        Workspace {
            id: WorkspaceId::new(),
            name: WorkspaceName::parse("demo").unwrap(),
            description: String::new(),
            image: ImageRef::parse("berth-test:latest").unwrap(),
            projects: vec![
                PathBuf::from("/home/u/a/app"),
                PathBuf::from("/home/u/b/app"),
                PathBuf::from("/home/u/my project: v1, final"),
            ],
            limits: LimitOverrides::default(),
            idle_timeout_secs: None,
            keys: Vec::new(),
            ide: IdeEndpoint::default(),
            port: Some(10042),
            container_id: None,
            status: Status::Stopped,
            created_at: 0,
            updated_at: 0,
        }
    }

    const LIMITS: Limits = Limits {
        cpus: 1.5,
        memory_bytes: 1 << 30,
        pids: 256,
    };

    #[test]
    fn container_is_hardened_and_labelled() {
        let install = Uuid::new_v4();
        let w = ws();
        let plan = plan_container(&w, &LIMITS, install, &RunAs::default(), false);
        assert_eq!(plan.name, format!("berth-demo-{}", w.id.short()));
        assert_eq!(plan.body.hostname.as_deref(), Some("demo"));
        let hc = plan.body.host_config.unwrap();
        assert_eq!(hc.cap_drop.unwrap(), vec!["ALL"]);
        assert!(hc.cap_add.is_none());
        assert_eq!(hc.security_opt.unwrap(), vec!["no-new-privileges:true"]);
        assert_eq!(hc.init, Some(true));
        assert_eq!(
            hc.restart_policy.unwrap().name,
            Some(RestartPolicyNameEnum::NO)
        );
        assert_eq!(hc.privileged, None);
        assert_eq!(hc.memory, Some(1 << 30));
        assert_eq!(hc.nano_cpus, Some(1_500_000_000));
        assert_eq!(hc.pids_limit, Some(256));
        assert_eq!(hc.network_mode.as_deref(), Some(w.network_name().as_str()));
        assert_eq!(hc.log_config.unwrap().typ.as_deref(), Some("json-file"));
        assert_eq!(hc.readonly_rootfs, Some(true));
        let tmpfs = hc.tmpfs.unwrap();
        assert!(tmpfs["/tmp"].contains("nosuid") && tmpfs["/run"].contains("noexec"));
        assert!(
            hc.port_bindings.is_none(),
            "publishes nothing: the gateway forwards"
        );
        let labels = plan.body.labels.unwrap();
        assert_eq!(labels[labels::SPEC], SPEC);
        assert_eq!(labels[labels::INSTALL], install.to_string());
        assert_eq!(labels[labels::ID], w.id.to_string());
        assert_eq!(labels[labels::KIND], "workspace");
        assert_eq!(labels[labels::NAME], "demo");
        assert_eq!(labels[labels::MANAGED], "true");
    }

    #[test]
    fn projects_are_structured_binds_with_unique_targets_and_no_socket() {
        let w = ws();
        let plan = plan_container(&w, &LIMITS, Uuid::new_v4(), &RunAs::default(), false);
        let hc = plan.body.host_config.unwrap();
        assert!(hc.binds.is_none(), "no src:dst strings");
        let mounts = hc.mounts.unwrap();
        let targets: Vec<_> = mounts.iter().map(|m| m.target.clone().unwrap()).collect();
        assert_eq!(
            targets,
            [
                "/workspace/app",
                "/workspace/app-2",
                "/workspace/my project: v1, final",
                "/home/berth"
            ]
        );
        assert!(mounts[..3].iter().all(|m| m.typ == Some(MountType::BIND)));
        let home = &mounts[3];
        assert_eq!(home.typ, Some(MountType::VOLUME));
        assert_eq!(home.source.as_deref(), Some(home_volume_name(&w).as_str()));
        assert!(
            mounts
                .iter()
                .all(|m| !m.source.as_deref().unwrap().contains("docker.sock"))
        );
    }

    #[test]
    fn ide_port_from_the_image_contract() {
        let mut w = ws();
        w.ide.port = 3000;
        let plan = plan_container(&w, &LIMITS, Uuid::new_v4(), &RunAs::default(), false);
        assert_eq!(plan.body.exposed_ports.unwrap(), vec!["3000/tcp"]);
    }

    #[test]
    fn where_the_host_cannot_route_to_containers_docker_picks_a_loopback_port() {
        let plan = plan_container(&ws(), &LIMITS, Uuid::new_v4(), &RunAs::default(), true);
        let bindings = plan.body.host_config.unwrap().port_bindings.unwrap();
        let binding = &bindings["8080/tcp"].clone().unwrap()[0];
        assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(binding.host_port.as_deref(), Some(""));
    }

    #[test]
    fn health_checks_use_the_tool_the_image_names() {
        let mut w = ws();
        w.ide.health_path = "/ready".into();
        let check = |tool: Option<&str>| {
            let run = RunAs {
                probe: tool.map(str::to_string),
                ..RunAs::default()
            };
            plan_container(&w, &LIMITS, Uuid::new_v4(), &run, false)
                .body
                .healthcheck
                .and_then(|h| h.test)
        };
        let run = RunAs {
            probe: Some("wget".into()),
            ..RunAs::default()
        };
        let hc = plan_container(&w, &LIMITS, Uuid::new_v4(), &run, false)
            .body
            .healthcheck
            .unwrap();
        assert_eq!(hc.interval, Some(30_000_000_000), "every 30 s");
        assert_eq!(
            check(Some("wget")).unwrap(),
            [
                "CMD",
                "wget",
                "-q",
                "-O",
                "/dev/null",
                "http://127.0.0.1:8080/ready"
            ]
        );
        assert!(check(Some("node")).unwrap()[3].contains("fetch(\"http://127.0.0.1:8080/ready\")"));
        assert_eq!(check(Some("curl")).unwrap()[1], "curl");
        assert!(check(Some("rm")).is_none(), "only tools Berth knows");
        assert!(check(None).is_none());
    }

    #[test]
    fn runs_as_the_host_user_with_the_password_in_a_read_only_folder() {
        let run = RunAs {
            user: Some("1000:1000".into()),
            ide_config_dir: Some("/data/ide/x".into()),
            code_workspace_file: Some("/data/code-workspaces/x.code-workspace".into()),
            token: Some("t0k3n".into()),
            home: Some("/home/coder".into()),
            probe: None,
            activity_dir: Some("/data/activity/x".into()),
            key_env: vec![crate::secrets::Sensitive::new(
                "ANTHROPIC_BASE_URL=http://172.18.0.1:10042/anthropic".into(),
            )],
        };
        let plan = plan_container(&ws(), &LIMITS, Uuid::new_v4(), &run, false);
        assert!(
            plan.body
                .env
                .as_ref()
                .unwrap()
                .contains(&"ANTHROPIC_BASE_URL=http://172.18.0.1:10042/anthropic".to_string())
        );
        let labels = plan.body.labels.clone().unwrap();
        assert_eq!(labels.get(labels::TOKEN).map(String::as_str), Some("t0k3n"));
        let mounts = plan
            .body
            .host_config
            .as_ref()
            .unwrap()
            .mounts
            .clone()
            .unwrap();
        let by_target = |t: &str| {
            mounts
                .iter()
                .find(|m| m.target.as_deref() == Some(t))
                .unwrap()
        };
        assert_eq!(
            by_target("/workspace/demo.code-workspace")
                .source
                .as_deref(),
            Some("/data/code-workspaces/x.code-workspace")
        );
        let config = by_target(IDE_CONFIG_DIR);
        assert_eq!(config.source.as_deref(), Some("/data/ide/x"));
        assert_eq!(config.read_only, Some(true));
        // The activity folder is the workspace's own and writable (input reports, leases).
        let activity = by_target(ACTIVITY_DIR);
        assert_eq!(activity.source.as_deref(), Some("/data/activity/x"));
        assert_eq!(activity.read_only, Some(false));
        assert_eq!(by_target("/home/coder").typ, Some(MountType::VOLUME));
        assert_eq!(plan.body.user.as_deref(), Some("1000:1000"));
        let env = plan.body.env.unwrap();
        assert!(
            env.iter()
                .all(|e| !e.contains("argon2") && !e.contains("PASSWORD=")),
            "{env:?}"
        );
        assert!(env.contains(&"CODE_SERVER_CONFIG=/run/berth/code-server.yaml".to_string()));
        assert!(env.contains(&"HOME=/home/coder".to_string()));
        assert!(env.contains(&"BERTH_OPEN=/workspace/demo.code-workspace".to_string()));
        assert!(env.contains(&"BERTH_WORKSPACE=demo".to_string()));
        assert!(env.contains(&"BERTH_ACTIVITY=/run/berth-activity".to_string()));
    }

    #[test]
    fn the_code_workspace_lists_every_project_by_its_mount() {
        let json: serde_json::Value = serde_json::from_str(&code_workspace(&ws())).unwrap();
        let paths: Vec<&str> = json["folders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        assert_eq!(paths, ["app", "app-2", "my project: v1, final"]);
    }

    #[test]
    fn network_is_labelled_per_workspace() {
        let install = Uuid::new_v4();
        let w = ws();
        let net = plan_network(&w, install);
        assert_eq!(net.name, w.container_name());
        assert_eq!(net.labels.unwrap()[labels::ID], w.id.to_string());
    }

    #[test]
    fn windows_bind_sources_are_plain_paths() {
        use std::path::Path;
        assert_eq!(
            bind_source(Path::new(r"\\?\c:\Users\Ann\app"), true),
            r"C:\Users\Ann\app"
        );
        assert_eq!(
            bind_source(Path::new("/home/ann/app"), false),
            "/home/ann/app"
        );
    }
}
