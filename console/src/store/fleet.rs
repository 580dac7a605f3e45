//! Device tags, device groups and group membership. Every change is written in the same
//! transaction as its audit entry, and only when it changes something, so the trail never
//! records a change that did not happen.

use anyhow::{Context, Result};
use hotline_protocol::DeviceId;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};

use super::Store;
use crate::audit::NewEntry;
use crate::fleet::window::time_of_minute;
use crate::fleet::{Days, GroupName, GroupWindow, Tag, WindowZone};

/// A group as stored, with its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub name: String,
    pub window: Option<GroupWindow>,
    pub members: Vec<String>,
}

/// A device in a group, with the group's window and the zone the device last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceWindow {
    pub device: String,
    pub group: String,
    pub window: Option<GroupWindow>,
    pub time_zone: Option<String>,
}

/// The window in a row's `window_*` columns, when they are all set and make sense.
fn window(row: &SqliteRow) -> Result<Option<GroupWindow>> {
    let start: Option<i64> = row.try_get("window_start_minute")?;
    let length: Option<i64> = row.try_get("window_length_secs")?;
    let days: Option<i64> = row.try_get("window_days")?;
    let zone: Option<String> = row.try_get("window_zone")?;
    let (Some(start), Some(length_secs), Some(days), Some(zone)) = (start, length, days, zone)
    else {
        return Ok(None);
    };
    // A named zone that a newer or older bundled database does not know reads as UTC
    // rather than making the group unreadable.
    let zone = WindowZone::parse(&zone).unwrap_or(WindowZone::Utc);
    Ok(time_of_minute(start)
        .zip(Days::from_bits(days))
        .map(|(start, days)| GroupWindow {
            start,
            length_secs,
            days,
            zone,
        }))
}

/// Appends `entry` and commits when `changed`; rolls back otherwise.
async fn finish(
    store: &Store,
    mut tx: Transaction<'static, Sqlite>,
    changed: bool,
    entry: NewEntry,
) -> Result<bool> {
    if !changed {
        tx.rollback().await.context("rolling back a fleet change")?;
        return Ok(false);
    }
    Store::append_audit_in(&mut tx, entry).await?;
    tx.commit().await.context("committing a fleet change")?;
    store.feed.publish();
    Ok(true)
}

impl Store {
    /// Puts `tag` on `device`. Returns false when it already had it.
    pub async fn add_tag(&self, device: &DeviceId, tag: &Tag, entry: NewEntry) -> Result<bool> {
        let mut tx = self.begin_immediate().await?;
        let changed = sqlx::query(
            "INSERT INTO device_tags (device_id, tag) VALUES (?1, ?2) \
             ON CONFLICT (device_id, tag) DO NOTHING",
        )
        .bind(device.as_str())
        .bind(tag.as_str())
        .execute(&mut *tx)
        .await
        .context("tagging a device")?
        .rows_affected()
            > 0;
        finish(self, tx, changed, entry).await
    }

    /// Takes `tag` off `device`. Returns false when it did not have it.
    pub async fn remove_tag(&self, device: &DeviceId, tag: &Tag, entry: NewEntry) -> Result<bool> {
        let mut tx = self.begin_immediate().await?;
        let changed = sqlx::query("DELETE FROM device_tags WHERE device_id = ?1 AND tag = ?2")
            .bind(device.as_str())
            .bind(tag.as_str())
            .execute(&mut *tx)
            .await
            .context("untagging a device")?
            .rows_affected()
            > 0;
        finish(self, tx, changed, entry).await
    }

    /// Every (device, tag) pair, by device then tag.
    pub async fn device_tags(&self) -> Result<Vec<(String, String)>> {
        sqlx::query_as("SELECT device_id, tag FROM device_tags ORDER BY device_id, tag")
            .fetch_all(&self.pool)
            .await
            .context("listing device tags")
    }

