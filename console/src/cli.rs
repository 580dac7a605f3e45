//! Command-line arguments.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "hotline-console",
    version,
    about = "The Hotline console: agents, tickets, audit and deployments"
)]
pub struct Cli {
    /// The console's data directory.
    #[arg(
        long,
        global = true,
        env = "HOTLINE_DATA",
        default_value = "hotline-data"
    )]
    pub data: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a data directory: CA, server certificate, database and configuration.
    Init(InitArgs),
    /// Run the console: QUIC for agents and HTTPS for people.
    Serve(ServeArgs),
    /// Print a one-time enrollment string for a new agent.
    EnrollToken(TokenArgs),
    /// List enrolled devices, or act on one (revoke, policy, tag).
    #[command(visible_alias = "device")]
    Devices(DevicesArgs),
    /// Show recent refusals and anomalies on the agent link, newest first.
    Events(EventsArgs),
    /// Analyst accounts: add, list, disable.
    Analyst(crate::commands::analyst::AnalystArgs),
    /// Tickets: open, list, show, note, close.
    Ticket(crate::commands::ticket::TicketArgs),
    /// Local credentials on a device, through the running console: list accounts, reset one.
    Credential(crate::commands::credential::CredentialArgs),
    /// The audit trail: verify the hash chain, export a ticket's record.
    Audit(crate::commands::audit::AuditArgs),
    /// The outbound webhook that receives every audit entry, signed with HMAC-SHA256.
    Webhook(crate::commands::webhook::WebhookArgs),
    /// The package repository: publish a publisher's signed repository, list targets.
    Package(crate::commands::package::PackageArgs),
    /// Deployments: create, status, list, pause, resume, cancel.
    Deploy(crate::commands::deploy::DeployArgs),
    /// Device groups: create, set-window, add, remove, list.
    Group(crate::commands::group::GroupArgs),
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// How many events to show.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Print JSON instead of lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Organisation name written into the CA certificate.
    #[arg(long, default_value = "Hotline")]
    pub organisation: String,
    /// Extra host names or IP addresses for the server certificate (browsers check them).
    #[arg(long = "name", value_name = "NAME")]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// UDP address for agents; overrides `quic_listen` in console.toml.
    #[arg(long, value_name = "ADDR")]
    pub quic: Option<SocketAddr>,
    /// TCP address for the web console; overrides `https_listen` in console.toml.
    #[arg(long, value_name = "ADDR")]
    pub https: Option<SocketAddr>,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// How long the token stays valid, for example `30m`, `24h` or `7d`.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    pub expires: std::time::Duration,
    /// How many agents may enroll with it (for imaging a batch of machines).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub uses: u32,
}

#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    #[command(subcommand)]
    pub action: Option<DevicesAction>,
}

#[derive(Debug, Subcommand)]
pub enum DevicesAction {
    /// Revoke a device: refused from now on, and disconnected at once if online.
    Revoke {
        /// The device id, as `devices` lists it.
        id: String,
    },
    /// Show a device's policy, or change it for an open ticket that names the device.
    Policy {
        /// The device id, as `devices` lists it.
        id: String,
        /// Let a remote session start without a prompt while nobody is signed in.
        #[arg(long, value_name = "on|off", value_parser = on_off, requires = "ticket")]
        unattended_sessions: Option<bool>,
        /// The open ticket, naming the device, a change is made for.
        #[arg(long)]
        ticket: Option<i64>,
    },
    /// Put a tag on a device or take it off.
    Tag {
        /// The device id, as `devices` lists it.
        id: String,
        #[arg(value_enum)]
        change: TagChange,
        /// The tag: 1 to 32 characters of a-z, 0-9 and '-'.
        tag: String,
    },
}

fn on_off(text: &str) -> Result<bool, String> {
    match text {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("{other:?} is neither on nor off")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TagChange {
    Add,
    Remove,
}
