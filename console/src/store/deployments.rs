//! Deployments and each target device's progress through one. Every change a person or a
//! device makes is written in the same transaction as its audit entry on the ticket, so a
//! console that stops at any point carries on from what the database says, and the record
//! never claims more or less than happened.

use anyhow::{Context, Result};
use hotline_protocol::DeviceId;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::Store;
use crate::audit::NewEntry;
use crate::tickets::TicketNumber;

/// A deployment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRow {
    pub id: i64,
    pub ticket: TicketNumber,
    pub package: String,
    pub version: String,
    pub target: String,
    pub sha256: String,
    pub length: i64,
    pub status: String,
    pub status_reason: Option<String>,
    pub canary_percent: i64,
    pub failure_percent: i64,
    pub not_before: i64,
    pub deadline: Option<i64>,
    pub window: Option<Window>,
    /// Each device installs only inside its group's window.
    pub group_windows: bool,
    /// How the targets were named (JSON), when the deployment recorded it.
    pub targets: Option<String>,
    pub gate_ack: i64,
    pub created_by: String,
    pub created_at: i64,
}

/// A recurring maintenance window in Unix seconds (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub length: i64,
    pub every: i64,
}

impl Window {
    /// Whether the window is open at `now`.
    pub fn is_open(&self, now: i64) -> bool {
        if now < self.start {
            return false;
        }
        let every = self.every.max(1);
        (now - self.start) % every < self.length
    }

    /// When the window next opens at or after `now`.
    pub fn next_open(&self, now: i64) -> i64 {
        if self.is_open(now) {
            return now;
        }
        if now < self.start {
            return self.start;
        }
        let every = self.every.max(1);
        self.start + ((now - self.start) / every + 1) * every
    }
}

/// One device's place in a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetDevice {
    pub device: String,
    pub wave: i64,
    /// pending, sending or done.
    pub state: String,
    pub outcome: Option<String>,
    pub detail: Option<String>,
    pub attempts: i64,
    pub retry_at: i64,
    pub chunks_sent: i64,
}

/// What `deploy create` asks for.
#[derive(Debug, Clone)]
pub struct NewDeployment {
    pub ticket: TicketNumber,
    pub package: String,
    pub version: String,
    pub target: String,
    pub sha256: String,
    pub length: i64,
    pub canary_percent: i64,
    pub failure_percent: i64,
    pub not_before: i64,
    pub deadline: Option<i64>,
    pub window: Option<Window>,
    pub group_windows: bool,
    /// How the targets were named, as JSON.
    pub targets: serde_json::Value,
    pub created_by: String,
    /// Target devices with their wave (0 for the canary, 1 for the rest).
    pub devices: Vec<(DeviceId, i64)>,
}

const DEPLOYMENT_COLUMNS: &str = "id, ticket_number, package, version, target, sha256, length, \
     status, status_reason, canary_percent, failure_percent, not_before, deadline, \
     window_start, window_length, window_every, group_windows, targets, gate_ack, created_by, \
     created_at";

