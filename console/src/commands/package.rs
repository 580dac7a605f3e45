//! `hotline-console package publish|list`: copy a publisher's signed repository into the
//! console's repository, from the console host's shell or, with `--console`, from any
//! machine over the console's HTTPS API with a deployer's API token.
//!
//! Either way the publisher's keys stay on the publisher's machine, and what crosses over is
//! only signed metadata and the files it names; the console runs the same checks on both
//! paths (`deploy::repository::publish`).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use super::analyst::cli_actor;
use super::api_client::{ApiClient, read_token};
use crate::audit::NewEntry;
use crate::datadir::DataDir;
use crate::deploy::repository;
use crate::output;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct PackageArgs {
    #[command(subcommand)]
    pub action: PackageAction,
}

#[derive(Debug, Subcommand)]
pub enum PackageAction {
    /// Store a publisher repository's metadata and targets (as `hotline-pkg publish` wrote them).
    Publish {
        /// The publisher's repository directory (with metadata/ and targets/).
        #[arg(long)]
        repo: PathBuf,
        /// Upload to the console at this URL (https://HOST:PORT) instead of writing to the
        /// data directory on this host.
        #[arg(long, value_name = "URL")]
        console: Option<String>,
        /// With --console: a file holding a deployer's API token, instead of `HOTLINE_TOKEN`.
        #[arg(long, value_name = "PATH", requires = "console")]
        token_file: Option<PathBuf>,
        /// With --console: the console's CA certificate (`ca.pem` in its data directory); by
        /// default the one in --data.
        #[arg(long, value_name = "PATH", requires = "console")]
        ca_cert: Option<PathBuf>,
    },
    /// List the targets the repository holds.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(dir: &DataDir, args: &PackageArgs) -> Result<()> {
    if let PackageAction::Publish {
        repo,
        console: Some(url),
        token_file,
        ca_cert,
    } = &args.action
    {
        let ca_cert = ca_cert.clone().unwrap_or_else(|| dir.ca_cert());
        let token = read_token(token_file.as_deref())?;
        let client = ApiClient::at_url(url, token, &ca_cert)?;
        return super::package_upload::publish(&client, repo).await;
    }
    dir.require_initialised()?;
    let store = Store::open(&dir.database(), false).await?;
    let result = match &args.action {
        PackageAction::Publish { repo, .. } => publish(dir, &store, repo).await,
        PackageAction::List { json } => list(&store, *json).await,
    };
    store.close().await;
    result
}

async fn publish(dir: &DataDir, store: &Store, repo: &std::path::Path) -> Result<()> {
    let published = repository::publish(dir, store, repo).await?;
    let names: Vec<&str> = published.targets.iter().map(|t| t.name.as_str()).collect();
    let entry = NewEntry::new(cli_actor(), "package.publish").params(serde_json::json!({
        "targets": names,
        "metadata_files": published.metadata,
    }));
    store.append_audit(entry).await?;
    output::line(&format!(
        "published {} target(s) ({} already stored) and {} metadata file(s)",
        published.targets.len(),
        published.deduplicated,
        published.metadata
    ));
    Ok(())
}

async fn list(store: &Store, json: bool) -> Result<()> {
    let targets = store.targets().await?;
    if json {
        let rows: Vec<_> = targets
            .iter()
            .map(|t| {
                serde_json::json!({
                    "name": t.name, "sha256": t.sha256, "length": t.length,
                    "package": t.package, "version": t.version,
                })
            })
            .collect();
        output::line(&serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    for t in targets {
        output::line(&format!(
            "{:<40} {:>12} {}",
            t.name,
            t.length,
            &t.sha256[..16.min(t.sha256.len())]
        ));
    }
    Ok(())
}
