//! Intake of agents' audit entries: each stored once per (device, seq), in order, continuing
//! the device's own chain, and appended to the console's chain in the same transaction.

use anyhow::{Context, Result};
use hotline_protocol::DeviceId;
use hotline_protocol::audit::{AgentAuditEntry, AuditOutcome, GENESIS_HASH};
use hotline_protocol::enroll::encode_hex;
use sqlx::SqliteConnection;

use super::Store;
use crate::audit::{Actor, NewEntry, Outcome, now_ms};
use crate::tickets::TicketNumber;

/// What became of one forwarded entry. The caller acknowledges `Stored` and `Duplicate`, and
/// treats `Refused` as the device breaking the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// New: stored, and appended to the console's chain as entry `console_seq`.
    Stored { console_seq: i64 },
    /// Already stored with the same hash: a resend after a lost ack or a restart.
    Duplicate,
    /// Not stored: out of order, or not continuing the device's chain.
    Refused(String),
}

/// One stored agent entry, as `agent_audit_entries` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentAuditRow {
    pub seq: i64,
    pub at_ms: i64,
    pub action: String,
    pub params: String,
    pub ticket_number: Option<i64>,
    pub outcome: String,
    pub reason: Option<String>,
    pub prev_hash: String,
    pub hash: String,
    pub console_seq: i64,
}

/// An `agent_audit` row as SQLite returns it, in `AgentAuditRow`'s field order.
type Row = (
    i64,
    i64,
    String,
    String,
    Option<i64>,
    String,
    Option<String>,
    String,
    String,
    i64,
);

impl From<Row> for AgentAuditRow {
    fn from(row: Row) -> AgentAuditRow {
        let (
            seq,
            at_ms,
            action,
            params,
            ticket_number,
            outcome,
            reason,
            prev_hash,
            hash,
            console_seq,
        ) = row;
        AgentAuditRow {
            seq,
            at_ms,
            action,
            params,
            ticket_number,
            outcome,
            reason,
            prev_hash,
            hash,
            console_seq,
        }
    }
}

impl Store {
    /// Stores `entry` from `device` (the identity from its certificate), in one transaction:
    /// a (device, seq) already stored is a no-op, a seq other than the next one or a
    /// `prev_hash` other than the stored previous hash is refused, anything else is stored
    /// and appended to the console's chain with the device as actor.
    pub async fn ingest_agent_audit(
        &self,
        device: &DeviceId,
        entry: &AgentAuditEntry,
    ) -> Result<Ingested> {
        let mut tx = self.begin_immediate().await?;
        let ingested = ingest_in(&mut tx, device, entry).await?;
        if let Ingested::Stored { .. } = ingested {
            tx.commit()
                .await
                .context("committing an agent audit entry")?;
            self.feed().publish();
        }
        Ok(ingested)
    }

    /// Every stored entry of `device`, in seq order.
    pub async fn agent_audit_entries(&self, device: &DeviceId) -> Result<Vec<AgentAuditRow>> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT seq, at_ms, action, params, ticket_number, outcome, reason, prev_hash, hash, \
             console_seq FROM agent_audit WHERE device_id = ?1 ORDER BY seq",
        )
        .bind(device.as_str())
        .fetch_all(&self.pool)
        .await
        .context("reading agent audit entries")?;
        Ok(rows.into_iter().map(AgentAuditRow::from).collect())
    }
}

