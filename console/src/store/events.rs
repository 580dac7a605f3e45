//! Link events: every refusal on the agent link, why, and who it concerned.

use anyhow::{Context, Result};

use super::Store;

/// A `link_events` row as SQLite returns it: at, device, peer, kind, detail.
type EventRow = (i64, Option<String>, Option<String>, String, String);

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEvent {
    pub at: i64,
    pub device: Option<String>,
    pub peer: Option<String>,
    pub kind: String,
    pub detail: String,
}

impl Store {
    pub async fn record_event(&self, event: &LinkEvent) -> Result<()> {
        sqlx::query(
            "INSERT INTO link_events (at, device_id, peer, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(event.at)
        .bind(&event.device)
        .bind(&event.peer)
        .bind(&event.kind)
        .bind(&event.detail)
        .execute(&self.pool)
        .await
        .context("recording a link event")?;
        Ok(())
    }

    /// The newest `limit` events, newest first.
    pub async fn recent_events(&self, limit: u32) -> Result<Vec<LinkEvent>> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT at, device_id, peer, kind, detail FROM link_events ORDER BY id DESC LIMIT ?1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .context("reading link events")?;
        Ok(rows
            .into_iter()
            .map(|(at, device, peer, kind, detail)| LinkEvent {
                at,
                device,
                peer,
                kind,
                detail,
            })
            .collect())
    }
}
