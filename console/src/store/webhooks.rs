//! The outbound webhook's configuration and its durable outbox. Each audit append adds an
//! outbox row per active webhook in the same transaction; the delivery loop
//! (`webhook/mod.rs`) sends them strictly in order and records each attempt.

use anyhow::{Context, Result};
use sqlx::SqliteConnection;

use super::Store;

/// The active webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    /// SHA-256 of the signing secret, to tell which secret file belongs to this webhook.
    pub secret_sha256: String,
    pub created_at: i64,
}

/// The next entry to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub outbox_id: i64,
    pub webhook: Webhook,
    pub audit_seq: i64,
    pub attempts: i64,
    pub next_attempt_ms: i64,
}

/// Delivery counts for `webhook status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub pending: i64,
    pub delivered: i64,
    pub last_error: Option<String>,
}

/// Queues audit entry `seq` for every active webhook (called inside the append).
pub(super) async fn enqueue(tx: &mut SqliteConnection, seq: i64, now_ms: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhook_outbox (webhook_id, audit_seq, state, attempts, next_attempt_ms) \
         SELECT id, ?1, 'pending', 0, ?2 FROM webhooks WHERE active = 1",
    )
    .bind(seq)
    .bind(now_ms)
    .execute(&mut *tx)
    .await
    .context("queueing an audit entry for the webhook")?;
    Ok(())
}

impl Store {
    /// Makes `url` the webhook. The previous one stops, and its undelivered entries are
    /// abandoned: the new receiver starts with entries appended from now on.
    pub async fn set_webhook(&self, url: &str, secret_sha256: &str, now: i64) -> Result<i64> {
        let mut tx = self.begin_immediate().await?;
        clear(&mut tx).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO webhooks (url, secret_sha256, created_at, active) \
             VALUES (?1, ?2, ?3, 1) RETURNING id",
        )
        .bind(url)
        .bind(secret_sha256)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .context("storing the webhook")?;
        tx.commit().await.context("committing the webhook")?;
        Ok(id)
    }

    /// Stops the webhook; undelivered entries are abandoned.
    pub async fn clear_webhook(&self) -> Result<()> {
        let mut tx = self.begin_immediate().await?;
        clear(&mut tx).await?;
        tx.commit()
            .await
            .context("committing the webhook removal")?;
        Ok(())
    }

    pub async fn webhook(&self) -> Result<Option<Webhook>> {
        let row: Option<(i64, String, String, i64)> = sqlx::query_as(
            "SELECT id, url, secret_sha256, created_at FROM webhooks WHERE active = 1",
        )
        .fetch_optional(&self.pool)
        .await
        .context("reading the webhook")?;
        Ok(row.map(|(id, url, secret_sha256, created_at)| Webhook {
            id,
            url,
            secret_sha256,
            created_at,
        }))
    }

    /// The oldest undelivered entry of the active webhook, whether or not it is due.
    pub async fn next_delivery(&self) -> Result<Option<Delivery>> {
        let Some(webhook) = self.webhook().await? else {
            return Ok(None);
        };
        let row: Option<(i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT id, audit_seq, attempts, next_attempt_ms FROM webhook_outbox \
             WHERE webhook_id = ?1 AND state = 'pending' ORDER BY id LIMIT 1",
        )
        .bind(webhook.id)
        .fetch_optional(&self.pool)
        .await
        .context("reading the webhook outbox")?;
        Ok(row.map(
            |(outbox_id, audit_seq, attempts, next_attempt_ms)| Delivery {
                outbox_id,
                webhook,
                audit_seq,
                attempts,
                next_attempt_ms,
            },
        ))
    }

    pub async fn mark_delivered(&self, outbox_id: i64, now_ms: i64) -> Result<()> {
        sqlx::query(
            "UPDATE webhook_outbox SET state = 'delivered', attempts = attempts + 1, \
             delivered_at_ms = ?2, last_error = NULL WHERE id = ?1",
        )
        .bind(outbox_id)
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .context("recording a webhook delivery")?;
        Ok(())
    }

    pub async fn mark_attempt_failed(
        &self,
        outbox_id: i64,
        next_attempt_ms: i64,
        error: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_ms = ?2, \
             last_error = ?3 WHERE id = ?1",
        )
        .bind(outbox_id)
        .bind(next_attempt_ms)
        .bind(error)
        .execute(&self.pool)
        .await
        .context("recording a failed webhook delivery")?;
        Ok(())
    }

    pub async fn outbox_counts(&self) -> Result<OutboxCounts> {
        let Some(webhook) = self.webhook().await? else {
            return Ok(OutboxCounts::default());
        };
        let (pending, delivered): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN state = 'delivered' THEN 1 ELSE 0 END), 0) \
             FROM webhook_outbox WHERE webhook_id = ?1",
        )
        .bind(webhook.id)
        .fetch_one(&self.pool)
        .await
        .context("counting webhook deliveries")?;
        let last_error: Option<String> = sqlx::query_scalar(
            "SELECT last_error FROM webhook_outbox WHERE webhook_id = ?1 AND state = 'pending' \
             ORDER BY id LIMIT 1",
        )
        .bind(webhook.id)
        .fetch_optional(&self.pool)
        .await
        .context("reading the last webhook error")?
        .flatten();
        Ok(OutboxCounts {
            pending,
            delivered,
            last_error,
        })
    }
}

async fn clear(tx: &mut SqliteConnection) -> Result<()> {
    sqlx::query(
        "UPDATE webhook_outbox SET state = 'abandoned' WHERE state = 'pending' \
         AND webhook_id IN (SELECT id FROM webhooks WHERE active = 1)",
    )
    .execute(&mut *tx)
    .await
    .context("abandoning undelivered webhook entries")?;
    sqlx::query("UPDATE webhooks SET active = 0 WHERE active = 1")
        .execute(&mut *tx)
        .await
        .context("stopping the webhook")?;
    Ok(())
}
