//! Analyst accounts and their roles, web sessions and API tokens (stored as SHA-256 hashes
//! only), and login attempts for rate limiting.

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use sqlx::SqliteConnection;

use super::Store;
use crate::accounts::{AccountName, Role, Roles};

/// An account as stored.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: i64,
    pub name: AccountName,
    pub display_name: String,
    pub password_hash: String,
    pub must_change_password: bool,
    pub disabled: bool,
    pub roles: Roles,
    pub created_at: i64,
}

/// An API token's listing (never the token itself).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiTokenInfo {
    pub id: i64,
    pub name: String,
    pub owner: String,
    pub roles: Roles,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
}

type AccountRow = (i64, String, String, String, i64, i64, i64);

const ACCOUNT_COLUMNS: &str =
    "id, username, display_name, password_hash, must_change_password, disabled, created_at";

/// The hex SHA-256 of a bearer secret (session cookie or API token).
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn parse_roles(rows: &[String]) -> Roles {
    rows.iter()
        .filter_map(|role| role.parse::<Role>().ok())
        .collect()
}

async fn roles_of(conn: &mut SqliteConnection, account_id: i64) -> Result<Roles> {
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT role FROM account_roles WHERE account_id = ?1")
            .bind(account_id)
            .fetch_all(&mut *conn)
            .await
            .context("reading account roles")?;
    Ok(parse_roles(&rows))
}

async fn load(conn: &mut SqliteConnection, row: AccountRow) -> Result<Account> {
    let (id, name, display_name, password_hash, must_change, disabled, created_at) = row;
    Ok(Account {
        id,
        name: name
            .parse()
            .map_err(|error: String| anyhow::anyhow!("stored account {id}: {error}"))?,
        display_name,
        password_hash,
        must_change_password: must_change != 0,
        disabled: disabled != 0,
        roles: roles_of(conn, id).await?,
        created_at,
    })
}

async fn set_roles_in(conn: &mut SqliteConnection, account_id: i64, roles: &Roles) -> Result<()> {
    sqlx::query("DELETE FROM account_roles WHERE account_id = ?1")
        .bind(account_id)
        .execute(&mut *conn)
        .await
        .context("clearing account roles")?;
    for role in roles {
        sqlx::query("INSERT INTO account_roles (account_id, role) VALUES (?1, ?2)")
            .bind(account_id)
            .bind(role.as_str())
            .execute(&mut *conn)
            .await
            .context("granting a role")?;
    }
    Ok(())
}

impl Store {
    /// Creates an account that must change its password at first login. Fails when the name
    /// is taken.
    pub async fn create_account(
        &self,
        name: &AccountName,
        display_name: &str,
        roles: &Roles,
        password_hash: &str,
        now: i64,
    ) -> Result<i64> {
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting account creation")?;
        let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM accounts WHERE username = ?1")
            .bind(name.as_str())
            .fetch_optional(&mut *tx)
            .await
            .context("checking the user name")?;
        if taken.is_some() {
            bail!("an account named {name} already exists");
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO accounts (username, display_name, password_hash, must_change_password, \
             disabled, created_at) VALUES (?1, ?2, ?3, 1, 0, ?4) RETURNING id",
        )
        .bind(name.as_str())
        .bind(display_name)
        .bind(password_hash)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .with_context(|| format!("creating account {name}"))?;
        set_roles_in(&mut tx, id, roles).await?;
        tx.commit().await.context("committing the new account")?;
        Ok(id)
    }

