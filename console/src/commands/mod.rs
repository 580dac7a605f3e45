//! One module per CLI command.

pub mod devices;
pub mod events;
pub mod init;
pub mod serve;
pub mod token;
