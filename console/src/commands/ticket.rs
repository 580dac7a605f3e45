//! `hotline-console ticket open|list|show|note|close`: tickets from the server's shell,
//! recorded as the operator (`cli:<user>`). Works while `serve` runs (SQLite WAL).

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use hotline_protocol::DeviceId;

use super::analyst::cli_actor;
use crate::accounts::one_line;
use crate::datadir::DataDir;
use crate::output;
use crate::rejected::Rejected;
use crate::store::{NewTicket, Store, TicketChange, TicketFilter};
use crate::tickets::{self, MAX_FIELD_LEN, Status, Ticket, TicketNumber};

#[derive(Debug, Args)]
pub struct TicketArgs {
    #[command(subcommand)]
    pub action: TicketAction,
}

#[derive(Debug, Subcommand)]
pub enum TicketAction {
    /// Open a ticket; prints its number.
    Open {
        #[arg(long)]
        title: String,
        #[arg(long)]
        caller_name: String,
        /// Phone, e-mail or desk of the caller.
        #[arg(long)]
        caller_contact: String,
        /// A device the ticket concerns (as `devices` lists it). Repeat for several.
        #[arg(long = "device")]
        devices: Vec<String>,
        /// 1 (most urgent) to 4.
        #[arg(long, default_value_t = 3)]
        priority: i64,
        /// The analyst working it.
        #[arg(long)]
        assignee: Option<String>,
        /// The ticket's id in the help desk's own system, sent along with webhook entries.
        #[arg(long)]
        external_ref: Option<String>,
    },
    /// List tickets, open ones first.
    List {
        /// Only tickets with this status: new, open, waiting, resolved or closed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show a ticket and its timeline.
    Show {
        number: String,
        #[arg(long)]
        json: bool,
    },
    /// Add a note to a ticket.
    Note { number: String, text: String },
    /// Close a ticket.
    Close {
        number: String,
        #[arg(long)]
        resolution: Option<String>,
    },
}

fn invalid(message: String) -> anyhow::Error {
    Rejected::Invalid(message).into()
}

pub async fn run(dir: &DataDir, args: &TicketArgs) -> Result<()> {
    dir.require_initialised()?;
    let store = Store::open(&dir.database(), false).await?;
    let result = dispatch(&store, &args.action).await;
    store.close().await;
    result
}

async fn dispatch(store: &Store, action: &TicketAction) -> Result<()> {
    match action {
        TicketAction::Open {
            title,
            caller_name,
            caller_contact,
            devices,
            priority,
            assignee,
            external_ref,
        } => {
            let new = NewTicket {
                title: one_line("title", title, MAX_FIELD_LEN).map_err(invalid)?,
                caller: tickets::Caller {
                    name: one_line("caller name", caller_name, MAX_FIELD_LEN).map_err(invalid)?,
                    contact: one_line("caller contact", caller_contact, MAX_FIELD_LEN)
                        .map_err(invalid)?,
                },
                devices: devices
                    .iter()
                    .map(|d| d.parse::<DeviceId>().map_err(|e| invalid(e.to_string())))
                    .collect::<Result<_>>()?,
                priority: tickets::priority(*priority).map_err(invalid)?,
                assignee: assignee
                    .as_deref()
                    .map(str::parse)
                    .transpose()
                    .map_err(invalid)?,
                external_ref: external_ref
                    .as_deref()
                    .map(|r| one_line("external ref", r, MAX_FIELD_LEN))
                    .transpose()
                    .map_err(invalid)?,
            };
            let ticket = store.create_ticket(new, cli_actor()).await?;
            output::line(&format!("opened ticket {}", ticket.number));
            Ok(())
        }
        TicketAction::List { status, json } => {
            let filter = TicketFilter {
                status: status
                    .as_deref()
                    .map(str::parse::<Status>)
                    .transpose()
                    .map_err(invalid)?,
                ..TicketFilter::default()
            };
            let tickets = store.tickets(&filter).await?;
            if *json {
                output::line(
                    &serde_json::to_string_pretty(&tickets).context("formatting tickets")?,
                );
            } else {
                print_table(&tickets);
            }
            Ok(())
        }
        TicketAction::Show { number, json } => show(store, number, *json).await,
        TicketAction::Note { number, text } => {
            let n: TicketNumber = number.parse().map_err(invalid)?;
            let text = tickets::note_text(text).map_err(invalid)?;
            let item = store.add_note(n, cli_actor(), &text).await?;
            output::line(&format!("noted on ticket {n} (audit entry {})", item.seq));
            Ok(())
        }
        TicketAction::Close { number, resolution } => {
            let n: TicketNumber = number.parse().map_err(invalid)?;
            let resolution = resolution
                .as_deref()
                .map(tickets::note_text)
                .transpose()
                .map_err(invalid)?;
            let change = TicketChange {
                status: Some(Status::Closed),
                resolution,
                ..TicketChange::default()
            };
            store
                .update_ticket(n, change, cli_actor(), "ticket.close")
                .await?;
            output::line(&format!("closed ticket {n}"));
            Ok(())
        }
    }
}

fn print_table(tickets: &[Ticket]) {
    let clip = super::devices::clip;
    output::line(&format!(
        "{:>6}  {:<8}  {:>3}  {:<40}  {:<20}  {:<16}  UPDATED",
        "#", "STATUS", "PRI", "TITLE", "CALLER", "ASSIGNEE"
    ));
    for t in tickets {
        output::line(&format!(
            "{:>6}  {:<8}  {:>3}  {:<40}  {:<20}  {:<16}  {}",
            t.number,
            t.status.as_str(),
            t.priority,
            clip(&t.title, 40),
            clip(&t.caller.name, 20),
            t.assignee.as_deref().unwrap_or("-"),
            t.updated_at
        ));
    }
}

async fn show(store: &Store, number: &str, as_json: bool) -> Result<()> {
    let n: TicketNumber = number.parse().map_err(invalid)?;
    let Some(ticket) = store.ticket(n).await? else {
        return Err(Rejected::NotFound(format!("no ticket {n}")).into());
    };
    let timeline = store.timeline(n).await?;
    if as_json {
        let value = serde_json::json!({ "ticket": ticket, "timeline": timeline });
        output::line(&serde_json::to_string_pretty(&value).context("formatting the ticket")?);
        return Ok(());
    }
    let clip = super::devices::clip;
    output::line(&format!(
        "ticket {}: {}",
        ticket.number,
        clip(&ticket.title, 200)
    ));
    output::line(&format!(
        "status {}  priority {}  assignee {}  external ref {}",
        ticket.status.as_str(),
        ticket.priority,
        ticket.assignee.as_deref().unwrap_or("-"),
        ticket.external_ref.as_deref().unwrap_or("-")
    ));
    output::line(&format!(
        "caller {} ({})",
        clip(&ticket.caller.name, 200),
        clip(&ticket.caller.contact, 200)
    ));
    output::line(&format!("devices {}", ticket.devices.join(", ")));
    for item in &timeline {
        let what = match (&item.text, &item.action) {
            (Some(text), _) => format!("note: {}", text.replace('\n', "\n      ")),
            (None, Some(action)) => {
                let outcome = item.outcome.as_deref().unwrap_or("ok");
                match &item.reason {
                    Some(reason) => format!("{action} {outcome}: {reason}"),
                    None => format!("{action} {outcome}"),
                }
            }
            (None, None) => String::new(),
        };
        output::line(&format!(
            "{:>5} {} {} {}",
            item.seq, item.at, item.actor, what
        ));
    }
    Ok(())
}