async fn ingest_in(
    tx: &mut SqliteConnection,
    device: &DeviceId,
    entry: &AgentAuditEntry,
) -> Result<Ingested> {
    let seq = i64::try_from(entry.seq).unwrap_or(i64::MAX);
    let hash = encode_hex(&entry.hash);

    // A resend of an entry already held is acknowledged again; the same seq with other
    // contents is a device rewriting its history.
    let stored: Option<String> =
        sqlx::query_scalar("SELECT hash FROM agent_audit WHERE device_id = ?1 AND seq = ?2")
            .bind(device.as_str())
            .bind(seq)
            .fetch_optional(&mut *tx)
            .await
            .context("looking up an agent audit entry")?;
    if let Some(stored) = stored {
        if stored == hash {
            return Ok(Ingested::Duplicate);
        }
        return Ok(Ingested::Refused(format!(
            "audit entry {} differs from the one already stored under that number",
            entry.seq
        )));
    }

    if let Some(reason) = check_place(tx, device, entry).await? {
        return Ok(Ingested::Refused(reason));
    }
    let Some(new_entry) = console_entry(device, entry) else {
        return Ok(Ingested::Refused(format!(
            "audit entry {}: parameters are not JSON or the ticket number is out of range",
            entry.seq
        )));
    };
    let record = Store::append_audit_in(tx, new_entry).await?;

    let (outcome, reason) = (entry.outcome.name(), entry.outcome.reason());
    sqlx::query(
        "INSERT INTO agent_audit (device_id, seq, at_ms, action, params, ticket_number, outcome, \
         reason, prev_hash, hash, received_at_ms, console_seq) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .bind(device.as_str())
    .bind(seq)
    .bind(entry.at_ms)
    .bind(&entry.action)
    .bind(&entry.params_json)
    .bind(record.ticket)
    .bind(outcome)
    .bind(reason)
    .bind(encode_hex(&entry.prev_hash))
    .bind(&hash)
    .bind(now_ms())
    .bind(record.seq)
    .execute(&mut *tx)
    .await
    .context("storing an agent audit entry")?;
    Ok(Ingested::Stored {
        console_seq: record.seq,
    })
}

/// Checks that `entry` is the device's next one and names the stored previous hash; returns
/// why not otherwise.
async fn check_place(
    tx: &mut SqliteConnection,
    device: &DeviceId,
    entry: &AgentAuditEntry,
) -> Result<Option<String>> {
    let last: Option<(i64, String)> = sqlx::query_as(
        "SELECT seq, hash FROM agent_audit WHERE device_id = ?1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(device.as_str())
    .fetch_optional(&mut *tx)
    .await
    .context("reading the device's last audit entry")?;

    // FIXME: a device whose log was compacted before the console ever saw it (a state
    // directory restored from a backup) starts above 1 and is refused; it has to re-enroll.
    let (last_seq, last_hash) = match last {
        Some((seq, hash)) => (u64::try_from(seq).unwrap_or(0), hash),
        None => (0, encode_hex(&GENESIS_HASH)),
    };
    if entry.seq != last_seq + 1 {
        return Ok(Some(format!(
            "audit entry {} out of order: the console holds up to {last_seq}",
            entry.seq
        )));
    }
    if encode_hex(&entry.prev_hash) != last_hash {
        return Ok(Some(format!(
            "audit entry {} breaks the device's chain: its previous hash is not that of entry \
             {last_seq}",
            entry.seq
        )));
    }
    Ok(None)
}

/// The console-chain entry for an agent entry: the device as actor and as device, its own
/// time, ticket and outcome.
fn console_entry(device: &DeviceId, entry: &AgentAuditEntry) -> Option<NewEntry> {
    let params = serde_json::from_str(&entry.params_json).ok()?;
    let ticket = match entry.ticket {
        Some(number) => Some(TicketNumber(i64::try_from(number).ok()?)),
        None => None,
    };
    let outcome = match &entry.outcome {
        AuditOutcome::Ok => Outcome::Ok,
        AuditOutcome::Refused(reason) => Outcome::Refused(reason.clone()),
        AuditOutcome::Failed(reason) => Outcome::Failed(reason.clone()),
    };
    let mut new_entry = NewEntry::new(Actor::Device(device.clone()), &entry.action)
        .params(params)
        .ticket(ticket)
        .device(Some(device.clone()))
        .outcome(outcome);
    new_entry.at_ms = Some(entry.at_ms);
    Some(new_entry)
}
