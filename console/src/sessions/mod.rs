//! Remote screen sessions on the console: each open session's device, ticket, analyst and
//! phase, the reports the device sends about it, and the frames and cursor records it
//! streams, handed to the one viewer (the analyst's browser) that opened it. Frames and
//! cursor shapes queue for the viewer; a cursor position replaces the one before it if the
//! viewer has not taken it yet, so pointer moves never fill the queue frames need.
//!
//! The hub writes the ticket's record of every step itself, as reports arrive: requested,
//! answered (allow, unattended, deny, timeout, cannot show, refused), started, view only,
//! ended by whom and after how long. So the record is complete even when the viewer is gone.
//! A report about a session this device does not run, or one out of order, is logged and
//! dropped; it never reaches a viewer.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use hotline_protocol::DeviceId;
use hotline_protocol::remote::{
    ConsentOutcome, EndedBy, Phase, SessionId, SessionMode, SessionReport,
};
use hotline_protocol::screen::RecordKind;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use crate::accounts::AccountName;
use crate::audit::{Actor, NewEntry, Outcome, now_ms};
use crate::store::Store;
use crate::tickets::TicketNumber;

/// Events queued for one viewer. Frames are few at a time (the device keeps at most two
/// unacknowledged), so a full queue means the viewer stopped reading.
const VIEWER_QUEUE: usize = 32;

/// What a viewer receives in order.
#[derive(Debug)]
pub enum ViewerEvent {
    Report(SessionReport),
    /// A record of the frame stream as the device sent it: a screen frame or a cursor
    /// shape.
    Record(Bytes),
}

/// A viewer's side of its session: events in order, and the latest cursor position.
#[derive(Debug)]
pub struct ViewerFeed {
    pub events: mpsc::Receiver<ViewerEvent>,
    /// The latest cursor position record; earlier ones the viewer did not take are gone.
    pub pointer: watch::Receiver<Option<Bytes>>,
}

/// Whether a device's frame stream for a session is welcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Welcome {
    Now,
    /// The session waits for the device's answer, which travels on the control stream and
    /// may arrive after the frame stream that follows it on the device.
    NotYet,
    Never,
}

/// Who opened a session, for what.
#[derive(Debug, Clone)]
pub struct Opening {
    pub device: DeviceId,
    pub ticket: TicketNumber,
    pub analyst: AccountName,
    pub mode: SessionMode,
    /// The device's policy lets the session start unattended when nobody is signed in.
    pub unattended_allowed: bool,
}

#[derive(Debug)]
struct Entry {
    opening: Opening,
    phase: Phase,
    started_ms: Option<i64>,
    /// The device answered that it runs without a prompt: nobody is signed in.
    unattended: bool,
    viewer: mpsc::Sender<ViewerEvent>,
    pointer: watch::Sender<Option<Bytes>>,
}

/// The sessions open on this console.
#[derive(Debug)]
pub struct Sessions {
    store: Store,
    open: Mutex<HashMap<SessionId, Entry>>,
}

