//! The protocol version that agent and console exchange in their first message.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A protocol version. Peers with the same `major` understand each other; a higher `minor`
/// only adds messages or capabilities that the other side may ignore.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProtocolVersion {
    pub major: u16,
    pub minor: u16,
}

/// The version this build speaks.
///
/// Messages are bincode, which is not self-describing: a field added to a message changes
/// its layout, so it takes a new major version. 2.0 added the inventory's time zone.
pub const PROTOCOL_VERSION: ProtocolVersion = ProtocolVersion { major: 2, minor: 0 };

impl ProtocolVersion {
    /// Whether a peer speaking `self` can talk to one speaking `other`.
    pub fn is_compatible_with(self, other: ProtocolVersion) -> bool {
        self.major == other.major
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}
