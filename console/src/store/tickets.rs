//! Tickets, their devices and notes. Every change is written together with its audit entry
//! in one transaction, so a ticket never changes without a record of who changed it.

use anyhow::{Context, Result};
use hotline_protocol::DeviceId;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::SqliteConnection;

use super::Store;
use crate::accounts::{AccountName, Role};
use crate::audit::{Actor, NewEntry, TimelineItem};
use crate::rejected::{conflict, invalid, not_found};
use crate::tickets::{Caller, Status, Ticket, TicketNumber};

/// A ticket to open; fields already validated for length and form.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub title: String,
    pub caller: Caller,
    pub devices: Vec<DeviceId>,
    pub priority: u8,
    pub assignee: Option<AccountName>,
    pub external_ref: Option<String>,
}

/// Changes to a ticket; `None` leaves a field alone, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct TicketChange {
    pub title: Option<String>,
    pub status: Option<Status>,
    pub priority: Option<u8>,
    pub assignee: Option<Option<AccountName>>,
    pub devices: Option<Vec<DeviceId>>,
    pub external_ref: Option<Option<String>>,
    pub resolution: Option<String>,
}

/// Filters for listing tickets; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub status: Option<Status>,
    pub assignee: Option<String>,
    pub device: Option<String>,
    pub priority: Option<u8>,
    /// Text searched in title, caller and external reference.
    pub text: Option<String>,
}

type Row = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    i64,
    Option<i64>,
);

const SELECT: &str = "SELECT t.number, t.title, t.caller_name, t.caller_contact, t.status, \
                      t.priority, a.username, t.external_ref, t.resolution, t.created_at, \
                      t.updated_at, t.closed_at FROM tickets t \
                      LEFT JOIN accounts a ON a.id = t.assignee_id";

fn time(secs: i64) -> String {
    let secs = u64::try_from(secs).unwrap_or(0);
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}

async fn load(conn: &mut SqliteConnection, row: Row) -> Result<Ticket> {
    let (
        number,
        title,
        name,
        contact,
        status,
        priority,
        assignee,
        external_ref,
        resolution,
        created,
        updated,
        closed,
    ) = row;
    let devices: Vec<String> = sqlx::query_scalar(
        "SELECT device_id FROM ticket_devices WHERE ticket_number = ?1 ORDER BY device_id",
    )
    .bind(number)
    .fetch_all(&mut *conn)
    .await
    .context("reading a ticket's devices")?;
    Ok(Ticket {
        number: TicketNumber(number),
        title,
        status: status.parse().unwrap_or(Status::Open),
        priority: u8::try_from(priority).unwrap_or(4),
        caller: Caller { name, contact },
        devices,
        assignee,
        external_ref,
        resolution,
        created_at: time(created),
        updated_at: time(updated),
        closed_at: closed.map(time),
    })
}

async fn ticket_in(conn: &mut SqliteConnection, number: TicketNumber) -> Result<Option<Ticket>> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE t.number = ?1"))
        .bind(number.0)
        .fetch_optional(&mut *conn)
        .await
        .with_context(|| format!("reading ticket {number}"))?;
    match row {
        Some(row) => Ok(Some(load(conn, row).await?)),
        None => Ok(None),
    }
}

/// The id of an assignable account: it exists, is enabled and holds the analyst role.
async fn assignee_id(conn: &mut SqliteConnection, name: &AccountName) -> Result<i64> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT id, disabled FROM accounts WHERE username = ?1")
            .bind(name.as_str())
            .fetch_optional(&mut *conn)
            .await
            .context("looking up the assignee")?;
    let Some((id, disabled)) = row else {
        return invalid(format!("assignee {name} has no account"));
    };
    let is_analyst: Option<String> =
        sqlx::query_scalar("SELECT role FROM account_roles WHERE account_id = ?1 AND role = ?2")
            .bind(id)
            .bind(Role::Analyst.as_str())
            .fetch_optional(&mut *conn)
            .await
            .context("checking the assignee's roles")?;
    if disabled != 0 || is_analyst.is_none() {
        return invalid(format!("assignee {name} is not an active analyst"));
    }
    Ok(id)
}

