//! `GET /api/tickets/{n}/screen?device=ID&mode=view|control&monitor=all|N`: the analyst's
//! viewer of a remote screen session, as one WebSocket whose life is the session's.
//!
//! The upgrade is refused unless it comes from the console's own origin with a web session
//! whose account may view (or control) that device on that ticket; the refusal is on the
//! ticket. The socket then asks the device, and carries to the browser the device's reports
//! as JSON text and its frames and cursor records as binary messages, unchanged (only the
//! latest cursor position when the browser falls behind); from the browser it takes
//! acknowledgements, input, "view only" and "end" as JSON. Rights are checked again every
//! two seconds: a closed ticket, a lost role or a disabled account ends the session. Closing
//! the socket ends the session too.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use hotline_protocol::DeviceId;
use hotline_protocol::input::{InputEvent, coalesce_moves};
use hotline_protocol::messages::ConsoleMessage;
use hotline_protocol::remote::{
    MAX_INPUT_BATCH, MonitorChoice, SessionControl, SessionId, SessionMode, SessionReport,
    SessionRequest,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::debug;

use super::live::same_origin;
use crate::api::{ApiError, AppState, Caller, Via};
use crate::audit::now_ms;
use crate::authz::{Action, Principal, authorize};
use crate::sessions::{Opening, ViewerEvent, ViewerFeed};
use crate::tickets::TicketNumber;

/// How long a request stays valid on the device beyond the prompt's wait: the round trip.
const REQUEST_SLACK: Duration = Duration::from_secs(30);
/// How often an open session re-checks the analyst's rights.
const RECHECK: Duration = Duration::from_secs(2);
/// Largest message accepted from the browser: a batch of input events or a text to type.
const MAX_BROWSER_MESSAGE: usize = 64 * 1024;

#[derive(Debug, Deserialize)]
pub struct ScreenQuery {
    device: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    monitor: Option<String>,
}

/// What the browser sends.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FromBrowser {
    #[serde(default)]
    ack: Option<u32>,
    #[serde(default)]
    input: Option<Vec<InputEvent>>,
    #[serde(default)]
    view_only: bool,
    #[serde(default)]
    monitor: Option<MonitorChoice>,
    #[serde(default)]
    end: bool,
}

pub async fn upgrade(
    State(state): State<AppState>,
    Path(number): Path<String>,
    Query(query): Query<ScreenQuery>,
    headers: HeaderMap,
    caller: Result<Caller, ApiError>,
    upgrade: WebSocketUpgrade,
) -> Response {
    match authorise(&state, &number, &query, &headers, caller).await {
        Ok(viewer) => upgrade
            .max_message_size(MAX_BROWSER_MESSAGE)
            .on_upgrade(move |socket| viewer.run(socket)),
        Err(error) => error.into_response(),
    }
}

/// Checks everything before the upgrade, and builds the viewer.
async fn authorise(
    state: &AppState,
    number: &str,
    query: &ScreenQuery,
    headers: &HeaderMap,
    caller: Result<Caller, ApiError>,
) -> Result<Viewer, ApiError> {
    if !same_origin(headers, state) {
        debug!(origin = ?headers.get("origin"), "screen session: upgrade from another origin refused");
        return Err(ApiError::forbidden("WebSocket from another origin refused"));
    }
    let caller = caller?;
    let Via::Cookie(_) = caller.via else {
        return Err(ApiError::forbidden(
            "a screen session needs a web session, not an API token",
        ));
    };
    let ticket: TicketNumber = number
        .parse()
        .map_err(|_| ApiError::not_found(format!("no ticket {number}")))?;
    let device: DeviceId = query
        .device
        .parse()
        .map_err(|e: hotline_protocol::ids::InvalidDeviceId| ApiError::invalid(e.to_string()))?;
    let mode = match query.mode.as_deref() {
        None | Some("view") => SessionMode::View,
        Some("control") => SessionMode::Control,
        Some(other) => return Err(ApiError::invalid(format!("unknown mode {other:?}"))),
    };
    let monitor = match query.monitor.as_deref() {
        None | Some("all") => MonitorChoice::All,
        Some(index) => MonitorChoice::One(
            index
                .parse()
                .map_err(|_| ApiError::invalid(format!("unknown monitor {index:?}")))?,
        ),
    };

    let principal = caller.principal();
    let grant = authorize(
        &state.store,
        &principal,
        action(mode),
        Some(&device),
        Some(ticket),
    )
    .await?;
    if !state.link.registry.is_connected(&device) {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            format!("device {device} is offline"),
        ));
    }
    // The policy as it is now travels with the request; the device still runs unattended
    // only when nobody is signed in.
    let policy = state.store.device_policy(&device).await?;
    Ok(Viewer {
        state: state.clone(),
        principal,
        analyst: caller.account.display_name.clone(),
        ticket_title: grant.ticket.map(|t| t.title).unwrap_or_default(),
        opening: Opening {
            device,
            ticket,
            analyst: caller.account.name.clone(),
            mode,
            unattended_allowed: policy.unattended_sessions,
        },
        monitor,
    })
}

