//! The scheduler's decision for one deployment at one moment, from its stored state alone:
//! wait, send to these devices, skip these past the deadline, pause at the gate, or finish.
//! Pure, so every rule is tested without a clock or a network.

use std::collections::HashSet;

use hotline_protocol::DeviceId;

use crate::store::{DeploymentRow, TargetDevice};

/// What to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Wait,
    /// Offer the package to these devices (the caller skips offline ones).
    Send(Vec<DeviceId>),
    /// These devices were not reached before the deadline.
    Expire(Vec<DeviceId>),
    /// Failures passed the threshold.
    Pause(String),
    /// Every device has a final result; the summary counts them.
    Finish(String),
}

/// Whether a device's final outcome counts against the gate.
pub fn is_failure(outcome: Option<&str>) -> bool {
    !matches!(
        outcome,
        Some("installed" | "already-present" | "reboot-required" | "skipped-requirement")
            | Some("skipped-deadline")
            | None
    )
}

/// Failures among devices with a final result.
pub fn failures(devices: &[TargetDevice]) -> i64 {
    let count = devices
        .iter()
        .filter(|d| d.state == "done" && is_failure(d.outcome.as_deref()))
        .count();
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// The decision at `now`. `open_windows` holds the devices whose group window is open now;
/// it is consulted only for a deployment held to group windows, where a device outside its
/// window waits (a device whose group lost its window, or that left its group, waits too,
/// until it has an open window again or the deadline skips it).
pub fn decide(
    deployment: &DeploymentRow,
    devices: &[TargetDevice],
    now: i64,
    open_windows: &HashSet<String>,
) -> Decision {
    if devices.iter().all(|d| d.state == "done") {
        return Decision::Finish(summary(devices));
    }

    // The gate: in any wave, failures beyond those an operator accepted, over the
    // threshold's share of that wave, pause everything. Checked before sending, so a
    // failing canary stops the rest from ever starting.
    let mut accepted = deployment.gate_ack;
    for wave in waves(devices) {
        let members: Vec<&TargetDevice> = devices.iter().filter(|d| d.wave == wave).collect();
        let total = i64::try_from(members.len()).unwrap_or(i64::MAX);
        let failed = i64::try_from(
            members
                .iter()
                .filter(|d| d.state == "done" && is_failure(d.outcome.as_deref()))
                .count(),
        )
        .unwrap_or(i64::MAX);
        let counted = (failed - accepted).max(0);
        accepted = (accepted - failed).max(0);
        if counted > 0 && counted * 100 > deployment.failure_percent * total {
            let name = if wave == 0 && deployment.canary_percent > 0 {
                "canary wave".to_owned()
            } else {
                format!("wave {}", wave + 1)
            };
            return Decision::Pause(format!(
                "{name}: {counted} of {total} devices failed, over the {}% threshold",
                deployment.failure_percent
            ));
        }
    }

    if now < deployment.not_before {
        return Decision::Wait;
    }
    let pending = |d: &&TargetDevice| d.state == "pending";
    if deployment.deadline.is_some_and(|deadline| now >= deadline) {
        let late: Vec<DeviceId> = devices
            .iter()
            .filter(pending)
            .filter_map(|d| d.device.parse().ok())
            .collect();
        return if late.is_empty() {
            Decision::Wait
        } else {
            Decision::Expire(late)
        };
    }
    if deployment.window.is_some_and(|window| !window.is_open(now)) {
        return Decision::Wait;
    }

    // The lowest wave with devices still to finish; a later wave waits for it.
    let Some(current) = devices
        .iter()
        .filter(|d| d.state != "done")
        .map(|d| d.wave)
        .min()
    else {
        return Decision::Wait;
    };
    let ready: Vec<DeviceId> = devices
        .iter()
        .filter(|d| d.wave == current)
        .filter(pending)
        .filter(|d| d.retry_at <= now)
        .filter(|d| !deployment.group_windows || open_windows.contains(&d.device))
        .filter_map(|d| d.device.parse().ok())
        .collect();
    if ready.is_empty() {
        Decision::Wait
    } else {
        Decision::Send(ready)
    }
}

fn waves(devices: &[TargetDevice]) -> Vec<i64> {
    let mut waves: Vec<i64> = devices.iter().map(|d| d.wave).collect();
    waves.sort_unstable();
    waves.dedup();
    waves
}

/// "2 installed, 1 failed" style counts of final outcomes.
pub fn summary(devices: &[TargetDevice]) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for device in devices {
        let outcome = device.outcome.as_deref().unwrap_or(device.state.as_str());
        *counts.entry(outcome.to_owned()).or_insert(0) += 1;
    }
    counts
        .iter()
        .map(|(outcome, count)| format!("{count} {outcome}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Splits `count` devices into the canary wave (0) and the rest (1): the canary is
/// `percent` of them rounded up, at least one device when there is a canary at all.
pub fn canary_size(count: usize, percent: i64) -> usize {
    if percent <= 0 || count == 0 {
        return 0;
    }
    let percent = usize::try_from(percent.min(100)).unwrap_or(100);
    (count * percent).div_ceil(100).clamp(1, count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Window;
    use crate::tickets::TicketNumber;

    fn deployment() -> DeploymentRow {
        DeploymentRow {
            id: 1,
            ticket: TicketNumber(1),
            package: "p".into(),
            version: "1.0.0".into(),
            target: "p-1.0.0.hpkg".into(),
            sha256: String::new(),
            length: 1,
            status: "active".into(),
            status_reason: None,
            canary_percent: 34,
            failure_percent: 20,
            not_before: 0,
            deadline: None,
            window: None,
            group_windows: false,
            targets: None,
            gate_ack: 0,
            created_by: "cli:root".into(),
            created_at: 0,
        }
    }

    fn device(n: u64, wave: i64, state: &str, outcome: Option<&str>) -> TargetDevice {
        TargetDevice {
            device: DeviceId::from_random(n).to_string(),
            wave,
            state: state.into(),
            outcome: outcome.map(str::to_owned),
            detail: None,
            attempts: 0,
            retry_at: 0,
            chunks_sent: 0,
        }
    }

    #[test]
    fn the_canary_goes_first_and_the_rest_waits_for_it() {
        let devices = [
            device(1, 0, "pending", None),
            device(2, 1, "pending", None),
            device(3, 1, "pending", None),
        ];
        let Decision::Send(ready) = decide(&deployment(), &devices, 10, &HashSet::new()) else {
            panic!("expected a send");
        };
        assert_eq!(ready, vec![DeviceId::from_random(1)]);
    }

    #[test]
    fn a_failed_canary_pauses_the_rollout() {
        let devices = [
            device(1, 0, "done", Some("failed")),
            device(2, 1, "pending", None),
        ];
        let decision = decide(&deployment(), &devices, 10, &HashSet::new());
        assert!(
            matches!(&decision, Decision::Pause(reason) if reason.contains("canary")),
            "{decision:?}"
        );
        // Resumed with that failure accepted, the rest goes ahead.
        let mut resumed = deployment();
        resumed.gate_ack = 1;
        assert_eq!(
            decide(&resumed, &devices, 10, &HashSet::new()),
            Decision::Send(vec![DeviceId::from_random(2)])
        );
    }

    #[test]
    fn retries_wait_for_their_time_and_windows_for_their_opening() {
        let mut waiting = device(1, 0, "pending", Some("retry-later"));
        waiting.retry_at = 100;
        assert_eq!(
            decide(&deployment(), &[waiting.clone()], 50, &HashSet::new()),
            Decision::Wait
        );
        let mut windowed = deployment();
        windowed.window = Some(Window {
            start: 0,
            length: 10,
            every: 60,
        });
        assert_eq!(
            decide(&windowed, &[waiting.clone()], 130, &HashSet::new()),
            Decision::Wait
        );
        assert!(matches!(
            decide(&windowed, &[waiting], 185, &HashSet::new()),
            Decision::Send(_)
        ));
    }

    #[test]
    fn with_group_windows_only_devices_inside_theirs_are_sent() {
        let mut held = deployment();
        held.canary_percent = 0;
        held.group_windows = true;
        let devices = [device(1, 0, "pending", None), device(2, 0, "pending", None)];
        let open = HashSet::from([DeviceId::from_random(2).to_string()]);
        assert_eq!(
            decide(&held, &devices, 10, &open),
            Decision::Send(vec![DeviceId::from_random(2)])
        );
        assert_eq!(decide(&held, &devices, 10, &HashSet::new()), Decision::Wait);
        // A deployment not held to group windows ignores them.
        held.group_windows = false;
        assert!(matches!(
            decide(&held, &devices, 10, &HashSet::new()),
            Decision::Send(ready) if ready.len() == 2
        ));
    }

    #[test]
    fn windows_open_and_reopen() {
        let window = Window {
            start: 100,
            length: 10,
            every: 60,
        };
        assert!(!window.is_open(99));
        assert!(window.is_open(105));
        assert!(!window.is_open(115));
        assert_eq!(window.next_open(115), 160);
        assert!(window.is_open(169));
    }

    #[test]
    fn past_the_deadline_pending_devices_expire_and_then_it_finishes() {
        let mut late = deployment();
        late.deadline = Some(5);
        let devices = [
            device(1, 0, "pending", None),
            device(2, 0, "done", Some("installed")),
        ];
        assert_eq!(
            decide(&late, &devices, 10, &HashSet::new()),
            Decision::Expire(vec![DeviceId::from_random(1)])
        );
        let done = [device(2, 0, "done", Some("installed"))];
        assert_eq!(
            decide(&late, &done, 10, &HashSet::new()),
            Decision::Finish("1 installed".into())
        );
    }

    #[test]
    fn canary_sizes_round_up() {
        assert_eq!(canary_size(3, 5), 1);
        assert_eq!(canary_size(200, 5), 10);
        assert_eq!(canary_size(3, 0), 0);
        assert_eq!(canary_size(3, 100), 3);
    }
}
