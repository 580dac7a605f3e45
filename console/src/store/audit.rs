//! The audit hash chain in SQLite: appends (serialised, so the chain never forks), reads for
//! timelines and exports, and the walk that `audit verify` performs.

use anyhow::{Context, Result, bail};
use sqlx::SqliteConnection;

use super::Store;
use crate::audit::{
    AuditRecord, GENESIS, MAX_ACTION_LEN, MAX_PARAMS_BYTES, MAX_REASON_LEN, NewEntry, Outcome,
    TimelineItem, entry_hash, now_ms, rfc3339_ms,
};
use crate::tickets::TicketNumber;

const COLUMNS: &str = "a.seq, a.prev_hash, a.hash, a.actor, a.action, a.params, a.device_id, \
                       a.ticket_number, a.outcome, a.reason, a.at_ms, a.recorded_at_ms";

type Row = (
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    String,
    Option<String>,
    i64,
    i64,
);

/// An entry with the text of its note, if it is a note.
type TimelineRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    String,
    Option<String>,
    i64,
    i64,
    Option<String>,
);

fn hash_from_hex(text: &str) -> [u8; 32] {
    let mut hash = [0xff; 32];
    // A stored hash that is not 64 hex digits can only come from an edited database; it is
    // read as all-ones, which never matches, so `verify` reports the entry.
    if let Ok(bytes) = hex::decode(text)
        && let Ok(bytes) = <[u8; 32]>::try_from(bytes.as_slice())
    {
        hash = bytes;
    }
    hash
}