impl Sessions {
    pub fn new(store: Store) -> Sessions {
        Sessions {
            store,
            open: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Entry>> {
        // Every operation is a single map access or field update: a panic cannot leave the
        // map half changed.
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a new session and records the request on its ticket. Returns its id and the
    /// viewer's feed; the caller sends the request to the device.
    pub async fn open(&self, opening: Opening) -> (SessionId, ViewerFeed) {
        let id = SessionId(rand::random());
        let (viewer, events) = mpsc::channel(VIEWER_QUEUE);
        let (pointer, pointer_in) = watch::channel(None);
        let entry = NewEntry {
            params: json!({
                "session": id.to_string(),
                "mode": opening.mode.label(),
                "unattended_allowed": opening.unattended_allowed,
            }),
            ..self.entry(&opening, "session.request", Outcome::Ok)
        };
        self.append(entry).await;
        let phase = Phase::requested(opening.mode);
        let entry = Entry {
            opening,
            phase,
            started_ms: None,
            unattended: false,
            viewer,
            pointer,
        };
        self.lock().insert(id, entry);
        let feed = ViewerFeed {
            events,
            pointer: pointer_in,
        };
        (id, feed)
    }

    /// Whether `device` may stream frames for session `id`: now, not yet (the session
    /// still waits for its answer), or never.
    pub fn accepts_frames(&self, device: &DeviceId, id: SessionId) -> Welcome {
        match self.lock().get(&id) {
            Some(entry) if entry.opening.device == *device => match entry.phase {
                Phase::Allowed { .. } | Phase::Running { .. } => Welcome::Now,
                Phase::Requested { .. } => Welcome::NotYet,
                Phase::Over => Welcome::Never,
            },
            _ => Welcome::Never,
        }
    }

    /// Hands a checked record of `kind` from `device` to session `id`'s viewer. Returns
    /// `false` when the frame stream should stop: the session is over, or is not this
    /// device's.
    pub fn on_record(
        &self,
        device: &DeviceId,
        id: SessionId,
        kind: RecordKind,
        record: Bytes,
    ) -> bool {
        let open = self.lock();
        let Some(entry) = open.get(&id).filter(|e| e.opening.device == *device) else {
            return false;
        };
        // The device writes its first records as soon as it reports the start, and the report
        // travels on the control stream: a record may arrive while the console still sees
        // the session as allowed but not yet started.
        if !matches!(entry.phase, Phase::Allowed { .. } | Phase::Running { .. }) {
            return false;
        }
        if kind == RecordKind::CursorPosition {
            entry.pointer.send_replace(Some(record));
        } else if entry.viewer.try_send(ViewerEvent::Record(record)).is_err() {
            debug!(session = %id, ?kind, "viewer queue full; record dropped");
        }
        true
    }

    /// Applies a report from `device`, records it on the ticket and tells the viewer.
    pub async fn on_report(&self, device: &DeviceId, report: SessionReport) {
        let id = report.id();
        let record = {
            let mut open = self.lock();
            let Some(entry) = open.get_mut(&id) else {
                debug!(session = %id, "report for a session that is not open; dropped");
                return;
            };
            if entry.opening.device != *device {
                warn!(session = %id, "a device reported on another device's session; dropped");
                return;
            }
            if let Err(error) = entry.phase.on_report(&report) {
                warn!(session = %id, %error, "session report dropped");
                return;
            }
            match &report {
                SessionReport::Started { .. } => entry.started_ms = Some(now_ms()),
                SessionReport::Answered {
                    outcome: ConsentOutcome::Unattended,
                    ..
                } => entry.unattended = true,
                _ => {}
            }
            let record = self.record_of(id, entry, &report);
            entry.viewer.try_send(ViewerEvent::Report(report)).ok();
            if entry.phase == Phase::Over {
                open.remove(&id);
            }
            record
        };
        if let Some(record) = record {
            self.append(record).await;
        }
    }

    /// Ends session `id` on the analyst's or the console's behalf: records why and returns
    /// the device to tell, or `None` when the session was already over.
    pub async fn end(&self, id: SessionId, reason: &str) -> Option<DeviceId> {
        let entry = self.lock().remove(&id)?;
        let duration = entry.started_ms.map(|started| (now_ms() - started) / 1000);
        let record = NewEntry {
            params: json!({
                "session": id.to_string(),
                "by": EndedBy::Console.label(),
                "reason": reason,
                "duration_secs": duration,
            }),
            ..self.entry(&entry.opening, "session.end", Outcome::Ok)
        };
        self.append(record).await;
        Some(entry.opening.device)
    }

    /// The audit entry a report makes, if any.
    fn record_of(&self, id: SessionId, entry: &Entry, report: &SessionReport) -> Option<NewEntry> {
        let session = id.to_string();
        let (action, outcome, params) = match report {
            SessionReport::Answered { outcome, .. } => {
                let result = match outcome {
                    ConsentOutcome::Allowed | ConsentOutcome::Unattended => Outcome::Ok,
                    other => Outcome::Refused(
                        other
                            .reason()
                            .map_or_else(|| other.label().to_owned(), str::to_owned),
                    ),
                };
                let params = json!({
                    "session": session,
                    "answer": outcome.label(),
                    "unattended": matches!(outcome, ConsentOutcome::Unattended),
                });
                ("session.answer", result, params)
            }
            SessionReport::Started { .. } => (
                "session.start",
                Outcome::Ok,
                json!({
                    "session": session,
                    "mode": entry.opening.mode.label(),
                    "unattended": entry.unattended,
                }),
            ),
            SessionReport::ViewOnly { by_caller, .. } => (
                "session.view_only",
                Outcome::Ok,
                json!({ "session": session, "by": if *by_caller { "caller" } else { "analyst" } }),
            ),
            SessionReport::Ended { by, reason, .. } => {
                let duration = entry.started_ms.map(|started| (now_ms() - started) / 1000);
                let params = json!({
                    "session": session,
                    "by": by.label(),
                    "reason": reason,
                    "duration_secs": duration,
                });
                ("session.end", Outcome::Ok, params)
            }
        };
        Some(NewEntry {
            params,
            ..self.entry(&entry.opening, action, outcome)
        })
    }

    fn entry(&self, opening: &Opening, action: &str, outcome: Outcome) -> NewEntry {
        NewEntry {
            device: Some(opening.device.clone()),
            ticket: Some(opening.ticket),
            outcome,
            ..NewEntry::new(Actor::Analyst(opening.analyst.clone()), action)
        }
    }

    async fn append(&self, entry: NewEntry) {
        if let Err(error) = self.store.append_audit(entry).await {
            warn!(
                error = format!("{error:#}"),
                "could not record a session step"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use hotline_protocol::remote::MonitorLayout;
    use hotline_protocol::screen::{CursorPosition, CursorUpdate, encode_cursor};

    use super::*;

    async fn hub() -> (tempfile::TempDir, Sessions) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("db"), true)
            .await
            .expect("store");
        (dir, Sessions::new(store))
    }

    fn opening(device: &DeviceId) -> Opening {
        Opening {
            device: device.clone(),
            ticket: TicketNumber(1),
            analyst: "dana".parse().expect("account name"),
            mode: SessionMode::View,
            unattended_allowed: true,
        }
    }

    #[tokio::test]
    async fn a_frame_stream_waits_for_the_answer_and_only_its_own_device_streams() {
        let (_dir, sessions) = hub().await;
        let device = DeviceId::from_random(1);
        let (id, mut feed) = sessions.open(opening(&device)).await;

        // Before the answer the stream is held, not refused; another device's never counts.
        assert_eq!(sessions.accepts_frames(&device, id), Welcome::NotYet);
        let other = DeviceId::from_random(2);
        assert_eq!(sessions.accepts_frames(&other, id), Welcome::Never);

        let answer = SessionReport::Answered {
            id,
            outcome: ConsentOutcome::Unattended,
            monitors: Vec::<MonitorLayout>::new(),
        };
        sessions.on_report(&device, answer).await;
        assert!(matches!(
            feed.events.recv().await,
            Some(ViewerEvent::Report(_))
        ));
        assert_eq!(sessions.accepts_frames(&device, id), Welcome::Now);

        sessions.end(id, "done").await.expect("was open");
        assert_eq!(sessions.accepts_frames(&device, id), Welcome::Never);
    }

    fn position(x: u16) -> Bytes {
        let update = CursorUpdate::Position(CursorPosition::Visible {
            id: hotline_protocol::screen::CursorId(1),
            x,
            y: 0,
        });
        Bytes::from(encode_cursor(&update))
    }

    #[tokio::test]
    async fn positions_the_viewer_has_not_taken_give_way_while_frames_and_shapes_queue() {
        let (_dir, hub) = hub().await;
        let device = DeviceId::from_random(1);
        let (id, mut feed) = hub.open(opening(&device)).await;
        let allowed = SessionReport::Answered {
            id,
            outcome: ConsentOutcome::Allowed,
            monitors: Vec::new(),
        };
        hub.on_report(&device, allowed).await;
        assert!(matches!(feed.events.try_recv(), Ok(ViewerEvent::Report(_))));

        // Before the start report arrives (it travels on another stream), records pass.
        for x in 1..=3 {
            assert!(hub.on_record(&device, id, RecordKind::CursorPosition, position(x)));
        }
        let shape = Bytes::from_static(&[0x10, 9]);
        assert!(hub.on_record(&device, id, RecordKind::CursorShape, shape.clone()));
        assert!(matches!(feed.events.try_recv(), Ok(ViewerEvent::Record(r)) if r == shape));
        assert!(feed.events.try_recv().is_err(), "positions never queue");
        assert_eq!(*feed.pointer.borrow_and_update(), Some(position(3)));

        // Another device's records, and any after the end, stop the stream.
        let other = DeviceId::from_random(2);
        assert!(!hub.on_record(&other, id, RecordKind::CursorPosition, position(4)));
        hub.end(id, "test over").await;
        assert!(!hub.on_record(&device, id, RecordKind::CursorPosition, position(5)));
    }
}
