//! Messages on a device's control stream: the hello, heartbeats, audit entries, credential
//! commands and the console's replies.
//!
//! The first frame an agent sends is always [`AgentMessage::Hello`], and the hello's first
//! field is always the protocol version. Both stay fixed across major versions, so a console
//! can read the version of any agent, old or new, and refuse an incompatible one by name.

use serde::{Deserialize, Serialize};

use crate::audit::AgentAuditEntry;
use crate::close::CloseCode;
use crate::credentials::{CredentialReply, CredentialRequest};
use crate::ids::DeviceId;
use crate::inventory::{Inventory, MAX_TEXT};
use crate::remote::{SessionControl, SessionReport};
use crate::version::ProtocolVersion;

/// Capabilities a device offers, as a bit set. Bits a console does not know are ignored, so
/// a newer agent can announce more without breaking an older console.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities(pub u64);

impl Capabilities {
    /// Sends an inventory in its hello.
    pub const INVENTORY: Capabilities = Capabilities(1 << 0);
    /// Can capture a screen.
    pub const SCREEN: Capabilities = Capabilities(1 << 1);
    /// Can inject keyboard and mouse input.
    pub const INPUT: Capabilities = Capabilities(1 << 2);
    /// Can install signed packages.
    pub const PACKAGES: Capabilities = Capabilities(1 << 3);
    /// Can reset local credentials.
    pub const CREDENTIALS: Capabilities = Capabilities(1 << 4);

    pub fn contains(self, other: Capabilities) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn union(self, other: Capabilities) -> Capabilities {
        Capabilities(self.0 | other.0)
    }
}

/// The agent's first message on a connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Must stay the first field: see the module documentation.
    pub protocol: ProtocolVersion,
    /// The id the agent believes it has. The console compares it with the certificate and
    /// refuses the connection when they differ; it never trusts this field on its own.
    pub device: DeviceId,
    pub agent_version: String,
    pub capabilities: Capabilities,
    pub inventory: Inventory,
}

/// A liveness signal; the console answers each with a [`HeartbeatAck`] of the same sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub seq: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatAck {
    pub seq: u64,
}

/// The console's answer to an accepted hello.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    pub protocol: ProtocolVersion,
    pub console_version: String,
    /// The device id taken from the certificate.
    pub device: DeviceId,
    /// How often the agent should send a heartbeat.
    pub heartbeat_interval_ms: u32,
}

/// Why a request or a connection was refused, sent before the connection closes so that the
/// agent can log the reason even when the close frame is lost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub code: CloseCode,
    pub reason: String,
}

impl Refusal {
    /// Makes a refusal, cutting the reason to the text limit at a character boundary.
    pub fn new(code: CloseCode, reason: &str) -> Refusal {
        Refusal {
            code,
            reason: truncate(reason, MAX_TEXT).to_owned(),
        }
    }
}

/// Cuts `text` to at most `limit` bytes without splitting a character.
pub fn truncate(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Everything an agent sends on its control stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentMessage {
    /// Must stay variant 0: see the module documentation.
    Hello(Box<Hello>),
    Heartbeat(Heartbeat),
    /// One entry of the device's audit log, sent in `seq` order after the welcome: first
    /// every entry the console has not acknowledged, then each new one.
    Audit(Box<AgentAuditEntry>),
    /// The answer to a [`ConsoleMessage::Credential`] request, with the same id.
    Credential(Box<CredentialReply>),
    /// A remote screen session's progress: the caller's answer, start, view only, end.
    Session(Box<SessionReport>),
}

/// Everything a console sends on a device's control stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsoleMessage {
    Welcome(Welcome),
    HeartbeatAck(HeartbeatAck),
    Refused(Refusal),
    /// The console has durably stored the device's audit entries up to and including
    /// `up_to`; the device need not send them again.
    AuditAck {
        up_to: u64,
    },
    /// A credential command (list accounts, reset one), authorised on a ticket.
    Credential(Box<CredentialRequest>),
    /// A remote screen session: the request, input, acknowledgements, the end.
    Session(Box<SessionControl>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_respects_character_boundaries() {
        assert_eq!(truncate("grüße", 3), "gr");
        assert_eq!(truncate("grüße", 4), "grü");
        assert_eq!(truncate("short", 100), "short");
    }

    #[test]
    fn unknown_capability_bits_do_not_disturb_known_ones() {
        let caps = Capabilities(1 << 40).union(Capabilities::INVENTORY);
        assert!(caps.contains(Capabilities::INVENTORY));
        assert!(!caps.contains(Capabilities::SCREEN));
    }
}