fn record(row: Row) -> AuditRecord {
    let (seq, prev, hash, actor, action, params_json, device, ticket, outcome, reason, at, rec) =
        row;
    AuditRecord {
        seq,
        prev_hash: hash_from_hex(&prev),
        hash: hash_from_hex(&hash),
        actor,
        action,
        params_json,
        device,
        ticket,
        outcome: Outcome::from_parts(&outcome, reason),
        at_ms: at,
        recorded_at_ms: rec,
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary.
fn truncate(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// Why a chain does not verify: the first entry that does not fit, and how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit entry {seq}: {problem}")]
pub struct ChainBroken {
    pub seq: i64,
    pub problem: String,
}

/// A whole chain: how many entries and the last hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSummary {
    pub entries: i64,
    pub head: [u8; 32],
}

impl Store {
    /// Appends an entry in its own transaction. `BEGIN IMMEDIATE` takes SQLite's write lock
    /// before the head is read, so concurrent appends (from this process or the CLI) queue
    /// up instead of both building on the same head.
    pub async fn append_audit(&self, entry: NewEntry) -> Result<AuditRecord> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .context("starting an audit append")?;
        let record = Store::append_audit_in(&mut tx, entry).await?;
        tx.commit().await.context("committing an audit entry")?;
        self.feed.publish();
        Ok(record)
    }

    /// A transaction that holds the write lock from its start: use it around
    /// `append_audit_in`, so that reads made before the append stay valid.
    pub async fn begin_immediate(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .context("starting a write transaction")
    }

    /// Appends an entry inside the caller's transaction; it becomes visible when that
    /// commits. Call `store.feed().publish()` after the commit. Even in a transaction that did
    /// not start with `BEGIN IMMEDIATE`, two appends cannot both land on one sequence number
    /// (it is the primary key): the later commit fails instead of forking the chain.
    pub async fn append_audit_in(
        tx: &mut SqliteConnection,
        entry: NewEntry,
    ) -> Result<AuditRecord> {
        if entry.action.is_empty() || entry.action.len() > MAX_ACTION_LEN {
            bail!("audit action must be 1-{MAX_ACTION_LEN} bytes");
        }
        let params_json = serde_json::to_string(&entry.params).context("encoding audit params")?;
        if params_json.len() > MAX_PARAMS_BYTES {
            bail!(
                "audit params too large: {} > {MAX_PARAMS_BYTES} bytes",
                params_json.len()
            );
        }
        let outcome = match entry.outcome {
            Outcome::Ok => Outcome::Ok,
            Outcome::Refused(reason) => Outcome::Refused(truncate(&reason, MAX_REASON_LEN)),
            Outcome::Failed(reason) => Outcome::Failed(truncate(&reason, MAX_REASON_LEN)),
        };

        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_optional(&mut *tx)
                .await
                .context("reading the audit head")?;
        let (last, prev_hash) =
            head.map_or((0, GENESIS), |(seq, hash)| (seq, hash_from_hex(&hash)));
        let recorded_at_ms = now_ms();
        let mut record = AuditRecord {
            seq: last + 1,
            prev_hash,
            hash: [0; 32],
            actor: entry.actor.to_string(),
            action: entry.action,
            params_json,
            device: entry.device.map(String::from),
            ticket: entry.ticket.map(|TicketNumber(n)| n),
            outcome,
            at_ms: entry.at_ms.unwrap_or(recorded_at_ms),
            recorded_at_ms,
        };
        record.hash = entry_hash(&prev_hash, &record);

        insert(tx, &record).await?;
        sqlx::query(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2) \
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        )
        .bind(record.seq)
        .bind(hex::encode(record.hash))
        .execute(&mut *tx)
        .await
        .context("moving the audit head")?;
        super::webhooks::enqueue(tx, record.seq, recorded_at_ms).await?;
        Ok(record)
    }

    /// The head of the chain: the last sequence number and its hash, if any entry exists.
    pub async fn audit_head(&self) -> Result<Option<(i64, [u8; 32])>> {
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_optional(&self.pool)
                .await
                .context("reading the audit head")?;
        Ok(head.map(|(seq, hash)| (seq, hash_from_hex(&hash))))
    }

    pub async fn audit_entry(&self, seq: i64) -> Result<Option<AuditRecord>> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM audit_log a WHERE a.seq = ?1"
        ))
        .bind(seq)
        .fetch_optional(&self.pool)
        .await
        .context("reading an audit entry")?;
        Ok(row.map(record))
    }

    /// The last `limit` entries matching the filters, oldest first.
    pub async fn audit_entries(
        &self,
        ticket: Option<TicketNumber>,
        device: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM audit_log a \
             WHERE (?1 IS NULL OR a.ticket_number = ?1) AND (?2 IS NULL OR a.device_id = ?2) \
             ORDER BY a.seq DESC LIMIT ?3"
        ))
        .bind(ticket.map(|t| t.0))
        .bind(device)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .context("listing audit entries")?;
        Ok(rows.into_iter().rev().map(record).collect())
    }

    /// A ticket's timeline: its notes and its other audit entries, in sequence order.
    pub async fn timeline(&self, ticket: TicketNumber) -> Result<Vec<TimelineItem>> {
        self.timeline_query("a.ticket_number = ?1", ticket.0, i64::MAX)
            .await
    }

    /// Timeline items of every ticket (and of none) after sequence number `after`.
    pub async fn timeline_since(&self, after: i64, limit: i64) -> Result<Vec<TimelineItem>> {
        self.timeline_query("a.seq > ?1", after, limit).await
    }

    async fn timeline_query(
        &self,
        filter: &str,
        value: i64,
        limit: i64,
    ) -> Result<Vec<TimelineItem>> {
        let rows: Vec<TimelineRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS}, n.text FROM audit_log a \
             LEFT JOIN ticket_notes n ON n.audit_seq = a.seq \
             WHERE {filter} ORDER BY a.seq LIMIT ?2"
        ))
        .bind(value)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("reading a timeline")?;
        Ok(rows
            .into_iter()
            .map(|(a, b, c, d, e, f, g, h, i, j, k, l, note)| {
                timeline_item(record((a, b, c, d, e, f, g, h, i, j, k, l)), note)
            })
            .collect())
    }

    /// Walks the whole chain from the first entry, checking sequence numbers, links and
    /// hashes, then the recorded head.
    ///
    /// What it cannot see: someone able to write the database can rewrite every entry from
    /// some point on and the head with them, producing a chain that verifies. The head only
    /// catches a cut tail; the defence against a full rewrite is a copy held elsewhere (the
    /// webhook receiver keeps every entry's hash as it was sent).
    pub async fn verify_audit(&self) -> Result<Result<ChainSummary, ChainBroken>> {
        let mut prev = GENESIS;
        let mut expected = 1;
        loop {
            let rows: Vec<Row> = sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM audit_log a WHERE a.seq >= ?1 ORDER BY a.seq LIMIT 1000"
            ))
            .bind(expected)
            .fetch_all(&self.pool)
            .await
            .context("reading the audit chain")?;
            if rows.is_empty() {
                break;
            }
            for entry in rows.into_iter().map(record) {
                if let Err(broken) = check_link(&entry, expected, &prev) {
                    return Ok(Err(broken));
                }
                prev = entry.hash;
                expected += 1;
            }
        }
        let last = expected - 1;
        Ok(check_head(self.audit_head().await?, last, &prev))
    }
}

