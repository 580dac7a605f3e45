//! The package repository's rows: the publisher's metadata files as published, and the
//! targets (packages and patches) with the content hash naming their bytes on disk.

use anyhow::{Context, Result};

use super::Store;

/// A target the repository holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRow {
    pub name: String,
    pub sha256: String,
    pub length: i64,
    pub package: Option<String>,
    pub version: Option<String>,
}

type Row = (String, String, i64, Option<String>, Option<String>);

impl Store {
    /// Replaces the metadata file `name` with `bytes`.
    pub async fn put_metadata(
        &self,
        name: &str,
        bytes: &[u8],
        sha256: &str,
        at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO repo_metadata (name, bytes, sha256, published_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (name) DO UPDATE SET bytes = excluded.bytes, sha256 = excluded.sha256, \
             published_at = excluded.published_at",
        )
        .bind(name)
        .bind(bytes)
        .bind(sha256)
        .bind(at)
        .execute(&self.pool)
        .await
        .with_context(|| format!("storing metadata {name}"))?;
        Ok(())
    }

    /// Every metadata file, by name.
    pub async fn metadata_files(&self) -> Result<Vec<(String, Vec<u8>)>> {
        sqlx::query_as("SELECT name, bytes FROM repo_metadata ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .context("reading repository metadata")
    }

    /// Records (or replaces) a target.
    pub async fn put_target(&self, target: &TargetRow, at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO repo_targets (name, sha256, length, package, version, published_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name) DO UPDATE SET \
             sha256 = excluded.sha256, length = excluded.length, package = excluded.package, \
             version = excluded.version, published_at = excluded.published_at",
        )
        .bind(&target.name)
        .bind(&target.sha256)
        .bind(target.length)
        .bind(&target.package)
        .bind(&target.version)
        .bind(at)
        .execute(&self.pool)
        .await
        .with_context(|| format!("storing target {}", target.name))?;
        Ok(())
    }

    /// The package target for `package` at `version`, if published.
    pub async fn package_target(&self, package: &str, version: &str) -> Result<Option<TargetRow>> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT name, sha256, length, package, version FROM repo_targets \
             WHERE package = ?1 AND version = ?2",
        )
        .bind(package)
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .context("looking up a package")?;
        Ok(
            row.map(|(name, sha256, length, package, version)| TargetRow {
                name,
                sha256,
                length,
                package,
                version,
            }),
        )
    }

    /// Every target, by name.
    pub async fn targets(&self) -> Result<Vec<TargetRow>> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT name, sha256, length, package, version FROM repo_targets ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .context("listing targets")?;
        Ok(rows
            .into_iter()
            .map(|(name, sha256, length, package, version)| TargetRow {
                name,
                sha256,
                length,
                package,
                version,
            })
            .collect())
    }
}
