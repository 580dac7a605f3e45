//! Sans-IO state machines for one agent–console connection, one per side, and the agent's
//! reconnect backoff. Each takes received payloads and the current time, and returns what to
//! send, when to wake up next, and when to close and why.

pub mod agent;
pub mod backoff;
pub mod console;

/// How many heartbeat intervals of silence end a connection.
pub const SILENT_INTERVALS: u32 = 3;
