//! The console's side of one device's control stream: check the hello against the
//! certificate, answer heartbeats, hand audit entries up for storage, and notice a device
//! that went silent.

use std::time::{Duration, Instant};

use crate::audit::AgentAuditEntry;
use crate::close::CloseCode;
use crate::codec::{Wire, peek_version};
use crate::credentials::CredentialReply;
use crate::ids::DeviceId;
use crate::messages::{AgentMessage, ConsoleMessage, HeartbeatAck, Hello, Welcome};
use crate::remote::SessionReport;
use crate::session::SILENT_INTERVALS;
use crate::version::PROTOCOL_VERSION;

/// Settings the console applies to every device connection.
#[derive(Debug, Clone)]
pub struct ConsolePolicy {
    pub heartbeat_interval: Duration,
    /// How long a new connection may take to say hello.
    pub hello_timeout: Duration,
    pub console_version: String,
}

/// What the console should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleOutput {
    Send(ConsoleMessage),
    /// The device said a valid hello: it is online with this inventory.
    Established(Box<Hello>),
    /// The device is alive (a heartbeat arrived).
    Seen,
    /// An audit entry within its limits and matching its own hash. The IO layer stores it
    /// (which checks its place in the device's chain) and, once stored, sends
    /// [`ConsoleMessage::AuditAck`]; or closes the connection when the store refuses it.
    Audit(Box<AgentAuditEntry>),
    /// A device's answer to a credential command, within its limits. The IO layer hands it
    /// to whoever waits for that request id; a reply nobody waits for (it came after the
    /// request timed out) is dropped.
    Credential(Box<CredentialReply>),
    /// A remote-session report within its limits, for the session layer.
    Session(Box<SessionReport>),
    /// Close the connection with this code and reason.
    Close {
        code: CloseCode,
        reason: String,
    },
}

#[derive(Debug)]
enum State {
    AwaitingHello { deadline: Instant },
    Established { last_seen: Instant },
    Closed,
}

/// One device connection's control stream, seen from the console.
#[derive(Debug)]
pub struct DeviceSession {
    /// The identity from the device's certificate, the only one that counts.
    device: DeviceId,
    policy: ConsolePolicy,
    state: State,
}

impl DeviceSession {
    pub fn new(device: DeviceId, policy: ConsolePolicy, now: Instant) -> DeviceSession {
        let deadline = now + policy.hello_timeout;
        DeviceSession {
            device,
            policy,
            state: State::AwaitingHello { deadline },
        }
    }

    /// Handles one payload from the device.
    pub fn on_frame(&mut self, payload: &[u8], now: Instant) -> Vec<ConsoleOutput> {
        if let State::AwaitingHello { .. } = self.state {
            return self.on_first_frame(payload, now);
        }
        let message = match AgentMessage::decode_payload(payload) {
            Ok(message) => message,
            Err(error) => return self.close(CloseCode::ProtocolViolation, error.to_string()),
        };
        match message {
            AgentMessage::Heartbeat(heartbeat) => {
                if let State::Established { last_seen } = &mut self.state {
                    *last_seen = now;
                }
                let ack = ConsoleMessage::HeartbeatAck(HeartbeatAck { seq: heartbeat.seq });
                vec![ConsoleOutput::Send(ack), ConsoleOutput::Seen]
            }
            AgentMessage::Audit(entry) => {
                if let Err(error) = entry.check() {
                    let reason = format!("audit entry {}: {error}", entry.seq);
                    return self.close(CloseCode::ProtocolViolation, reason);
                }
                if let State::Established { last_seen } = &mut self.state {
                    *last_seen = now;
                }
                vec![ConsoleOutput::Audit(entry)]
            }
            AgentMessage::Credential(reply) => {
                if let Err(error) = reply.check_limits() {
                    let reason = format!("credential reply {}: {error}", reply.id);
                    return self.close(CloseCode::ProtocolViolation, reason);
                }
                if let State::Established { last_seen } = &mut self.state {
                    *last_seen = now;
                }
                vec![ConsoleOutput::Credential(reply)]
            }
            AgentMessage::Session(report) => {
                if let Err(error) = report.check_limits() {
                    let reason = format!("session report: {error}");
                    return self.close(CloseCode::ProtocolViolation, reason);
                }
                if let State::Established { last_seen } = &mut self.state {
                    *last_seen = now;
                }
                vec![ConsoleOutput::Session(report)]
            }
            AgentMessage::Hello(_) => self.close(
                CloseCode::ProtocolViolation,
                "second hello on one connection".into(),
            ),
        }
    }

