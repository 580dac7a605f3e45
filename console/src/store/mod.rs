//! The console's embedded database: SQLite through sqlx, with migrations compiled into the
//! binary. The admin commands open it while `serve` runs, so it uses WAL and waits on locks.

mod accounts;
mod agent_audit;
mod api_tokens;
mod audit;
mod deployments;
mod devices;
mod events;
mod fleet;
mod policies;
mod progress;
mod repository;
mod tickets;
mod tokens;
mod webhooks;

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::pin::Pin;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use sqlx::SqlitePool;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use agent_audit::{AgentAuditRow, Ingested};
pub use deployments::{DeploymentRow, DeviceResult, NewDeployment, TargetDevice, Window};
pub use devices::{DeviceRecord, Presence};
pub use events::LinkEvent;
pub use fleet::{DeviceWindow, GroupRow};
pub use policies::DevicePolicy;
pub use progress::ProgressGroups;
pub use repository::TargetRow;
pub use tokens::TokenCheck;

pub use accounts::{Account, ApiTokenInfo, secret_hash};
pub use audit::{ChainBroken, ChainSummary};
pub use tickets::{NewTicket, TicketChange, TicketFilter};
pub use webhooks::{Delivery, OutboxCounts, Webhook};

/// The migrations, in order. Each is applied once and never edited afterwards.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "devices",
        include_str!("../../migrations/0001_devices.sql"),
    ),
    (
        2,
        "tickets_audit",
        include_str!("../../migrations/0002_tickets_audit.sql"),
    ),
    (
        3,
        "agent_audit",
        include_str!("../../migrations/0003_agent_audit.sql"),
    ),
    (
        4,
        "deploy",
        include_str!("../../migrations/0004_deploy.sql"),
    ),
    (5, "fleet", include_str!("../../migrations/0005_fleet.sql")),
    (
        6,
        "device_policy",
        include_str!("../../migrations/0006_device_policy.sql"),
    ),
];

#[derive(Debug)]
struct Embedded;

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|(version, name, sql)| {
                    Migration::new(
                        *version,
                        (*name).into(),
                        MigrationType::Simple,
                        (*sql).into(),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    /// Woken after every audit append made through this handle; see `audit::Feed`.
    feed: crate::audit::Feed,
}

/// Seconds since the Unix epoch, as stored in the database.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Store {
    /// Opens the database at `path`, creating it when `create` is set, and applies any
    /// pending migrations.
    pub async fn open(path: &Path, create: bool) -> Result<Store> {
        let url = format!("sqlite://{}", path.display());
        let options = SqliteConnectOptions::from_str(&url)
            .with_context(|| format!("database path {}", path.display()))?
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .with_context(|| format!("opening database {}", path.display()))?;
        if create {
            // The database holds token hashes and device records: owner only, like the keys.
            // SQLite gives its -wal and -shm files the same mode.
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("setting mode 0600 on {}", path.display()))?;
        }
        let migrator = Migrator::new(Embedded)
            .await
            .map_err(|error| anyhow::anyhow!("loading migrations: {error}"))?;
        migrator
            .run(&pool)
            .await
            .with_context(|| format!("migrating database {}", path.display()))?;
        Ok(Store {
            pool,
            feed: crate::audit::Feed::new(),
        })
    }

    /// Records that a console process is alive, so that the CLI can tell stale `online`
    /// flags from a console that crashed.
    pub async fn mark_console_alive(&self, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO console_state (key, value) VALUES ('serve_alive_at', ?1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(now.to_string())
        .execute(&self.pool)
        .await
        .context("recording that the console is alive")?;
        Ok(())
    }

    /// When a console process last said it was alive.
    pub async fn console_alive_at(&self) -> Result<Option<i64>> {
        let value: Option<String> =
            sqlx::query_scalar("SELECT value FROM console_state WHERE key = 'serve_alive_at'")
                .fetch_optional(&self.pool)
                .await
                .context("reading console state")?;
        Ok(value.and_then(|text| text.parse().ok()))
    }

    /// The live feed of timeline items fed by this store's appends.
    pub fn feed(&self) -> &crate::audit::Feed {
        &self.feed
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
