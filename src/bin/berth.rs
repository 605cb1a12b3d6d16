//! `berth`, the command line: parse, call the engine, print. Exit 0 on success; otherwise one
//! line on stderr and a non-zero exit code.

use berth::Result;
use berth::engine::{CreateRequest, DoctorReport, Engine, ImageEntry, default_data_dir};
use berth::model::{
    LimitOverrides, Workspace, WorkspaceView, format_memory, parse_cpus, parse_idle_timeout,
    parse_memory, parse_pids,
};
use berth::store::AuditEntry;
use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "Developer workspaces as local, hardened Docker containers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the Docker engine, the data dir and the bundled images.
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// Create a workspace (its container is made, not started).
    Create {
        name: String,
        #[arg(long)]
        image: String,
        /// A host folder to mount at /workspace/<folder name>; repeat for several.
        #[arg(long = "project", required = true)]
        projects: Vec<PathBuf>,
        #[arg(long, default_value = "")]
        description: String,
        /// CPU cores, e.g. 1.5 (default: the global setting).
        #[arg(long)]
        cpus: Option<String>,
        /// Memory, e.g. 512m or 2g (default: the global setting).
        #[arg(long)]
        memory: Option<String>,
        /// Process limit (default: the global setting).
        #[arg(long)]
        pids: Option<String>,
        /// Stop after this long without IDE activity, e.g. 30m; "off" never stops.
        #[arg(long)]
        idle_timeout: Option<String>,
    },
    /// List workspaces.
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// Show one workspace.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Start a workspace and wait until its IDE answers; prints the URL.
    Start {
        name: String,
    },
    Stop {
        name: String,
    },
    Restart {
        name: String,
    },
    /// Delete a workspace: container, network and port. Project folders are kept.
    Rm {
        name: String,
    },
    /// Container output.
    Logs {
        name: String,
        #[arg(long, short)]
        follow: bool,
        /// Only the last N lines.
        #[arg(long)]
        tail: Option<usize>,
    },
    /// The audit log of a workspace (also after it was deleted).
    Log {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Start the workspace if needed and open its IDE in the browser.
    Open {
        name: String,
    },
    /// Images usable for workspaces.
    #[command(subcommand)]
    Image(ImageCommand),
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Local images; bundled ones are marked with whether they are built.
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// Build a bundled image (skipped when already built from the same inputs).
    Build { name: String },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's multi-line usage block becomes the one-line error every failure gets.
            let rendered = e.render().to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            eprintln!("berth: {first} (see `berth --help`)");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth: {}", e.message.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let engine = Engine::open(&default_data_dir()?)?;
    match cli.command {
        Command::Doctor { json } => {
            let report = engine.doctor().await;
            if json {
                print_json(&report);
            } else {
                print_doctor(&report);
            }
            return Ok(if report.healthy() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        Command::Create {
            name,
            image,
            projects,
            description,
            cpus,
            memory,
            pids,
            idle_timeout,
        } => {
            let req = CreateRequest {
                name,
                image,
                projects,
                description,
                limits: LimitOverrides {
                    cpus: cpus.as_deref().map(parse_cpus).transpose()?,
                    memory_bytes: memory.as_deref().map(parse_memory).transpose()?,
                    pids: pids.as_deref().map(parse_pids).transpose()?,
                },
                idle_timeout: idle_timeout
                    .as_deref()
                    .map(parse_idle_timeout)
                    .transpose()?,
            };
            let ws = engine.create(req).await?;
            println!(
                "created {} (port {}); start it with `berth start {}`",
                ws.name,
                ws.port.unwrap_or_default(),
                ws.name
            );
        }
        Command::Ls { json } => {
            let list = engine.list().await?;
            if json {
                print_json(
                    &list
                        .iter()
                        .cloned()
                        .map(WorkspaceView::from)
                        .collect::<Vec<_>>(),
                );
            } else {
                print_list(&list);
            }
        }
        Command::Show { name, json } => {
            let ws = engine.show(&name).await?;
            if json {
                print_json(&WorkspaceView::from(ws.clone()));
            } else {
                print_workspace(&ws, &engine);
            }
        }
        Command::Start { name } => {
            let started = engine.start(&name).await?;
            for note in &started.notes {
                eprintln!("berth: {note}");
            }
            println!("{}", started.url);
        }
        Command::Stop { name } => {
            let ws = engine.stop(&name).await?;
            println!("{} is {}", ws.name, ws.status);
        }
        Command::Restart { name } => {
            let started = engine.restart(&name).await?;
            for note in &started.notes {
                eprintln!("berth: {note}");
            }
            println!("{}", started.url);
        }
        Command::Rm { name } => {
            engine.delete(&name).await?;
            println!("deleted {name} (project folders untouched)");
        }
        Command::Logs { name, follow, tail } => {
            let mut stream = engine.logs(&name, follow, tail).await?;
            let mut out = std::io::stdout().lock();
            let mut err = std::io::stderr().lock();
            while let Some(line) = stream.next().await {
                // A closed pipe (`berth logs x | head`) just ends the output.
                let written = match line? {
                    berth::docker::LogLine::Out(b) => out.write_all(&b).and_then(|_| out.flush()),
                    berth::docker::LogLine::Err(b) => err.write_all(&b),
                };
                if written.is_err() {
                    break;
                }
            }
        }
        Command::Log { name, json } => {
            let entries = engine.audit_log(&name)?;
            if json {
                print_json(&entries);
            } else {
                print_audit(&entries);
            }
        }
        Command::Open { name } => {
            let started = engine.start(&name).await?;
            for note in &started.notes {
                eprintln!("berth: {note}");
            }
            println!("{}", started.url);
            if std::io::stdout().is_terminal()
                && let Err(e) = open_in_browser(&started.url)
            {
                eprintln!("berth: could not open a browser ({e}); open the URL above yourself");
            }
        }
        Command::Image(ImageCommand::Ls { json }) => {
            let images = engine.images().await?;
            if json {
                print_json(&images);
            } else {
                print_images(&images);
            }
        }
        Command::Image(ImageCommand::Build { name }) => {
            let outcome = engine
                .build_bundled(&name, |p| {
                    if let berth::docker::BuildProgress::Line(line) = p {
                        eprintln!("{line}");
                    }
                })
                .await?;
            if outcome.rebuilt {
                println!("built {}", outcome.tag);
            } else {
                println!(
                    "{} is up to date (same inputs as the last build)",
                    outcome.tag
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_json(value: &impl Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("serializable output")
    );
}

fn print_list(list: &[Workspace]) {
    if list.is_empty() {
        println!(
            "no workspaces yet; create one with `berth create NAME --image IMAGE --project PATH`"
        );
        return;
    }
    let rows: Vec<[String; 5]> = list
        .iter()
        .map(|w| {
            [
                w.name.to_string(),
                w.status.to_string(),
                w.url().unwrap_or_else(|| "-".into()),
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

fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

fn print_workspace(ws: &Workspace, engine: &Engine) {
    let defaults = engine.settings().map(|s| s.default_limits).ok();
    let limits = defaults.map(|d| ws.limits.over(&d));
    println!("name:         {}", ws.name);
    println!("status:       {}", ws.status);
    println!("url:          {}", ws.url().unwrap_or_else(|| "-".into()));
    println!("image:        {}", ws.image);
    if !ws.description.is_empty() {
        println!("description:  {}", ws.description);
    }
    for (path, target) in ws
        .projects
        .iter()
        .zip(berth::docker::mount_targets(&ws.projects))
    {
        println!("project:      {} -> {target}", path.display());
    }
    if let Some(l) = limits {
        println!(
            "limits:       {} cpus, {} memory, {} processes",
            l.cpus,
            format_memory(l.memory_bytes),
            l.pids
        );
    }
    println!(
        "idle timeout: {}",
        ws.idle_timeout_secs
            .map(|s| humantime::format_duration(Duration::from_secs(s)).to_string())
            .unwrap_or_else(|| "off".into())
    );
    println!("container:    {}", ws.container_name());
    println!("id:           {}", ws.id);
}

fn print_audit(entries: &[AuditEntry]) {
    for e in entries {
        let at = UNIX_EPOCH + Duration::from_millis(e.at_ms.max(0) as u64);
        let outcome = serde_json::to_value(e.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        println!(
            "{}  {:<13} {:<8} {}",
            humantime::format_rfc3339_seconds(at),
            e.action,
            outcome,
            e.detail
        );
    }
}

fn print_images(images: &[ImageEntry]) {
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

fn print_doctor(r: &DoctorReport) {
    println!("berth {}", r.berth_version);
    println!("data dir:   {}", r.data_dir.display());
    println!("install id: {}", r.install_id);
    match (&r.docker.version, &r.docker.error) {
        (Some(v), _) => println!(
            "docker:     {} — engine {} (API {}, {}/{})",
            r.docker.host, v.version, v.api_version, v.os, v.arch
        ),
        (None, Some(e)) => println!("docker:     unreachable — {e}"),
        (None, None) => println!("docker:     {} (version unknown)", r.docker.host),
    }
    for (tag, built) in &r.images {
        println!(
            "image:      {tag} {}",
            if *built { "built" } else { "not built" }
        );
    }
    if r.problems.is_empty() {
        println!("everything Berth needs is here");
    }
    for p in &r.problems {
        println!("problem:    {p}");
    }
}

fn open_in_browser(url: &str) -> std::io::Result<()> {
    let mut cmd = if cfg!(target_os = "macos") {
        std::process::Command::new("open")
    } else if cfg!(windows) {
        let mut c = std::process::Command::new("cmd");
        c.args(["/C", "start", ""]);
        c
    } else {
        std::process::Command::new("xdg-open")
    };
    cmd.arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(drop)
}