fn action(mode: SessionMode) -> Action {
    match mode {
        SessionMode::View => Action::RemoteView,
        SessionMode::Control => Action::RemoteControl,
    }
}

struct Viewer {
    state: AppState,
    principal: Principal,
    analyst: String,
    ticket_title: String,
    opening: Opening,
    monitor: MonitorChoice,
}

/// Why the socket loop stopped.
enum Stop {
    /// The session is over on the device's side (refused or ended); it is on the ticket.
    Over,
    /// The console ends it, for this reason.
    End(String),
}

impl Viewer {
    async fn run(self, mut socket: WebSocket) {
        let sessions = &self.state.link.sessions;
        let (id, mut feed) = sessions.open(self.opening.clone()).await;
        let request = self.request(id);
        let device = &self.opening.device;
        let asked = self.state.link.registry.send(
            device,
            ConsoleMessage::Session(Box::new(SessionControl::Request(Box::new(request)))),
        );
        let stop = if asked {
            send_json(
                &mut socket,
                &json!({ "kind": "requested", "session": id.to_string() }),
            )
            .await;
            self.serve(&mut socket, id, &mut feed).await
        } else {
            Stop::End(format!("device {device} is offline or busy"))
        };

        if let Stop::End(reason) = stop {
            if let Some(device) = sessions.end(id, &reason).await {
                let end = SessionControl::End {
                    id,
                    reason: reason.clone(),
                };
                self.state
                    .link
                    .registry
                    .send(&device, ConsoleMessage::Session(Box::new(end)));
            }
            send_json(
                &mut socket,
                &json!({ "kind": "ended", "by": "console", "reason": reason }),
            )
            .await;
        }
        socket.send(Message::Close(None)).await.ok();
    }

    fn request(&self, id: SessionId) -> SessionRequest {
        let timeout = self.state.consent_timeout;
        let lifetime = i64::try_from((timeout + REQUEST_SLACK).as_millis()).unwrap_or(i64::MAX);
        SessionRequest {
            id,
            device: self.opening.device.clone(),
            ticket: u64::try_from(self.opening.ticket.0).unwrap_or(0),
            ticket_title: self.ticket_title.clone(),
            analyst: self.analyst.clone(),
            mode: self.opening.mode,
            monitor: self.monitor,
            unattended_allowed: self.opening.unattended_allowed,
            consent_timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(30_000),
            expires_at_ms: now_ms().saturating_add(lifetime),
        }
    }

