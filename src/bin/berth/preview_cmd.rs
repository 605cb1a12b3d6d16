//! `berth preview …`: run a snapshot of a workspace's app for a while, list, extend, share on
//! the LAN, open, remove.

use crate::print::print_json;
use berth::api::{BuildEvent, Viewer};
use berth::client::Client;
use berth::error::Result;
use berth::model::{PreviewForm, PreviewSource, PreviewView, escape_controls, human_duration};
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum PreviewCommand {
    /// Snapshot the workspace's projects and run the app from it: from the first project's
    /// Dockerfile, or from an image with a command and the port the app listens on
    /// (remembered for the next preview of this workspace).
    Create {
        name: String,
        #[arg(long)]
        image: Option<String>,
        /// Run in the first project's folder with `/bin/sh -c`.
        #[arg(long)]
        cmd: Option<String>,
        /// The port the app listens on inside the container.
        #[arg(long)]
        port: Option<u16>,
        /// How long it lives (90s, 30m, 2h, 1d); the settings' default otherwise (24h).
        #[arg(long)]
        ttl: Option<String>,
        /// Copy node_modules, target and similar folders too.
        #[arg(long)]
        with_deps: bool,
        /// Share on the LAN at once (a link with a token; off by default).
        #[arg(long)]
        lan: bool,
        #[arg(long)]
        json: bool,
    },
    /// Previews (of one workspace), with the time left.
    Ls {
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Let a preview live longer by DURATION (30m, 2h, 1d).
    Extend { id: String, duration: String },
    /// Share a preview on the LAN (`on`, with a new token) or stop sharing (`off`).
    Share { id: String, state: ShareState },
    /// Open a preview in the browser (or print its URL).
    Open {
        id: String,
        #[arg(long)]
        print: bool,
    },
    /// Remove a preview now: container, network, snapshot and port.
    Rm { id: String },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ShareState {
    On,
    Off,
}

pub async fn run(client: &Client, command: PreviewCommand) -> Result<ExitCode> {
    match command {
        PreviewCommand::Create {
            name,
            image,
            cmd,
            port,
            ttl,
            with_deps,
            lan,
            json,
        } => {
            let ttl_secs = ttl
                .as_deref()
                .map(berth::model::parse_ttl)
                .transpose()?
                .map(|d| d.as_secs());
            let form = PreviewForm {
                workspace: name,
                image,
                command: cmd,
                app_port: port,
                ttl_secs,
                with_deps,
                lan,
            };
            let view = client
                .create_preview(&form, |event| {
                    if let BuildEvent::Line { text } = event {
                        eprintln!("{}", escape_controls(&text));
                    }
                })
                .await?;
            if json {
                print_json(&view);
            } else {
                print_one(&view);
            }
        }
        PreviewCommand::Ls { name, json } => {
            let previews = client.previews(name.as_deref()).await?;
            if json {
                print_json(&previews);
            } else if previews.is_empty() {
                say!("no previews");
            } else {
                say!(
                    "{:<9} {:<20} {:<24} {:<10} SOURCE",
                    "ID",
                    "WORKSPACE",
                    "URL",
                    "LEFT"
                );
                for p in &previews {
                    say!(
                        "{:<9} {:<20} {:<24} {:<10} {}{}",
                        p.id,
                        p.workspace,
                        p.url,
                        human_duration(p.remaining_secs as i64),
                        source(p),
                        if p.shared { " (shared on the LAN)" } else { "" }
                    );
                }
            }
        }
        PreviewCommand::Extend { id, duration } => {
            let by = berth::model::parse_ttl(&duration)?;
            let p = client.extend_preview(&id, by).await?;
            say!(
                "preview {} now ends in {}",
                p.id,
                human_duration(p.remaining_secs as i64)
            );
        }
        PreviewCommand::Share { id, state } => {
            let p = client
                .share_preview(&id, matches!(state, ShareState::On))
                .await?;
            print_one(&p);
        }
        PreviewCommand::Open { id, print } => {
            let viewer = if print {
                Viewer::AppWindow
            } else {
                Viewer::Browser
            };
            let p = client.open_preview(&id, viewer).await?;
            println!("{}", p.url);
            if !print && let Err(e) = crate::open_in_browser(&p.url) {
                eprintln!(
                    "berth: could not open a browser ({e}); open {} yourself",
                    p.url
                );
            }
        }
        PreviewCommand::Rm { id } => {
            client.remove_preview(&id).await?;
            say!("removed preview {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn source(p: &PreviewView) -> String {
    match &p.source {
        PreviewSource::Dockerfile => "Dockerfile".to_string(),
        PreviewSource::Image { image, command } => match command {
            Some(c) => format!("{image} `{c}` on {}", p.app_port),
            None => format!("{image} on {}", p.app_port),
        },
    }
}

fn print_one(p: &PreviewView) {
    say!("preview {} of {}: {}", p.id, p.workspace, p.url);
    say!("from:     {}", source(p));
    say!("ends in:  {}", human_duration(p.remaining_secs as i64));
    for url in &p.share_urls {
        say!("on the LAN: {url}");
    }
    if p.shared && p.share_urls.is_empty() {
        say!("shared on the LAN, but this machine has no LAN address right now");
    }
}
