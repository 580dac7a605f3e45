//! One session's driver, from the admitted request to its end: open the desktop and ask the
//! caller (on a blocking thread), report the answer, then run the session's event loop over
//! the console's control messages, the session bar's events and the capture and writer
//! tasks, and end everything together within a second, whoever ends it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hotline_protocol::remote::{
    ConsentOutcome, EndedBy, MonitorLayout, Phase, SessionControl, SessionMode, SessionReport,
    SessionRequest,
};
use serde_json::json;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc::{self, UnboundedReceiver, error::TryRecvError};
use tokio::task::{JoinError, JoinHandle};
use tracing::{Instrument, debug, info, info_span, warn};

use super::consent::{Decision, decide, outcome_of, prompt_for};
use super::cursor;
use super::frames::{self, FramesError, Pace, Shared, lock};
use super::input::{InputCommand, InputThread};
use super::{Busy, Sessions, aim, layout, refused, short};
use crate::audit::Outcome;
use crate::consent::PromptTarget;
use crate::consent::bar::{BarEvent, BarSession, SessionBar};
use crate::screen::capture::{self, Area, Monitor, ScreenSource};
use crate::screen::cursor::{self as pointer, CursorSource};
use crate::screen::input::{self as input_sink, InputSink, Monitor as Bounds};

/// The frame stream a session writes: a QUIC unidirectional stream on the link, anything
/// that takes bytes in tests.
pub type FrameStream = Pin<Box<dyn AsyncWrite + Send>>;
/// Opens the session's frame stream once the session starts.
pub type OpenStream =
    Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = std::io::Result<FrameStream>> + Send>> + Send>;

/// How a session reaches the console.
pub struct SessionLink {
    /// Where the session's reports go, to be sent on the control stream in order.
    pub reports: mpsc::Sender<SessionReport>,
    pub open_stream: OpenStream,
}

impl std::fmt::Debug for SessionLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLink").finish_non_exhaustive()
    }
}

/// Longest the end of a session may take before capture and the stream are cut off.
const END_WITHIN: Duration = Duration::from_millis(900);

/// The caller's desktop, opened for a session before the caller is asked.
struct Desktop {
    /// The signed-in user whose desktop it is; `None` for an unattended session.
    user: Option<String>,
    display: String,
    source: Box<dyn ScreenSource>,
    input: Option<Box<dyn InputSink>>,
    /// The caller's pointer; `None` when it cannot be read (the screen is shown anyway).
    cursor: Option<Box<dyn CursorSource>>,
    monitors: Vec<Monitor>,
    area: Area,
    /// The captured area in root pixels.
    bounds: Bounds,
}

/// The answer to a request, and the desktop when it may start.
struct Prepared {
    outcome: ConsentOutcome,
    monitors: Vec<MonitorLayout>,
    desktop: Option<Desktop>,
}

impl Prepared {
    fn refused(outcome: ConsentOutcome) -> Prepared {
        Prepared {
            outcome,
            monitors: Vec::new(),
            desktop: None,
        }
    }
}

/// Runs one admitted session to its end.
pub(super) async fn drive(
    sessions: Arc<Sessions>,
    request: SessionRequest,
    link: SessionLink,
    controls: UnboundedReceiver<SessionControl>,
    busy: Busy,
) {
    let span = info_span!("screen_session", session = %request.id, ticket = request.ticket);
    drive_inner(sessions, request, link, controls)
        .instrument(span)
        .await;
    drop(busy);
}

