//! The messages between a Hotline agent and its console, their codec and limits, and the
//! per-connection state machines.
//!
//! Nothing here performs IO or reads a clock: bytes and the current time come in as arguments
//! and decisions come out as values, so every session can be driven in memory on a virtual
//! clock, the way `quinn-proto` is.

#![forbid(unsafe_code)]

pub mod audit;
pub mod close;
pub mod codec;
pub mod credentials;
pub mod deploy;
pub mod enroll;
pub mod ids;
pub mod input;
pub mod inventory;
pub mod messages;
pub mod remote;
pub mod screen;
pub mod session;
pub mod version;

pub use close::CloseCode;
pub use ids::DeviceId;
pub use version::{PROTOCOL_VERSION, ProtocolVersion};
