//! The agent's side of a control stream: hello, wait for the welcome, heartbeats, audit
//! entries and their acknowledgements, credential commands, and noticing a console that went
//! silent.

use std::time::{Duration, Instant};

use crate::audit::AgentAuditEntry;
use crate::close::CloseCode;
use crate::codec::Wire;
use crate::credentials::CredentialRequest;
use crate::ids::DeviceId;
use crate::messages::{AgentMessage, ConsoleMessage, Heartbeat, Hello, Welcome};
use crate::remote::SessionControl;
use crate::session::SILENT_INTERVALS;
use crate::version::PROTOCOL_VERSION;

/// Shortest and longest heartbeat interval the agent accepts from a console, so that a
/// hostile or misconfigured console can make it neither spin nor go quiet.
const MIN_INTERVAL: Duration = Duration::from_millis(200);
const MAX_INTERVAL: Duration = Duration::from_secs(300);

/// What the agent should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentOutput {
    Send(AgentMessage),
    /// The console accepted the hello.
    Established(Welcome),
    /// The console has stored the device's audit entries up to and including this `seq`.
    AuditAcked(u64),
    /// The console asks a credential command; the agent checks it (expiry, replay, device)
    /// and answers with [`AgentMessage::Credential`].
    Credential(Box<CredentialRequest>),
    /// A remote-session message within its limits, for the session layer.
    Session(Box<SessionControl>),
    /// Close the connection with this code and reason.
    Close {
        code: CloseCode,
        reason: String,
    },
}

#[derive(Debug)]
enum State {
    AwaitingWelcome {
        deadline: Instant,
    },
    Established {
        interval: Duration,
        next_heartbeat: Instant,
        last_ack: Instant,
        seq: u64,
    },
    Closed,
}

/// One connection's control stream, seen from the agent.
#[derive(Debug)]
pub struct AgentSession {
    state: State,
    device: DeviceId,
    /// Highest audit `seq` sent on this connection, and highest acknowledged on it.
    audit_sent: u64,
    audit_acked: u64,
}

impl AgentSession {
    /// Starts a session: returns it and the hello to send first.
    pub fn start(
        hello: Hello,
        now: Instant,
        welcome_timeout: Duration,
    ) -> (AgentSession, AgentMessage) {
        let session = AgentSession {
            state: State::AwaitingWelcome {
                deadline: now + welcome_timeout,
            },
            device: hello.device.clone(),
            audit_sent: 0,
            audit_acked: 0,
        };
        (session, AgentMessage::Hello(Box::new(hello)))
    }

    /// Handles one payload from the console.
    pub fn on_frame(&mut self, payload: &[u8], now: Instant) -> Vec<AgentOutput> {
        let message = match ConsoleMessage::decode_payload(payload) {
            Ok(message) => message,
            Err(error) => return self.close(CloseCode::ProtocolViolation, error.to_string()),
        };
        match (message, &mut self.state) {
            (ConsoleMessage::Welcome(welcome), State::AwaitingWelcome { .. }) => {
                self.on_welcome(welcome, now)
            }
            (ConsoleMessage::HeartbeatAck(ack), State::Established { last_ack, seq, .. }) => {
                // An ack for a heartbeat never sent would hide a silent console.
                if ack.seq > *seq {
                    let reason = format!("ack for heartbeat {} but only {} sent", ack.seq, seq);
                    return self.close(CloseCode::ProtocolViolation, reason);
                }
                *last_ack = now;
                Vec::new()
            }
            (ConsoleMessage::AuditAck { up_to }, State::Established { last_ack, .. }) => {
                // An ack for an entry never sent would let the agent drop entries the console
                // does not hold.
                if up_to > self.audit_sent {
                    let reason = format!(
                        "ack for audit entry {up_to} but only up to {} sent",
                        self.audit_sent
                    );
                    return self.close(CloseCode::ProtocolViolation, reason);
                }
                *last_ack = now;
                if up_to <= self.audit_acked {
                    return Vec::new();
                }
                self.audit_acked = up_to;
                vec![AgentOutput::AuditAcked(up_to)]
            }
            (ConsoleMessage::Credential(request), State::Established { last_ack, .. }) => {
                *last_ack = now;
                vec![AgentOutput::Credential(request)]
            }
            (ConsoleMessage::Session(control), State::Established { last_ack, .. }) => {
                if let Err(error) = control.check_limits() {
                    let reason = format!("session message: {error}");
                    return self.close(CloseCode::ProtocolViolation, reason);
                }
                *last_ack = now;
                vec![AgentOutput::Session(control)]
            }
            (ConsoleMessage::Refused(refusal), _) => {
                self.close(refusal.code, format!("console refused: {}", refusal.reason))
            }
            (other, _) => {
                let reason = format!("unexpected {} while {}", name(&other), self.state_name());
                self.close(CloseCode::ProtocolViolation, reason)
            }
        }
    }

