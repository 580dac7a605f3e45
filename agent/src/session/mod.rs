//! Remote screen sessions on the device: one driver per session request, from the checks and
//! the caller's consent to the end of the frame stream.
//!
//! A request is refused before anything is shown when it is for another device, stale or
//! replayed (`admit.rs`), when a session already runs on this device, or when its analyst
//! has asked too often in the last minute (`limit.rs`). Otherwise the
//! driver (`driver.rs`) opens the desktop first (a screen that cannot be captured is refused
//! with its reason, before the caller is asked), asks the signed-in user (`consent.rs`;
//! only Allow starts, and an unattended start needs nobody signed in and the device's
//! policy), then shows the session bar, opens the frame stream and runs capture
//! (`frames.rs`), the pointer (`cursor.rs`) and, in control sessions, input (`input.rs`) on
//! their own threads until the console, the caller, the device or the network ends it. Every answer, start, drop to view
//! only and end is written to the audit log.

mod admit;
mod consent;
mod cursor;
mod driver;
mod frames;
mod input;
mod limit;

use std::sync::{Arc, Mutex};

use hotline_protocol::DeviceId;
use hotline_protocol::inventory::MAX_TEXT;
use hotline_protocol::messages::truncate;
use hotline_protocol::remote::{
    ConsentOutcome, MAX_MONITORS, MonitorChoice, MonitorLayout, SessionControl, SessionId,
    SessionReport, SessionRequest,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tracing::{debug, warn};

pub use consent::{Decision, decide, outcome_of, prompt_for};
pub use driver::{FrameStream, OpenStream, SessionLink};
pub use frames::FRAME_INTERVAL;

use crate::audit::{Audit, Outcome};
use crate::consent::ConsentPrompt;
use crate::consent::bar::SessionIndicator;
use crate::inventory::InventorySource;
use crate::screen::capture::{Area, Monitor};
use crate::screen::input::Monitor as InputMonitor;
use admit::RequestGuard;
use frames::lock;
use limit::PromptLimit;

/// Everything a screen session needs, shared by the link's connections.
pub struct Sessions {
    pub prompt: Arc<dyn ConsentPrompt>,
    pub indicator: Arc<dyn SessionIndicator>,
    pub audit: Arc<Audit>,
    /// Who is signed in, and the displays, at the moment of a request.
    pub inventory: Box<dyn InventorySource>,
    /// The X display unattended sessions use; `None` takes the inventory's first.
    unattended_display: Option<String>,
    guard: Mutex<RequestGuard>,
    limit: Mutex<PromptLimit>,
    /// The session running on this device, if any: one at a time.
    running: Arc<Mutex<Option<SessionId>>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("running", &self.running)
            .finish_non_exhaustive()
    }
}

/// Holds the device's one session slot; dropping it frees the slot.
struct Busy(Arc<Mutex<Option<SessionId>>>);

impl Drop for Busy {
    fn drop(&mut self) {
        *lock(&self.0) = None;
    }
}

impl Sessions {
    pub fn new(
        device: DeviceId,
        (prompt, indicator): (Arc<dyn ConsentPrompt>, Arc<dyn SessionIndicator>),
        audit: Arc<Audit>,
        inventory: Box<dyn InventorySource>,
    ) -> Sessions {
        Sessions {
            prompt,
            indicator,
            audit,
            inventory,
            unattended_display: None,
            guard: Mutex::new(RequestGuard::new(device, admit::RULES)),
            limit: Mutex::new(PromptLimit::default()),
            running: Arc::new(Mutex::new(None)),
        }
    }

    /// Runs unattended sessions on `display` (an X display name such as `:1`) rather than
    /// on the first X11 display the inventory lists.
    #[must_use]
    pub fn with_unattended_display(mut self, display: Option<String>) -> Sessions {
        self.unattended_display = display;
        self
    }

    /// Takes a request from the console at `now_ms`. An admitted request starts its driver on
    /// the runtime, and the sender returned takes the session's later control messages
    /// (dropping it ends the session: the connection is gone). A refused request is recorded
    /// and answered on `link.reports`, and `None` is returned.
    pub fn start(
        self: &Arc<Self>,
        request: SessionRequest,
        link: SessionLink,
        now_ms: i64,
    ) -> Option<mpsc::UnboundedSender<SessionControl>> {
        match self.admit(&request, now_ms) {
            Ok(busy) => {
                let (controls, received) = mpsc::unbounded_channel();
                tokio::spawn(driver::drive(self.clone(), request, link, received, busy));
                Some(controls)
            }
            Err(reason) => {
                debug!(session = %request.id, reason, "screen session request refused");
                let sessions = self.clone();
                tokio::spawn(async move {
                    let outcome = ConsentOutcome::Refused(short(&reason));
                    sessions
                        .record_async("screen.session", &request, json!({}), refused(&outcome))
                        .await
                        .ok();
                    let report = SessionReport::Answered {
                        id: request.id,
                        outcome,
                        monitors: Vec::new(),
                    };
                    link.reports.send(report).await.ok();
                });
                None
            }
        }
    }

