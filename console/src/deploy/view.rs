//! A deployment as the web console shows it: each device's state and outcome folded into the
//! few words a person watching a rollout counts by (pending, transferring, installed, already
//! present, reboot required, failed, skipped, refused), per wave and in total, beside the
//! schedule and the gate it runs under.
//!
//! The JSON here only adds fields to what `request::status_json` says, so a script reading
//! the older shape keeps working.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::plan;
use crate::store::{DeploymentRow, TargetDevice, Window};

/// Every word a device is counted by, in the order a page shows them.
pub const PROGRESS: &[&str] = &[
    "pending",
    "transferring",
    "installed",
    "already-present",
    "reboot-required",
    "failed",
    "skipped",
    "refused",
];

/// The word `device` is counted by. A "retry later" waiting for its time is still pending;
/// one that ran out of attempts is a failure, as the gate counts it.
pub fn progress(device: &TargetDevice) -> &'static str {
    progress_of(&device.state, device.outcome.as_deref())
}

/// [`progress`] from a stored state and outcome.
pub fn progress_of(state: &str, outcome: Option<&str>) -> &'static str {
    match (state, outcome) {
        ("sending", _) => "transferring",
        ("pending", _) => "pending",
        (_, Some("installed")) => "installed",
        (_, Some("already-present")) => "already-present",
        (_, Some("reboot-required")) => "reboot-required",
        (_, Some("skipped-requirement" | "skipped-deadline")) => "skipped",
        (_, Some("refused-verification" | "refused-assignment")) => "refused",
        (_, None) => "pending",
        (_, Some(_)) => "failed",
    }
}

/// Counts of `devices` by [`progress`], every word present (zero when none).
pub fn counts<'a>(
    devices: impl IntoIterator<Item = &'a TargetDevice>,
) -> BTreeMap<&'static str, u64> {
    let mut counts: BTreeMap<&'static str, u64> = PROGRESS.iter().map(|word| (*word, 0)).collect();
    for device in devices {
        *counts.entry(progress(device)).or_default() += 1;
    }
    counts
}

/// Each wave with its name and counts, lowest first.
pub fn waves(devices: &[TargetDevice]) -> Vec<Value> {
    let mut numbers: Vec<i64> = devices.iter().map(|d| d.wave).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let canary = numbers.first() == Some(&0);
    numbers
        .into_iter()
        .map(|wave| {
            let members: Vec<&TargetDevice> = devices.iter().filter(|d| d.wave == wave).collect();
            json!({
                "wave": wave,
                "name": wave_name(wave, canary),
                "total": members.len(),
                "counts": counts(members.iter().copied()),
            })
        })
        .collect()
}

/// Wave 0 is the canary; wave 1 holds the rest, or every device when there is no canary.
fn wave_name(wave: i64, canary: bool) -> &'static str {
    match (wave, canary) {
        (0, _) => "canary",
        (_, true) => "after the canary",
        (_, false) => "all devices",
    }
}

fn rfc3339(secs: i64) -> Option<String> {
    let secs = u64::try_from(secs).ok()?;
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    Some(humantime::format_rfc3339_seconds(at).to_string())
}

fn window_json(window: &Window) -> Value {
    json!({
        "start": rfc3339(window.start),
        "length_secs": window.length,
        "every_secs": window.every,
    })
}

/// Adds the schedule, the gate, the creator, each device's progress word and the per-wave
/// and total counts to `status` (the JSON of `request::status_json`).
pub fn extend(status: &mut Value, deployment: &DeploymentRow, devices: &[TargetDevice]) {
    status["created_by"] = json!(deployment.created_by);
    status["created_at"] = json!(rfc3339(deployment.created_at));
    status["schedule"] = json!({
        "not_before": rfc3339(deployment.not_before),
        "deadline": deployment.deadline.and_then(rfc3339),
        "window": deployment.window.as_ref().map(window_json),
    });
    status["gate"] = json!({
        "canary_percent": deployment.canary_percent,
        "failure_percent": deployment.failure_percent,
        "accepted_failures": deployment.gate_ack,
        "failures": plan::failures(devices),
    });
    status["waves"] = json!(waves(devices));
    status["counts"] = json!(counts(devices));
    if let Some(rows) = status["devices"].as_array_mut() {
        for (row, device) in rows.iter_mut().zip(devices) {
            row["progress"] = json!(progress(device));
        }
    }
}

