//! A deployment's targets as a person names them (devices, tags, groups, or all), resolved
//! to devices once, when the deployment is made; and which devices' group windows are open.

use std::collections::{BTreeSet, HashSet};

use anyhow::Result;
use hotline_protocol::DeviceId;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::{GroupName, Tag};
use crate::rejected::{Rejected, invalid, not_found};
use crate::store::Store;

/// What a deployment request names as its targets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    pub devices: Vec<DeviceId>,
    pub tags: Vec<Tag>,
    pub groups: Vec<GroupName>,
    /// Every enrolled, unrevoked device.
    pub all: bool,
}

impl Targets {
    /// Targets from the words of the CLI or the API; each name is checked.
    pub fn parse(
        devices: &[String],
        tags: &[String],
        groups: &[String],
        all: bool,
    ) -> Result<Targets> {
        let targets = Targets {
            devices: devices
                .iter()
                .map(|d| {
                    d.parse::<DeviceId>()
                        .map_err(|e| Rejected::Invalid(e.to_string()))
                })
                .collect::<Result<_, _>>()?,
            tags: tags.iter().map(|t| t.parse()).collect::<Result<_, _>>()?,
            groups: groups.iter().map(|g| g.parse()).collect::<Result<_, _>>()?,
            all,
        };
        if targets.all
            && !(targets.devices.is_empty() && targets.tags.is_empty() && targets.groups.is_empty())
        {
            return invalid("all devices is a target of its own: name no devices, tags or groups");
        }
        Ok(targets)
    }

    /// The targets as named, for the deployment's record.
    pub fn to_json(&self) -> Value {
        json!({
            "devices": self.devices.iter().map(DeviceId::as_str).collect::<Vec<_>>(),
            "tags": self.tags.iter().map(Tag::as_str).collect::<Vec<_>>(),
            "groups": self.groups.iter().map(GroupName::as_str).collect::<Vec<_>>(),
            "all": self.all,
        })
    }

    /// The devices these targets name today, sorted and each once: devices named by id
    /// (which must be enrolled), and the unrevoked devices that carry a tag, are in a group,
    /// or, for all, every unrevoked device. A group that does not exist is refused; a tag no
    /// device carries names no device.
    pub async fn resolve(&self, store: &Store) -> Result<Vec<DeviceId>> {
        let enrolled = store.devices().await?;
        let mut chosen = BTreeSet::new();
        for device in &self.devices {
            if !enrolled.iter().any(|d| d.id == device.as_str()) {
                return not_found(format!("no device {device}"));
            }
            chosen.insert(device.as_str().to_owned());
        }
        let unrevoked: HashSet<&str> = enrolled
            .iter()
            .filter(|d| d.revoked_at.is_none())
            .map(|d| d.id.as_str())
            .collect();
        if self.all {
            chosen.extend(unrevoked.iter().map(|id| (*id).to_owned()));
        }
        chosen.extend(store.devices_tagged(&self.tags).await?);
        if !self.groups.is_empty() {
            let groups = store.groups().await?;
            for name in &self.groups {
                let Some(group) = groups.iter().find(|g| g.name == name.as_str()) else {
                    return not_found(format!("no group {name}"));
                };
                let members = group
                    .members
                    .iter()
                    .filter(|m| unrevoked.contains(m.as_str()));
                chosen.extend(members.cloned());
            }
        }
        chosen
            .into_iter()
            .map(|id| {
                id.parse::<DeviceId>()
                    .map_err(|e| anyhow::anyhow!("stored device id: {e}"))
            })
            .collect()
    }
}

/// For a deployment held to group windows: refuses targets that have no group window to be
/// held to (no group, or a group without a window), naming them, rather than leaving them
/// pending for ever or installing on them at any time.
pub async fn require_group_windows(store: &Store, targets: &[DeviceId]) -> Result<()> {
    let windows = store.device_windows().await?;
    let missing: Vec<&str> = targets
        .iter()
        .map(DeviceId::as_str)
        .filter(|id| {
            !windows
                .iter()
                .any(|w| w.device == *id && w.window.is_some())
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    invalid(format!(
        "the window is each device's group window, and these devices have none (no group, or \
         a group without a window): {}",
        missing.join(", ")
    ))
}

/// The devices whose group window is open at `now` (Unix seconds), each read in its zone.
pub async fn open_windows(store: &Store, now: i64) -> Result<HashSet<String>> {
    let now = Timestamp::from_second(now)?;
    Ok(store
        .device_windows()
        .await?
        .into_iter()
        .filter(|d| {
            d.window
                .as_ref()
                .is_some_and(|w| w.is_open(now, &w.zone.resolve(d.time_zone.as_deref())))
        })
        .map(|d| d.device)
        .collect())
}
