//! Per-device policy set by admins: whether remote sessions may start unattended. A device
//! without a stored policy has the defaults, which allow nothing that the caller does not
//! approve.

use anyhow::{Context, Result};
use hotline_protocol::DeviceId;

use super::Store;
use crate::audit::NewEntry;

/// What an admin allows on one device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DevicePolicy {
    /// A remote session may start without a prompt while nobody is signed in.
    pub unattended_sessions: bool,
}

impl Store {
    /// The policy of `device`: the defaults when none was ever set.
    pub async fn device_policy(&self, device: &DeviceId) -> Result<DevicePolicy> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT unattended_sessions FROM device_policies WHERE device_id = ?1")
                .bind(device.as_str())
                .fetch_optional(&self.pool)
                .await
                .with_context(|| format!("reading the policy of device {device}"))?;
        Ok(
            row.map_or_else(DevicePolicy::default, |(unattended,)| DevicePolicy {
                unattended_sessions: unattended != 0,
            }),
        )
    }

    /// Sets the policy of `device` and appends the audit entry `record` makes from the old
    /// policy, in one transaction: a change is never stored unrecorded, nor recorded with an
    /// old value another writer changed in between. Returns the old policy.
    pub async fn set_device_policy(
        &self,
        device: &DeviceId,
        policy: DevicePolicy,
        by: &str,
        record: impl FnOnce(DevicePolicy) -> NewEntry,
    ) -> Result<DevicePolicy> {
        let mut tx = self.begin_immediate().await?;
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT unattended_sessions FROM device_policies WHERE device_id = ?1")
                .bind(device.as_str())
                .fetch_optional(&mut *tx)
                .await
                .with_context(|| format!("reading the policy of device {device}"))?;
        let old = row.map_or_else(DevicePolicy::default, |(unattended,)| DevicePolicy {
            unattended_sessions: unattended != 0,
        });
        sqlx::query(
            "INSERT INTO device_policies (device_id, unattended_sessions, updated_at, updated_by) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (device_id) DO UPDATE SET \
             unattended_sessions = excluded.unattended_sessions, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(device.as_str())
        .bind(i64::from(policy.unattended_sessions))
        .bind(super::unix_now())
        .bind(by)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("storing the policy of device {device}"))?;
        Store::append_audit_in(&mut tx, record(old)).await?;
        tx.commit()
            .await
            .with_context(|| format!("committing the policy of device {device}"))?;
        self.feed.publish();
        Ok(old)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::audit::Actor;
    use crate::store::DeviceRecord;

    #[tokio::test]
    async fn a_policy_starts_closed_and_each_change_is_recorded_with_the_old_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("db"), true)
            .await
            .expect("store");
        let device = DeviceId::from_random(7);
        store
            .create_token("token", 0, i64::MAX, 1)
            .await
            .expect("token");
        let record = DeviceRecord {
            id: device.to_string(),
            cert_sha256: "c".into(),
            hostname: "pc".into(),
            enrolled_at: 0,
            revoked_at: None,
            online: false,
            last_seen: None,
            last_address: None,
            agent_version: None,
            inventory: None,
        };
        store
            .enroll_device("token", 1, &record)
            .await
            .expect("enrolled");
        assert!(
            !store
                .device_policy(&device)
                .await
                .expect("read")
                .unattended_sessions
        );

        let entry = |old: DevicePolicy| {
            NewEntry::new(Actor::System, "policy.set")
                .params(json!({ "old": old.unattended_sessions }))
        };
        let on = DevicePolicy {
            unattended_sessions: true,
        };
        let old = store
            .set_device_policy(&device, on, "system", entry)
            .await
            .expect("set");
        assert!(!old.unattended_sessions);
        assert_eq!(store.device_policy(&device).await.expect("read"), on);
        let old = store
            .set_device_policy(&device, DevicePolicy::default(), "system", entry)
            .await
            .expect("set");
        assert!(old.unattended_sessions);
        assert!(
            !store
                .device_policy(&device)
                .await
                .expect("read")
                .unattended_sessions
        );

        let entries = store.audit_entries(None, None, 10).await.expect("entries");
        let olds: Vec<String> = entries
            .iter()
            .filter(|e| e.action == "policy.set")
            .map(|e| e.params_json.clone())
            .collect();
        assert_eq!(olds, [r#"{"old":false}"#, r#"{"old":true}"#]);
    }
}