/// Counts by [`progress`] from (state, outcome, number of devices) groups, as
/// `Store::deployment_progress` reads them; every word present.
pub fn fold(groups: &[(String, Option<String>, i64)]) -> BTreeMap<&'static str, u64> {
    let mut counts: BTreeMap<&'static str, u64> = PROGRESS.iter().map(|word| (*word, 0)).collect();
    for (state, outcome, number) in groups {
        *counts
            .entry(progress_of(state, outcome.as_deref()))
            .or_default() += u64::try_from(*number).unwrap_or(0);
    }
    counts
}

/// One line of the deployment list: what it rolls out, for which ticket, where it stands.
pub fn summary(deployment: &DeploymentRow, counts: &BTreeMap<&'static str, u64>) -> Value {
    let total: u64 = counts.values().sum();
    let open = counts.get("pending").copied().unwrap_or(0)
        + counts.get("transferring").copied().unwrap_or(0);
    json!({
        "id": deployment.id,
        "ticket": deployment.ticket.0,
        "package": deployment.package,
        "version": deployment.version,
        "status": deployment.status,
        "reason": deployment.status_reason,
        "created_by": deployment.created_by,
        "created_at": rfc3339(deployment.created_at),
        "total": total,
        "done": total - open,
        "counts": counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(state: &str, outcome: Option<&str>) -> TargetDevice {
        TargetDevice {
            device: "d".into(),
            wave: 0,
            state: state.into(),
            outcome: outcome.map(str::to_owned),
            detail: None,
            attempts: 0,
            retry_at: 0,
            chunks_sent: 0,
        }
    }

    #[test]
    fn each_state_and_outcome_counts_under_one_word() {
        let cases = [
            ("pending", None, "pending"),
            ("pending", Some("retry-later"), "pending"),
            ("sending", Some("retry-later"), "transferring"),
            ("done", Some("installed"), "installed"),
            ("done", Some("already-present"), "already-present"),
            ("done", Some("reboot-required"), "reboot-required"),
            ("done", Some("failed"), "failed"),
            ("done", Some("retry-later"), "failed"),
            ("done", Some("skipped-deadline"), "skipped"),
            ("done", Some("skipped-requirement"), "skipped"),
            ("done", Some("refused-assignment"), "refused"),
            ("done", Some("refused-verification"), "refused"),
        ];
        for (state, outcome, word) in cases {
            assert_eq!(
                progress(&device(state, outcome)),
                word,
                "{state} {outcome:?}"
            );
            assert!(PROGRESS.contains(&word));
        }
    }

    #[test]
    fn counts_name_every_word_and_add_up() {
        let devices = [
            device("done", Some("installed")),
            device("done", Some("installed")),
            device("sending", None),
        ];
        let counts = counts(&devices);
        assert_eq!(counts.len(), PROGRESS.len());
        assert_eq!(counts["installed"], 2);
        assert_eq!(counts["transferring"], 1);
        assert_eq!(counts["failed"], 0);
    }

    #[test]
    fn waves_are_named_the_canary_and_the_rest_or_all_devices() {
        let in_wave = |wave| TargetDevice {
            wave,
            ..device("pending", None)
        };
        let names = |devices: &[TargetDevice]| -> Vec<Value> {
            waves(devices).iter().map(|w| w["name"].clone()).collect()
        };
        assert_eq!(
            names(&[in_wave(0), in_wave(1), in_wave(1)]),
            [json!("canary"), json!("after the canary")]
        );
        assert_eq!(names(&[in_wave(1), in_wave(1)]), [json!("all devices")]);
    }
}
