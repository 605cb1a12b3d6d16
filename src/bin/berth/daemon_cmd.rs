//! `berth daemon run|start|status|stop|restart`. `status` and `stop` never start a daemon, and
//! they work against any daemon version (the meta API is frozen).

use crate::print::print_json;
use berth::api::ShutdownReason;
use berth::client::{self, Autostart, Client};
use berth::{Code, Error, Result};
use clap::Subcommand;
use std::process::ExitCode;
use std::time::Duration;

/// Exit code of `status` when no daemon runs (as LSB init scripts and systemctl do).
const NOT_RUNNING: u8 = 3;

#[derive(Subcommand)]
pub enum DaemonCommand {
    /// Run the daemon in this process, logging to stderr (clients start it on their own).
    Run,
    /// Start the daemon in the background unless one runs.
    Start,
    /// Whether the daemon runs, and what keeps it (exit code 3 when none runs).
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Stop the daemon. Running workspaces keep running; the next command starts a new one.
    Stop,
    /// Stop the daemon and start a new one.
    Restart,
}

pub fn run_daemon() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .init();
    let dir = match client::data_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("berth: {e}");
            return ExitCode::FAILURE;
        }
    };
    match berth::daemon::run(&dir) {
        Ok(berth::daemon::Outcome::Served) => ExitCode::SUCCESS,
        Ok(berth::daemon::Outcome::AlreadyRunning) => {
            eprintln!("berth: a daemon already runs for {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("berth: {}", e.message);
            ExitCode::FAILURE
        }
    }
}

pub async fn run(cmd: DaemonCommand) -> Result<ExitCode> {
    let dir = client::data_dir()?;
    match cmd {
        DaemonCommand::Run => unreachable!("run has its own runtime"),
        DaemonCommand::Start => {
            let c = Client::connect(&dir, Autostart::from_env()).await?;
            println!("the Berth daemon runs (pid {})", c.hello().pid);
        }
        DaemonCommand::Status { json } => {
            let Some(c) = Client::running(&dir).await? else {
                if json {
                    print_json(&serde_json::json!({ "running": false, "data_dir": dir }));
                } else {
                    println!("no Berth daemon runs for {}", dir.display());
                }
                return Ok(ExitCode::from(NOT_RUNNING));
            };
            let s = c.status().await?;
            if json {
                let mut v = serde_json::to_value(&s).expect("status serializes");
                v["running"] = true.into();
                print_json(&v);
            } else {
                print_status(&s);
            }
        }
        DaemonCommand::Stop => stop(&dir).await?,
        DaemonCommand::Restart => {
            stop(&dir).await?;
            let c = Client::connect(&dir, Autostart::from_env()).await?;
            println!("the Berth daemon runs again (pid {})", c.hello().pid);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn stop(dir: &std::path::Path) -> Result<()> {
    let Some(c) = Client::running(dir).await? else {
        println!("no Berth daemon runs for {}", dir.display());
        return Ok(());
    };
    let pid = c.hello().pid;
    c.shutdown(ShutdownReason::Stop).await?;
    if !c.wait_gone(Duration::from_secs(20)).await? {
        return Err(Error::new(
            Code::DaemonUnavailable,
            format!(
                "the Berth daemon (pid {pid}) did not stop within 20 s; see {}",
                client::log_path(dir).display()
            ),
        ));
    }
    println!("stopped the Berth daemon (pid {pid}); running workspaces keep running");
    Ok(())
}

fn print_status(s: &berth::api::DaemonStatus) {
    let dur = |secs: u64| humantime::format_duration(Duration::from_secs(secs)).to_string();
    println!(
        "daemon:     running, pid {}, version {} (protocol {}–{})",
        s.pid, s.version, s.protocol.min, s.protocol.max
    );
    println!("data dir:   {}", s.data_dir.display());
    println!("socket:     {}", s.endpoint);
    println!("log:        {}", s.log_file.display());
    println!("uptime:     {}", dur(s.uptime_secs));
    println!(
        "activity:   {} connection(s), {} operation(s), {} workspace(s) running",
        s.connections, s.operations, s.running_workspaces
    );
    match s.idle_exit_in_secs {
        Some(left) => println!("idle exit:  in {}", dur(left)),
        None => println!("idle exit:  not while a workspace runs or a client is connected"),
    }
    for t in &s.tasks {
        let state = serde_json::to_value(t.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let err = t
            .last_error
            .as_deref()
            .map(|e| format!(", last error: {e}"))
            .unwrap_or_default();
        println!(
            "task:       {} {state} (restarts {}{err})",
            t.name, t.restarts
        );
    }
}