async fn drive_inner(
    sessions: Arc<Sessions>,
    request: SessionRequest,
    SessionLink {
        reports,
        open_stream,
    }: SessionLink,
    mut controls: UnboundedReceiver<SessionControl>,
) {
    // The answer: the prompt waits for a person, and opening the desktop talks to the X
    // server, so both run on a blocking thread.
    let prepared = {
        let sessions = sessions.clone();
        let request = request.clone();
        tokio::task::spawn_blocking(move || prepare(&sessions, &request)).await
    };
    let mut prepared = prepared.unwrap_or_else(|error| {
        Prepared::refused(ConsentOutcome::CannotShow(format!(
            "the consent prompt failed: {error}"
        )))
    });

    // Recorded before anything is reported or started: an Allow that cannot be recorded
    // does not start a session.
    let recorded = sessions
        .record_async(
            "screen.session",
            &request,
            json!({ "answer": prepared.outcome.label() }),
            refused(&prepared.outcome),
        )
        .await;
    if let Err(reason) = recorded
        && prepared.outcome.allows()
    {
        prepared = Prepared::refused(ConsentOutcome::Refused(short(&format!(
            "the session cannot be recorded in the device's audit log: {reason}"
        ))));
    }
    info!(answer = prepared.outcome.label(), "screen session answered");
    let answered = SessionReport::Answered {
        id: request.id,
        outcome: prepared.outcome.clone(),
        monitors: prepared.monitors.clone(),
    };
    if reports.send(answered).await.is_err() {
        return;
    }
    let Some(desktop) = prepared.desktop.filter(|_| prepared.outcome.allows()) else {
        return;
    };

    // The console may have ended the request, or the connection may have gone, while the
    // caller was deciding: then nothing starts.
    loop {
        match controls.try_recv() {
            Ok(SessionControl::End { reason, .. }) => {
                let ended = (EndedBy::Console, reason);
                return report_end(&sessions, &request, &reports, ended, None).await;
            }
            // Only the kind is logged: input may carry text the analyst types.
            Ok(_) => debug!("session control before the start ignored"),
            Err(TryRecvError::Empty) => break,
            Err(TryRecvError::Disconnected) => {
                let lost = (
                    EndedBy::Device,
                    "the connection to the console was lost".into(),
                );
                return report_end(&sessions, &request, &reports, lost, None).await;
            }
        }
    }

    let mut phase = Phase::requested(request.mode);
    if let Err(error) = phase.answer(&prepared.outcome) {
        warn!(%error, "session phase");
        return;
    }
    let link = (reports.clone(), open_stream);
    match Running::start(&sessions, &request, link, desktop, phase).await {
        Ok(running) => running.run(controls).await,
        Err(ended) => report_end(&sessions, &request, &reports, ended, None).await,
    }
}

/// Opens the desktop and asks the caller. Blocks.
fn prepare(sessions: &Sessions, request: &SessionRequest) -> Prepared {
    let decision = decide(
        &sessions.inventory.collect(),
        request.unattended_allowed,
        sessions.unattended_display.as_deref(),
    );
    let (target, display) = match decision {
        Decision::Ask(target) => {
            let display = target.display.clone();
            (Some(target), display)
        }
        Decision::Unattended { display } => (None, display),
        Decision::CannotShow(reason) => {
            return Prepared::refused(ConsentOutcome::CannotShow(short(&reason)));
        }
    };

    // The desktop is opened before the caller is asked, so that a screen that cannot be
    // captured is refused with its reason instead of after an Allow, and never as black
    // frames.
    let user = target.as_ref().map(|t| t.user.clone());
    let desktop = match open_desktop(request, display, user) {
        Ok(desktop) => desktop,
        Err(reason) => return Prepared::refused(ConsentOutcome::CannotShow(short(&reason))),
    };
    let monitors = layout(&desktop.monitors);
    let outcome = match &target {
        Some(target) => match outcome_of(sessions.prompt.ask(target, &prompt_for(request))) {
            ConsentOutcome::CannotShow(reason) => ConsentOutcome::CannotShow(short(&reason)),
            outcome => outcome,
        },
        None => ConsentOutcome::Unattended,
    };
    Prepared {
        outcome,
        monitors,
        desktop: Some(desktop),
    }
}

/// Connects capture (and input for a control session) to `display`. Blocks.
fn open_desktop(
    request: &SessionRequest,
    display: String,
    user: Option<String>,
) -> Result<Desktop, String> {
    let mut source =
        capture::open_for(user.as_deref(), &display).map_err(|error| error.to_string())?;
    let monitors = source.monitors().map_err(|error| error.to_string())?;
    let (area, aimed) = aim(request.monitor, &monitors)?;
    // One capture now: a screen this agent may not read comes back black, and is refused
    // here with the reason rather than streamed.
    source.capture(&area).map_err(|error| error.to_string())?;
    let input = match request.mode {
        SessionMode::Control => Some(
            input_sink::open(user.as_deref(), &display, aimed)
                .map_err(|error| format!("cannot take control: {error}"))?,
        ),
        SessionMode::View => None,
    };
    let cursor = pointer::open_for(user.as_deref(), &display)
        .inspect_err(|error| warn!(%error, "the caller's pointer will not be shown"))
        .ok();
    Ok(Desktop {
        user,
        display,
        source,
        input,
        cursor,
        monitors,
        area,
        bounds: aimed,
    })
}

