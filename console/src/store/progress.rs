//! Where every deployment stands, in one query: its devices grouped by state and outcome, for
//! the deployment list (which would otherwise read every device of every deployment).

use std::collections::HashMap;

use anyhow::{Context, Result};

use super::Store;

/// A deployment's devices as (state, outcome, how many) groups.
pub type ProgressGroups = Vec<(String, Option<String>, i64)>;

impl Store {
    /// The groups of every deployment with at least one device, by deployment id.
    pub async fn deployment_progress(&self) -> Result<HashMap<i64, ProgressGroups>> {
        let rows: Vec<(i64, String, Option<String>, i64)> = sqlx::query_as(
            "SELECT deployment_id, state, outcome, COUNT(*) FROM deployment_devices \
             GROUP BY deployment_id, state, outcome",
        )
        .fetch_all(&self.pool)
        .await
        .context("counting deployment devices")?;
        let mut groups: HashMap<i64, ProgressGroups> = HashMap::new();
        for (id, state, outcome, count) in rows {
            groups.entry(id).or_default().push((state, outcome, count));
        }
        Ok(groups)
    }
}