    pub async fn account(&self, name: &str) -> Result<Option<Account>> {
        let mut conn = self.pool.acquire().await.context("reading an account")?;
        let row: Option<AccountRow> = sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE username = ?1"
        ))
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .with_context(|| format!("looking up account {name}"))?;
        match row {
            Some(row) => Ok(Some(load(&mut conn, row).await?)),
            None => Ok(None),
        }
    }

    pub async fn account_by_id(&self, id: i64) -> Result<Option<Account>> {
        let mut conn = self.pool.acquire().await.context("reading an account")?;
        let row: Option<AccountRow> = sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .context("looking up an account")?;
        match row {
            Some(row) => Ok(Some(load(&mut conn, row).await?)),
            None => Ok(None),
        }
    }

    pub async fn accounts(&self) -> Result<Vec<Account>> {
        let mut conn = self.pool.acquire().await.context("listing accounts")?;
        let rows: Vec<AccountRow> = sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY username"
        ))
        .fetch_all(&mut *conn)
        .await
        .context("listing accounts")?;
        let mut accounts = Vec::with_capacity(rows.len());
        for row in rows {
            accounts.push(load(&mut conn, row).await?);
        }
        Ok(accounts)
    }

    pub async fn set_account_roles(&self, id: i64, roles: &Roles) -> Result<()> {
        let mut tx = self.pool.begin().await.context("starting a role change")?;
        set_roles_in(&mut tx, id, roles).await?;
        tx.commit().await.context("committing a role change")?;
        Ok(())
    }

    /// Disables or enables an account. Disabling ends its web sessions at once; its API
    /// tokens stop working because every request checks the owner.
    pub async fn set_account_disabled(&self, id: i64, disabled: bool) -> Result<()> {
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting an account change")?;
        sqlx::query("UPDATE accounts SET disabled = ?2 WHERE id = ?1")
            .bind(id)
            .bind(i64::from(disabled))
            .execute(&mut *tx)
            .await
            .context("changing the account's state")?;
        if disabled {
            sqlx::query("DELETE FROM web_sessions WHERE account_id = ?1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .context("ending the account's sessions")?;
        }
        tx.commit().await.context("committing an account change")?;
        Ok(())
    }

    /// Sets a new password hash. `must_change` marks a one-time password set by an admin.
    pub async fn set_password(
        &self,
        id: i64,
        hash: &str,
        must_change: bool,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE accounts SET password_hash = ?2, must_change_password = ?3, \
             password_changed_at = ?4 WHERE id = ?1",
        )
        .bind(id)
        .bind(hash)
        .bind(i64::from(must_change))
        .bind(now)
        .execute(&self.pool)
        .await
        .context("storing a password hash")?;
        Ok(())
    }

    pub async fn create_session(
        &self,
        account_id: i64,
        token: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO web_sessions (token_sha256, account_id, created_at, last_seen, \
             expires_at) VALUES (?1, ?2, ?3, ?3, ?4)",
        )
        .bind(secret_hash(token))
        .bind(account_id)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .context("storing a web session")?;
        Ok(())
    }

    /// The account behind a session cookie, when the session is neither expired nor idle
    /// for longer than `idle_secs`; marks it used now.
    pub async fn session_account(
        &self,
        token: &str,
        now: i64,
        idle_secs: i64,
    ) -> Result<Option<Account>> {
        let hash = secret_hash(token);
        let row: Option<i64> = sqlx::query_scalar(
            "SELECT account_id FROM web_sessions \
             WHERE token_sha256 = ?1 AND expires_at > ?2 AND last_seen > ?3",
        )
        .bind(&hash)
        .bind(now)
        .bind(now - idle_secs)
        .fetch_optional(&self.pool)
        .await
        .context("looking up a web session")?;
        let Some(account_id) = row else {
            return Ok(None);
        };
        sqlx::query("UPDATE web_sessions SET last_seen = ?2 WHERE token_sha256 = ?1")
            .bind(&hash)
            .bind(now)
            .execute(&self.pool)
            .await
            .context("touching a web session")?;
        self.account_by_id(account_id).await
    }

    pub async fn delete_session(&self, token: &str) -> Result<()> {
        sqlx::query("DELETE FROM web_sessions WHERE token_sha256 = ?1")
            .bind(secret_hash(token))
            .execute(&self.pool)
            .await
            .context("ending a web session")?;
        Ok(())
    }

    /// Ends every session of an account except `keep` (after a password change).
    pub async fn delete_other_sessions(&self, account_id: i64, keep: &str) -> Result<()> {
        sqlx::query("DELETE FROM web_sessions WHERE account_id = ?1 AND token_sha256 <> ?2")
            .bind(account_id)
            .bind(secret_hash(keep))
            .execute(&self.pool)
            .await
            .context("ending other web sessions")?;
        Ok(())
    }

    // FIXME: login_attempts is never pruned; rows older than the rate-limit window could be
    // deleted by a periodic job once one exists.
    pub async fn record_login(
        &self,
        username: &str,
        address: &str,
        success: bool,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO login_attempts (username, address, at, success) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(username)
        .bind(address)
        .bind(now)
        .bind(i64::from(success))
        .execute(&self.pool)
        .await
        .context("recording a login attempt")?;
        Ok(())
    }

    /// Failed logins since `since`: (for this user name, from this address).
    pub async fn failed_logins(
        &self,
        username: &str,
        address: &str,
        since: i64,
    ) -> Result<(i64, i64)> {
        let by_user: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM login_attempts WHERE username = ?1 AND at > ?2 AND success = 0 \
             AND id > COALESCE((SELECT MAX(id) FROM login_attempts \
                                WHERE username = ?1 AND success = 1), 0)",
        )
        .bind(username)
        .bind(since)
        .fetch_one(&self.pool)
        .await
        .context("counting failed logins")?;
        let by_address: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM login_attempts WHERE address = ?1 AND at > ?2 AND success = 0",
        )
        .bind(address)
        .bind(since)
        .fetch_one(&self.pool)
        .await
        .context("counting failed logins")?;
        Ok((by_user, by_address))
    }
}