/// Why and by whom a session ended.
type Ending = (EndedBy, String);

/// A session that started: its bar, threads and tasks.
// FIXME: a change of the user's session (screen locked, another user switched in) is noticed
// only when the bar's display goes away (sign-out); a lock needs the screensaver's or
// logind's state, which no inventory source reads yet.
// FIXME: input and monitor choices use the layout taken at the session's start, so after a
// resolution change pointer positions are clamped to the old size; re-reading the layout
// needs the capture thread to share it.
struct Running {
    sessions: Arc<Sessions>,
    request: SessionRequest,
    reports: mpsc::Sender<SessionReport>,
    shared: Shared,
    monitors: Vec<Monitor>,
    bar: Option<SessionBar>,
    input: Option<InputThread>,
    capture: Option<JoinHandle<Result<(), FramesError>>>,
    /// The pointer loop, which ends with capture; its failure does not end the session.
    pointer: Option<JoinHandle<()>>,
    writer: Option<JoinHandle<std::io::Result<()>>>,
    started: Instant,
}

/// What woke a running session.
enum Wake {
    Control(Option<SessionControl>),
    Bar(Option<BarEvent>),
    Captured(Result<Result<(), FramesError>, JoinError>),
    Written(Result<std::io::Result<()>, JoinError>),
}

impl Running {
    /// Shows the bar, opens the frame stream, records the start and starts capture and
    /// input. A failure ends the session before any frame, with the link given back.
    async fn start(
        sessions: &Arc<Sessions>,
        request: &SessionRequest,
        (reports, open_stream): (mpsc::Sender<SessionReport>, OpenStream),
        desktop: Desktop,
        mut phase: Phase,
    ) -> Result<Running, Ending> {
        let failed = |reason: String| Err((EndedBy::Device, reason));

        // The bar first: a session the caller cannot see or end does not run. An unattended
        // session has nobody to show it to.
        let bar = match &desktop.user {
            Some(user) => match show_bar(sessions, request, user, &desktop.display).await {
                Ok(bar) => Some(bar),
                Err(reason) => return failed(reason),
            },
            None => None,
        };

        let mut stream = match open_stream().await {
            Ok(stream) => stream,
            Err(error) => return failed(format!("opening the frame stream: {error}")),
        };
        if let Err(error) = stream.write_all(&request.id.0).await {
            return failed(format!("writing the frame stream: {error}"));
        }
        let extra = json!({ "unattended": desktop.user.is_none(), "display": desktop.display });
        if let Err(reason) = sessions
            .record_async("screen.session.start", request, extra, Outcome::Ok)
            .await
        {
            return failed(format!("the session start cannot be recorded: {reason}"));
        }
        if let Err(error) = phase.start() {
            return failed(error.to_string());
        }

        let pace = Arc::new(Pace::default());
        let input = match desktop.input {
            Some(sink) => match InputThread::start(sink, pace.clone()) {
                Ok(thread) => Some(thread),
                Err(error) => return failed(format!("starting input: {error}")),
            },
            None => None,
        };
        let shared = Shared {
            phase: Arc::new(Mutex::new(phase)),
            area: Arc::new(Mutex::new(desktop.area)),
            bounds: Arc::new(Mutex::new(desktop.bounds)),
            pace,
        };
        // Told before the first frame so the console expects the stream; the two travel on
        // different streams either way.
        reports
            .send(SessionReport::Started { id: request.id })
            .await
            .ok();
        info!(mode = request.mode.label(), "screen session started");

        // Two frames at most are unacknowledged, so two is all the channel ever holds.
        let (frames_out, frames_in) = mpsc::channel(2);
        let (cursor_out, cursor_in) = cursor::channel();
        let writer = tokio::spawn(frames::write(stream, frames_in, cursor_in));
        let capture = {
            let shared = shared.clone();
            let source = desktop.source;
            tokio::task::spawn_blocking(move || frames::run(source, &shared, &frames_out))
        };
        let pointer = desktop.cursor.map(|source| {
            let shared = shared.clone();
            tokio::task::spawn_blocking(move || {
                cursor::run(source, &shared.phase, &shared.bounds, &cursor_out);
            })
        });
        Ok(Running {
            sessions: sessions.clone(),
            request: request.clone(),
            reports,
            shared,
            monitors: desktop.monitors,
            bar,
            input,
            capture: Some(capture),
            pointer,
            writer: Some(writer),
            started: Instant::now(),
        })
    }

