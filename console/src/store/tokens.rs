//! Enrollment tokens: stored as SHA-256 hashes, each with an expiry and a number of uses.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::Store;

/// What a token is worth right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCheck {
    Valid,
    Unknown,
    Expired,
    Used,
}

impl TokenCheck {
    /// Why a token is refused, as told to the agent and recorded.
    pub fn refusal(self) -> &'static str {
        match self {
            TokenCheck::Valid => "token valid",
            TokenCheck::Unknown => "enrollment token unknown",
            TokenCheck::Expired => "enrollment token expired",
            TokenCheck::Used => "enrollment token already used",
        }
    }
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Store {
    pub async fn create_token(
        &self,
        token: &str,
        now: i64,
        expires_at: i64,
        uses: u32,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO enrollment_tokens (token_sha256, created_at, expires_at, uses_left) \
             VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(hash(token))
        .bind(now)
        .bind(expires_at)
        .bind(i64::from(uses))
        .execute(&self.pool)
        .await
        .context("storing the enrollment token")?;
        Ok(())
    }

    /// Checks a token without using it up.
    pub async fn check_token(&self, token: &str, now: i64) -> Result<TokenCheck> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT expires_at, uses_left FROM enrollment_tokens WHERE token_sha256 = ?1",
        )
        .bind(hash(token))
        .fetch_optional(&self.pool)
        .await
        .context("looking up the enrollment token")?;
        Ok(match row {
            None => TokenCheck::Unknown,
            Some((_, uses_left)) if uses_left <= 0 => TokenCheck::Used,
            Some((expires_at, _)) if expires_at <= now => TokenCheck::Expired,
            Some(_) => TokenCheck::Valid,
        })
    }

    /// Uses the token once and registers the device, in one transaction, so that two agents
    /// racing with one single-use token cannot both enroll.
    pub async fn enroll_device(
        &self,
        token: &str,
        now: i64,
        device: &super::DeviceRecord,
    ) -> Result<TokenCheck> {
        let mut tx = self.pool.begin().await.context("starting enrollment")?;
        let used = sqlx::query(
            "UPDATE enrollment_tokens SET uses_left = uses_left - 1 \
             WHERE token_sha256 = ?1 AND uses_left > 0 AND expires_at > ?2",
        )
        .bind(hash(token))
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("using the enrollment token")?;
        if used.rows_affected() != 1 {
            tx.rollback().await.ok();
            // Someone else used it between the check and now; say precisely why.
            return self.check_token(token, now).await;
        }
        super::devices::insert(&mut tx, device).await?;
        tx.commit().await.context("committing enrollment")?;
        Ok(TokenCheck::Valid)
    }
}
