//! `hotline-pkg`: the publisher's tool. Makes keys, builds and inspects packages, creates and
//! rotates roots, publishes signed targets, refreshes timestamps, and makes delta patches.
//! The keys it uses never leave the publisher; the console only serves what this writes.

#![forbid(unsafe_code)]

mod keys;
mod output;
mod package;
mod repo;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Sign, build and patch Hotline packages.
#[derive(Debug, Parser)]
#[command(name = "hotline-pkg", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create an ed25519 key pair: KEY (private, mode 0600) and KEY.pub.
    Keygen(keys::KeygenArgs),
    /// Build a .hpkg from a source directory holding package.toml and payload/.
    Build(package::BuildArgs),
    /// Validate a .hpkg and print its manifest.
    Inspect {
        /// The package file.
        package: PathBuf,
    },
    /// Add signatures to a metadata file in place (for thresholds above one).
    Sign(keys::SignArgs),
    /// Create a root metadata file naming the keys and thresholds of every role.
    Root(repo::RootArgs),
    /// Start a repository from a signed root (version 1).
    Init(repo::InitArgs),
    /// Install a new root version N+1 in a repository, after checking that both the current
    /// and the new root thresholds signed it.
    RotateRoot(repo::RotateArgs),
    /// Add packages or patches to a repository and sign new targets, snapshot and timestamp.
    Publish(repo::PublishArgs),
    /// Re-sign the timestamp with a new expiry.
    Timestamp(repo::TimestampArgs),
    /// Run the agent's verification of a target against a repository, as a device would.
    Verify(repo::VerifyArgs),
    /// Make a delta patch that turns OLD into NEW.
    Diff(package::DiffArgs),
    /// Apply a delta patch to OLD.
    Patch(package::PatchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(args) => keys::keygen(&args),
        Command::Build(args) => package::build(&args),
        Command::Inspect { package } => package::inspect(&package),
        Command::Sign(args) => keys::sign(&args),
        Command::Root(args) => repo::root(&args),
        Command::Init(args) => repo::init(&args),
        Command::RotateRoot(args) => repo::rotate_root(&args),
        Command::Publish(args) => repo::publish(&args),
        Command::Timestamp(args) => repo::timestamp(&args),
        Command::Verify(args) => repo::verify(&args),
        Command::Diff(args) => package::diff(&args),
        Command::Patch(args) => package::patch(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            output::error(&error);
            ExitCode::FAILURE
        }
    }
}
