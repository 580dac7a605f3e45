//! `hotline-console deploy create|status|list|pause|resume|cancel`: roll a published package
//! out to devices for a change ticket, and watch or steer the rollout. The running `serve`
//! picks changes up from the database within half a second.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use hotline_protocol::DeviceId;

use super::analyst::cli_actor;
use crate::audit::{NewEntry, Outcome};
use crate::datadir::DataDir;
use crate::deploy::plan;
use crate::output;
use crate::rejected::{conflict, invalid, not_found};
use crate::store::{DeploymentRow, NewDeployment, Store, TargetDevice, Window, unix_now};
use crate::tickets::TicketNumber;

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(subcommand)]
    pub action: DeployAction,
}

#[derive(Debug, Subcommand)]
pub enum DeployAction {
    /// Start a deployment of a published package for an open change ticket.
    Create {
        #[arg(long)]
        ticket: String,
        /// NAME@VERSION of a published package.
        #[arg(long)]
        package: String,
        /// A target device; repeat for several. Each must be named on the ticket.
        #[arg(long = "device", required_unless_present = "all")]
        devices: Vec<String>,
        /// Every enrolled, unrevoked device.
        #[arg(long, conflicts_with = "devices")]
        all: bool,
        /// Share of devices in the first wave, e.g. 5%; 0% for one wave.
        #[arg(long, default_value = "0%")]
        canary: String,
        /// Share of a wave's devices that may fail before the rollout pauses, e.g. 20%.
        #[arg(long, default_value = "20%")]
        failure_threshold: String,
        /// Not before this time: RFC 3339 (UTC) or a delay such as `+10m`.
        #[arg(long)]
        at: Option<String>,
        /// Maintenance window START+LENGTH[/EVERY]: START as for --at, LENGTH and EVERY as
        /// durations (EVERY defaults to 24h), e.g. `2026-12-05T22:00:00Z+2h`.
        #[arg(long)]
        window: Option<String>,
        /// Devices not reached by this time are skipped (same forms as --at).
        #[arg(long)]
        deadline: Option<String>,
    },
    /// A deployment's progress: per-wave counts and failure reasons.
    Status {
        id: i64,
        /// Follow it live with a progress bar until it finishes, pauses or is cancelled.
        #[arg(long)]
        follow: bool,
        #[arg(long)]
        json: bool,
    },
    /// List deployments, newest first.
    List,
    /// Stop starting new transfers (those running finish).
    Pause { id: i64 },
    /// Carry on after a pause, accepting the failures so far.
    Resume { id: i64 },
    /// End the deployment; devices not yet reached are left alone.
    Cancel { id: i64 },
}

pub async fn run(dir: &DataDir, args: &DeployArgs) -> Result<()> {
    dir.require_initialised()?;
    let store = Store::open(&dir.database(), false).await?;
    let result = dispatch(&store, &args.action).await;
    store.close().await;
    result
}

async fn dispatch(store: &Store, action: &DeployAction) -> Result<()> {
    match action {
        DeployAction::Create {
            ticket,
            package,
            devices,
            all,
            canary,
            failure_threshold,
            at,
            window,
            deadline,
        } => {
            let now = unix_now();
            let options = Options {
                canary: percent(canary)?,
                failure: percent(failure_threshold)?,
                not_before: at
                    .as_deref()
                    .map(|t| time(t, now))
                    .transpose()?
                    .unwrap_or(now),
                deadline: deadline.as_deref().map(|t| time(t, now)).transpose()?,
                window: window
                    .as_deref()
                    .map(|w| parse_window(w, now))
                    .transpose()?,
            };
            let ticket: TicketNumber = ticket.parse().or_else(|e: String| invalid(e))?;
            let id = create(store, ticket, package, devices, *all, &options).await?;
            output::line(&format!("deployment {id} created"));
            Ok(())
        }
        DeployAction::Status { id, follow, json } => status(store, *id, *follow, *json).await,
        DeployAction::List => {
            for d in store.deployments().await? {
                output::line(&format!(
                    "{:>4}  {:<9} ticket {:<5} {}@{}",
                    d.id, d.status, d.ticket, d.package, d.version
                ));
            }
            Ok(())
        }
        DeployAction::Pause { id } => change(store, *id, "paused").await,
        DeployAction::Cancel { id } => change(store, *id, "cancelled").await,
        DeployAction::Resume { id } => {
            let deployment = existing(store, *id).await?;
            let failures = plan::failures(&store.deployment_devices(*id).await?);
            let entry =
                NewEntry::new(cli_actor(), "deployment.resume").ticket(Some(deployment.ticket));
            if !store.resume_deployment(*id, failures, entry).await? {
                return conflict(format!(
                    "deployment {id} is {}, not paused",
                    deployment.status
                ));
            }
            output::line(&format!("deployment {id} resumed"));
            Ok(())
        }
    }
}

/// The schedule and gate of a new deployment.
#[derive(Debug, Clone)]
pub struct Options {
    pub canary: i64,
    pub failure: i64,
    pub not_before: i64,
    pub deadline: Option<i64>,
    pub window: Option<Window>,
}

