//! Remote screen sessions: the analyst's request, the caller's answer and the session's
//! control messages, which travel on the device's control stream, and the frame stream the
//! agent opens for each running session.
//!
//! The order of a session is fixed and enforced on both sides by [`Phase`]:
//! `Request` → `Answered` (allow, deny, timeout, cannot show) → `Started` → (`ModeChanged`,
//! input, frames, acks) → `Ended`. Nothing of the screen leaves the device and no input
//! reaches it before the caller's Allow (or an unattended start the device's policy permits),
//! and nothing after the end: the agent stops capturing and injecting as soon as it sees
//! `End` or the caller's End button.
//!
//! Frames travel on a unidirectional QUIC stream the agent opens per session: the
//! [`SessionId`] (16 bytes), then frames of the `screen` format, each behind a 4-byte
//! big-endian length of at most [`crate::screen::SCREEN_FRAME_LIMIT`]. The viewer
//! acknowledges each frame it drew by its `seq`; the agent keeps at most [`MAX_IN_FLIGHT`]
//! frames unacknowledged and skips captures rather than queueing them.

mod phase;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use phase::{Phase, PhaseError};

use crate::ids::DeviceId;
use crate::input::{InputEvent, InputLimitError};
use crate::inventory::MAX_TEXT;

/// Bytes of a session id.
pub const SESSION_ID_LEN: usize = 16;
/// Frames a viewer may have unacknowledged; the agent captures no new frame past this.
pub const MAX_IN_FLIGHT: u32 = 2;
/// Most input events one [`SessionControl::Input`] carries.
pub const MAX_INPUT_BATCH: usize = 64;
/// Most monitors a device reports.
pub const MAX_MONITORS: usize = 16;
/// Longest a caller may take to answer, in milliseconds, whatever the console asks.
pub const MAX_CONSENT_TIMEOUT_MS: u32 = 5 * 60 * 1000;
/// Furthest in the future a request may expire, in milliseconds.
pub const MAX_REQUEST_LIFETIME_MS: i64 = 10 * 60 * 1000;

/// A session's id, chosen at random by the console.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionId(pub [u8; SESSION_ID_LEN]);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

impl std::str::FromStr for SessionId {
    type Err = InvalidSessionId;

    fn from_str(text: &str) -> Result<SessionId, InvalidSessionId> {
        if text.len() != SESSION_ID_LEN * 2 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InvalidSessionId);
        }
        let mut id = [0u8; SESSION_ID_LEN];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte =
                u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| InvalidSessionId)?;
        }
        Ok(SessionId(id))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid session id: expected {} hexadecimal digits", SESSION_ID_LEN * 2)]
pub struct InvalidSessionId;

/// What the analyst may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionMode {
    /// See the screen only.
    View,
    /// See the screen and drive the mouse and keyboard.
    Control,
}

impl SessionMode {
    pub fn label(self) -> &'static str {
        match self {
            SessionMode::View => "view",
            SessionMode::Control => "control",
        }
    }
}

/// Which part of the desktop the session shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MonitorChoice {
    /// The whole desktop, every monitor as laid out.
    All,
    /// One monitor, by its index in the device's [`MonitorLayout`] list.
    One(u8),
}

/// One monitor of the device's desktop, in desktop pixels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorLayout {
    pub index: u8,
    /// The output's name (`HDMI-1`, `screen`).
    pub name: String,
    pub x: i32,
    pub y: i32,
    pub width: u16,
    pub height: u16,
    pub primary: bool,
}

/// The analyst's request to see (and perhaps drive) the device's screen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRequest {
    pub id: SessionId,
    /// The device the request was authorised for; any other device refuses it.
    pub device: DeviceId,
    pub ticket: u64,
    pub ticket_title: String,
    /// The analyst's display name, shown on the prompt and the session bar.
    pub analyst: String,
    pub mode: SessionMode,
    pub monitor: MonitorChoice,
    /// The device's policy lets a session start without a prompt when nobody is signed in.
    pub unattended_allowed: bool,
    /// How long the prompt waits for the caller.
    pub consent_timeout_ms: u32,
    pub expires_at_ms: i64,
}

/// How the caller (or the device's policy) answered a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsentOutcome {
    Allowed,
    /// Nobody is signed in and policy allows unattended sessions: no prompt was shown.
    Unattended,
    Denied,
    TimedOut,
    /// No prompt could be shown; the reason says why (nobody signed in, no display, ...).
    CannotShow(String),
    /// The device refused the request itself (expired, replayed, another device's).
    Refused(String),
}

impl ConsentOutcome {
    /// Whether the session may start.
    pub fn allows(&self) -> bool {
        matches!(self, ConsentOutcome::Allowed | ConsentOutcome::Unattended)
    }

