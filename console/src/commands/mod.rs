//! One module per CLI command.

pub mod analyst;
pub mod api_client;
pub mod audit;
pub mod credential;
pub mod deploy;
pub mod devices;
pub mod events;
pub mod group;
pub mod init;
pub mod package;
pub mod package_upload;
pub mod serve;
pub mod ticket;
pub mod token;
pub mod webhook;