    fn admit(&self, request: &SessionRequest, now_ms: i64) -> Result<Busy, String> {
        admit::admit(&mut lock(&self.guard), request, now_ms)?;
        let mut running = lock(&self.running);
        if let Some(id) = *running {
            return Err(format!(
                "another screen session ({id}) is already running on this device; it must end first"
            ));
        }
        // Counted last, so that only requests that go on to the caller count.
        lock(&self.limit).admit(&request.analyst, now_ms)?;
        *running = Some(request.id);
        Ok(Busy(self.running.clone()))
    }

    /// Appends an entry about `request` to the audit log. Blocks on the disk.
    fn record(
        &self,
        action: &str,
        request: &SessionRequest,
        extra: Value,
        outcome: Outcome,
    ) -> Result<(), String> {
        let mut params = json!({
            "session": request.id.to_string(),
            "analyst": request.analyst,
            "mode": request.mode.label(),
        });
        if let (Some(params), Value::Object(extra)) = (params.as_object_mut(), extra) {
            params.extend(extra);
        }
        self.audit
            .append(action, &params, Some(request.ticket), outcome)
            .map(drop)
            .map_err(|error| {
                warn!(%error, action, "could not record a screen session entry");
                error.to_string()
            })
    }

    /// [`Sessions::record`] off the async workers.
    async fn record_async(
        self: &Arc<Self>,
        action: &'static str,
        request: &SessionRequest,
        extra: Value,
        outcome: Outcome,
    ) -> Result<(), String> {
        let sessions = self.clone();
        let request = request.clone();
        tokio::task::spawn_blocking(move || sessions.record(action, &request, extra, outcome))
            .await
            .map_err(|error| format!("recording the audit entry: {error}"))?
    }
}

/// The audit outcome of a consent outcome.
fn refused(outcome: &ConsentOutcome) -> Outcome {
    if outcome.allows() {
        return Outcome::Ok;
    }
    Outcome::Refused(outcome.reason().unwrap_or(outcome.label()).to_owned())
}

/// A reason cut to what a session report may carry.
fn short(reason: &str) -> String {
    truncate(reason, MAX_TEXT).to_owned()
}

/// The monitor layout the console is told, in the capture backend's order.
fn layout(monitors: &[Monitor]) -> Vec<MonitorLayout> {
    let side = |value: u32| u16::try_from(value).unwrap_or(u16::MAX);
    monitors
        .iter()
        .take(MAX_MONITORS)
        .enumerate()
        .map(|(index, monitor)| MonitorLayout {
            index: index as u8,
            name: short(&monitor.name),
            x: monitor.x,
            y: monitor.y,
            width: side(monitor.width),
            height: side(monitor.height),
            primary: monitor.primary,
        })
        .collect()
}

/// What to capture, and where input aims, for the analyst's choice.
fn aim(choice: MonitorChoice, monitors: &[Monitor]) -> Result<(Area, InputMonitor), String> {
    match choice {
        MonitorChoice::All => {
            let right = monitors.iter().map(|m| m.x + m.width as i32).max();
            let bottom = monitors.iter().map(|m| m.y + m.height as i32).max();
            let whole = InputMonitor {
                x: 0,
                y: 0,
                width: right.unwrap_or(0).max(0) as u32,
                height: bottom.unwrap_or(0).max(0) as u32,
            };
            Ok((Area::Screen, whole))
        }
        MonitorChoice::One(index) => {
            let monitor = monitors.get(usize::from(index)).ok_or_else(|| {
                format!(
                    "no monitor {index}: the screen has {} (counting from 0)",
                    monitors.len()
                )
            })?;
            let aimed = InputMonitor {
                x: monitor.x,
                y: monitor.y,
                width: monitor.width,
                height: monitor.height,
            };
            Ok((Area::Monitor(monitor.name.clone()), aimed))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitors() -> Vec<Monitor> {
        vec![
            Monitor {
                name: "DP-1".into(),
                x: 0,
                y: 0,
                width: 1920,
                height: 1080,
                primary: true,
            },
            Monitor {
                name: "HDMI-1".into(),
                x: 1920,
                y: 0,
                width: 1366,
                height: 768,
                primary: false,
            },
        ]
    }

    #[test]
    fn a_monitor_is_chosen_by_its_index_in_the_reported_layout() {
        let layout = layout(&monitors());
        assert_eq!(layout[1].index, 1);
        assert_eq!(layout[1].name, "HDMI-1");
        let (area, input) = aim(MonitorChoice::One(1), &monitors()).expect("monitor 1");
        assert_eq!(area, Area::Monitor("HDMI-1".into()));
        assert_eq!((input.x, input.width, input.height), (1920, 1366, 768));
        let (area, input) = aim(MonitorChoice::All, &monitors()).expect("all");
        assert_eq!(area, Area::Screen);
        assert_eq!((input.width, input.height), (1920 + 1366, 1080));
        assert!(aim(MonitorChoice::One(2), &monitors()).is_err());
    }
}
