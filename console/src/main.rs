//! `hotline-console`: parses the command line and runs one command.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use hotline_console::cli::{Cli, Command};
use hotline_console::datadir::DataDir;
use hotline_console::{commands, output};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("HOTLINE_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let dir = DataDir::new(&cli.data);
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Init(args) => commands::init::run(&dir, args).await,
            Command::Serve(args) => commands::serve::run(&dir, args).await,
            Command::EnrollToken(args) => commands::token::run(&dir, args).await,
            Command::Devices(args) => commands::devices::run(&dir, args).await,
            Command::Events(args) => commands::events::run(&dir, args).await,
            Command::Analyst(args) => commands::analyst::run(&dir, args).await,
            Command::Ticket(args) => commands::ticket::run(&dir, args).await,
            Command::Audit(args) => commands::audit::run(&dir, args).await,
            Command::Credential(args) => commands::credential::run(&dir, args).await,
            Command::Webhook(args) => commands::webhook::run(&dir, args).await,
            Command::Package(args) => commands::package::run(&dir, args).await,
            Command::Deploy(args) => commands::deploy::run(&dir, args).await,
            Command::Group(args) => commands::group::run(&dir, args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            output::error(&format!("{error:#}"));
            ExitCode::FAILURE
        }
    }
}
