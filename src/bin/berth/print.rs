//! How the CLI shows things to a person. `--json` output is the API's own shapes, unchanged.

use crate::activity::activity_state;
use berth::activity::{ActivityState, ActivityView};
use berth::engine::{DoctorReport, EngineEvent, ImageCheck, ImageEntry};
use berth::model::{Limits, WorkspaceView, format_memory, human_duration};
use berth::store::AuditEntry;
use serde::Serialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A line for a person: names, descriptions, paths and image labels may carry escape
/// sequences (an image's title, a folder's name), so every control character is shown
/// escaped. (`--json` needs nothing: JSON escapes them itself.)
macro_rules! say {
    ($($arg:tt)*) => {
        println!("{}", berth::model::escape_controls(&format!($($arg)*)))
    };
}

pub fn print_json(value: &impl Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("serializable output")
    );
}

/// The list, with "stopped (idle)" and a countdown once a warning is out.
pub fn print_list(list: &[WorkspaceView], activity: &[ActivityView]) {
    if list.is_empty() {
        say!("no workspaces yet; create one with `berth create NAME --image IMAGE --project PATH`");
        return;
    }
    let rows: Vec<[String; 5]> = list
        .iter()
        .map(|v| {
            let w = &v.workspace;
            [
                w.name.to_string(),
                match activity.iter().find(|a| a.id == w.id).map(|a| &a.state) {
                    Some(ActivityState::StoppedIdle { .. }) => "stopped (idle)".to_string(),
                    Some(ActivityState::Warned { stops_at_ms, .. }) => {
                        let now = activity.iter().map(|a| a.now_ms).max().unwrap_or(0);
                        format!(
                            "running (stops in {})",
                            human_duration((stops_at_ms - now).max(0) / 1000)
                        )
                    }
                    _ => w.status.to_string(),
                },
                v.url.clone().unwrap_or_else(|| "-".into()),
                w.image.to_string(),
                w.projects
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        })
        .collect();
    print_table(["NAME", "STATUS", "URL", "IMAGE", "PROJECTS"], &rows);
}

pub fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    print!("{}", table(header, rows));
}

/// Columns padded to their widest cell, one line per row, control characters escaped.
pub fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(&berth::model::escape_controls(text.trim_end()));
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

pub fn print_workspace(v: &WorkspaceView, defaults: Option<Limits>) {
    let ws = &v.workspace;
    say!("name:         {}", ws.name);
    say!("status:       {}", ws.status);
    say!("url:          {}", v.url.as_deref().unwrap_or("-"));
    say!("image:        {}", ws.image);
    if !ws.description.is_empty() {
        say!("description:  {}", ws.description);
    }
    for (path, target) in ws
        .projects
        .iter()
        .zip(berth::docker::mount_targets(&ws.projects))
    {
        say!("project:      {} -> {target}", path.display());
    }
    if let Some(l) = defaults.map(|d| ws.limits.over(&d)) {
        say!(
            "limits:       {} cpus, {} memory, {} processes",
            l.cpus,
            format_memory(l.memory_bytes),
            l.pids
        );
    }
    say!(
        "idle timeout: {}",
        ws.idle_timeout_secs
            .map(|s| humantime::format_duration(Duration::from_secs(s)).to_string())
            .unwrap_or_else(|| "off".into())
    );
    say!("container:    {}", v.container_name);
    say!("id:           {}", ws.id);
}

/// `berth show`'s keys: each key, its mode, and what it used today against its budget.
pub fn print_usage(usage: &[berth::engine::KeyUsage]) {
    for u in usage {
        let left = |used: u64, limit: Option<u64>, unit: &str| match limit {
            Some(l) => format!("{used} of {l} {unit}"),
            None => format!("{used} {unit}"),
        };
        let line = match u.mode {
            berth::model::KeyMode::Env => format!(
                "{} as {} (the container can read it)",
                u.key,
                u.key.env_var()
            ),
            berth::model::KeyMode::Proxy => format!(
                "{} through Berth's proxy; today {}, {}",
                u.key,
                left(u.today.requests, u.budget.requests_per_day, "requests"),
                left(u.today.tokens(), u.budget.tokens_per_day, "tokens")
            ),
        };
        say!("key:          {line}");
    }
}