async fn set_devices(conn: &mut SqliteConnection, number: i64, devices: &[DeviceId]) -> Result<()> {
    sqlx::query("DELETE FROM ticket_devices WHERE ticket_number = ?1")
        .bind(number)
        .execute(&mut *conn)
        .await
        .context("clearing a ticket's devices")?;
    for device in devices {
        let known: Option<String> = sqlx::query_scalar("SELECT id FROM devices WHERE id = ?1")
            .bind(device.as_str())
            .fetch_optional(&mut *conn)
            .await
            .context("checking a device")?;
        if known.is_none() {
            return invalid(format!("no enrolled device {device}"));
        }
        sqlx::query(
            "INSERT INTO ticket_devices (ticket_number, device_id) VALUES (?1, ?2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(number)
        .bind(device.as_str())
        .execute(&mut *conn)
        .await
        .context("adding a device to a ticket")?;
    }
    Ok(())
}

impl Store {
    /// Opens a ticket (status `new`, or `open` when it has an assignee) and records it.
    pub async fn create_ticket(&self, new: NewTicket, actor: Actor) -> Result<Ticket> {
        let mut tx = self.begin_immediate().await?;
        let now = super::unix_now();
        let assignee = match &new.assignee {
            Some(name) => Some(assignee_id(&mut tx, name).await?),
            None => None,
        };
        let status = if assignee.is_some() {
            Status::Open
        } else {
            Status::New
        };
        let number: i64 = sqlx::query_scalar(
            "INSERT INTO tickets (title, caller_name, caller_contact, status, priority, \
             assignee_id, external_ref, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) RETURNING number",
        )
        .bind(&new.title)
        .bind(&new.caller.name)
        .bind(&new.caller.contact)
        .bind(status.as_str())
        .bind(i64::from(new.priority))
        .bind(assignee)
        .bind(&new.external_ref)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .context("storing a ticket")?;
        set_devices(&mut tx, number, &new.devices).await?;

        let params = json!({
            "title": new.title,
            "priority": new.priority,
            "devices": new.devices,
            "assignee": new.assignee,
            "external_ref": new.external_ref,
        });
        let entry = NewEntry::new(actor, "ticket.open")
            .params(params)
            .ticket(Some(TicketNumber(number)));
        Store::append_audit_in(&mut tx, entry).await?;
        let ticket = ticket_in(&mut tx, TicketNumber(number)).await?;
        tx.commit().await.context("committing a new ticket")?;
        self.feed.publish();
        ticket.context("a ticket vanished inside its own transaction")
    }

    pub async fn ticket(&self, number: TicketNumber) -> Result<Option<Ticket>> {
        let mut conn = self.pool.acquire().await.context("reading a ticket")?;
        ticket_in(&mut conn, number).await
    }

    /// Tickets matching `filter`, open ones first, then by priority and number.
    pub async fn tickets(&self, filter: &TicketFilter) -> Result<Vec<Ticket>> {
        let pattern = filter.text.as_ref().map(|text| {
            let escaped = text
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{}%", escaped.to_lowercase())
        });
        let mut conn = self.pool.acquire().await.context("listing tickets")?;
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "{SELECT} WHERE (?1 IS NULL OR t.status = ?1) AND (?2 IS NULL OR a.username = ?2) \
             AND (?3 IS NULL OR t.number IN \
                  (SELECT ticket_number FROM ticket_devices WHERE device_id = ?3)) \
             AND (?4 IS NULL OR t.priority = ?4) \
             AND (?5 IS NULL OR LOWER(t.title) LIKE ?5 ESCAPE '\\' \
                  OR LOWER(t.caller_name) LIKE ?5 ESCAPE '\\' \
                  OR LOWER(COALESCE(t.external_ref, '')) LIKE ?5 ESCAPE '\\') \
             ORDER BY CASE WHEN t.status IN ('resolved', 'closed') THEN 1 ELSE 0 END, \
             t.priority, t.number DESC LIMIT 1000"
        ))
        .bind(filter.status.map(Status::as_str))
        .bind(&filter.assignee)
        .bind(&filter.device)
        .bind(filter.priority.map(i64::from))
        .bind(pattern)
        .fetch_all(&mut *conn)
        .await
        .context("listing tickets")?;
        let mut tickets = Vec::with_capacity(rows.len());
        for row in rows {
            tickets.push(load(&mut conn, row).await?);
        }
        Ok(tickets)
    }

    /// Applies `change` and records it as `action` (`ticket.update` or `ticket.close`).
    pub async fn update_ticket(
        &self,
        number: TicketNumber,
        change: TicketChange,
        actor: Actor,
        action: &str,
    ) -> Result<Ticket> {
        let mut tx = self.begin_immediate().await?;
        let Some(before) = ticket_in(&mut tx, number).await? else {
            return not_found(format!("no ticket {number}"));
        };
        if action == "ticket.close" && before.status == Status::Closed {
            return conflict(format!("ticket {number} is already closed"));
        }
        let now = super::unix_now();
        let mut params = serde_json::Map::new();

        if let Some(title) = &change.title {
            update(&mut tx, number, "title", title.clone()).await?;
            params.insert("title".into(), json!(title));
        }
        if let Some(priority) = change.priority {
            update(&mut tx, number, "priority", i64::from(priority)).await?;
            params.insert("priority".into(), json!(priority));
        }
        if let Some(external_ref) = &change.external_ref {
            update(&mut tx, number, "external_ref", external_ref.clone()).await?;
            params.insert("external_ref".into(), json!(external_ref));
        }
        if let Some(resolution) = &change.resolution {
            update(&mut tx, number, "resolution", resolution.clone()).await?;
            params.insert("resolution".into(), json!(resolution));
        }
        if let Some(assignee) = &change.assignee {
            let id = match assignee {
                Some(name) => Some(assignee_id(&mut tx, name).await?),
                None => None,
            };
            update(&mut tx, number, "assignee_id", id).await?;
            params.insert("assignee".into(), json!(assignee));
        }
        if let Some(devices) = &change.devices {
            set_devices(&mut tx, number.0, devices).await?;
            params.insert("devices".into(), json!(devices));
        }
        if let Some(status) = change.status {
            update(&mut tx, number, "status", status.as_str().to_owned()).await?;
            let closed_at = (!status.is_open()).then_some(now);
            update(&mut tx, number, "closed_at", closed_at).await?;
            params.insert("status".into(), json!(status));
        }
        update(&mut tx, number, "updated_at", now).await?;

        let entry = NewEntry::new(actor, action)
            .params(serde_json::Value::Object(params))
            .ticket(Some(number));
        Store::append_audit_in(&mut tx, entry).await?;
        let after = ticket_in(&mut tx, number).await?;
        tx.commit().await.context("committing a ticket change")?;
        self.feed.publish();
        after.context("a ticket vanished inside its own transaction")
    }

    /// Adds a note. Its audit entry carries the text's SHA-256 and length, so the chain
    /// covers the text without repeating it.
    pub async fn add_note(
        &self,
        number: TicketNumber,
        actor: Actor,
        text: &str,
    ) -> Result<TimelineItem> {
        let mut tx = self.begin_immediate().await?;
        let Some(ticket) = ticket_in(&mut tx, number).await? else {
            return not_found(format!("no ticket {number}"));
        };
        if ticket.status == Status::Closed {
            return conflict(format!("ticket {number} is closed; reopen it to add notes"));
        }
        let author = actor.to_string();
        let params = json!({
            "sha256": hex::encode(Sha256::digest(text.as_bytes())),
            "chars": text.chars().count(),
        });
        let entry = NewEntry::new(actor, "ticket.note")
            .params(params)
            .ticket(Some(number));
        let record = Store::append_audit_in(&mut tx, entry).await?;
        sqlx::query(
            "INSERT INTO ticket_notes (ticket_number, author, text, at_ms, audit_seq) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(number.0)
        .bind(&author)
        .bind(text)
        .bind(record.at_ms)
        .bind(record.seq)
        .execute(&mut *tx)
        .await
        .context("storing a note")?;
        update(&mut tx, number, "updated_at", super::unix_now()).await?;
        tx.commit().await.context("committing a note")?;
        self.feed.publish();
        Ok(TimelineItem {
            kind: "note",
            seq: record.seq,
            at: crate::audit::rfc3339_ms(record.at_ms),
            actor: author,
            ticket: Some(number.0),
            text: Some(text.to_owned()),
            action: None,
            params: None,
            device: None,
            outcome: None,
            reason: None,
        })
    }
}

/// Sets one column of a ticket; `column` is always one of our literals, never input.
async fn update<T>(
    conn: &mut SqliteConnection,
    number: TicketNumber,
    column: &str,
    value: T,
) -> Result<()>
where
    T: for<'q> sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send,
{
    sqlx::query(&format!(
        "UPDATE tickets SET {column} = ?2 WHERE number = ?1"
    ))
    .bind(number.0)
    .bind(value)
    .execute(&mut *conn)
    .await
    .with_context(|| format!("updating ticket {number}"))?;
    Ok(())
}
