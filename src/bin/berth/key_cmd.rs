//! `berth key …`: store, list, test and remove API keys. A key's value is read from stdin
//! (hidden when stdin is a terminal), never from an argument: arguments land in shell
//! history and in every process listing.

use crate::print::print_json;
use berth::client::Client;
use berth::error::{Error, Result};
use berth::model::KeyInfo;
use berth::secrets::Sensitive;
use clap::Subcommand;
use std::io::{IsTerminal, Read};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Store a key (anthropic, openai, or a name of your own); the value is read from stdin.
    Set {
        name: String,
        /// Send this key's requests here instead of the provider's API (a gateway, a test
        /// server).
        #[arg(long)]
        base_url: Option<String>,
    },
    /// Stored keys: provider, last four characters, when set, last test — never the value.
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// Ask the provider whether it accepts the key.
    Test { name: String },
    /// Remove a key (refused while a workspace uses it).
    Rm { name: String },
    /// What was done to keys, oldest first.
    Log {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(client: &Client, command: KeyCommand) -> Result<ExitCode> {
    match command {
        KeyCommand::Set { name, base_url } => {
            let value = read_value(&name)?;
            let info = client.set_key(&name, &value, base_url).await?;
            println!(
                "stored {} ({}…{}) in Berth's encrypted store; its master key is in the OS keychain",
                info.name,
                info.provider.as_str(),
                info.last4
            );
        }
        KeyCommand::Ls { json } => {
            let keys = client.keys().await?;
            if json {
                print_json(&keys);
            } else {
                print_keys(&keys);
            }
        }
        KeyCommand::Test { name } => {
            let result = client.test_key(&name).await?;
            if result.ok {
                println!("{name}: accepted");
            } else {
                eprintln!("berth: {name}: {}", result.message);
                return Ok(ExitCode::FAILURE);
            }
        }
        KeyCommand::Rm { name } => {
            client.remove_key(&name).await?;
            println!("removed {name}");
        }
        KeyCommand::Log { json } => {
            let log = client.key_log().await?;
            if json {
                print_json(&log);
            } else {
                crate::print::print_audit(&log);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The key from stdin: a hidden prompt on a terminal, else the whole input (a pipe, a file).
fn read_value(name: &str) -> Result<Sensitive<String>> {
    let raw = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("{name} key (input hidden): "))
            .map_err(|e| Error::io("cannot read the key from the terminal", e))?
    } else {
        let mut buf = String::new();
        std::io::stdin()
            .read_to_string(&mut buf)
            .map_err(|e| Error::io("cannot read the key from stdin", e))?;
        buf
    };
    let value = Sensitive::new(raw.trim().to_string());
    drop(Sensitive::new(raw));
    if value.expose().is_empty() {
        return Err(Error::invalid(format!(
            "no key given: type it at the prompt, or pipe it in (`berth key set {name} < file`)"
        )));
    }
    Ok(value)
}

/// `2026-11-26 14:02` (UTC) of Unix seconds.
fn date(secs: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()[..16].replace('T', " ")
}

/// The start of a long test result, for the table (`key ls --json` has it all).
fn short(s: &str) -> String {
    let escaped = berth::model::escape_controls(s);
    match escaped.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &escaped[..i]),
        None => escaped.into_owned(),
    }
}

fn print_keys(keys: &[KeyInfo]) {
    if keys.is_empty() {
        println!("no keys stored; `berth key set anthropic` stores one");
        return;
    }
    println!(
        "{:<16} {:<10} {:<6} {:<17} {:<24} USED BY",
        "NAME", "PROVIDER", "LAST4", "SET", "LAST TEST"
    );
    for k in keys {
        let test = match (&k.test_result, k.tested_at) {
            (Some(r), Some(at)) => format!("{} ({})", short(r), date(at)),
            _ => "never".into(),
        };
        println!(
            "{:<16} {:<10} {:<6} {:<17} {:<24} {}",
            k.name,
            k.provider.as_str(),
            k.last4,
            date(k.created_at),
            test,
            if k.used_by.is_empty() {
                "-".to_string()
            } else {
                k.used_by.join(", ")
            }
        );
    }
}
