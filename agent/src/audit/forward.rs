//! Forwarding the audit log over one connection: after the welcome every entry the console
//! has not acknowledged, in order, then each new one, with a bounded number in flight; and
//! recording link refusals without filling the log while the agent retries.

use anyhow::{Context, Result};
use hotline_protocol::session::agent::{AgentOutput, AgentSession};
use serde_json::json;
use tokio::sync::watch;
use tracing::warn;

use super::{Audit, Outcome};

/// Most entries sent and not yet acknowledged, so that a long backlog neither floods the
/// stream nor sits in memory all at once.
const WINDOW: u64 = 64;
/// Acks that may pass before the watermark is written. A watermark that lags only makes the
/// agent send a few entries again after a restart, and the console stores each once.
const WATERMARK_EVERY: u64 = 32;

/// One connection's forwarding state.
#[derive(Debug)]
pub(crate) struct Forwarder<'a> {
    audit: &'a Audit,
    /// Changes on every append; the link waits on it.
    pub(crate) appended: watch::Receiver<u64>,
    /// The next seq to send on this connection.
    next: u64,
    /// Highest seq the console acknowledged, written to disk or not.
    acked: u64,
}

impl<'a> Forwarder<'a> {
    pub(crate) fn new(audit: &'a Audit) -> Forwarder<'a> {
        let acked = audit.acked();
        Forwarder {
            audit,
            appended: audit.subscribe(),
            next: acked + 1,
            acked,
        }
    }

    /// Starts over from the first unacknowledged entry, as each new connection does.
    pub(crate) fn restart(&mut self) {
        self.acked = self.acked.max(self.audit.acked());
        self.next = self.acked + 1;
    }

    /// Notes an ack; writes the watermark every so often and whenever the console has
    /// caught up.
    pub(crate) fn acknowledge(&mut self, up_to: u64) -> Result<()> {
        self.acked = self.acked.max(up_to);
        let durable = self.audit.acked();
        if self.acked - durable >= WATERMARK_EVERY || self.acked >= self.audit.last_seq() {
            self.audit
                .acknowledge(self.acked)
                .context("recording the console's audit acknowledgement")?;
        }
        Ok(())
    }

    /// The entries that fit the window now, as messages to send.
    // FIXME: reads (and the watermark write in `acknowledge`) block the link task on disk IO;
    // cheap at today's volume, worth `spawn_blocking` once privileged actions append often.
    pub(crate) fn next_batch(&mut self, session: &mut AgentSession) -> Result<Vec<AgentOutput>> {
        let in_flight = self.next.saturating_sub(self.acked + 1);
        let room = WINDOW.saturating_sub(in_flight);
        if room == 0 || self.next > self.audit.last_seq() {
            return Ok(Vec::new());
        }
        let room = usize::try_from(room).unwrap_or(usize::MAX);
        let entries = self
            .audit
            .entries_from(self.next, room)
            .context("reading the audit log to forward it")?;
        let mut outputs = Vec::with_capacity(entries.len());
        for entry in entries {
            let seq = entry.seq;
            match session.send_audit(entry) {
                Some(message) => outputs.push(AgentOutput::Send(message)),
                None => break,
            }
            self.next = seq + 1;
        }
        Ok(outputs)
    }
}

/// Records `link.refused` entries, one per distinct reason until the next connection that
/// works: an agent retrying every 30 s for a day must not write thousands of them.
#[derive(Debug, Default)]
pub(crate) struct RefusalRecorder {
    last: Option<String>,
}

impl RefusalRecorder {
    pub(crate) fn record(&mut self, audit: Option<&Audit>, console: &str, reason: &str) {
        if self.last.as_deref() == Some(reason) {
            return;
        }
        self.last = Some(reason.to_owned());
        let Some(audit) = audit else { return };
        let params = json!({ "console": console });
        let outcome = Outcome::Refused(reason.to_owned());
        if let Err(error) = audit.append("link.refused", &params, None, outcome) {
            warn!(%error, "could not record a link refusal in the audit log");
        }
    }

    pub(crate) fn clear(&mut self) {
        self.last = None;
    }
}
