//! Changes to tags, groups and windows, the same for the CLI and the API: each checks what
//! it names, refuses with the reason, and writes its audit entry with the change.

use anyhow::Result;
use hotline_protocol::DeviceId;
use serde_json::json;

use super::{GroupName, GroupWindow, Tag};
use crate::audit::{Actor, NewEntry};
use crate::rejected::{conflict, not_found};
use crate::store::{Store, unix_now};

async fn existing_device(store: &Store, device: &DeviceId) -> Result<()> {
    match store.device(device.as_str()).await? {
        Some(_) => Ok(()),
        None => not_found(format!("no device {device}")),
    }
}

async fn existing_group(store: &Store, group: &GroupName) -> Result<()> {
    match store.group(group).await? {
        Some(_) => Ok(()),
        None => not_found(format!("no group {group}")),
    }
}

/// Puts `tag` on `device` (or takes it off, when `add` is false). Returns false when the
/// device already had (or did not have) it: nothing changed and nothing is recorded.
pub async fn tag(
    store: &Store,
    actor: Actor,
    device: &DeviceId,
    tag: &Tag,
    add: bool,
) -> Result<bool> {
    existing_device(store, device).await?;
    let action = if add { "device.tag" } else { "device.untag" };
    let entry = NewEntry::new(actor, action)
        .device(Some(device.clone()))
        .params(json!({ "tag": tag.as_str() }));
    if add {
        store.add_tag(device, tag, entry).await
    } else {
        store.remove_tag(device, tag, entry).await
    }
}

pub async fn create_group(store: &Store, actor: Actor, group: &GroupName) -> Result<()> {
    let entry = NewEntry::new(actor, "group.create").params(json!({ "group": group.as_str() }));
    if !store.create_group(group, entry, unix_now()).await? {
        return conflict(format!("group {group} already exists"));
    }
    Ok(())
}

/// Sets the group's window, or clears it with `None`.
pub async fn set_window(
    store: &Store,
    actor: Actor,
    group: &GroupName,
    window: Option<&GroupWindow>,
) -> Result<()> {
    let entry = NewEntry::new(actor, "group.window").params(json!({
        "group": group.as_str(),
        "window": window.map(GroupWindow::to_json),
    }));
    if !store.set_group_window(group, window, entry).await? {
        return not_found(format!("no group {group}"));
    }
    Ok(())
}

/// Puts `device` in `group`. A device in another group is refused with that group's name:
/// it is in at most one, and moving it is an explicit remove and add.
pub async fn add_member(
    store: &Store,
    actor: Actor,
    group: &GroupName,
    device: &DeviceId,
) -> Result<()> {
    existing_group(store, group).await?;
    existing_device(store, device).await?;
    let entry = NewEntry::new(actor, "group.add")
        .device(Some(device.clone()))
        .params(json!({ "group": group.as_str() }));
    if store.add_to_group(device, group, entry).await? {
        return Ok(());
    }
    match store.group_of(device).await? {
        Some(current) if current == group.as_str() => {
            conflict(format!("device {device} is already in group {group}"))
        }
        Some(current) => conflict(format!(
            "device {device} is in group {current}; a device is in at most one group, so \
             remove it from {current} first"
        )),
        None => conflict(format!("device {device} could not be added to {group}")),
    }
}

pub async fn remove_member(
    store: &Store,
    actor: Actor,
    group: &GroupName,
    device: &DeviceId,
) -> Result<()> {
    existing_group(store, group).await?;
    let entry = NewEntry::new(actor, "group.remove")
        .device(Some(device.clone()))
        .params(json!({ "group": group.as_str() }));
    if !store.remove_from_group(device, group, entry).await? {
        return not_found(format!("device {device} is not in group {group}"));
    }
    Ok(())
}