    /// Handles the passage of time: heartbeats due, or a timeout.
    pub fn poll(&mut self, now: Instant) -> Vec<AgentOutput> {
        match &mut self.state {
            State::AwaitingWelcome { deadline } if now >= *deadline => {
                self.close(CloseCode::Timeout, "console sent no welcome".to_owned())
            }
            State::Established {
                interval,
                next_heartbeat,
                last_ack,
                seq,
            } => {
                let silent = now.saturating_duration_since(*last_ack);
                if silent >= *interval * SILENT_INTERVALS {
                    let reason = format!("console silent for {} ms", silent.as_millis());
                    return self.close(CloseCode::Timeout, reason);
                }
                if now < *next_heartbeat {
                    return Vec::new();
                }
                *seq += 1;
                *next_heartbeat = now + *interval;
                vec![AgentOutput::Send(AgentMessage::Heartbeat(Heartbeat {
                    seq: *seq,
                }))]
            }
            _ => Vec::new(),
        }
    }

    /// When [`AgentSession::poll`] should next be called.
    pub fn next_deadline(&self) -> Option<Instant> {
        match &self.state {
            State::AwaitingWelcome { deadline } => Some(*deadline),
            State::Established {
                interval,
                next_heartbeat,
                last_ack,
                ..
            } => Some((*next_heartbeat).min(*last_ack + *interval * SILENT_INTERVALS)),
            State::Closed => None,
        }
    }

    /// Wraps an audit entry for sending, or returns `None` before the welcome: entries go
    /// only to a console that has accepted this device. The caller sends entries in `seq`
    /// order.
    pub fn send_audit(&mut self, entry: AgentAuditEntry) -> Option<AgentMessage> {
        if !self.is_established() {
            return None;
        }
        self.audit_sent = self.audit_sent.max(entry.seq);
        Some(AgentMessage::Audit(Box::new(entry)))
    }

    /// Highest audit `seq` sent on this connection (0 before any).
    pub fn audit_sent(&self) -> u64 {
        self.audit_sent
    }

    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established { .. })
    }

    fn on_welcome(&mut self, welcome: Welcome, now: Instant) -> Vec<AgentOutput> {
        if !PROTOCOL_VERSION.is_compatible_with(welcome.protocol) {
            let reason = format!(
                "console speaks protocol {}, this agent speaks {PROTOCOL_VERSION}",
                welcome.protocol
            );
            return self.close(CloseCode::VersionMismatch, reason);
        }
        if welcome.device != self.device {
            let reason = format!(
                "console welcomed device {} but this agent is {}",
                welcome.device, self.device
            );
            return self.close(CloseCode::IdentityMismatch, reason);
        }
        let interval = Duration::from_millis(welcome.heartbeat_interval_ms.into())
            .clamp(MIN_INTERVAL, MAX_INTERVAL);
        self.state = State::Established {
            interval,
            next_heartbeat: now + interval,
            last_ack: now,
            seq: 0,
        };
        vec![AgentOutput::Established(welcome)]
    }

    fn close(&mut self, code: CloseCode, reason: String) -> Vec<AgentOutput> {
        self.state = State::Closed;
        vec![AgentOutput::Close { code, reason }]
    }

    fn state_name(&self) -> &'static str {
        match self.state {
            State::AwaitingWelcome { .. } => "awaiting welcome",
            State::Established { .. } => "established",
            State::Closed => "closed",
        }
    }
}

fn name(message: &ConsoleMessage) -> &'static str {
    match message {
        ConsoleMessage::Welcome(_) => "welcome",
        ConsoleMessage::HeartbeatAck(_) => "heartbeat ack",
        ConsoleMessage::Refused(_) => "refusal",
        ConsoleMessage::AuditAck { .. } => "audit ack",
        ConsoleMessage::Credential(_) => "credential request",
        ConsoleMessage::Session(_) => "session message",
    }
}
