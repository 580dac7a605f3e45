//! Enrolled devices: identity (certificate hash), presence and the last reported inventory.

use anyhow::{Context, Result};
use hotline_protocol::DeviceId;
use sqlx::{Sqlite, Transaction};

use super::Store;

/// A device as the database knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub id: String,
    pub cert_sha256: String,
    pub hostname: String,
    pub enrolled_at: i64,
    pub revoked_at: Option<i64>,
    pub online: bool,
    pub last_seen: Option<i64>,
    pub last_address: Option<String>,
    pub agent_version: Option<String>,
    /// The inventory from the last hello, as JSON.
    pub inventory: Option<String>,
}

/// What the link records when a device says hello.
#[derive(Debug)]
pub struct Presence<'a> {
    pub device: &'a DeviceId,
    pub hostname: &'a str,
    pub address: &'a str,
    pub agent_version: &'a str,
    pub inventory_json: &'a str,
    pub now: i64,
}

type Row = (
    String,
    String,
    String,
    i64,
    Option<i64>,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
);

const COLUMNS: &str = "id, cert_sha256, hostname, enrolled_at, revoked_at, online, last_seen, \
                       last_address, agent_version, inventory";

fn record(row: Row) -> DeviceRecord {
    let (
        id,
        cert_sha256,
        hostname,
        enrolled_at,
        revoked_at,
        online,
        last_seen,
        last_address,
        agent_version,
        inventory,
    ) = row;
    DeviceRecord {
        id,
        cert_sha256,
        hostname,
        enrolled_at,
        revoked_at,
        online: online != 0,
        last_seen,
        last_address,
        agent_version,
        inventory,
    }
}

pub(super) async fn insert(tx: &mut Transaction<'_, Sqlite>, device: &DeviceRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO devices (id, cert_sha256, hostname, enrolled_at) VALUES (?1, ?2, ?3, ?4)",
    )
    .bind(&device.id)
    .bind(&device.cert_sha256)
    .bind(&device.hostname)
    .bind(device.enrolled_at)
    .execute(&mut **tx)
    .await
    .with_context(|| format!("registering device {}", device.id))?;
    Ok(())
}

impl Store {
    /// The device whose certificate has this SHA-256, if any.
    pub async fn device_by_certificate(&self, cert_sha256: &str) -> Result<Option<DeviceRecord>> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM devices WHERE cert_sha256 = ?1"
        ))
        .bind(cert_sha256)
        .fetch_optional(&self.pool)
        .await
        .context("looking up a device certificate")?;
        Ok(row.map(record))
    }

    pub async fn device(&self, id: &str) -> Result<Option<DeviceRecord>> {
        let row: Option<Row> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM devices WHERE id = ?1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .with_context(|| format!("looking up device {id}"))?;
        Ok(row.map(record))
    }

    pub async fn devices(&self) -> Result<Vec<DeviceRecord>> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM devices ORDER BY hostname, id"
        ))
        .fetch_all(&self.pool)
        .await
        .context("listing devices")?;
        Ok(rows.into_iter().map(record).collect())
    }

    /// Marks a device online with what its hello reported.
    pub async fn set_online(&self, presence: &Presence<'_>) -> Result<()> {
        sqlx::query(
            "UPDATE devices SET online = 1, last_seen = ?2, hostname = ?3, last_address = ?4, \
             agent_version = ?5, inventory = ?6 WHERE id = ?1",
        )
        .bind(presence.device.as_str())
        .bind(presence.now)
        .bind(presence.hostname)
        .bind(presence.address)
        .bind(presence.agent_version)
        .bind(presence.inventory_json)
        .execute(&self.pool)
        .await
        .with_context(|| format!("marking device {} online", presence.device))?;
        Ok(())
    }

    pub async fn set_offline(&self, device: &DeviceId, now: i64) -> Result<()> {
        sqlx::query("UPDATE devices SET online = 0, last_seen = ?2 WHERE id = ?1")
            .bind(device.as_str())
            .bind(now)
            .execute(&self.pool)
            .await
            .with_context(|| format!("marking device {device} offline"))?;
        Ok(())
    }

    /// Marks every device offline; a console does this when it starts, since it holds no
    /// connection yet.
    pub async fn set_all_offline(&self) -> Result<()> {
        sqlx::query("UPDATE devices SET online = 0 WHERE online = 1")
            .execute(&self.pool)
            .await
            .context("marking all devices offline")?;
        Ok(())
    }

    /// Records heartbeats in one transaction: with thousands of devices, one write each
    /// would keep SQLite busy all the time.
    pub async fn touch_devices(&self, seen: &[(DeviceId, i64)]) -> Result<()> {
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting heartbeat flush")?;
        for (device, at) in seen {
            sqlx::query("UPDATE devices SET last_seen = ?2 WHERE id = ?1")
                .bind(device.as_str())
                .bind(at)
                .execute(&mut *tx)
                .await
                .context("recording a heartbeat")?;
        }
        tx.commit().await.context("committing heartbeats")?;
        Ok(())
    }

    /// Revokes a device. Returns `false` when it was already revoked.
    pub async fn revoke(&self, device: &DeviceId, now: i64) -> Result<bool> {
        let mut tx = self.pool.begin().await.context("starting revocation")?;
        let changed =
            sqlx::query("UPDATE devices SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")
                .bind(device.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await
                .with_context(|| format!("revoking device {device}"))?;
        if changed.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("INSERT INTO revocations (device_id, at) VALUES (?1, ?2)")
            .bind(device.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .context("queueing the revocation for the running console")?;
        tx.commit().await.context("committing revocation")?;
        Ok(true)
    }

    /// Revocations after sequence number `after`, with the newest sequence number.
    pub async fn revocations_since(&self, after: i64) -> Result<(Vec<DeviceId>, i64)> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT seq, device_id FROM revocations WHERE seq > ?1 ORDER BY seq")
                .bind(after)
                .fetch_all(&self.pool)
                .await
                .context("polling revocations")?;
        let newest = rows.last().map_or(after, |(seq, _)| *seq);
        let devices = rows
            .into_iter()
            .filter_map(|(_, id)| id.parse().ok())
            .collect();
        Ok((devices, newest))
    }
}