/// Checks one entry against the one before it.
fn check_link(entry: &AuditRecord, expected: i64, prev: &[u8; 32]) -> Result<(), ChainBroken> {
    let broken = |seq, problem: &str| ChainBroken {
        seq,
        problem: problem.to_owned(),
    };
    if entry.seq != expected {
        return Err(broken(
            expected,
            &format!("missing (the next entry on record is {})", entry.seq),
        ));
    }
    if entry.prev_hash != *prev {
        return Err(broken(
            entry.seq,
            "does not link to the entry before it (an entry was deleted, inserted or moved)",
        ));
    }
    if entry_hash(prev, entry) != entry.hash {
        return Err(broken(
            entry.seq,
            "contents do not match its hash (the entry was edited or replaced)",
        ));
    }
    Ok(())
}

/// Checks the end of the walk against the head recorded with the last append.
fn check_head(
    head: Option<(i64, [u8; 32])>,
    last: i64,
    last_hash: &[u8; 32],
) -> Result<ChainSummary, ChainBroken> {
    let (head_seq, head_hash) = head.unwrap_or((0, GENESIS));
    if head_seq > last {
        return Err(ChainBroken {
            seq: last + 1,
            problem: format!(
                "missing: the chain ends at entry {last} but the head records {head_seq} \
                 (entries were removed from the end)"
            ),
        });
    }
    if head_seq < last {
        return Err(ChainBroken {
            seq: head_seq + 1,
            problem: format!("is after the recorded head {head_seq} (entries were added)"),
        });
    }
    if head_hash != *last_hash {
        return Err(ChainBroken {
            seq: last,
            problem: "does not match the recorded head hash".to_owned(),
        });
    }
    Ok(ChainSummary {
        entries: last,
        head: *last_hash,
    })
}

async fn insert(tx: &mut SqliteConnection, record: &AuditRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (seq, prev_hash, hash, actor, action, params, device_id, \
         ticket_number, outcome, reason, at_ms, recorded_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .bind(record.seq)
    .bind(hex::encode(record.prev_hash))
    .bind(hex::encode(record.hash))
    .bind(&record.actor)
    .bind(&record.action)
    .bind(&record.params_json)
    .bind(&record.device)
    .bind(record.ticket)
    .bind(record.outcome.name())
    .bind(record.outcome.reason())
    .bind(record.at_ms)
    .bind(record.recorded_at_ms)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("appending audit entry {}", record.seq))?;
    Ok(())
}

fn timeline_item(entry: AuditRecord, note: Option<String>) -> TimelineItem {
    let params = entry.params();
    let reason = entry.outcome.reason().map(str::to_owned);
    let outcome = entry.outcome.name().to_owned();
    let is_note = note.is_some();
    TimelineItem {
        kind: if is_note { "note" } else { "audit" },
        seq: entry.seq,
        at: rfc3339_ms(entry.at_ms),
        actor: entry.actor,
        ticket: entry.ticket,
        text: note,
        action: (!is_note).then_some(entry.action),
        params: (!is_note).then_some(params),
        device: entry.device,
        outcome: (!is_note).then_some(outcome),
        reason,
    }
}
