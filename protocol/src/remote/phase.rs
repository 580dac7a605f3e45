//! Where a session stands, and what may happen in each phase. The console checks every
//! report from the device against it; the agent asks it before it captures or injects.

use super::{ConsentOutcome, MAX_IN_FLIGHT, SessionMode, SessionReport};

/// A session's phase, the same on both sides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Sent to the device; no answer yet.
    Requested { mode: SessionMode },
    /// The caller (or policy) allowed it; capture starting.
    Allowed { mode: SessionMode },
    /// Frames flow; input too when the mode is `Control`.
    Running {
        mode: SessionMode,
        frames: FrameWindow,
    },
    /// Over: refused, or ended. Nothing more flows.
    Over,
}

/// A report that does not fit the session's phase.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("session report {report} out of order in phase {phase}")]
pub struct PhaseError {
    pub report: &'static str,
    pub phase: &'static str,
}

/// The frames sent and acknowledged: at most [`MAX_IN_FLIGHT`] may be unacknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameWindow {
    /// The `seq` of the last frame sent, 0 before the first (frames count from 1).
    pub sent: u32,
    /// The highest `seq` the viewer acknowledged.
    pub acked: u32,
}

impl FrameWindow {
    /// Whether another frame may go out now.
    pub fn may_send(&self) -> bool {
        self.sent.wrapping_sub(self.acked) < MAX_IN_FLIGHT
    }

    /// Takes the next frame's `seq`.
    pub fn next_seq(&mut self) -> u32 {
        self.sent = self.sent.wrapping_add(1);
        self.sent
    }

    /// Notes an acknowledgement. One for a frame never sent, or older than one already
    /// acknowledged, is ignored: a viewer cannot widen the window by acknowledging ahead.
    pub fn ack(&mut self, seq: u32) {
        let ahead_of_acked = seq.wrapping_sub(self.acked);
        let behind_sent = self.sent.wrapping_sub(seq);
        if ahead_of_acked > 0 && ahead_of_acked <= MAX_IN_FLIGHT && behind_sent < MAX_IN_FLIGHT {
            self.acked = seq;
        }
    }
}

impl Phase {
    pub fn requested(mode: SessionMode) -> Phase {
        Phase::Requested { mode }
    }

    fn name(&self) -> &'static str {
        match self {
            Phase::Requested { .. } => "requested",
            Phase::Allowed { .. } => "allowed",
            Phase::Running { .. } => "running",
            Phase::Over => "over",
        }
    }

    /// The mode the session has now, while it is not over.
    pub fn mode(&self) -> Option<SessionMode> {
        match self {
            Phase::Requested { mode } | Phase::Allowed { mode } | Phase::Running { mode, .. } => {
                Some(*mode)
            }
            Phase::Over => None,
        }
    }

    /// Whether the screen may be captured and sent.
    pub fn may_capture(&self) -> bool {
        matches!(self, Phase::Running { .. })
    }

    /// Whether input may be injected.
    pub fn may_inject(&self) -> bool {
        matches!(
            self,
            Phase::Running {
                mode: SessionMode::Control,
                ..
            }
        )
    }

    /// The caller answered, as `outcome` says.
    pub fn answer(&mut self, outcome: &ConsentOutcome) -> Result<(), PhaseError> {
        let Phase::Requested { mode } = *self else {
            return Err(self.misfit("answered"));
        };
        *self = if outcome.allows() {
            Phase::Allowed { mode }
        } else {
            Phase::Over
        };
        Ok(())
    }

    /// Capture started.
    pub fn start(&mut self) -> Result<(), PhaseError> {
        let Phase::Allowed { mode } = *self else {
            return Err(self.misfit("started"));
        };
        *self = Phase::Running {
            mode,
            frames: FrameWindow::default(),
        };
        Ok(())
    }

    /// Control dropped to view only; a session that had no control stays as it is.
    pub fn view_only(&mut self) -> Result<(), PhaseError> {
        match self {
            Phase::Allowed { mode } | Phase::Running { mode, .. } => {
                *mode = SessionMode::View;
                Ok(())
            }
            _ => Err(self.misfit("view only")),
        }
    }

    /// The session ended, from any phase.
    pub fn end(&mut self) {
        *self = Phase::Over;
    }

    /// The frame window, while running.
    pub fn frames(&mut self) -> Option<&mut FrameWindow> {
        match self {
            Phase::Running { frames, .. } => Some(frames),
            _ => None,
        }
    }

    /// Applies a report from the device, refusing one out of order.
    pub fn on_report(&mut self, report: &SessionReport) -> Result<(), PhaseError> {
        match report {
            SessionReport::Answered { outcome, .. } => self.answer(outcome),
            SessionReport::Started { .. } => self.start(),
            SessionReport::ViewOnly { .. } => self.view_only(),
            SessionReport::Ended { .. } => {
                if *self == Phase::Over {
                    return Err(self.misfit("ended"));
                }
                self.end();
                Ok(())
            }
        }
    }

    fn misfit(&self, report: &'static str) -> PhaseError {
        PhaseError {
            report,
            phase: self.name(),
        }
    }
}