    /// Unrevoked devices carrying any of `tags`.
    pub async fn devices_tagged(&self, tags: &[Tag]) -> Result<Vec<String>> {
        let mut devices = Vec::new();
        for tag in tags {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT t.device_id FROM device_tags t JOIN devices d ON d.id = t.device_id \
                 WHERE t.tag = ?1 AND d.revoked_at IS NULL ORDER BY t.device_id",
            )
            .bind(tag.as_str())
            .fetch_all(&self.pool)
            .await
            .context("finding tagged devices")?;
            devices.extend(rows.into_iter().map(|(id,)| id));
        }
        Ok(devices)
    }

    /// Creates an empty group without a window. Returns false when it exists.
    pub async fn create_group(&self, name: &GroupName, entry: NewEntry, now: i64) -> Result<bool> {
        let mut tx = self.begin_immediate().await?;
        let changed = sqlx::query(
            "INSERT INTO device_groups (name, created_at) VALUES (?1, ?2) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("creating a group")?
        .rows_affected()
            > 0;
        finish(self, tx, changed, entry).await
    }

    /// Sets or clears a group's window. Returns false when the group does not exist.
    pub async fn set_group_window(
        &self,
        name: &GroupName,
        window: Option<&GroupWindow>,
        entry: NewEntry,
    ) -> Result<bool> {
        let mut tx = self.begin_immediate().await?;
        let changed = sqlx::query(
            "UPDATE device_groups SET window_start_minute = ?2, window_length_secs = ?3, \
             window_days = ?4, window_zone = ?5 WHERE name = ?1",
        )
        .bind(name.as_str())
        .bind(window.map(GroupWindow::start_minute))
        .bind(window.map(|w| w.length_secs))
        .bind(window.map(|w| w.days.bits()))
        .bind(window.map(|w| w.zone.as_str().to_owned()))
        .execute(&mut *tx)
        .await
        .context("setting a group's window")?
        .rows_affected()
            > 0;
        finish(self, tx, changed, entry).await
    }

    /// The group `device` is in, if any.
    pub async fn group_of(&self, device: &DeviceId) -> Result<Option<String>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT group_name FROM device_group_members WHERE device_id = ?1")
                .bind(device.as_str())
                .fetch_optional(&self.pool)
                .await
                .context("reading a device's group")?;
        Ok(row.map(|(group,)| group))
    }

    /// Puts `device` in `group`. Returns false when it was already in a group (this one or
    /// another): a device is in at most one, and the caller says which.
    pub async fn add_to_group(
        &self,
        device: &DeviceId,
        group: &GroupName,
        entry: NewEntry,
    ) -> Result<bool> {
        let mut tx = self.begin_immediate().await?;
        let changed = sqlx::query(
            "INSERT INTO device_group_members (device_id, group_name) VALUES (?1, ?2) \
             ON CONFLICT (device_id) DO NOTHING",
        )
        .bind(device.as_str())
        .bind(group.as_str())
        .execute(&mut *tx)
        .await
        .context("adding a device to a group")?
        .rows_affected()
            > 0;
        finish(self, tx, changed, entry).await
    }

    /// Takes `device` out of `group`. Returns false when it was not in it.
    pub async fn remove_from_group(
        &self,
        device: &DeviceId,
        group: &GroupName,
        entry: NewEntry,
    ) -> Result<bool> {
        let mut tx = self.begin_immediate().await?;
        let changed = sqlx::query(
            "DELETE FROM device_group_members WHERE device_id = ?1 AND group_name = ?2",
        )
        .bind(device.as_str())
        .bind(group.as_str())
        .execute(&mut *tx)
        .await
        .context("removing a device from a group")?
        .rows_affected()
            > 0;
        finish(self, tx, changed, entry).await
    }

    /// Every group with its window and members, by name.
    pub async fn groups(&self) -> Result<Vec<GroupRow>> {
        let rows = sqlx::query(
            "SELECT name, window_start_minute, window_length_secs, window_days, window_zone \
             FROM device_groups ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .context("listing groups")?;
        let members: Vec<(String, String)> = sqlx::query_as(
            "SELECT group_name, device_id FROM device_group_members ORDER BY device_id",
        )
        .fetch_all(&self.pool)
        .await
        .context("listing group members")?;
        rows.iter()
            .map(|row| {
                let name: String = row.try_get("name")?;
                Ok(GroupRow {
                    window: window(row)?,
                    members: members
                        .iter()
                        .filter(|(group, _)| *group == name)
                        .map(|(_, device)| device.clone())
                        .collect(),
                    name,
                })
            })
            .collect()
    }

    pub async fn group(&self, name: &GroupName) -> Result<Option<GroupRow>> {
        Ok(self
            .groups()
            .await?
            .into_iter()
            .find(|g| g.name == name.as_str()))
    }

    /// Every device in a group, with the group's window and the time zone in the device's
    /// last inventory.
    pub async fn device_windows(&self) -> Result<Vec<DeviceWindow>> {
        let rows = sqlx::query(
            "SELECT m.device_id, m.group_name, g.window_start_minute, g.window_length_secs, \
             g.window_days, g.window_zone, CASE WHEN json_valid(d.inventory) \
             THEN json_extract(d.inventory, '$.time_zone') END AS zone \
             FROM device_group_members m JOIN device_groups g ON g.name = m.group_name \
             JOIN devices d ON d.id = m.device_id ORDER BY m.device_id",
        )
        .fetch_all(&self.pool)
        .await
        .context("reading devices' windows")?;
        rows.iter()
            .map(|row| {
                Ok(DeviceWindow {
                    device: row.try_get("device_id")?,
                    group: row.try_get("group_name")?,
                    window: window(row)?,
                    time_zone: row.try_get::<Option<String>, _>("zone").ok().flatten(),
                })
            })
            .collect()
    }
}
