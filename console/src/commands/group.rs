//! `hotline-console group create|set-window|add|remove|list`: device groups and their
//! maintenance windows. Each change is an audit entry.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use hotline_protocol::DeviceId;

use super::analyst::cli_actor;
use crate::datadir::DataDir;
use crate::fleet::{GroupName, GroupWindow, changes};
use crate::output;
use crate::store::{GroupRow, Store};

#[derive(Debug, Args)]
pub struct GroupArgs {
    #[command(subcommand)]
    pub action: GroupAction,
}

#[derive(Debug, Subcommand)]
pub enum GroupAction {
    /// Create an empty group without a window.
    Create {
        /// 1 to 32 characters of a-z, 0-9 and '-'.
        name: String,
    },
    /// Set the group's maintenance window, or clear it with --clear.
    SetWindow {
        name: String,
        /// Time of day it opens, HH:MM, in --zone.
        #[arg(long, required_unless_present = "clear")]
        start: Option<String>,
        /// How long it stays open, 1m to 24h (e.g. `2h`, `90m`).
        #[arg(long, required_unless_present = "clear")]
        length: Option<String>,
        /// Days it opens: `every-day` (the default) or days and ranges, e.g. `mon-fri`,
        /// `sat,sun`.
        #[arg(long)]
        days: Option<String>,
        /// `utc`, `local` (each device's own zone, as its agent reports it) or an IANA zone
        /// such as `Europe/Berlin`.
        #[arg(long, default_value = "utc")]
        zone: String,
        /// Remove the window.
        #[arg(long, conflicts_with_all = ["start", "length", "days"])]
        clear: bool,
    },
    /// Put devices in the group (a device is in at most one group).
    Add {
        name: String,
        #[arg(required = true)]
        devices: Vec<String>,
    },
    /// Take devices out of the group.
    Remove {
        name: String,
        #[arg(required = true)]
        devices: Vec<String>,
    },
    /// List groups with their windows and devices.
    List {
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(dir: &DataDir, args: &GroupArgs) -> Result<()> {
    dir.require_initialised()?;
    let store = Store::open(&dir.database(), false).await?;
    let result = dispatch(&store, &args.action).await;
    store.close().await;
    result
}

async fn dispatch(store: &Store, action: &GroupAction) -> Result<()> {
    match action {
        GroupAction::Create { name } => {
            let group: GroupName = name.parse()?;
            changes::create_group(store, cli_actor(), &group).await?;
            output::line(&format!("group {group} created"));
        }
        GroupAction::SetWindow {
            name,
            start,
            length,
            days,
            zone,
            clear,
        } => {
            let group: GroupName = name.parse()?;
            let window = match (start, length, clear) {
                (Some(start), Some(length), false) => {
                    Some(GroupWindow::parse(start, length, days.as_deref(), zone)?)
                }
                _ => None,
            };
            changes::set_window(store, cli_actor(), &group, window.as_ref()).await?;
            match window {
                Some(window) => {
                    output::line(&format!("group {group} window: {}", window.describe()))
                }
                None => output::line(&format!("group {group} has no window")),
            }
        }
        GroupAction::Add { name, devices } => {
            let group: GroupName = name.parse()?;
            for device in devices {
                let device: DeviceId = device.parse()?;
                changes::add_member(store, cli_actor(), &group, &device).await?;
                output::line(&format!("device {device} added to group {group}"));
            }
        }
        GroupAction::Remove { name, devices } => {
            let group: GroupName = name.parse()?;
            for device in devices {
                let device: DeviceId = device.parse()?;
                changes::remove_member(store, cli_actor(), &group, &device).await?;
                output::line(&format!("device {device} removed from group {group}"));
            }
        }
        GroupAction::List { json } => list(store, *json).await?,
    }
    Ok(())
}

/// A group as JSON, the same for the CLI and the API.
pub fn group_json(group: &GroupRow) -> serde_json::Value {
    serde_json::json!({
        "name": group.name,
        "window": group.window.as_ref().map(GroupWindow::to_json),
        "devices": group.members,
    })
}

async fn list(store: &Store, json: bool) -> Result<()> {
    let groups = store.groups().await?;
    if json {
        let rows: Vec<_> = groups.iter().map(group_json).collect();
        output::line(&serde_json::to_string_pretty(&rows).context("formatting groups")?);
        return Ok(());
    }
    for group in &groups {
        let window = group
            .window
            .as_ref()
            .map_or_else(|| "no window".to_owned(), GroupWindow::describe);
        output::line(&format!(
            "{:<16}  {:<48}  {} devices",
            group.name,
            window,
            group.members.len()
        ));
        for device in &group.members {
            output::line(&format!("  {device}"));
        }
    }
    Ok(())
}
