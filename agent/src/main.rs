//! `hotline-agent`: enroll this device with a console, or run the agent.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use hotline_agent::enroll::enroll;
use hotline_agent::inventory;
use hotline_agent::link::{self, LinkHooks, LinkOptions};
use hotline_agent::state::StateDir;
use hotline_protocol::enroll::EnrollmentString;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "hotline-agent",
    version,
    about = "The Hotline agent for this workstation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Enroll this device with a console, using the string `hotline-console enroll-token` printed.
    Enroll {
        /// The agent's state directory.
        #[arg(long)]
        state: PathBuf,
        /// The enrollment string.
        enrollment: String,
    },
    /// Connect to the console and stay connected.
    Run {
        /// The agent's state directory.
        #[arg(long)]
        state: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("HOTLINE_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
        .and_then(|runtime| runtime.block_on(run(cli.command)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::Enroll { state, enrollment } => {
            let enrollment: EnrollmentString = enrollment.parse()?;
            let hostname = inventory::platform().collect().hostname;
            enroll(&StateDir::new(&state), &enrollment, &hostname).await?;
            Ok(())
        }
        Command::Run { state } => {
            let state = StateDir::new(&state).load()?;
            let (stop, stopped) = watch::channel(false);
            tokio::spawn(async move {
                if wait_for_signal().await.is_ok() {
                    stop.send(true).ok();
                }
            });
            let inventory = inventory::platform();
            let options = LinkOptions::default();
            link::run(
                &state,
                inventory.as_ref(),
                options,
                LinkHooks::default(),
                stopped,
            )
            .await
        }
    }
}

async fn wait_for_signal() -> Result<()> {
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for SIGINT")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
