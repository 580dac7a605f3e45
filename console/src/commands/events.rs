//! `hotline-console events`: what the agent link refused, and why.

use anyhow::{Context, Result};
use serde_json::json;

use crate::cli::EventsArgs;
use crate::commands::devices::{clip, time};
use crate::datadir::DataDir;
use crate::output;
use crate::store::Store;

pub async fn run(dir: &DataDir, args: &EventsArgs) -> Result<()> {
    dir.require_initialised()?;
    let store = Store::open(&dir.database(), false).await?;
    let events = store.recent_events(args.limit).await;
    store.close().await;
    let events = events?;

    if args.json {
        let rows: Vec<_> = events
            .iter()
            .map(|event| {
                json!({
                    "at": time(Some(event.at)),
                    "device": event.device,
                    "peer": event.peer,
                    "kind": event.kind,
                    "detail": event.detail,
                })
            })
            .collect();
        output::line(&serde_json::to_string_pretty(&rows).context("formatting events")?);
        return Ok(());
    }
    for event in &events {
        output::line(&format!(
            "{}  {:<14}  {:<12}  {:<21}  {}",
            time(Some(event.at)),
            event.kind,
            event.device.as_deref().unwrap_or("-"),
            event.peer.as_deref().unwrap_or("-"),
            clip(&event.detail, 200),
        ));
    }
    Ok(())
}
