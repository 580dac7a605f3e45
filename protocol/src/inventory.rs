//! What a device tells the console about itself, and the limits on each part of it.
//!
//! Every string here is chosen by the device, and a rogue device chooses hostile ones
//! (MeshCentral's stored XSS started with a host name), so each has a length cap and each
//! list a count cap, checked by [`Inventory::check_limits`] before the console stores it.

use serde::{Deserialize, Serialize};

/// Longest host name accepted, in bytes (the DNS limit for a full name).
pub const MAX_HOSTNAME: usize = 253;
/// Longest free-text field (OS name, version, user name, display name), in bytes.
pub const MAX_TEXT: usize = 256;
/// Most user sessions one device may report.
pub const MAX_SESSIONS: usize = 256;
/// Most displays one device may report.
pub const MAX_DISPLAYS: usize = 64;

/// The device's description of itself, sent in the hello.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub hostname: String,
    pub os: OsInfo,
    /// Machine architecture as Rust names it (`x86_64`, `aarch64`).
    pub arch: String,
    pub sessions: Vec<UserSession>,
    pub displays: Vec<Display>,
    /// The device's time zone as an IANA name (`Europe/Berlin`), or `UTC` when it has none
    /// configured. The console evaluates maintenance windows in "local" time with it.
    pub time_zone: String,
}

/// Operating system name and version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsInfo {
    /// `linux`, `windows`, `macos`.
    pub family: String,
    /// Distribution or product name, for example `Debian GNU/Linux 12 (bookworm)`.
    pub name: String,
    /// Kernel or build version.
    pub version: String,
}

/// A user signed in to the device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSession {
    pub user: String,
    /// Terminal or seat, for example `tty2` or `pts/0`.
    pub line: String,
    /// The graphical display of the session, when it has one (`:0`).
    pub display: Option<String>,
    /// Sign-in time, seconds since the Unix epoch.
    pub since: i64,
}

/// A display the agent could show a prompt on or capture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Display {
    /// `:0` for X11, `wayland-0` for Wayland.
    pub name: String,
    pub kind: DisplayKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DisplayKind {
    X11,
    Wayland,
}

/// A part of an inventory over its limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryLimitError {
    #[error("{field} too long: {len} > {limit} bytes")]
    TooLong {
        field: &'static str,
        len: usize,
        limit: usize,
    },
    #[error("too many {field}: {count} > {limit}")]
    TooMany {
        field: &'static str,
        count: usize,
        limit: usize,
    },
}

fn check_len(field: &'static str, text: &str, limit: usize) -> Result<(), InventoryLimitError> {
    if text.len() > limit {
        return Err(InventoryLimitError::TooLong {
            field,
            len: text.len(),
            limit,
        });
    }
    Ok(())
}

fn check_count<T>(
    field: &'static str,
    items: &[T],
    limit: usize,
) -> Result<(), InventoryLimitError> {
    if items.len() > limit {
        return Err(InventoryLimitError::TooMany {
            field,
            count: items.len(),
            limit,
        });
    }
    Ok(())
}

impl Inventory {
    /// Checks every length and count against the limits above.
    pub fn check_limits(&self) -> Result<(), InventoryLimitError> {
        check_len("host name", &self.hostname, MAX_HOSTNAME)?;
        check_len("os family", &self.os.family, MAX_TEXT)?;
        check_len("os name", &self.os.name, MAX_TEXT)?;
        check_len("os version", &self.os.version, MAX_TEXT)?;
        check_len("architecture", &self.arch, MAX_TEXT)?;
        check_len("time zone", &self.time_zone, MAX_TEXT)?;
        check_count("sessions", &self.sessions, MAX_SESSIONS)?;
        check_count("displays", &self.displays, MAX_DISPLAYS)?;
        for session in &self.sessions {
            check_len("user name", &session.user, MAX_TEXT)?;
            check_len("session line", &session.line, MAX_TEXT)?;
            check_len(
                "session display",
                session.display.as_deref().unwrap_or(""),
                MAX_TEXT,
            )?;
        }
        for display in &self.displays {
            check_len("display name", &display.name, MAX_TEXT)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Inventory {
        Inventory {
            hostname: "ws-0142".into(),
            os: OsInfo {
                family: "linux".into(),
                name: "Debian GNU/Linux 12 (bookworm)".into(),
                version: "6.1.0-18-amd64".into(),
            },
            arch: "x86_64".into(),
            sessions: vec![UserSession {
                user: "alice".into(),
                line: "tty2".into(),
                display: Some(":0".into()),
                since: 1_700_000_000,
            }],
            displays: vec![Display {
                name: ":0".into(),
                kind: DisplayKind::X11,
            }],
            time_zone: "Europe/Berlin".into(),
        }
    }

    #[test]
    fn a_normal_inventory_is_within_limits() {
        assert_eq!(sample().check_limits(), Ok(()));
    }

    #[test]
    fn an_oversized_host_name_is_refused() {
        let mut inventory = sample();
        inventory.hostname = "a".repeat(MAX_HOSTNAME + 1);
        assert!(matches!(
            inventory.check_limits(),
            Err(InventoryLimitError::TooLong {
                field: "host name",
                ..
            })
        ));
    }

    #[test]
    fn too_many_sessions_are_refused() {
        let mut inventory = sample();
        inventory.sessions = vec![inventory.sessions[0].clone(); MAX_SESSIONS + 1];
        assert!(matches!(
            inventory.check_limits(),
            Err(InventoryLimitError::TooMany {
                field: "sessions",
                ..
            })
        ));
    }
}