fn deployment(row: &SqliteRow) -> Result<DeploymentRow> {
    let window = match (
        row.try_get("window_start")?,
        row.try_get("window_length")?,
        row.try_get("window_every")?,
    ) {
        (Some(start), Some(length), Some(every)) => Some(Window {
            start,
            length,
            every,
        }),
        _ => None,
    };
    Ok(DeploymentRow {
        id: row.try_get("id")?,
        ticket: TicketNumber(row.try_get("ticket_number")?),
        package: row.try_get("package")?,
        version: row.try_get("version")?,
        target: row.try_get("target")?,
        sha256: row.try_get("sha256")?,
        length: row.try_get("length")?,
        status: row.try_get("status")?,
        status_reason: row.try_get("status_reason")?,
        canary_percent: row.try_get("canary_percent")?,
        failure_percent: row.try_get("failure_percent")?,
        not_before: row.try_get("not_before")?,
        deadline: row.try_get("deadline")?,
        window,
        group_windows: row.try_get::<i64, _>("group_windows")? != 0,
        targets: row.try_get("targets")?,
        gate_ack: row.try_get("gate_ack")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

const DEVICE_COLUMNS: &str =
    "device_id, wave, state, outcome, detail, attempts, retry_at, chunks_sent";

fn target_device(row: &SqliteRow) -> Result<TargetDevice> {
    Ok(TargetDevice {
        device: row.try_get("device_id")?,
        wave: row.try_get("wave")?,
        state: row.try_get("state")?,
        outcome: row.try_get("outcome")?,
        detail: row.try_get("detail")?,
        attempts: row.try_get("attempts")?,
        retry_at: row.try_get("retry_at")?,
        chunks_sent: row.try_get("chunks_sent")?,
    })
}

/// How a device's attempt ended, as the console records it.
#[derive(Debug, Clone)]
pub struct DeviceResult {
    pub outcome: String,
    pub detail: String,
    /// `Some(at)` to try again at `at` (retry later); `None` when the device is done.
    pub retry_at: Option<i64>,
}

impl Store {
    /// Creates a deployment with its target devices and its audit entry, in one transaction.
    pub async fn create_deployment(
        &self,
        new: &NewDeployment,
        entry: NewEntry,
        now: i64,
    ) -> Result<i64> {
        let mut tx = self.begin_immediate().await?;
        let window = new.window;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO deployments (ticket_number, package, version, target, sha256, length, \
             status, canary_percent, failure_percent, not_before, deadline, window_start, \
             window_length, window_every, group_windows, targets, created_by, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'active', ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
             ?16, ?17) RETURNING id",
        )
        .bind(new.ticket.0)
        .bind(&new.package)
        .bind(&new.version)
        .bind(&new.target)
        .bind(&new.sha256)
        .bind(new.length)
        .bind(new.canary_percent)
        .bind(new.failure_percent)
        .bind(new.not_before)
        .bind(new.deadline)
        .bind(window.map(|w| w.start))
        .bind(window.map(|w| w.length))
        .bind(window.map(|w| w.every))
        .bind(i64::from(new.group_windows))
        .bind(new.targets.to_string())
        .bind(&new.created_by)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .context("creating a deployment")?;
        for (device, wave) in &new.devices {
            sqlx::query(
                "INSERT INTO deployment_devices (deployment_id, device_id, wave, state, updated_at) \
                 VALUES (?1, ?2, ?3, 'pending', ?4)",
            )
            .bind(id)
            .bind(device.as_str())
            .bind(wave)
            .bind(now)
            .execute(&mut *tx)
            .await
            .context("adding a device to a deployment")?;
        }
        let entry = entry.params(serde_json::json!({
            "deployment": id,
            "package": new.package,
            "version": new.version,
            "sha256": new.sha256,
            "devices": new.devices.len(),
            "targets": new.targets,
            "group_windows": new.group_windows,
            "canary_percent": new.canary_percent,
            "failure_percent": new.failure_percent,
        }));
        Store::append_audit_in(&mut tx, entry).await?;
        tx.commit().await.context("committing a deployment")?;
        self.feed.publish();
        Ok(id)
    }

    pub async fn deployment(&self, id: i64) -> Result<Option<DeploymentRow>> {
        let row = sqlx::query(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context("reading a deployment")?;
        row.as_ref().map(deployment).transpose()
    }

    /// Deployments the scheduler works on.
    pub async fn active_deployments(&self) -> Result<Vec<DeploymentRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE status = 'active' ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await
        .context("listing active deployments")?;
        rows.iter().map(deployment).collect()
    }

    pub async fn deployments(&self) -> Result<Vec<DeploymentRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments ORDER BY id DESC"
        ))
        .fetch_all(&self.pool)
        .await
        .context("listing deployments")?;
        rows.iter().map(deployment).collect()
    }

    pub async fn deployment_devices(&self, id: i64) -> Result<Vec<TargetDevice>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM deployment_devices WHERE deployment_id = ?1 \
             ORDER BY wave, device_id"
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .context("reading a deployment's devices")?;
        rows.iter().map(target_device).collect()
    }

    /// Changes a deployment's status, with its audit entry, unless it already ended.
    /// Returns whether it changed.
    pub async fn set_deployment_status(
        &self,
        id: i64,
        status: &str,
        reason: Option<&str>,
        entry: NewEntry,
    ) -> Result<bool> {
        let mut tx = self.begin_immediate().await?;
        let changed = sqlx::query(
            "UPDATE deployments SET status = ?2, status_reason = ?3 \
             WHERE id = ?1 AND status NOT IN ('cancelled', 'finished') AND status <> ?2",
        )
        .bind(id)
        .bind(status)
        .bind(reason)
        .execute(&mut *tx)
        .await
        .context("changing a deployment's status")?
        .rows_affected()
            > 0;
        if changed {
            let entry = entry.params(serde_json::json!({
                "deployment": id,
                "status": status,
                "reason": reason,
            }));
            Store::append_audit_in(&mut tx, entry).await?;
        }
        tx.commit().await.context("committing a status change")?;
        if changed {
            self.feed.publish();
        }
        Ok(changed)
    }

    /// Resumes a paused deployment, accepting the `failures` seen so far, with its audit
    /// entry. Returns whether it was paused.
    pub async fn resume_deployment(&self, id: i64, failures: i64, entry: NewEntry) -> Result<bool> {
        let mut tx = self.begin_immediate().await?;
        let changed = sqlx::query(
            "UPDATE deployments SET status = 'active', status_reason = NULL, gate_ack = ?2 \
             WHERE id = ?1 AND status = 'paused'",
        )
        .bind(id)
        .bind(failures)
        .execute(&mut *tx)
        .await
        .context("resuming a deployment")?
        .rows_affected()
            > 0;
        if changed {
            let entry = entry.params(serde_json::json!({
                "deployment": id,
                "status": "active",
                "accepted_failures": failures,
            }));
            Store::append_audit_in(&mut tx, entry).await?;
        }
        tx.commit().await.context("committing a resume")?;
        if changed {
            self.feed.publish();
        }
        Ok(changed)
    }

    /// Marks a pending device as being sent its assignment, recording the nonce signed for
    /// it. Returns false when another attempt already holds it.
    // FIXME: signed nonces are kept forever; rows past their expiry could be pruned.
    pub async fn claim_device(
        &self,
        id: i64,
        device: &DeviceId,
        nonce: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin_immediate().await?;
        let claimed = sqlx::query(
            "UPDATE deployment_devices SET state = 'sending', attempts = attempts + 1, \
             updated_at = ?3 WHERE deployment_id = ?1 AND device_id = ?2 AND state = 'pending'",
        )
        .bind(id)
        .bind(device.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("claiming a device")?
        .rows_affected()
            > 0;
        if claimed {
            sqlx::query(
                "INSERT INTO assignment_nonces (nonce, deployment_id, device_id, expires_at) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .bind(nonce)
            .bind(id)
            .bind(device.as_str())
            .bind(expires_at)
            .execute(&mut *tx)
            .await
            .context("recording an assignment nonce")?;
        }
        tx.commit().await.context("committing a claim")?;
        Ok(claimed)
    }

    /// Records a device's result with its audit entry on the ticket.
    pub async fn finish_device(
        &self,
        id: i64,
        device: &DeviceId,
        result: &DeviceResult,
        entry: NewEntry,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin_immediate().await?;
        let state = if result.retry_at.is_some() {
            "pending"
        } else {
            "done"
        };
        sqlx::query(
            "UPDATE deployment_devices SET state = ?3, outcome = ?4, detail = ?5, \
             retry_at = ?6, updated_at = ?7 WHERE deployment_id = ?1 AND device_id = ?2",
        )
        .bind(id)
        .bind(device.as_str())
        .bind(state)
        .bind(&result.outcome)
        .bind(&result.detail)
        .bind(result.retry_at.unwrap_or(0))
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("recording a device's result")?;
        Store::append_audit_in(&mut tx, entry).await?;
        tx.commit().await.context("committing a device's result")?;
        self.feed.publish();
        Ok(())
    }

    /// Puts a device whose attempt was cut off (connection lost, console stopped) back to
    /// pending, without an outcome: the next attempt resumes the transfer.
    pub async fn release_device(&self, id: i64, device: &DeviceId, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE deployment_devices SET state = 'pending', updated_at = ?3 \
             WHERE deployment_id = ?1 AND device_id = ?2 AND state = 'sending'",
        )
        .bind(id)
        .bind(device.as_str())
        .bind(now)
        .execute(&self.pool)
        .await
        .context("releasing a device")?;
        Ok(())
    }

    /// At start-up: attempts a previous console process left open go back to pending.
    pub async fn release_all_devices(&self) -> Result<u64> {
        Ok(
            sqlx::query("UPDATE deployment_devices SET state = 'pending' WHERE state = 'sending'")
                .execute(&self.pool)
                .await
                .context("releasing interrupted attempts")?
                .rows_affected(),
        )
    }

    pub async fn add_chunks_sent(&self, id: i64, device: &DeviceId, chunks: i64) -> Result<()> {
        sqlx::query(
            "UPDATE deployment_devices SET chunks_sent = chunks_sent + ?3 \
             WHERE deployment_id = ?1 AND device_id = ?2",
        )
        .bind(id)
        .bind(device.as_str())
        .bind(chunks)
        .execute(&self.pool)
        .await
        .context("counting chunks sent")?;
        Ok(())
    }
}
