//! What a request for a deployment says, parsed the same way for the CLI and the API:
//! percentages, times, windows, and the deployment it makes once its rule was checked; and
//! the JSON both show for one.

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Result;
use hotline_protocol::DeviceId;

use super::plan;
use crate::fleet::targets::{Targets, next_windows, require_group_windows};
use crate::rejected::{invalid, not_found};
use crate::store::{DeploymentRow, NewDeployment, Store, TargetDevice, Window};
use crate::tickets::TicketNumber;

/// The schedule and gate of a new deployment.
#[derive(Debug, Clone)]
pub struct Options {
    pub canary: i64,
    pub failure: i64,
    pub not_before: i64,
    pub deadline: Option<i64>,
    pub window: Option<Window>,
    /// Each device installs only inside its group's window (`--window group`).
    pub group_windows: bool,
}

/// The deployment of published `package` (NAME@VERSION) to `targets`, the devices that
/// `named` resolved to, once its ticket rule has been checked: the canary share (rounded up)
/// in wave 0, the rest in wave 1.
pub async fn new_deployment(
    store: &Store,
    ticket: TicketNumber,
    package: &str,
    named: &Targets,
    targets: Vec<DeviceId>,
    options: &Options,
    created_by: String,
) -> Result<NewDeployment> {
    let Some((name, version)) = package.split_once('@') else {
        return invalid("the package is named NAME@VERSION");
    };
    let Some(target) = store.package_target(name, version).await? else {
        return not_found(format!("package {name} {version} is not published"));
    };
    if options.group_windows {
        require_group_windows(store, &targets).await?;
    }
    let canary = plan::canary_size(targets.len(), options.canary);
    Ok(NewDeployment {
        ticket,
        package: name.to_owned(),
        version: version.to_owned(),
        target: target.name,
        sha256: target.sha256,
        length: target.length,
        canary_percent: options.canary,
        failure_percent: options.failure,
        not_before: options.not_before,
        deadline: options.deadline,
        window: options.window,
        group_windows: options.group_windows,
        targets: named.to_json(),
        created_by,
        devices: targets
            .into_iter()
            .enumerate()
            .map(|(i, d)| (d, i64::from(i >= canary)))
            .collect(),
    })
}

/// A deployment and its devices as JSON, with, for a deployment held to group windows,
/// when each device's window next opens (now, when it is open).
pub async fn status_json(
    store: &Store,
    deployment: &DeploymentRow,
    devices: &[TargetDevice],
) -> Result<serde_json::Value> {
    let windows = if deployment.group_windows {
        next_windows(store, crate::store::unix_now()).await?
    } else {
        HashMap::new()
    };
    let next_window = |device: &str| {
        windows
            .get(device)
            .and_then(|at| u64::try_from(*at).ok())
            .map(|secs| {
                humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs))
                    .to_string()
            })
    };
    Ok(serde_json::json!({
        "id": deployment.id,
        "ticket": deployment.ticket.0,
        "package": deployment.package,
        "version": deployment.version,
        "status": deployment.status,
        "reason": deployment.status_reason,
        "targets": deployment
            .targets
            .as_deref()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok()),
        "group_windows": deployment.group_windows,
        "devices": devices.iter().map(|d| serde_json::json!({
            "device": d.device, "wave": d.wave, "state": d.state, "outcome": d.outcome,
            "detail": d.detail, "attempts": d.attempts, "chunks_sent": d.chunks_sent,
            "next_window": next_window(&d.device),
        })).collect::<Vec<_>>(),
    }))
}

/// A percentage from 0% to 100%.
pub fn percent(text: &str) -> Result<i64> {
    let number = text.trim_end_matches('%');
    match number.parse::<i64>() {
        Ok(n) if (0..=100).contains(&n) => Ok(n),
        _ => invalid(format!("{text:?} is not a percentage from 0% to 100%")),
    }
}

/// An RFC 3339 time or `+DURATION` from now, as Unix seconds.
pub fn time(text: &str, now: i64) -> Result<i64> {
    if let Some(delay) = text.strip_prefix('+') {
        let delay = humantime::parse_duration(delay).map_err(|e| anyhow::anyhow!("{text}: {e}"))?;
        return Ok(now + i64::try_from(delay.as_secs()).unwrap_or(i64::MAX / 2));
    }
    let at = humantime::parse_rfc3339_weak(text).map_err(|e| anyhow::anyhow!("{text}: {e}"))?;
    Ok(at
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0))
}

/// `--window`: `group` for each device's group window (see `crate::fleet::window`), or a
/// window of the deployment's own, START+LENGTH[/EVERY] in UTC. Returns the deployment's own
/// window, if any, and whether it is held to group windows.
pub fn parse_window_choice(text: Option<&str>, now: i64) -> Result<(Option<Window>, bool)> {
    match text {
        None => Ok((None, false)),
        Some("group") => Ok((None, true)),
        Some(text) => Ok((Some(parse_window(text, now)?), false)),
    }
}

/// A deployment's own window, START+LENGTH[/EVERY]: in UTC, every EVERY from START. Windows
/// by time of day in a zone, or in each device's zone, are group windows.
pub fn parse_window(text: &str, now: i64) -> Result<Window> {
    let (rest, every) = match text.rsplit_once('/') {
        Some((rest, every)) => (rest, humantime::parse_duration(every)?),
        None => (text, Duration::from_secs(24 * 60 * 60)),
    };
    // The length follows the last `+`; a leading `+` belongs to a relative start.
    let Some((start, length)) = rest.rsplit_once('+').filter(|(start, _)| !start.is_empty()) else {
        return invalid("--window takes START+LENGTH[/EVERY]");
    };
    let length = humantime::parse_duration(length)?;
    if length.is_zero() || length > every {
        return invalid("a window's length must be above zero and at most its period");
    }
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2);
    Ok(Window {
        start: time(start, now)?,
        length: secs(length),
        every: secs(every),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_with_relative_and_absolute_starts() {
        let w = parse_window("+10s+5s/20s", 100).expect("parses");
        assert_eq!((w.start, w.length, w.every), (110, 5, 20));
        let w = parse_window("2026-12-05T22:00:00Z+2h", 0).expect("parses");
        assert_eq!((w.length, w.every), (7200, 86400));
        assert!(parse_window("+10s", 0).is_err());
        assert!(parse_window("+0s+2h/1h", 0).is_err());
        assert_eq!(
            parse_window_choice(Some("group"), 0).expect("parses"),
            (None, true)
        );
        assert_eq!(parse_window_choice(None, 0).expect("parses"), (None, false));
    }
}
