//! The Hotline agent: enrolls with a console, then keeps a mutually authenticated QUIC
//! connection to it, reporting the device's inventory and heartbeats. The binary is a thin
//! shell over this library, which the end-to-end tests and benchmarks also drive.

pub mod audit;
pub mod consent;
pub mod credentials;
pub mod deploy;
pub mod enroll;
pub mod inventory;
pub mod link;
mod replay;
pub mod screen;
pub mod session;
pub mod state;
pub mod tls;
mod wire;
pub mod x11;
