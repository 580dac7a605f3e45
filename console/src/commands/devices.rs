//! `hotline-console devices`: list enrolled devices with their tags and group, revoke one,
//! tag one, or show and set its policy.

use anyhow::{Context, Result, bail};
use hotline_protocol::DeviceId;
use serde_json::json;

use super::analyst::cli_actor;
use crate::api::change_params;
use crate::audit::{NewEntry, Outcome};
use crate::authz::Action;
use crate::cli::{DevicesAction, DevicesArgs, TagChange};
use crate::datadir::DataDir;
use crate::fleet::Tag;
use crate::output;
use crate::store::{DevicePolicy, DeviceRecord, Store, unix_now};
use crate::tickets::TicketNumber;

/// A console that has not said it is alive for this long is taken to be down, and with it
/// every device it had marked online.
const CONSOLE_STALE_SECS: i64 = 30;

pub async fn run(dir: &DataDir, args: &DevicesArgs) -> Result<()> {
    dir.require_initialised()?;
    let store = Store::open(&dir.database(), false).await?;
    let result = match &args.action {
        None => list(&store, args.json).await,
        Some(DevicesAction::Revoke { id }) => revoke(&store, id).await,
        Some(DevicesAction::Policy {
            id,
            unattended_sessions,
            ticket,
        }) => policy(&store, id, *unattended_sessions, *ticket).await,
        Some(DevicesAction::Tag { id, change, tag }) => {
            retag(&store, id, *change == TagChange::Add, tag).await
        }
    };
    store.close().await;
    result
}

fn status(device: &DeviceRecord, console_alive: bool) -> &'static str {
    match (device.revoked_at, device.online && console_alive) {
        (Some(_), _) => "revoked",
        (None, true) => "online",
        (None, false) => "offline",
    }
}

pub(crate) fn time(at: Option<i64>) -> String {
    at.and_then(|at| u64::try_from(at).ok())
        .map(|secs| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .map_or_else(
            || "never".to_owned(),
            |t| humantime::format_rfc3339_seconds(t).to_string(),
        )
}

async fn list(store: &Store, as_json: bool) -> Result<()> {
    let devices = store.devices().await?;
    let alive_at = store.console_alive_at().await?.unwrap_or(i64::MIN);
    let console_alive = unix_now().saturating_sub(alive_at) <= CONSOLE_STALE_SECS;
    let tags = store.device_tags().await?;
    let groups = store.groups().await?;
    let tags_of = |id: &str| -> Vec<&str> {
        tags.iter()
            .filter(|(device, _)| device == id)
            .map(|(_, tag)| tag.as_str())
            .collect()
    };
    let group_of = |id: &str| {
        groups
            .iter()
            .find(|g| g.members.iter().any(|m| m == id))
            .map(|g| g.name.as_str())
    };

    if as_json {
        let rows: Vec<_> = devices
            .iter()
            .map(|device| {
                let inventory = device
                    .inventory
                    .as_deref()
                    .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok());
                json!({
                    "id": device.id,
                    "hostname": device.hostname,
                    "status": status(device, console_alive),
                    "online": status(device, console_alive) == "online",
                    "last_seen": device.last_seen.map(|at| time(Some(at))),
                    "enrolled_at": time(Some(device.enrolled_at)),
                    "revoked_at": device.revoked_at.map(|at| time(Some(at))),
                    "address": device.last_address,
                    "agent_version": device.agent_version,
                    "tags": tags_of(&device.id),
                    "group": group_of(&device.id),
                    "inventory": inventory,
                })
            })
            .collect();
        output::line(&serde_json::to_string_pretty(&rows).context("formatting devices")?);
        return Ok(());
    }

    output::line(&format!(
        "{:<12}  {:<24}  {:<8}  {:<20}  {:<32}  {:<8}  {:<16}  TAGS",
        "ID", "HOST", "STATUS", "LAST SEEN", "OS", "AGENT", "GROUP"
    ));
    for device in &devices {
        let os = device
            .inventory
            .as_deref()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
            .and_then(|inventory| inventory["os"]["name"].as_str().map(str::to_owned))
            .unwrap_or_default();
        output::line(&format!(
            "{:<12}  {:<24}  {:<8}  {:<20}  {:<32}  {:<8}  {:<16}  {}",
            device.id,
            clip(&device.hostname, 24),
            status(device, console_alive),
            time(device.last_seen),
            clip(&os, 32),
            clip(device.agent_version.as_deref().unwrap_or("-"), 8),
            group_of(&device.id).unwrap_or("-"),
            tags_of(&device.id).join(","),
        ));
    }
    Ok(())
}