    /// The word on the ticket: `allow`, `unattended`, `deny`, `timeout`, `cannot_show`,
    /// `refused`.
    pub fn label(&self) -> &'static str {
        match self {
            ConsentOutcome::Allowed => "allow",
            ConsentOutcome::Unattended => "unattended",
            ConsentOutcome::Denied => "deny",
            ConsentOutcome::TimedOut => "timeout",
            ConsentOutcome::CannotShow(_) => "cannot_show",
            ConsentOutcome::Refused(_) => "refused",
        }
    }

    /// The reason, for outcomes that carry one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            ConsentOutcome::CannotShow(reason) | ConsentOutcome::Refused(reason) => Some(reason),
            _ => None,
        }
    }
}

/// Who ended a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndedBy {
    /// The caller pressed End on the session bar.
    Caller,
    /// The analyst ended it, or the console did on the analyst's behalf (ticket closed,
    /// rights withdrawn, viewer gone).
    Console,
    /// The device ended it: capture failed, the user's session changed, the bar vanished.
    Device,
}

impl EndedBy {
    pub fn label(self) -> &'static str {
        match self {
            EndedBy::Caller => "caller",
            EndedBy::Console => "console",
            EndedBy::Device => "device",
        }
    }
}

/// Console → agent, about one session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionControl {
    Request(Box<SessionRequest>),
    /// Input for a control session, in order.
    Input {
        id: SessionId,
        events: Vec<InputEvent>,
    },
    /// The viewer drew the frame with this `seq` (and every one before it).
    Ack {
        id: SessionId,
        seq: u32,
    },
    /// The analyst gives up control (a session never gains control without a new Allow).
    ViewOnly {
        id: SessionId,
    },
    SelectMonitor {
        id: SessionId,
        monitor: MonitorChoice,
    },
    End {
        id: SessionId,
        reason: String,
    },
}

/// Agent → console, about one session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionReport {
    Answered {
        id: SessionId,
        outcome: ConsentOutcome,
        monitors: Vec<MonitorLayout>,
    },
    /// Capture runs and the frame stream is open.
    Started { id: SessionId },
    /// Control was dropped to view only, by the caller or at the analyst's request.
    ViewOnly { id: SessionId, by_caller: bool },
    Ended {
        id: SessionId,
        by: EndedBy,
        reason: String,
    },
}

impl SessionControl {
    pub fn id(&self) -> SessionId {
        match self {
            SessionControl::Request(request) => request.id,
            SessionControl::Input { id, .. }
            | SessionControl::Ack { id, .. }
            | SessionControl::ViewOnly { id }
            | SessionControl::SelectMonitor { id, .. }
            | SessionControl::End { id, .. } => *id,
        }
    }

    /// Checks the limits decoding alone does not.
    pub fn check_limits(&self) -> Result<(), SessionLimitError> {
        match self {
            SessionControl::Request(request) => {
                check_text("ticket title", &request.ticket_title)?;
                check_text("analyst", &request.analyst)?;
                if request.consent_timeout_ms > MAX_CONSENT_TIMEOUT_MS {
                    return Err(SessionLimitError::ConsentTimeout(
                        request.consent_timeout_ms,
                    ));
                }
                Ok(())
            }
            SessionControl::Input { events, .. } => {
                if events.len() > MAX_INPUT_BATCH {
                    return Err(SessionLimitError::TooManyEvents(events.len()));
                }
                events.iter().try_for_each(InputEvent::check_limits)?;
                Ok(())
            }
            SessionControl::End { reason, .. } => check_text("reason", reason),
            _ => Ok(()),
        }
    }
}

impl SessionReport {
    pub fn id(&self) -> SessionId {
        match self {
            SessionReport::Answered { id, .. }
            | SessionReport::Started { id }
            | SessionReport::ViewOnly { id, .. }
            | SessionReport::Ended { id, .. } => *id,
        }
    }

    /// Checks the limits decoding alone does not.
    pub fn check_limits(&self) -> Result<(), SessionLimitError> {
        match self {
            SessionReport::Answered {
                outcome, monitors, ..
            } => {
                if monitors.len() > MAX_MONITORS {
                    return Err(SessionLimitError::TooManyMonitors(monitors.len()));
                }
                for monitor in monitors {
                    check_text("monitor name", &monitor.name)?;
                }
                outcome.reason().map_or(Ok(()), |r| check_text("reason", r))
            }
            SessionReport::Ended { reason, .. } => check_text("reason", reason),
            _ => Ok(()),
        }
    }
}

/// A session message over one of its limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionLimitError {
    #[error("{field} too long: {len} > {MAX_TEXT} bytes")]
    TooLong { field: &'static str, len: usize },
    #[error("too many input events in one message: {0} > {MAX_INPUT_BATCH}")]
    TooManyEvents(usize),
    #[error("too many monitors: {0} > {MAX_MONITORS}")]
    TooManyMonitors(usize),
    #[error("consent timeout {0} ms > {MAX_CONSENT_TIMEOUT_MS} ms")]
    ConsentTimeout(u32),
    #[error(transparent)]
    Input(#[from] InputLimitError),
}

fn check_text(field: &'static str, text: &str) -> Result<(), SessionLimitError> {
    if text.len() > MAX_TEXT {
        return Err(SessionLimitError::TooLong {
            field,
            len: text.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
