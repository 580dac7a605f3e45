//! Inventory on Linux, read from /proc, /etc/os-release, utmp and the display sockets.

use std::fs;
use std::path::{Path, PathBuf};

use hotline_protocol::inventory::{
    Display, DisplayKind, Inventory, MAX_DISPLAYS, MAX_HOSTNAME, MAX_SESSIONS, MAX_TEXT, OsInfo,
};

use super::{InventorySource, capped, utmp};

/// Where the Linux sources live; tests point them into a temporary directory.
#[derive(Debug, Clone)]
pub(super) struct LinuxInventory {
    proc_root: PathBuf,
    os_release: PathBuf,
    utmp: PathBuf,
    x11_sockets: PathBuf,
    run_user: PathBuf,
}

impl Default for LinuxInventory {
    fn default() -> LinuxInventory {
        LinuxInventory {
            proc_root: "/proc".into(),
            os_release: "/etc/os-release".into(),
            utmp: "/var/run/utmp".into(),
            x11_sockets: "/tmp/.X11-unix".into(),
            run_user: "/run/user".into(),
        }
    }
}

impl InventorySource for LinuxInventory {
    fn collect(&self) -> Inventory {
        let mut sessions = utmp::sessions(&self.utmp);
        sessions.truncate(MAX_SESSIONS);
        Inventory {
            hostname: capped(
                &read(&self.proc_root.join("sys/kernel/hostname")),
                MAX_HOSTNAME,
            ),
            os: OsInfo {
                family: "linux".to_owned(),
                name: capped(&pretty_name(&read(&self.os_release)), MAX_TEXT),
                version: capped(
                    &read(&self.proc_root.join("sys/kernel/osrelease")),
                    MAX_TEXT,
                ),
            },
            arch: std::env::consts::ARCH.to_owned(),
            sessions,
            displays: self.displays(),
        }
    }
}

impl LinuxInventory {
    pub(super) fn with_utmp(utmp: &Path) -> LinuxInventory {
        LinuxInventory {
            utmp: utmp.to_owned(),
            ..LinuxInventory::default()
        }
    }

    /// X11 displays from their sockets (`X0` is `:0`) and Wayland displays from the
    /// sockets in each user's runtime directory.
    fn displays(&self) -> Vec<Display> {
        let mut displays: Vec<Display> = names(&self.x11_sockets)
            .into_iter()
            .filter_map(|name| name.strip_prefix('X').map(|n| format!(":{n}")))
            .map(|name| Display {
                name,
                kind: DisplayKind::X11,
            })
            .collect();
        for user in names(&self.run_user) {
            let wayland = names(&self.run_user.join(user))
                .into_iter()
                .filter(|name| name.starts_with("wayland-") && !name.ends_with(".lock"))
                .map(|name| Display {
                    name,
                    kind: DisplayKind::Wayland,
                });
            displays.extend(wayland);
        }
        displays.sort_by(|a, b| a.name.cmp(&b.name));
        displays.dedup();
        displays.truncate(MAX_DISPLAYS);
        for display in &mut displays {
            display.name = capped(&display.name, MAX_TEXT);
        }
        displays
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

fn names(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect()
}

/// `PRETTY_NAME` from os-release, unquoted; "Linux" when there is none.
fn pretty_name(os_release: &str) -> String {
    os_release
        .lines()
        .find_map(|line| line.strip_prefix("PRETTY_NAME="))
        .map(|value| value.trim().trim_matches('"').to_owned())
        .unwrap_or_else(|| "Linux".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_comes_from_the_files_it_names() {
        let root = tempfile::tempdir().expect("tempdir");
        let base = root.path();
        fs::create_dir_all(base.join("proc/sys/kernel")).expect("mkdir");
        fs::write(base.join("proc/sys/kernel/hostname"), "ws-0142\n").expect("write");
        fs::write(base.join("proc/sys/kernel/osrelease"), "6.1.0-test\n").expect("write");
        fs::write(
            base.join("os-release"),
            "NAME=Debian\nPRETTY_NAME=\"Debian GNU/Linux 12\"\n",
        )
        .expect("write");
        fs::create_dir_all(base.join("x11/X0")).expect("mkdir");
        fs::create_dir_all(base.join("run/1000/wayland-0")).expect("mkdir");
        fs::write(base.join("run/1000/wayland-0.lock"), "").expect("write");

        let source = LinuxInventory {
            proc_root: base.join("proc"),
            os_release: base.join("os-release"),
            utmp: base.join("missing-utmp"),
            x11_sockets: base.join("x11"),
            run_user: base.join("run"),
        };
        let inventory = source.collect();
        assert_eq!(inventory.hostname, "ws-0142");
        assert_eq!(inventory.os.name, "Debian GNU/Linux 12");
        assert_eq!(inventory.os.version, "6.1.0-test");
        let displays: Vec<_> = inventory
            .displays
            .iter()
            .map(|d| (d.name.as_str(), d.kind))
            .collect();
        assert_eq!(
            displays,
            [
                (":0", DisplayKind::X11),
                ("wayland-0", DisplayKind::Wayland)
            ]
        );
        assert!(inventory.sessions.is_empty());
        assert_eq!(inventory.check_limits(), Ok(()));
    }
}
