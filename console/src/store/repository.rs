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
    /// For a package: the SHA-256 of its tar. For a patch: the tars it goes from and to.
    pub unpacked_sha256: Option<String>,
    pub patch_from: Option<String>,
    pub patch_to: Option<String>,
}

const COLUMNS: &str =
    "name, sha256, length, package, version, unpacked_sha256, patch_from, patch_to";

fn target(row: &sqlx::sqlite::SqliteRow) -> Result<TargetRow> {
    use sqlx::Row as _;
    Ok(TargetRow {
        name: row.try_get("name")?,
        sha256: row.try_get("sha256")?,
        length: row.try_get("length")?,
        package: row.try_get("package")?,
        version: row.try_get("version")?,
        unpacked_sha256: row.try_get("unpacked_sha256")?,
        patch_from: row.try_get("patch_from")?,
        patch_to: row.try_get("patch_to")?,
    })
}

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
            "INSERT INTO repo_targets (name, sha256, length, package, version, unpacked_sha256, \
             patch_from, patch_to, published_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, length = excluded.length, \
             package = excluded.package, version = excluded.version, \
             unpacked_sha256 = excluded.unpacked_sha256, patch_from = excluded.patch_from, \
             patch_to = excluded.patch_to, published_at = excluded.published_at",
        )
        .bind(&target.name)
        .bind(&target.sha256)
        .bind(target.length)
        .bind(&target.package)
        .bind(&target.version)
        .bind(&target.unpacked_sha256)
        .bind(&target.patch_from)
        .bind(&target.patch_to)
        .bind(at)
        .execute(&self.pool)
        .await
        .with_context(|| format!("storing target {}", target.name))?;
        Ok(())
    }

    /// The package target for `package` at `version`, if published.
    pub async fn package_target(&self, package: &str, version: &str) -> Result<Option<TargetRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM repo_targets WHERE package = ?1 AND version = ?2"
        ))
        .bind(package)
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .context("looking up a package")?;
        row.as_ref().map(target).transpose()
    }

    /// The target stored under `name`.
    pub async fn target(&self, name: &str) -> Result<Option<TargetRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM repo_targets WHERE name = ?1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .context("looking up a target")?;
        row.as_ref().map(target).transpose()
    }

    /// Patches whose result is the tar with `tar_sha256`.
    pub async fn patches_to(&self, tar_sha256: &str) -> Result<Vec<TargetRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM repo_targets WHERE patch_to = ?1 ORDER BY length"
        ))
        .bind(tar_sha256)
        .fetch_all(&self.pool)
        .await
        .context("looking up patches")?;
        rows.iter().map(target).collect()
    }

    /// Every target, by name.
    pub async fn targets(&self) -> Result<Vec<TargetRow>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM repo_targets ORDER BY name"))
            .fetch_all(&self.pool)
            .await
            .context("listing targets")?;
        rows.iter().map(target).collect()
    }
}