    async fn serve(
        &self,
        socket: &mut WebSocket,
        id: SessionId,
        ViewerFeed { events, pointer }: &mut ViewerFeed,
    ) -> Stop {
        let mut recheck = tokio::time::interval(RECHECK);
        recheck.tick().await;
        let mut control = self.opening.mode == SessionMode::Control;
        loop {
            tokio::select! {
                // Queued records first: a position may name a shape still in the queue.
                biased;
                event = events.recv() => match event {
                    Some(ViewerEvent::Record(record)) => {
                        if socket.send(Message::Binary(record)).await.is_err() {
                            return Stop::End("the analyst's viewer closed".into());
                        }
                    }
                    Some(ViewerEvent::Report(report)) => {
                        let over = ends(&report);
                        if let SessionReport::ViewOnly { .. } = report {
                            control = false;
                        }
                        send_json(socket, &report_json(&report)).await;
                        if over {
                            return Stop::Over;
                        }
                    }
                    None => return Stop::Over,
                },
                Ok(()) = pointer.changed() => {
                    let record = pointer.borrow_and_update().clone();
                    if let Some(record) = record
                        && socket.send(Message::Binary(record)).await.is_err()
                    {
                        return Stop::End("the analyst's viewer closed".into());
                    }
                },
                message = socket.recv() => match message {
                    None | Some(Err(_) | Ok(Message::Close(_))) => {
                        return Stop::End("the analyst's viewer closed".into());
                    }
                    Some(Ok(Message::Text(text))) => {
                        match self.on_browser_message(id, &text, &mut control) {
                            Ok(true) => {}
                            Ok(false) => return Stop::End("the analyst ended the session".into()),
                            Err(reason) => send_json(socket, &json!({ "kind": "error", "reason": reason })).await,
                        }
                    }
                    Some(Ok(_)) => {}
                },
                _ = recheck.tick() => {
                    if let Err(refusal) = authorize(
                        &self.state.store,
                        &self.principal,
                        action(if control { SessionMode::Control } else { SessionMode::View }),
                        Some(&self.opening.device),
                        Some(self.opening.ticket),
                    ).await {
                        return Stop::End(format!("no longer allowed: {}", refusal.reason));
                    }
                }
            }
        }
    }

    /// Handles one browser message. Returns `Ok(false)` when the analyst ends the session.
    fn on_browser_message(
        &self,
        id: SessionId,
        text: &str,
        control: &mut bool,
    ) -> Result<bool, String> {
        let message: FromBrowser =
            serde_json::from_str(text).map_err(|error| format!("bad message: {error}"))?;
        if message.end {
            return Ok(false);
        }
        let mut out = Vec::new();
        if let Some(seq) = message.ack {
            out.push(SessionControl::Ack { id, seq });
        }
        if let Some(monitor) = message.monitor {
            out.push(SessionControl::SelectMonitor { id, monitor });
        }
        if let Some(events) = message.input {
            if !*control {
                return Err("this session is view only".into());
            }
            let events = coalesce_moves(events);
            for batch in events.chunks(MAX_INPUT_BATCH) {
                out.push(SessionControl::Input {
                    id,
                    events: batch.to_vec(),
                });
            }
        }
        if message.view_only && *control {
            *control = false;
            out.push(SessionControl::ViewOnly { id });
        }
        for control in out {
            control.check_limits().map_err(|error| error.to_string())?;
            let sent = self.state.link.registry.send(
                &self.opening.device,
                ConsoleMessage::Session(Box::new(control)),
            );
            if !sent {
                return Err("the device is not reading; input dropped".into());
            }
        }
        Ok(true)
    }
}

fn ends(report: &SessionReport) -> bool {
    match report {
        SessionReport::Answered { outcome, .. } => !outcome.allows(),
        SessionReport::Ended { .. } => true,
        _ => false,
    }
}

/// A report as the browser reads it.
fn report_json(report: &SessionReport) -> Value {
    match report {
        SessionReport::Answered {
            outcome, monitors, ..
        } => json!({
            "kind": "answered",
            "answer": outcome.label(),
            "allowed": outcome.allows(),
            "reason": outcome.reason(),
            "monitors": monitors.iter().map(|m| json!({
                "index": m.index, "name": m.name, "x": m.x, "y": m.y,
                "width": m.width, "height": m.height, "primary": m.primary,
            })).collect::<Vec<_>>(),
        }),
        SessionReport::Started { .. } => json!({ "kind": "started" }),
        SessionReport::ViewOnly { by_caller, .. } => {
            json!({ "kind": "view_only", "by": if *by_caller { "caller" } else { "analyst" } })
        }
        SessionReport::Ended { by, reason, .. } => {
            json!({ "kind": "ended", "by": by.label(), "reason": reason })
        }
    }
}

async fn send_json(socket: &mut WebSocket, value: &Value) {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .ok();
}