    /// Handles the passage of time: a missing hello or a silent device.
    pub fn poll(&mut self, now: Instant) -> Vec<ConsoleOutput> {
        match self.state {
            State::AwaitingHello { deadline } if now >= deadline => {
                let reason = format!(
                    "no hello within {} ms",
                    self.policy.hello_timeout.as_millis()
                );
                self.close(CloseCode::Timeout, reason)
            }
            State::Established { last_seen } => {
                let silent = now.saturating_duration_since(last_seen);
                if silent >= self.policy.heartbeat_interval * SILENT_INTERVALS {
                    let reason = format!("no heartbeat for {} ms", silent.as_millis());
                    return self.close(CloseCode::Timeout, reason);
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Whether the device has said a valid hello and the session is still open: only then
    /// may the console send it commands.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established { .. })
    }

    /// When [`DeviceSession::poll`] should next be called.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            State::AwaitingHello { deadline } => Some(deadline),
            State::Established { last_seen } => {
                Some(last_seen + self.policy.heartbeat_interval * SILENT_INTERVALS)
            }
            State::Closed => None,
        }
    }

    fn on_first_frame(&mut self, payload: &[u8], now: Instant) -> Vec<ConsoleOutput> {
        // The version comes first, so an agent of another major version hears that rather
        // than a decode error about fields it never sent.
        if let Some(theirs) = peek_version(payload, true)
            && !PROTOCOL_VERSION.is_compatible_with(theirs)
        {
            let reason =
                format!("agent speaks protocol {theirs}, this console speaks {PROTOCOL_VERSION}");
            return self.close(CloseCode::VersionMismatch, reason);
        }
        let hello = match AgentMessage::decode_payload(payload) {
            Ok(AgentMessage::Hello(hello)) => hello,
            Ok(AgentMessage::Heartbeat(_)) => {
                return self.close(
                    CloseCode::ProtocolViolation,
                    "heartbeat before hello".into(),
                );
            }
            Ok(AgentMessage::Audit(_)) => {
                return self.close(
                    CloseCode::ProtocolViolation,
                    "audit entry before hello".into(),
                );
            }
            Ok(AgentMessage::Session(_)) => {
                return self.close(
                    CloseCode::ProtocolViolation,
                    "session report before hello".into(),
                );
            }
            Ok(AgentMessage::Credential(_)) => {
                return self.close(
                    CloseCode::ProtocolViolation,
                    "credential reply before hello".into(),
                );
            }
            Err(error) => return self.close(CloseCode::ProtocolViolation, error.to_string()),
        };

        // Identity comes from the certificate; a hello naming another device is an attempt
        // to act as that device.
        if hello.device != self.device {
            let reason = format!(
                "certificate is for device {} but the hello claims {}",
                self.device, hello.device
            );
            return self.close(CloseCode::IdentityMismatch, reason);
        }
        if let Err(error) = hello.inventory.check_limits() {
            return self.close(CloseCode::ProtocolViolation, format!("inventory: {error}"));
        }

        self.state = State::Established { last_seen: now };
        let welcome = Welcome {
            protocol: PROTOCOL_VERSION,
            console_version: self.policy.console_version.clone(),
            device: self.device.clone(),
            heartbeat_interval_ms: u32::try_from(self.policy.heartbeat_interval.as_millis())
                .unwrap_or(u32::MAX),
        };
        vec![
            ConsoleOutput::Send(ConsoleMessage::Welcome(welcome)),
            ConsoleOutput::Established(hello),
        ]
    }

    fn close(&mut self, code: CloseCode, reason: String) -> Vec<ConsoleOutput> {
        self.state = State::Closed;
        vec![ConsoleOutput::Close { code, reason }]
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