    /// The session's loop, until something ends it.
    async fn run(mut self, mut controls: UnboundedReceiver<SessionControl>) {
        let ending = loop {
            let wake = tokio::select! {
                control = controls.recv() => Wake::Control(control),
                event = bar_event(&mut self.bar) => Wake::Bar(event),
                captured = join(&mut self.capture) => Wake::Captured(captured),
                written = join(&mut self.writer) => Wake::Written(written),
            };
            let ended = match wake {
                Wake::Control(Some(control)) => self.on_control(control).await,
                Wake::Control(None) => Some((
                    EndedBy::Device,
                    "the connection to the console was lost".to_owned(),
                )),
                Wake::Bar(event) => self.on_bar(event).await,
                Wake::Captured(Ok(Ok(()))) => {
                    Some((EndedBy::Device, "screen capture stopped".to_owned()))
                }
                Wake::Captured(Ok(Err(error))) => {
                    Some((EndedBy::Device, format!("screen capture failed: {error}")))
                }
                Wake::Captured(Err(error)) => Some((
                    EndedBy::Device,
                    format!("the capture thread failed: {error}"),
                )),
                Wake::Written(Ok(Ok(()))) => {
                    Some((EndedBy::Device, "the frame stream ended".to_owned()))
                }
                Wake::Written(Ok(Err(error))) => {
                    Some((EndedBy::Device, format!("the frame stream failed: {error}")))
                }
                Wake::Written(Err(error)) => {
                    Some((EndedBy::Device, format!("the frame writer failed: {error}")))
                }
            };
            if let Some(ended) = ended {
                break ended;
            }
        };
        self.finish(ending).await;
    }

    async fn on_control(&mut self, control: SessionControl) -> Option<Ending> {
        match control {
            SessionControl::Input { events, .. } => {
                let allowed = lock(&self.shared.phase).may_inject();
                match &self.input {
                    Some(input) if allowed => input.send(InputCommand::Events(events)),
                    _ => debug!(events = events.len(), "input refused: no control"),
                }
                None
            }
            SessionControl::Ack { seq, .. } => {
                if let Some(window) = lock(&self.shared.phase).frames() {
                    window.ack(seq);
                }
                None
            }
            SessionControl::ViewOnly { .. } => {
                self.view_only(false).await;
                None
            }
            SessionControl::SelectMonitor { monitor, .. } => {
                match aim(monitor, &self.monitors) {
                    Ok((area, aimed)) => {
                        *lock(&self.shared.area) = area;
                        *lock(&self.shared.bounds) = aimed;
                        if let Some(input) = &self.input {
                            input.send(InputCommand::SetMonitor(aimed));
                        }
                    }
                    Err(reason) => debug!(reason, "monitor choice ignored"),
                }
                None
            }
            SessionControl::End { reason, .. } => Some((EndedBy::Console, reason)),
            SessionControl::Request(request) => {
                debug!(other = %request.id, "request routed to a running session ignored");
                None
            }
        }
    }

    async fn on_bar(&mut self, event: Option<BarEvent>) -> Option<Ending> {
        match event {
            Some(BarEvent::End) => Some((EndedBy::Caller, "the caller pressed End".to_owned())),
            Some(BarEvent::ViewOnly) => {
                self.view_only(true).await;
                None
            }
            Some(BarEvent::Lost(reason)) => Some((
                EndedBy::Device,
                format!("the session bar is gone: {reason}"),
            )),
            None => Some((EndedBy::Device, "the session bar closed".to_owned())),
        }
    }

