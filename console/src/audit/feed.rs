//! The live feed of timeline items for the web console's WebSocket.
//!
//! Entries reach the database from several places: this process's handlers, transactions
//! that append with `append_audit_in`, and other processes (the CLI while `serve` runs). So
//! the feed does not trust publishers to announce each entry in order: a single loop in
//! `serve` reads entries after the last one it sent, in sequence order, and broadcasts them.
//! `Feed::publish` only wakes that loop early; without a wake-up it polls every 500 ms.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Notify, broadcast, watch};
use tracing::warn;

use crate::store::Store;

/// How many items a slow subscriber may lag behind before it misses some (it is told so by
/// `RecvError::Lagged` and can reload the timeline).
const CAPACITY: usize = 1024;
const POLL: Duration = Duration::from_millis(500);

/// One line of a ticket's timeline: a note, or an audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineItem {
    /// `note` or `audit`.
    pub kind: &'static str,
    /// The audit sequence number (a note's is that of its `ticket.note` entry).
    pub seq: i64,
    /// RFC 3339 time.
    pub at: String,
    pub actor: String,
    pub ticket: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The broadcast of new timeline items; cheap to clone.
#[derive(Debug, Clone)]
pub struct Feed {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    sender: broadcast::Sender<TimelineItem>,
    wake: Notify,
}

impl Default for Feed {
    fn default() -> Feed {
        Feed::new()
    }
}

impl Feed {
    pub fn new() -> Feed {
        let (sender, _) = broadcast::channel(CAPACITY);
        Feed {
            inner: Arc::new(Inner {
                sender,
                wake: Notify::new(),
            }),
        }
    }

    /// Items appended from now on, in sequence order. Filter by `ticket` as needed.
    pub fn subscribe(&self) -> broadcast::Receiver<TimelineItem> {
        self.inner.sender.subscribe()
    }

    /// Says that entries were committed, so the feed loop sends them without waiting for its
    /// next poll. Call it after committing a transaction that used `append_audit_in`.
    pub fn publish(&self) {
        self.inner.wake.notify_one();
    }

    /// Broadcasts every entry committed after the loop starts, until `stopped` turns true.
    pub async fn run(self, store: Store, mut stopped: watch::Receiver<bool>) {
        let mut last = match store.audit_head().await {
            Ok(head) => head.map_or(0, |(seq, _)| seq),
            Err(error) => {
                warn!(
                    error = format!("{error:#}"),
                    "live feed cannot read the audit head"
                );
                0
            }
        };
        while !*stopped.borrow() {
            match store.timeline_since(last, 500).await {
                Ok(items) => {
                    for item in items {
                        last = last.max(item.seq);
                        // No subscriber is not an error: nobody is watching.
                        self.inner.sender.send(item).ok();
                    }
                }
                Err(error) => warn!(error = format!("{error:#}"), "live feed poll failed"),
            }
            tokio::select! {
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                _ = stopped.changed() => {}
            }
        }
    }
}
