//! `oqtoctl`: the Oqto command line. It talks to a gateway only through its public REST API
//! and the mux WebSocket, like the web UI does, so it shares no code with the gateway.

mod age;
mod apply;
mod chat;
mod cli;
mod client;
mod config;
mod keys;
mod login;
mod mux;
mod output;
mod schedule;
mod search;
mod session;
mod user;
mod workspace;

use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::client::{ApiError, Client};

// One request or one WebSocket at a time: a single thread is all a command needs.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            let hint = error
                .chain()
                .find_map(|cause| cause.downcast_ref::<ApiError>())
                .and_then(ApiError::hint);
            if let Some(hint) = hint {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "oqtoctl",
            &mut std::io::stdout(),
        );
        return Ok(());
    }
    // The stored login is read only when a flag or variable leaves something open, so a
    // broken file never gets in the way of `--server … --token …`.
    let stored = if cli.server.is_some() && cli.token.is_some() {
        None
    } else {
        config::load(&config::path()?)?
    };
    let target = config::resolve(cli.server.as_deref(), cli.token.as_deref(), stored.as_ref())?;
    let client = Client::new(&target.server, target.token)?;
    let format = cli.output;
    match cli.command {
        Command::Login(args) => login::login(&client, args).await,
        Command::Whoami => login::whoami(&client, format).await,
        Command::Workspace(command) => workspace::run(&client, format, command).await,
        Command::Session(command) => session::run(&client, format, command).await,
        Command::Schedule(command) => schedule::run(&client, format, command).await,
        Command::Key(command) => keys::run(&client, format, command).await,
        Command::User(command) => user::run(&client, format, command).await,
        Command::Apply(args) => apply::run(&client, format, &args.file).await,
        Command::Chat(args) => mux::chat(&client, args).await,
        Command::Search(args) => search::run(&client, format, args).await,
        // Printed above, before any login is needed.
        Command::Completions { .. } => Ok(()),
    }
}
