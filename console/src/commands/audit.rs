//! `hotline-console audit verify|export`: walk the hash chain, or export one ticket's record.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use crate::datadir::DataDir;
use crate::output;
use crate::rejected::Rejected;
use crate::store::Store;
use crate::tickets::TicketNumber;

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub action: AuditAction,
}

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Walk the audit hash chain. Exits 0 when it is whole; otherwise fails naming the first
    /// entry that does not fit (edited, deleted, inserted, reordered, or cut off the end).
    Verify,
    /// Print a ticket's record: the ticket, its timeline and its audit entries with hashes.
    Export {
        #[arg(long)]
        ticket: String,
        /// Print JSON (the same document as /api/tickets/{n}/export.json).
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(dir: &DataDir, args: &AuditArgs) -> Result<()> {
    dir.require_initialised()?;
    let store = Store::open(&dir.database(), false).await?;
    let result = match &args.action {
        AuditAction::Verify => verify(&store).await,
        AuditAction::Export { ticket, json } => export(&store, ticket, *json).await,
    };
    store.close().await;
    result
}

async fn verify(store: &Store) -> Result<()> {
    match store.verify_audit().await? {
        Ok(summary) => {
            output::line(&format!(
                "audit chain whole: {} entries, head {}",
                summary.entries,
                hex::encode(summary.head)
            ));
            Ok(())
        }
        Err(broken) => bail!("audit chain broken at {broken}"),
    }
}

async fn export(store: &Store, ticket: &str, as_json: bool) -> Result<()> {
    let n: TicketNumber = ticket.parse().map_err(Rejected::Invalid)?;
    let document = crate::api::export_json(store, n)
        .await
        .map_err(|error| anyhow::anyhow!("{}", error.message))?;
    if as_json {
        output::line(&serde_json::to_string_pretty(&document).context("formatting the export")?);
        return Ok(());
    }
    for entry in document["audit"].as_array().into_iter().flatten() {
        output::line(&format!(
            "{:>6} {} {} {} {} {}",
            entry["seq"],
            entry["at"].as_str().unwrap_or_default(),
            entry["actor"].as_str().unwrap_or_default(),
            entry["action"].as_str().unwrap_or_default(),
            entry["outcome"].as_str().unwrap_or_default(),
            entry["hash"].as_str().unwrap_or_default(),
        ));
    }
    Ok(())
}