pub fn print_audit(entries: &[AuditEntry]) {
    for e in entries {
        let at = UNIX_EPOCH + Duration::from_millis(e.at_ms.max(0) as u64);
        let outcome = serde_json::to_value(e.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        say!(
            "{}  {:<13} {:<8} {}",
            humantime::format_rfc3339_seconds(at),
            e.action,
            outcome,
            e.detail
        );
    }
}

pub fn print_images(images: &[ImageEntry]) {
    let rows: Vec<[String; 4]> = images
        .iter()
        .map(|i| {
            [
                i.reference.clone(),
                match (&i.bundled, i.built) {
                    (Some(name), true) => format!("bundled ({name})"),
                    (Some(name), false) => format!("bundled ({name}), not built"),
                    (None, _) => "local".into(),
                },
                i.size_bytes
                    .map(|s| format!("{:.1} MB", s as f64 / 1e6))
                    .unwrap_or_else(|| "-".into()),
                i.title.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print_table(["IMAGE", "SOURCE", "SIZE", "TITLE"], &rows);
}

pub fn print_image_check(report: &ImageCheck) {
    let rows: Vec<[String; 3]> = report
        .checks
        .iter()
        .map(|c| {
            let mark = match (c.ok, c.required) {
                (true, _) => "ok",
                (false, true) => "FAIL",
                (false, false) => "-",
            };
            [c.what.clone(), mark.to_string(), c.detail.clone()]
        })
        .collect();
    print_table(["CHECK", "RESULT", "DETAIL"], &rows);
    if report.passed {
        say!("{} keeps Berth's image contract", report.image);
    } else {
        say!("{} does not keep Berth's image contract", report.image);
    }
}

pub fn print_doctor(r: &DoctorReport) {
    say!("berth {}", r.berth_version);
    say!("data dir:   {}", r.data_dir.display());
    say!("install id: {}", r.install_id);
    match (&r.docker.version, &r.docker.error) {
        (Some(v), _) => say!(
            "docker:     {} — engine {} (API {}, {}/{})",
            r.docker.host,
            v.version,
            v.api_version,
            v.os,
            v.arch
        ),
        (None, Some(e)) => say!("docker:     unreachable — {e}"),
        (None, None) => say!("docker:     {} (version unknown)", r.docker.host),
    }
    for (tag, built) in &r.images {
        say!(
            "image:      {tag} {}",
            if *built { "built" } else { "not built" }
        );
    }
    if r.problems.is_empty() {
        say!("everything Berth needs is here");
    }
    for p in &r.problems {
        say!("problem:    {p}");
    }
}

/// One line per event, like `docker events`: time, kind, workspace, what.
pub fn describe_event(e: &EngineEvent) -> String {
    let (kind, name, what) = match e {
        EngineEvent::Status { name, status, .. } => ("status", name.as_str(), status.to_string()),
        EngineEvent::Removed { name, .. } => ("removed", name.as_str(), String::new()),
        EngineEvent::Progress { name, step, .. } => ("progress", name.as_str(), step.clone()),
        EngineEvent::Updated { workspace } => (
            "updated",
            workspace.workspace.name.as_str(),
            workspace.url.clone().unwrap_or_default(),
        ),
        EngineEvent::Activity { activity } => {
            ("activity", activity.name.as_str(), activity_state(activity))
        }
        EngineEvent::Preview { preview } => (
            "preview",
            preview.workspace.as_str(),
            format!("{} {} {}", preview.id, preview.status.as_str(), preview.url),
        ),
        EngineEvent::PreviewRemoved {
            id,
            workspace,
            reason,
        } => ("preview-gone", workspace.as_str(), format!("{id} {reason}")),
        EngineEvent::DockerLost { message } => ("docker-lost", "-", message.clone()),
        EngineEvent::DockerBack => ("docker-back", "-", String::new()),
    };
    format!("{}  {kind:<11} {name}  {what}", now_rfc3339())
        .trim_end()
        .to_string()
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}
