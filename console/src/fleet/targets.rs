//! A deployment's targets as a person names them (devices, tags, groups, or all), resolved
//! to devices once, when the deployment is made; and which devices' group windows are open.

use std::collections::{BTreeSet, HashMap, HashSet};

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

/// When each grouped device's window next opens after `now` (Unix seconds), or `now` when
/// it is open, each read in its zone; devices whose group has no window are absent.
pub async fn next_windows(store: &Store, now: i64) -> Result<HashMap<String, i64>> {
    let at = Timestamp::from_second(now)?;
    Ok(store
        .device_windows()
        .await?
        .into_iter()
        .filter_map(|d| {
            let window = d.window.as_ref()?;
            let zone = window.zone.resolve(d.time_zone.as_deref());
            let opening = window.next_opening(at, &zone)?;
            Some((d.device, opening.as_second()))
        })
        .collect())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Actor;
    use crate::fleet::{GroupWindow, changes};
    use crate::rejected::Rejected;
    use crate::store::{DeviceRecord, Presence};

    /// A store with three enrolled devices: one that reported Tokyo as its zone, one that
    /// reported nothing readable, and one revoked.
    async fn store() -> (tempfile::TempDir, Store, [DeviceId; 3]) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("db"), true)
            .await
            .expect("store");
        let ids = [1_u64, 2, 3].map(DeviceId::from_random);
        for (n, device) in ids.iter().enumerate() {
            let token = format!("token-{n}");
            store
                .create_token(&token, 0, i64::MAX, 1)
                .await
                .expect("token");
            let record = DeviceRecord {
                id: device.to_string(),
                cert_sha256: format!("{n}"),
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
                .enroll_device(&token, 1, &record)
                .await
                .expect("enrolled");
        }
        for (device, inventory) in [(&ids[0], r#"{"time_zone":"Asia/Tokyo"}"#), (&ids[1], "")] {
            let presence = Presence {
                device,
                hostname: "pc",
                address: "127.0.0.1:1",
                agent_version: "test",
                inventory_json: inventory,
                now: 1,
            };
            store.set_online(&presence).await.expect("online");
        }
        store.revoke(&ids[2], 2).await.expect("revoked");
        (dir, store, ids)
    }

    fn rejected(error: &anyhow::Error) -> Option<&Rejected> {
        error.downcast_ref::<Rejected>()
    }

    #[tokio::test]
    async fn tags_and_groups_resolve_to_unrevoked_devices_and_each_change_is_recorded_once() {
        let (_dir, store, [tokyo, silent, revoked]) = store().await;
        let lab: Tag = "lab".parse().expect("tag");
        for device in [&tokyo, &revoked] {
            assert!(
                changes::tag(&store, Actor::System, device, &lab, true)
                    .await
                    .expect("tagged")
            );
        }
        assert!(
            !changes::tag(&store, Actor::System, &tokyo, &lab, true)
                .await
                .expect("tag again"),
            "a second add changes nothing"
        );
        let tags = |t: &[&str]| {
            Targets::parse(
                &[],
                &t.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                &[],
                false,
            )
        };
        let by_tag = tags(&["lab"])
            .expect("targets")
            .resolve(&store)
            .await
            .expect("resolved");
        assert_eq!(
            by_tag,
            vec![tokyo.clone()],
            "the revoked device is left out"
        );
        let entries = store
            .audit_entries(None, Some(tokyo.as_str()), 100)
            .await
            .expect("entries");
        let tag_entries = entries
            .iter()
            .filter(|e| e.to_json()["action"] == "device.tag")
            .count();
        assert_eq!(tag_entries, 1);

        let office: GroupName = "office".parse().expect("group");
        let other: GroupName = "other".parse().expect("group");
        for group in [&office, &other] {
            changes::create_group(&store, Actor::System, group)
                .await
                .expect("created");
        }
        for device in [&tokyo, &silent] {
            changes::add_member(&store, Actor::System, &office, device)
                .await
                .expect("added");
        }
        let moved = changes::add_member(&store, Actor::System, &other, &tokyo)
            .await
            .expect_err("one group per device");
        assert!(
            matches!(rejected(&moved), Some(Rejected::Conflict(m)) if m.contains("office")),
            "{moved:#}"
        );
        let groups = |g: &[&str]| {
            Targets::parse(
                &[],
                &[],
                &g.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                false,
            )
        };
        let by_group = groups(&["office"])
            .expect("targets")
            .resolve(&store)
            .await
            .expect("resolved");
        assert_eq!(by_group.len(), 2);
        let all = Targets::parse(&[], &[], &[], true)
            .expect("targets")
            .resolve(&store)
            .await
            .expect("resolved");
        assert_eq!(all.len(), 2, "all is every unrevoked device");
        let missing = groups(&["attic"])
            .expect("targets")
            .resolve(&store)
            .await
            .expect_err("no such group");
        assert!(matches!(rejected(&missing), Some(Rejected::NotFound(_))));
        assert!(
            Targets::parse(&[], &["lab".into()], &[], true).is_err(),
            "all stands alone"
        );
    }

    #[tokio::test]
    async fn local_group_windows_open_in_each_device_zone_and_devices_without_one_are_refused() {
        let (_dir, store, [tokyo, silent, _]) = store().await;
        let office: GroupName = "office".parse().expect("group");
        changes::create_group(&store, Actor::System, &office)
            .await
            .expect("created");
        for device in [&tokyo, &silent] {
            changes::add_member(&store, Actor::System, &office, device)
                .await
                .expect("added");
        }
        let targets = [tokyo.clone(), silent.clone()];
        let refused = require_group_windows(&store, &targets)
            .await
            .expect_err("no window yet");
        assert!(format!("{refused:#}").contains(silent.as_str()));

        let window = GroupWindow::parse("09:00", "1h", None, "local").expect("window");
        changes::set_window(&store, Actor::System, &office, Some(&window))
            .await
            .expect("set");
        require_group_windows(&store, &targets)
            .await
            .expect("every target has a window");
        // 09:30 in Tokyo (UTC+9) is 00:30 UTC; the device that reported no zone is on UTC.
        let at = |text: &str| text.parse::<Timestamp>().expect("time").as_second();
        let open = open_windows(&store, at("2026-07-01T00:30:00Z"))
            .await
            .expect("open");
        assert_eq!(open, HashSet::from([tokyo.to_string()]));
        let open = open_windows(&store, at("2026-07-01T09:30:00Z"))
            .await
            .expect("open");
        assert_eq!(open, HashSet::from([silent.to_string()]));
        let next = next_windows(&store, at("2026-07-01T09:30:00Z"))
            .await
            .expect("next");
        assert_eq!(
            next[silent.as_str()],
            at("2026-07-01T09:30:00Z"),
            "open now"
        );
        assert_eq!(
            next[tokyo.as_str()],
            at("2026-07-02T00:00:00Z"),
            "09:00 in Tokyo"
        );
    }
}