async fn create(
    store: &Store,
    ticket: TicketNumber,
    package: &str,
    devices: &[String],
    all: bool,
    options: &Options,
) -> Result<i64> {
    let Some((name, version)) = package.split_once('@') else {
        return invalid("--package takes NAME@VERSION");
    };

    // The same rule the API applies: an open ticket that names every target device. A
    // refusal is recorded on the ticket before it is reported.
    let targets: Vec<DeviceId> = if all {
        store
            .devices()
            .await?
            .into_iter()
            .filter(|d| d.revoked_at.is_none())
            .filter_map(|d| d.id.parse().ok())
            .collect()
    } else {
        devices
            .iter()
            .map(|d| d.parse::<DeviceId>().map_err(|e| anyhow::anyhow!(e)))
            .collect::<Result<_>>()?
    };
    if let Some(reason) = refusal(store, ticket, &targets, all).await? {
        let entry = NewEntry::new(cli_actor(), "package.deploy")
            .ticket(Some(ticket))
            .params(serde_json::json!({ "package": name, "version": version }))
            .outcome(Outcome::Refused(reason.clone()));
        store.append_audit(entry).await?;
        return conflict(reason);
    }

    let new = new_deployment(
        store,
        ticket,
        package,
        targets,
        options,
        cli_actor().to_string(),
    )
    .await?;
    let entry = NewEntry::new(cli_actor(), "deployment.create").ticket(Some(ticket));
    store.create_deployment(&new, entry, unix_now()).await
}

/// The deployment of published `package` (NAME@VERSION) to `targets`, once its ticket rule
/// has been checked: the canary share (rounded up) in wave 0, the rest in wave 1.
pub async fn new_deployment(
    store: &Store,
    ticket: TicketNumber,
    package: &str,
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
        created_by,
        devices: targets
            .into_iter()
            .enumerate()
            .map(|(i, d)| (d, i64::from(i >= canary)))
            .collect(),
    })
}

/// Why the ticket does not allow this deployment, if it does not.
async fn refusal(
    store: &Store,
    ticket: TicketNumber,
    targets: &[DeviceId],
    all: bool,
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
    if targets.is_empty() {
        return Ok(Some("no target devices".to_owned()));
    }
    // FIXME: `--all` needs only an open change ticket, not one naming every device; a
    // fleet-wide change ticket would otherwise have to list thousands of devices.
    if !all
        && let Some(missing) = targets
            .iter()
            .find(|d| !record.devices.iter().any(|named| named == d.as_str()))
    {
        return Ok(Some(format!(
            "ticket {ticket} does not name device {missing}"
        )));
    }
    Ok(None)
}

async fn existing(store: &Store, id: i64) -> Result<DeploymentRow> {
    match store.deployment(id).await? {
        Some(deployment) => Ok(deployment),
        None => not_found(format!("deployment {id} does not exist")),
    }
}

async fn change(store: &Store, id: i64, status: &str) -> Result<()> {
    let deployment = existing(store, id).await?;
    let action = if status == "paused" {
        "deployment.pause"
    } else {
        "deployment.cancel"
    };
    let entry = NewEntry::new(cli_actor(), action).ticket(Some(deployment.ticket));
    if !store.set_deployment_status(id, status, None, entry).await? {
        return conflict(format!("deployment {id} is {}", deployment.status));
    }
    output::line(&format!("deployment {id} {status}"));
    Ok(())
}

async fn status(store: &Store, id: i64, follow: bool, json: bool) -> Result<()> {
    if !follow {
        let deployment = existing(store, id).await?;
        let devices = store.deployment_devices(id).await?;
        if json {
            output::line(&serde_json::to_string_pretty(&status_json(
                &deployment,
                &devices,
            ))?);
        } else {
            for line in status_lines(&deployment, &devices) {
                output::line(&line);
            }
        }
        return Ok(());
    }

    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} devices  {msg}")
            .context("progress bar template")?,
    );
    loop {
        let deployment = existing(store, id).await?;
        let devices = store.deployment_devices(id).await?;
        let done = devices.iter().filter(|d| d.state == "done").count();
        bar.set_length(devices.len() as u64);
        bar.set_position(done as u64);
        bar.set_message(format!(
            "{}  {}",
            deployment.status,
            plan::summary(&devices)
        ));
        if deployment.status != "active" {
            bar.finish();
            for line in status_lines(&deployment, &devices) {
                output::line(&line);
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn status_lines(deployment: &DeploymentRow, devices: &[TargetDevice]) -> Vec<String> {
    let mut lines = vec![format!(
        "deployment {} of {}@{} for ticket {}: {}{}",
        deployment.id,
        deployment.package,
        deployment.version,
        deployment.ticket,
        deployment.status,
        deployment
            .status_reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    )];
    let mut waves: Vec<i64> = devices.iter().map(|d| d.wave).collect();
    waves.dedup();
    for wave in waves {
        let members: Vec<TargetDevice> =
            devices.iter().filter(|d| d.wave == wave).cloned().collect();
        lines.push(format!("  wave {}: {}", wave + 1, plan::summary(&members)));
    }
    for device in devices {
        if let (Some(outcome), Some(detail)) = (&device.outcome, &device.detail)
            && plan::is_failure(Some(outcome))
        {
            lines.push(format!("  {}: {outcome}: {detail}", device.device));
        }
    }
    lines
}

pub fn status_json(deployment: &DeploymentRow, devices: &[TargetDevice]) -> serde_json::Value {
    serde_json::json!({
        "id": deployment.id,
        "ticket": deployment.ticket.0,
        "package": deployment.package,
        "version": deployment.version,
        "status": deployment.status,
        "reason": deployment.status_reason,
        "devices": devices.iter().map(|d| serde_json::json!({
            "device": d.device, "wave": d.wave, "state": d.state, "outcome": d.outcome,
            "detail": d.detail, "attempts": d.attempts, "chunks_sent": d.chunks_sent,
        })).collect::<Vec<_>>(),
    })
}

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
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0))
}

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
    }
}
