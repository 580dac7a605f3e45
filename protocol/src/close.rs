//! Application close codes: why a connection was closed, sent with a human-readable reason.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why one side closed a connection or refused a request. The numeric value travels as the
/// QUIC application error code; the reason travels beside it as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u32)]
pub enum CloseCode {
    /// Orderly end: the agent or console is stopping.
    Normal = 0,
    /// The peer sent bytes that break the protocol (bad frame, unknown message, wrong order).
    ProtocolViolation = 1,
    /// The peer speaks an incompatible protocol major version.
    VersionMismatch = 2,
    /// The device's certificate is not (or no longer) registered.
    UnknownDevice = 3,
    /// The device was revoked by an administrator.
    Revoked = 4,
    /// A message claimed a device identity other than the one in the certificate.
    IdentityMismatch = 5,
    /// A newer connection with the same certificate replaced this one.
    Replaced = 6,
    /// The peer stayed silent longer than the protocol allows.
    Timeout = 7,
    /// Enrollment was refused (token unknown, used, expired, or too many attempts).
    EnrollmentRefused = 8,
    /// The console is shutting down; reconnect soon.
    ConsoleShutdown = 9,
    /// Something failed on our side; not the peer's fault.
    Internal = 10,
}

impl CloseCode {
    const ALL: [CloseCode; 11] = [
        CloseCode::Normal,
        CloseCode::ProtocolViolation,
        CloseCode::VersionMismatch,
        CloseCode::UnknownDevice,
        CloseCode::Revoked,
        CloseCode::IdentityMismatch,
        CloseCode::Replaced,
        CloseCode::Timeout,
        CloseCode::EnrollmentRefused,
        CloseCode::ConsoleShutdown,
        CloseCode::Internal,
    ];

    /// The wire value of this code.
    pub fn to_u32(self) -> u32 {
        self as u32
    }

    /// The code for a wire value, or `None` for a value this build does not know.
    pub fn from_u32(value: u32) -> Option<CloseCode> {
        Self::ALL.into_iter().find(|code| code.to_u32() == value)
    }

    /// Whether an agent should keep retrying after being closed with this code. A revoked or
    /// unknown device retries too (with backoff), because an administrator may undo it, but
    /// the agent logs it as an error.
    pub fn is_fatal_for_agent(self) -> bool {
        matches!(self, CloseCode::Revoked | CloseCode::UnknownDevice)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            CloseCode::Normal => "normal",
            CloseCode::ProtocolViolation => "protocol violation",
            CloseCode::VersionMismatch => "version mismatch",
            CloseCode::UnknownDevice => "unknown device",
            CloseCode::Revoked => "revoked",
            CloseCode::IdentityMismatch => "identity mismatch",
            CloseCode::Replaced => "replaced",
            CloseCode::Timeout => "timeout",
            CloseCode::EnrollmentRefused => "enrollment refused",
            CloseCode::ConsoleShutdown => "console shutdown",
            CloseCode::Internal => "internal error",
        };
        f.write_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_wire_value() {
        for code in CloseCode::ALL {
            assert_eq!(CloseCode::from_u32(code.to_u32()), Some(code));
        }
        assert_eq!(CloseCode::from_u32(9999), None);
    }
}
