//! `hotline-console webhook set|clear|status`: the outbound webhook that receives every
//! audit entry (see `webhook/mod.rs` for the request format and signature).

use anyhow::{Context, Result, bail};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use super::analyst::cli_actor;
use crate::audit::NewEntry;
use crate::datadir::{DataDir, write_private};
use crate::output;
use crate::store::{Store, unix_now};
use crate::webhook::{MAX_SECRET_LEN, MIN_SECRET_LEN, parse_url, secret_fingerprint, secret_path};

#[derive(Debug, Args)]
pub struct WebhookArgs {
    #[command(subcommand)]
    pub action: WebhookAction,
}

#[derive(Debug, Subcommand)]
pub enum WebhookAction {
    /// Send every audit entry appended from now on to URL, signed with the secret in FILE
    /// (HMAC-SHA256 in `X-Hotline-Signature: sha256=<hex>` over "<X-Hotline-Timestamp>.<body>").
    /// The secret is copied into the data directory (mode 0600); it is never stored in the
    /// database or printed. A running console picks the change up within a second.
    Set {
        url: String,
        /// File holding the shared secret (16 to 1024 bytes; a trailing newline is ignored).
        #[arg(long, value_name = "FILE")]
        secret_file: PathBuf,
    },
    /// Stop sending; entries not yet delivered are dropped.
    Clear,
    /// Show the webhook and its delivery state.
    Status,
}

pub async fn run(dir: &DataDir, args: &WebhookArgs) -> Result<()> {
    dir.require_initialised()?;
    let store = Store::open(&dir.database(), false).await?;
    let result = match &args.action {
        WebhookAction::Set { url, secret_file } => set(dir, &store, url, secret_file).await,
        WebhookAction::Clear => {
            store.clear_webhook().await?;
            store
                .append_audit(NewEntry::new(cli_actor(), "webhook.clear"))
                .await?;
            std::fs::remove_file(secret_path(dir)).ok();
            output::line("webhook cleared");
            Ok(())
        }
        WebhookAction::Status => status(&store).await,
    };
    store.close().await;
    result
}

async fn set(dir: &DataDir, store: &Store, url: &str, secret_file: &PathBuf) -> Result<()> {
    let uri = parse_url(url)?;
    let mut secret = std::fs::read(secret_file)
        .with_context(|| format!("reading the secret from {}", secret_file.display()))?;
    while secret.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        secret.pop();
    }
    if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&secret.len()) {
        bail!(
            "the secret in {} must be {MIN_SECRET_LEN} to {MAX_SECRET_LEN} bytes",
            secret_file.display()
        );
    }
    let path = secret_path(dir);
    if path.exists() {
        std::fs::remove_file(&path).with_context(|| format!("replacing {}", path.display()))?;
    }
    write_private(&path, &secret)?;
    // Recorded before the switch, so the new receiver's first entry is one it can act on.
    // Only the host is recorded: some receivers carry an access key in the URL's path or query.
    let host = uri.authority().map(|a| a.as_str().to_owned());
    let entry = NewEntry::new(cli_actor(), "webhook.set").params(json!({ "host": host }));
    store.append_audit(entry).await?;
    store
        .set_webhook(url, &secret_fingerprint(&secret), unix_now())
        .await?;
    output::line(&format!("webhook set: {url}"));
    Ok(())
}

async fn status(store: &Store) -> Result<()> {
    let Some(webhook) = store.webhook().await? else {
        output::line("no webhook set");
        return Ok(());
    };
    let counts = store.outbox_counts().await?;
    output::line(&format!("webhook: {}", webhook.url));
    output::line(&format!(
        "delivered: {}  pending: {}",
        counts.delivered, counts.pending
    ));
    if let Some(error) = counts.last_error {
        output::line(&format!("last error: {error}"));
    }
    Ok(())
}
