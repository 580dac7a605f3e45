//! The Hotline console: the QUIC endpoint agents connect to, the HTTPS web console, the CLI
//! for admins, and the enrollment CA. The binary is a thin shell over this library.

#![forbid(unsafe_code)]

pub mod accounts;
pub mod api;
pub mod audit;
pub mod authz;
pub mod ca;
pub mod cli;
pub mod commands;
pub mod config;
pub mod credentials;
pub mod datadir;
pub mod deploy;
pub mod fleet;
pub mod link;
pub mod output;
pub mod rejected;
pub mod sessions;
pub mod store;
pub mod tickets;
pub mod tls;
pub mod web;
pub mod webhook;
