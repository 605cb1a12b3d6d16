//! `berth`, the command line: parse, ask the daemon (starting it when none runs), print. Exit 0
//! on success; otherwise one line on stderr and a non-zero exit code.

mod activity;
mod daemon_cmd;
mod key_cmd;
#[macro_use]
mod print;
mod preview_cmd;
mod resources_cmd;

use berth::Result;
use berth::api::{NewWorkspace, Viewer};
use berth::client::{self, Autostart, Client, ClientEvent};
use berth::model::{
    LimitOverrides, escape_controls, parse_cpus, parse_idle_timeout, parse_memory, parse_pids,
};
use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use print::*;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

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
        /// A stored key the workspace gets: `anthropic` (through Berth's proxy: the container
        /// never sees the key) or `anthropic:env` (as ANTHROPIC_API_KEY: the container can
        /// read it). Repeat for several.
        #[arg(long = "key")]
        keys: Vec<String>,
        /// At most this many requests a day through the proxy, per key.
        #[arg(long)]
        daily_requests: Option<u64>,
        /// At most this many tokens (input + output) a day through the proxy, per key.
        #[arg(long)]
        daily_tokens: Option<u64>,
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
    /// Stop a workspace's container (its home, network and port stay).
    Stop {
        name: String,
        /// Kill it if it has not stopped after a short wait (2 s), instead of 10 s
        #[arg(long)]
        force: bool,
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
    /// Start the workspace if needed and open its IDE in the browser, logged in by Berth.
    Open {
        name: String,
        /// Print the one-time login link (one use, two minutes) instead of opening a browser.
        #[arg(long)]
        print_link: bool,
    },
    /// Keep a running workspace from its idle stop for a while (default 30m).
    Snooze {
        name: String,
        /// How long, e.g. 30m or 2h.
        duration: Option<String>,
    },
    /// Run a command on this machine and keep the workspace awake while it runs (inside a
    /// workspace, `berth-keepalive -- CMD` does the same).
    Keepalive {
        name: String,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// What each running workspace and preview uses against its limits and the machine, live
    /// (like `docker stats`); busiest CPU first.
    Top {
        /// One view as JSON instead (once every container has two readings).
        #[arg(long)]
        json: bool,
        /// Busiest memory first.
        #[arg(long)]
        memory: bool,
    },
    /// What Berth's images, volumes and containers take on disk, and its leftovers.
    Df {
        #[arg(long)]
        json: bool,
    },
    /// Remove this install's leftovers: older builds of bundled images, volumes of deleted
    /// workspaces, stopped previews. Never another install's objects, never unlabelled ones.
    Prune {
        /// Only list what would be removed.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Follow every change to workspaces, made by anyone (like `docker events`).
    Events {
        #[arg(long)]
        json: bool,
    },
    /// Images usable for workspaces.
    #[command(subcommand)]
    Image(ImageCommand),
    /// API keys for the AI tools in workspaces (kept encrypted, master key in the OS keychain).
    #[command(subcommand)]
    Key(key_cmd::KeyCommand),
    /// Previews: a snapshot of a workspace's app, at its own URL, gone when its time is up.
    #[command(subcommand)]
    Preview(preview_cmd::PreviewCommand),
    /// The background service that owns Berth's data and talks to Docker.
    #[command(subcommand)]
    Daemon(daemon_cmd::DaemonCommand),
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
    /// Run an image the way Berth runs a workspace and check the image contract and its tools.
    Check {
        image: String,
        #[arg(long)]
        json: bool,
    },
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
    // The daemon runs its own runtime for as long as it lives.
    if let Command::Daemon(daemon_cmd::DaemonCommand::Run) = cli.command {
        return daemon_cmd::run_daemon();
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth: {}", escape_controls(&e.message).replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

async fn connect() -> Result<Client> {
    Client::connect(&client::data_dir()?, Autostart::from_env()).await
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let command = match cli.command {
        Command::Daemon(cmd) => return daemon_cmd::run(cmd).await,
        other => other,
    };
    let client = connect().await?;
    match command {
        Command::Doctor { json } => {
            let report = client.doctor().await?;
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
            keys,
            daily_requests,
            daily_tokens,
        } => {
            let budget = berth::model::Budget {
                requests_per_day: daily_requests,
                tokens_per_day: daily_tokens,
            };
            let keys = keys
                .iter()
                .map(|k| {
                    berth::model::KeyUse {
                        budget,
                        ..berth::model::KeyUse::parse(k)?
                    }
                    .checked()
                })
                .collect::<berth::Result<Vec<_>>>()?;
            // Quick checks here for a clear message; the daemon checks everything again.
            let form = NewWorkspace {
                name,
                image,
                projects: projects
                    .iter()
                    .map(|p| absolute(p).display().to_string())
                    .collect(),
                description,
                limits: LimitOverrides {
                    cpus: cpus.as_deref().map(parse_cpus).transpose()?,
                    memory_bytes: memory.as_deref().map(parse_memory).transpose()?,
                    pids: pids.as_deref().map(parse_pids).transpose()?,
                },
                idle_timeout_secs: idle_timeout
                    .as_deref()
                    .map(parse_idle_timeout)
                    .transpose()?
                    .map(|t| t.map(|d| d.as_secs()).unwrap_or(0)),
                keys,
            };
            let ws = client.create(&form).await?;
            println!(
                "created {} (port {}); start it with `berth start {}`",
                ws.workspace.name,
                ws.workspace.port.unwrap_or_default(),
                ws.workspace.name
            );
        }
        Command::Ls { json } => {
            let list = client.list().await?;
            if json {
                print_json(&list);
            } else {
                print_list(&list, &client.activities().await.unwrap_or_default());
            }
        }
        Command::Show { name, json } => {
            let ws = client.show(&name).await?;
            if json {
                // The workspace's own shape, with where it stands on idleness beside it.
                let mut out = serde_json::to_value(&ws).expect("views serialize");
                out["activity"] =
                    serde_json::to_value(client.activity(&name).await?).expect("views serialize");
                out["usage"] =
                    serde_json::to_value(client.usage(&name).await?).expect("views serialize");
                print_json(&out);
            } else {
                let defaults = client.settings().await.ok().map(|s| s.default_limits);
                print_workspace(&ws, defaults);
                print_usage(&client.usage(&name).await?);
                activity::print_activity(&client.activity(&name).await?);
            }
        }
        Command::Start { name } => {
            let started = client.start(&name).await?;
            print_notes(&started.notes);
            println!("{}", started.url);
        }
        Command::Stop { name, force } => {
            let ws = if force {
                client.force_stop(&name).await?
            } else {
                client.stop(&name).await?
            };
            println!("{} is {}", ws.workspace.name, ws.workspace.status);
        }
        Command::Restart { name } => {
            let started = client.restart(&name).await?;
            print_notes(&started.notes);
            println!("{}", started.url);
        }
        Command::Rm { name } => {
            let deleted = client.delete(&name).await?;
            print_notes(&deleted.notes);
            println!("deleted {name} (project folders untouched)");
        }
        Command::Logs { name, follow, tail } => {
            let mut stream = std::pin::pin!(client.logs(&name, follow, tail).await?);
            // A container writes what it likes; on a terminal its escape sequences (clipboard
            // writes, titles) are defused. Piped output stays byte for byte.
            let defuse = std::io::stdout().is_terminal();
            let mut out = std::io::stdout().lock();
            let mut err = std::io::stderr().lock();
            while let Some(chunk) = stream.next().await {
                let mut chunk = chunk?;
                if defuse {
                    chunk.text = escape_controls(&chunk.text).into_owned();
                }
                // A closed pipe (`berth logs x | head`) just ends the output.
                let written = if chunk.stderr {
                    err.write_all(chunk.text.as_bytes())
                } else {
                    out.write_all(chunk.text.as_bytes())
                        .and_then(|_| out.flush())
                };
                if written.is_err() {
                    break;
                }
            }
        }
        Command::Log { name, json } => {
            let entries = client.audit_log(&name).await?;
            if json {
                print_json(&entries);
            } else {
                print_audit(&entries);
            }
        }
        Command::Open { name, print_link } => {
            let session = client.ide_login(&name, Viewer::Browser).await?;
            println!("{}", session.url);
            if print_link {
                // For a browser elsewhere (an SSH tunnel): the link logs in once, for 2 min.
                println!("{}", session.login_url);
            } else if let Err(e) = client::login_page::write(client.data_dir(), &session.login_url)
                .map_err(|e| std::io::Error::other(e.message))
                .and_then(|page| open_in_browser(&page))
            {
                eprintln!(
                    "berth: could not open a browser ({e}); run `berth open --print-link {name}` and open the link yourself"
                );
            }
        }
        Command::Snooze { name, duration } => {
            let duration = duration
                .as_deref()
                .map(|d| {
                    humantime::parse_duration(d).map_err(|_| {
                        berth::Error::invalid(format!(
                            "invalid duration {d:?}: use e.g. 30m, 2h or 1h30m"
                        ))
                    })
                })
                .transpose()?;
            let view = client.snooze(&name, duration).await?;
            println!(
                "{name}: {}",
                escape_controls(&activity::activity_state(&view))
            );
        }
        Command::Keepalive { name, command } => return keepalive(&client, &name, &command).await,
        Command::Events { json } => {
            let mut events = std::pin::pin!(client.events().await?);
            let mut out = std::io::stdout();
            while let Some(event) = events.next().await {
                let line = match event? {
                    ClientEvent::Engine(e) if json => {
                        serde_json::to_string(&e).expect("events serialize")
                    }
                    ClientEvent::Engine(e) => describe_event(&e),
                    ClientEvent::Resync if json => r#"{"kind":"resync"}"#.to_string(),
                    ClientEvent::Resync => {
                        format!("{}  resync  (missed events; reload)", now_rfc3339())
                    }
                };
                if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                    break;
                }
            }
            // The stream ends only when the daemon goes away.
            return Err(berth::Error::new(
                berth::Code::DaemonUnavailable,
                "the Berth daemon ended the event stream (it stopped)",
            ));
        }
        Command::Image(ImageCommand::Ls { json }) => {
            let images = client.images().await?;
            if json {
                print_json(&images);
            } else {
                print_images(&images);
            }
        }
        Command::Image(ImageCommand::Build { name }) => {
            let outcome = client
                .build_image(&name, |event| {
                    if let berth::api::BuildEvent::Line { text } = event {
                        eprintln!("{}", escape_controls(&text));
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
        Command::Image(ImageCommand::Check { image, json }) => {
            let report = client.check_image(&image).await?;
            if json {
                print_json(&report);
            } else {
                print_image_check(&report);
            }
            return Ok(if report.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        Command::Top { json, memory } => return resources_cmd::top(&client, json, memory).await,
        Command::Df { json } => return resources_cmd::df(&client, json).await,
        Command::Prune { dry_run, json } => {
            return resources_cmd::prune(&client, dry_run, json).await;
        }
        Command::Key(cmd) => return key_cmd::run(&client, cmd).await,
        Command::Preview(cmd) => return preview_cmd::run(&client, cmd).await,
        Command::Daemon(_) => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `command` while the daemon holds `name` awake; a daemon that goes away meanwhile is
/// asked again (the hold lives in the daemon). Exits with the command's code.
async fn keepalive(client: &Client, name: &str, command: &[String]) -> Result<ExitCode> {
    let shown = command.join(" ");
    let mut hold = Box::pin(client.hold(name, &shown).await?);
    let mut child = tokio::process::Command::new(&command[0])
        .args(&command[1..])
        .spawn()
        .map_err(|e| berth::Error::io(&format!("cannot run {:?}", command[0]), e))?;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            held = hold.next() => {
                if !matches!(held, Some(Ok(()))) {
                    // The stream ended: the daemon restarted. Hold again (it starts anew).
                    match client.hold(name, &shown).await {
                        Ok(again) => hold = Box::pin(again),
                        Err(e) => eprintln!("berth: the hold on {name} lapsed: {}", e.message),
                    }
                }
            }
        }
    }
    .map_err(|e| berth::Error::io("the command could not be waited for", e))?;
    drop(hold);
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(code.clamp(1, 255) as u8),
        None => ExitCode::FAILURE,
    })
}

/// Paths are resolved here: the daemon's working directory is not the user's.
fn absolute(p: &std::path::Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn print_notes(notes: &[String]) {
    for note in notes {
        eprintln!("berth: {}", escape_controls(note));
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
