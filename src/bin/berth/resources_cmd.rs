//! `berth top`, `berth df`, `berth prune`: what workspaces use, what Berth takes on disk, and
//! cleaning up Berth's own leftovers.

use crate::print::{print_json, print_table, table};
use berth::client::Client;
use berth::error::Result;
use berth::resources::{
    DiskUsage, Leftover, PruneOutcome, ResourceRow, ResourcesView, RowKind, human_bytes,
};
use futures_util::StreamExt;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// Live, redrawn in place on a terminal (one frame after another otherwise), until Ctrl-C;
/// `--json`: one view.
pub async fn top(client: &Client, json: bool, by_memory: bool) -> Result<ExitCode> {
    if json {
        print_json(&client.resources().await?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut views = Box::pin(client.watch_resources().await?);
    let terminal = std::io::stdout().is_terminal();
    while let Some(view) = views.next().await {
        let mut frame = String::new();
        if terminal {
            // Home and clear: the next frame replaces this one, like `docker stats`.
            frame.push_str("\x1b[H\x1b[2J");
        }
        frame.push_str(&top_frame(&view?, by_memory));
        if !terminal {
            frame.push('\n');
        }
        let mut out = std::io::stdout().lock();
        if out
            .write_all(frame.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            // The reader went away (`berth top | head`): done.
            return Ok(ExitCode::SUCCESS);
        }
    }
    eprintln!("berth: the daemon ended the stream (`berth daemon status`)");
    Ok(ExitCode::FAILURE)
}

fn row_name(r: &ResourceRow) -> String {
    match r.kind {
        RowKind::Workspace => r.id.clone(),
        RowKind::Preview => format!("{} (preview {})", r.workspace, &r.id[..8.min(r.id.len())]),
    }
}

/// Rows by CPU (or memory), busiest first.
pub fn sorted(view: &ResourcesView, by_memory: bool) -> Vec<&ResourceRow> {
    let mut rows: Vec<&ResourceRow> = view.rows.iter().collect();
    let key = |r: &ResourceRow| {
        r.usage.map_or(0.0, |u| {
            if by_memory {
                u.memory_bytes as f64
            } else {
                u.cpu_cores.unwrap_or(0.0)
            }
        })
    };
    rows.sort_by(|a, b| key(b).total_cmp(&key(a)));
    rows
}

/// One frame: the totals line and a row per container.
pub fn top_frame(view: &ResourcesView, by_memory: bool) -> String {
    let t = &view.totals;
    let mut out = berth::model::escape_controls(&format!(
        "{} of {} workspaces running · CPU {:.2} of {} cores ({:.0}%) · memory {} of {} ({:.0}%)\n",
        t.running,
        t.max_running,
        t.cpu_cores,
        view.machine.cpus,
        t.cpu_of_machine,
        human_bytes(t.memory_bytes),
        human_bytes(view.machine.memory_bytes),
        t.memory_of_machine
    ))
    .into_owned();
    let rows: Vec<[String; 7]> = sorted(view, by_memory)
        .into_iter()
        .map(|r| {
            let u = r.usage;
            let dash = || "-".to_string();
            [
                row_name(r),
                u.and_then(|u| u.cpu_of_limit)
                    .map_or_else(dash, |p| format!("{p:.1}% of {} cores", r.limits.cpus)),
                u.map_or_else(dash, |u| {
                    format!(
                        "{} / {}",
                        human_bytes(u.memory_bytes),
                        human_bytes(u.memory_limit_bytes)
                    )
                }),
                u.map_or_else(dash, |u| format!("{} / {}", u.pids, u.pids_limit)),
                u.map_or_else(dash, |u| {
                    format!("{} / {}", human_bytes(u.rx_bytes), human_bytes(u.tx_bytes))
                }),
                r.volume_bytes.map_or_else(dash, human_bytes),
                u.and_then(|u| u.cpu_of_machine)
                    .map_or_else(dash, |p| format!("{p:.1}%")),
            ]
        })
        .collect();
    if rows.is_empty() {
        out.push_str("nothing running\n");
        return out;
    }
    out.push_str(&table(
        [
            "NAME",
            "CPU (OF LIMIT)",
            "MEMORY / LIMIT",
            "PIDS",
            "NET IN / OUT",
            "VOLUME",
            "CPU (OF MACHINE)",
        ],
        &rows,
    ));
    out
}

pub async fn df(client: &Client, json: bool) -> Result<ExitCode> {
    let usage = client.disk_usage().await?;
    if json {
        print_json(&usage);
    } else {
        print_df(&usage);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_df(d: &DiskUsage) {
    let volumes: u64 = d.volumes.iter().filter_map(|v| v.size_bytes).sum();
    let unknown = d.volumes.iter().any(|v| v.size_bytes.is_none());
    print_table(
        ["WHAT", "COUNT", "SIZE"],
        &[
            [
                "images".into(),
                d.images.to_string(),
                human_bytes(d.images_bytes),
            ],
            [
                "volumes".into(),
                d.volumes.len().to_string(),
                format!(
                    "{}{}",
                    human_bytes(volumes),
                    if unknown { " (some not measured)" } else { "" }
                ),
            ],
            [
                "containers".into(),
                format!("{} ({} stopped)", d.containers, d.stopped_containers),
                format!(
                    "{} ({} stopped)",
                    human_bytes(d.containers_bytes),
                    human_bytes(d.stopped_containers_bytes)
                ),
            ],
        ],
    );
    if d.leftovers.is_empty() {
        say!("no leftovers to clean up");
    } else {
        say!(
            "leftovers (`berth prune` removes them, up to {}):",
            human_bytes(d.reclaimable_bytes)
        );
        print_leftovers(&d.leftovers);
    }
}

fn print_leftovers(list: &[Leftover]) {
    for l in list {
        let kind = l.kind.describe();
        let size = l.size_bytes.map(human_bytes).unwrap_or_default();
        say!("  {kind:<16} {:<48} {size}", l.label);
    }
}

pub async fn prune(client: &Client, dry_run: bool, json: bool) -> Result<ExitCode> {
    let outcome = client.prune(dry_run, None).await?;
    if json {
        print_json(&outcome);
    } else {
        print_prune(&outcome);
    }
    Ok(if outcome.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_prune(o: &PruneOutcome) {
    if o.removed.is_empty() && o.failed.is_empty() {
        say!("no leftovers: nothing to remove");
        return;
    }
    if !o.removed.is_empty() {
        say!(
            "{} ({}):",
            if o.dry_run { "would remove" } else { "removed" },
            human_bytes(o.reclaimed_bytes)
        );
        print_leftovers(&o.removed);
    }
    for (l, why) in &o.failed {
        eprintln!(
            "{}",
            berth::model::escape_controls(&format!(
                "berth: could not remove {} {}: {why}",
                l.kind.describe(),
                l.label
            ))
        );
    }
}
