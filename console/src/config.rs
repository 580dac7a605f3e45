//! The console's settings: `console.toml` in the data directory, overridden by flags.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Everything `serve` can be told. Missing keys take the defaults below.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// UDP address for agents (QUIC).
    pub quic_listen: SocketAddr,
    /// TCP address for people (HTTPS web console and API).
    pub https_listen: SocketAddr,
    /// The `host:port` agents should dial, written into enrollment strings. When unset, the
    /// QUIC listen address is used, with 127.0.0.1 in place of an unspecified address.
    pub advertise: Option<String>,
    /// How often agents send a heartbeat, in seconds.
    pub heartbeat_secs: u64,
    /// QUIC idle timeout, in seconds; agents keep the connection alive well within it.
    pub idle_timeout_secs: u64,
    /// Most agent connections held at once; more are refused at the handshake.
    pub max_agents: u32,
    /// How long a caller has to answer a remote session's prompt, in seconds; no answer
    /// is a refusal.
    pub consent_timeout_secs: u64,
    /// Package transfers and deployments (`[deploy]`).
    pub deploy: crate::deploy::DeployConfig,
    /// Uploads to the package repository over the API (`[repository]`).
    pub repository: crate::deploy::upload::UploadConfig,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            quic_listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 4433),
            https_listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8443),
            advertise: None,
            heartbeat_secs: 15,
            idle_timeout_secs: 30,
            max_agents: 20_000,
            consent_timeout_secs: 30,
            deploy: crate::deploy::DeployConfig::default(),
            repository: crate::deploy::upload::UploadConfig::default(),
        }
    }
}

impl Config {
    /// Reads `path`, or the defaults when it does not exist.
    pub fn load(path: &Path) -> Result<Config> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
        }
    }

    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_secs(self.heartbeat_secs.max(1))
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs.max(3))
    }

    /// The address for enrollment strings, given the address `serve` actually bound (if it
    /// is running).
    pub fn advertised_address(&self, bound: Option<SocketAddr>) -> String {
        if let Some(address) = &self.advertise {
            return address.clone();
        }
        let mut address = bound.unwrap_or(self.quic_listen);
        if address.ip().is_unspecified() {
            address.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        address.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_gives_the_defaults() {
        assert_eq!(toml::from_str::<Config>("").ok(), Some(Config::default()));
    }

    #[test]
    fn an_unknown_key_is_an_error() {
        assert!(toml::from_str::<Config>("quic_lisen = \"0.0.0.0:1\"").is_err());
    }

    #[test]
    fn the_default_advertised_address_is_loopback() {
        assert_eq!(Config::default().advertised_address(None), "127.0.0.1:4433");
        let bound = "0.0.0.0:5000".parse().ok();
        assert_eq!(
            Config::default().advertised_address(bound),
            "127.0.0.1:5000"
        );
    }
}
