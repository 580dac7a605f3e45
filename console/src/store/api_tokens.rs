//! API tokens for scripts: stored as SHA-256 hashes, each with a name, an expiry, its
//! creator and the roles it asked for. Its rights at any moment are those roles intersected
//! with the creator's current roles, and nothing when the creator is disabled (the lesson of
//! SimpleHelp CVE-2024-57726, where a token could carry more than its creator held).

use anyhow::{Context, Result};

use super::Store;
use super::accounts::{Account, ApiTokenInfo, secret_hash};
use crate::accounts::{Role, Roles};

impl Store {
    /// Stores a new token; returns its id. The caller has checked `roles` against the creator.
    pub async fn create_api_token(
        &self,
        account_id: i64,
        name: &str,
        roles: &Roles,
        token: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<i64> {
        let mut tx = self.pool.begin().await.context("starting token creation")?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (token_sha256, name, account_id, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        )
        .bind(secret_hash(token))
        .bind(name)
        .bind(account_id)
        .bind(now)
        .bind(expires_at)
        .fetch_one(&mut *tx)
        .await
        .context("storing an API token")?;
        for role in roles {
            sqlx::query("INSERT INTO api_token_roles (token_id, role) VALUES (?1, ?2)")
                .bind(id)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await
                .context("storing an API token's roles")?;
        }
        tx.commit().await.context("committing an API token")?;
        Ok(id)
    }

    /// The creator behind a live token and the roles the token holds now (the token's roles
    /// intersected with the creator's). `None` for an unknown, expired or revoked token.
    pub async fn api_token_account(
        &self,
        token: &str,
        now: i64,
    ) -> Result<Option<(i64, Account, Roles)>> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT id, account_id FROM api_tokens \
             WHERE token_sha256 = ?1 AND expires_at > ?2 AND revoked_at IS NULL",
        )
        .bind(secret_hash(token))
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .context("looking up an API token")?;
        let Some((id, account_id)) = row else {
            return Ok(None);
        };
        let Some(account) = self.account_by_id(account_id).await? else {
            return Ok(None);
        };
        let roles = self.api_token_roles(id).await?;
        let effective = roles.intersection(&account.roles).copied().collect();
        sqlx::query("UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1")
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await
            .context("touching an API token")?;
        Ok(Some((id, account, effective)))
    }

    async fn api_token_roles(&self, id: i64) -> Result<Roles> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT role FROM api_token_roles WHERE token_id = ?1")
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .context("reading an API token's roles")?;
        Ok(rows.iter().filter_map(|r| r.parse::<Role>().ok()).collect())
    }

    /// Live tokens, of one account or (`None`) of all.
    pub async fn api_tokens(&self, account_id: Option<i64>, now: i64) -> Result<Vec<ApiTokenInfo>> {
        let rows: Vec<(i64, String, String, i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT t.id, t.name, a.username, t.created_at, t.expires_at, t.last_used_at \
             FROM api_tokens t JOIN accounts a ON a.id = t.account_id \
             WHERE (?1 IS NULL OR t.account_id = ?1) AND t.revoked_at IS NULL \
             AND t.expires_at > ?2 ORDER BY t.id",
        )
        .bind(account_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .context("listing API tokens")?;
        let mut tokens = Vec::with_capacity(rows.len());
        for (id, name, owner, created_at, expires_at, last_used_at) in rows {
            tokens.push(ApiTokenInfo {
                id,
                name,
                owner,
                roles: self.api_token_roles(id).await?,
                created_at,
                expires_at,
                last_used_at,
            });
        }
        Ok(tokens)
    }

    /// The creator of a live token.
    pub async fn api_token_owner(&self, id: i64) -> Result<Option<i64>> {
        sqlx::query_scalar("SELECT account_id FROM api_tokens WHERE id = ?1 AND revoked_at IS NULL")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("looking up an API token")
    }

    pub async fn revoke_api_token(&self, id: i64, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await
        .context("revoking an API token")?;
        Ok(done.rows_affected() == 1)
    }
}