    /// Drops control: input stops and everything held is released; frames go on.
    async fn view_only(&mut self, by_caller: bool) {
        {
            let mut phase = lock(&self.shared.phase);
            if phase.mode() != Some(SessionMode::Control) || phase.view_only().is_err() {
                return;
            }
        }
        if let Some(input) = &self.input {
            input.release_all();
        }
        if let Some(bar) = &self.bar {
            bar.set_control(false);
        }
        info!(by_caller, "screen session dropped to view only");
        let extra = json!({ "by_caller": by_caller });
        self.sessions
            .record_async(
                "screen.session.view_only",
                &self.request,
                extra,
                Outcome::Ok,
            )
            .await
            .ok();
        let report = SessionReport::ViewOnly {
            id: self.request.id,
            by_caller,
        };
        self.reports.send(report).await.ok();
    }

    /// Stops capture and input, closes the bar, finishes the stream, records and reports
    /// the end. Capture and input stop at once; the stream gets [`END_WITHIN`] to finish.
    async fn finish(mut self, (by, reason): Ending) {
        let deadline = tokio::time::Instant::now() + END_WITHIN;
        lock(&self.shared.phase).end();
        let input = self.input.take();
        let bar = self.bar.take();
        let closed = tokio::task::spawn_blocking(move || {
            if let Some(input) = input {
                input.stop();
            }
            if let Some(bar) = bar {
                bar.close();
            }
        });
        if closed.await.is_err() {
            warn!("stopping input or closing the bar failed");
        }
        if let Some(capture) = self.capture.take()
            && tokio::time::timeout_at(deadline, capture).await.is_err()
        {
            warn!("capture did not stop in time");
        }
        if let Some(pointer) = self.pointer.take()
            && tokio::time::timeout_at(deadline, pointer).await.is_err()
        {
            warn!("the pointer loop did not stop in time");
        }
        if let Some(writer) = self.writer.take() {
            let abort = writer.abort_handle();
            if tokio::time::timeout_at(deadline, writer).await.is_err() {
                // Cut off: no frame may leave after the end, even on a stalled stream.
                abort.abort();
            }
        }
        let duration = self.started.elapsed();
        let ending = (by, reason);
        report_end(
            &self.sessions,
            &self.request,
            &self.reports,
            ending,
            Some(duration),
        )
        .await;
    }
}

/// Records and reports the end of a session.
async fn report_end(
    sessions: &Arc<Sessions>,
    request: &SessionRequest,
    reports: &mpsc::Sender<SessionReport>,
    (by, reason): Ending,
    duration: Option<Duration>,
) {
    let reason = short(&reason);
    info!(by = by.label(), reason, "screen session ended");
    let extra = json!({
        "by": by.label(),
        "reason": reason,
        "duration_ms": duration.map(|d| d.as_millis() as u64),
    });
    sessions
        .record_async("screen.session.end", request, extra, Outcome::Ok)
        .await
        .ok();
    let report = SessionReport::Ended {
        id: request.id,
        by,
        reason,
    };
    // After a lost connection nobody hears it; the audit entry is the record.
    reports.send(report).await.ok();
}

async fn show_bar(
    sessions: &Arc<Sessions>,
    request: &SessionRequest,
    user: &str,
    display: &str,
) -> Result<SessionBar, String> {
    let indicator = sessions.indicator.clone();
    let target = PromptTarget {
        user: user.to_owned(),
        display: display.to_owned(),
    };
    let session = BarSession {
        analyst: request.analyst.clone(),
        ticket_number: request.ticket,
        ticket_title: request.ticket_title.clone(),
        control: request.mode == SessionMode::Control,
    };
    tokio::task::spawn_blocking(move || indicator.show(&target, &session))
        .await
        .map_err(|error| format!("showing the session bar: {error}"))?
        .map_err(|error| error.to_string())
}

async fn bar_event(bar: &mut Option<SessionBar>) -> Option<BarEvent> {
    match bar {
        Some(bar) => bar.events.recv().await,
        None => std::future::pending().await,
    }
}

/// Waits for a task that may already have been waited for.
async fn join<T>(handle: &mut Option<JoinHandle<T>>) -> Result<T, JoinError> {
    match handle {
        Some(task) => {
            let result = task.await;
            *handle = None;
            result
        }
        None => std::future::pending().await,
    }
}