/// Cuts device-reported text to a column, replacing control characters so that a hostile
/// host name cannot rewrite the admin's terminal.
pub(crate) fn clip(text: &str, width: usize) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(width)
        .collect()
}

async fn revoke(store: &Store, id: &str) -> Result<()> {
    let device: DeviceId = id.parse()?;
    if store.device(device.as_str()).await?.is_none() {
        bail!("no device {device}");
    }
    if store.revoke(&device, unix_now()).await? {
        output::line(&format!("revoked device {device}"));
    } else {
        output::line(&format!("device {device} was already revoked"));
    }
    Ok(())
}

/// Shows a device's policy, or sets it for `ticket` as the CLI's operator. The ticket rule is
/// the API's (open, naming the device); a refusal is recorded on the ticket before it is
/// reported, and the change with its old value.
async fn policy(
    store: &Store,
    id: &str,
    unattended: Option<bool>,
    ticket: Option<i64>,
) -> Result<()> {
    let device: DeviceId = id.parse()?;
    if store.device(device.as_str()).await?.is_none() {
        bail!("no device {device}");
    }
    let (Some(unattended), Some(ticket)) = (unattended, ticket.map(TicketNumber)) else {
        let policy = store.device_policy(&device).await?;
        output::line(&format!(
            "device {device}: unattended sessions {}",
            on_off(policy.unattended_sessions)
        ));
        return Ok(());
    };

    let actor = cli_actor();
    if let Some(reason) = policy_refusal(store, &device, ticket).await? {
        let entry = NewEntry::new(actor, Action::SetPolicy.name())
            .device(Some(device.clone()))
            .ticket(Some(ticket))
            .outcome(Outcome::Refused(reason.clone()));
        store.append_audit(entry).await?;
        bail!("refused: {reason}");
    }
    let new = DevicePolicy {
        unattended_sessions: unattended,
    };
    let record = |old| {
        NewEntry::new(actor.clone(), Action::SetPolicy.name())
            .params(change_params(old, new))
            .device(Some(device.clone()))
            .ticket(Some(ticket))
    };
    let old = store
        .set_device_policy(&device, new, &actor.to_string(), record)
        .await?;
    output::line(&format!(
        "device {device}: unattended sessions {} -> {}",
        on_off(old.unattended_sessions),
        on_off(unattended)
    ));
    Ok(())
}

/// Why `ticket` cannot carry a policy change on `device`, if it cannot.
async fn policy_refusal(
    store: &Store,
    device: &DeviceId,
    ticket: TicketNumber,
) -> Result<Option<String>> {
    let Some(record) = store.ticket(ticket).await? else {
        return Ok(Some(format!("ticket {ticket} does not exist")));
    };
    if !record.status.is_open() {
        return Ok(Some(format!(
            "ticket {ticket} is {}, not open",
            record.status.as_str()
        )));
    }
    if !record.devices.iter().any(|d| d == device.as_str()) {
        return Ok(Some(format!(
            "ticket {ticket} does not name device {device}"
        )));
    }
    Ok(None)
}

fn on_off(value: bool) -> &'static str {
    if value { "on" } else { "off" }
}

async fn retag(store: &Store, id: &str, add: bool, tag: &str) -> Result<()> {
    let device: DeviceId = id.parse()?;
    let tag: Tag = tag.parse()?;
    let changed = crate::fleet::changes::tag(store, cli_actor(), &device, &tag, add).await?;
    let line = match (add, changed) {
        (true, true) => format!("tagged device {device} {tag}"),
        (true, false) => format!("device {device} already has tag {tag}"),
        (false, true) => format!("removed tag {tag} from device {device}"),
        (false, false) => format!("device {device} has no tag {tag}"),
    };
    output::line(&line);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_in_host_names_are_neutralised() {
        assert_eq!(clip("evil\u{1b}[2Jname", 40), "evil?[2Jname");
        assert_eq!(clip("abcdef", 3), "abc");
    }
}
