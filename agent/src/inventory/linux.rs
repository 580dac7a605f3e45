//! Inventory on Linux, read from /proc, /etc/os-release, utmp, the display sockets and the
//! system's time zone settings.

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
    etc_timezone: PathBuf,
    localtime: PathBuf,
    /// `TZ` from the agent's environment, read once when the source is made.
    tz_variable: Option<String>,
}

impl Default for LinuxInventory {
    fn default() -> LinuxInventory {
        LinuxInventory {
            proc_root: "/proc".into(),
            os_release: "/etc/os-release".into(),
            utmp: "/var/run/utmp".into(),
            x11_sockets: "/tmp/.X11-unix".into(),
            run_user: "/run/user".into(),
            etc_timezone: "/etc/timezone".into(),
            localtime: "/etc/localtime".into(),
            tz_variable: std::env::var("TZ").ok(),
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
            time_zone: capped(&self.time_zone(), MAX_TEXT),
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

impl LinuxInventory {
    /// The device's IANA time zone: `TZ` when it names one (as systemd and the C library
    /// read it, with or without the leading `:`), else `/etc/timezone` (Debian), else the
    /// zone the `/etc/localtime` symlink points into, else `UTC`. A zone that is only a
    /// file without a name (a copied `/etc/localtime`) is reported as `UTC`, since the
    /// console can evaluate only named zones.
    fn time_zone(&self) -> String {
        let from_variable = self
            .tz_variable
            .as_deref()
            .map(|tz| tz.strip_prefix(':').unwrap_or(tz));
        let from_file = read(&self.etc_timezone);
        let from_link = fs::read_link(&self.localtime)
            .ok()
            .and_then(|target| zone_from_path(&target));
        [from_variable, Some(from_file.trim()), from_link.as_deref()]
            .into_iter()
            .flatten()
            .find(|name| is_zone_name(name))
            .unwrap_or("UTC")
            .to_owned()
    }
}

/// The zone name in a path into the zone database, such as
/// `/usr/share/zoneinfo/Europe/Berlin` or `../usr/share/zoneinfo/UTC`.
fn zone_from_path(target: &Path) -> Option<String> {
    let text = target.to_str()?;
    let (_, name) = text.rsplit_once("zoneinfo/")?;
    Some(name.to_owned())
}

/// Whether `name` has the shape of an IANA zone name (`Europe/Berlin`, `UTC`,
/// `America/Argentina/Buenos_Aires`, `Etc/GMT+5`): not a path, and not a POSIX rule such
/// as `CET-1CEST`, whose offset sign sits in a name without a `/`.
fn is_zone_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('/')
        && !name.split('/').any(|part| part.is_empty() || part == "..")
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'))
        && (name.contains('/') || !name.contains(['+', '-']))
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
            etc_timezone: base.join("timezone"),
            localtime: base.join("localtime"),
            tz_variable: None,
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
        assert_eq!(inventory.time_zone, "UTC", "nothing configured is UTC");
        assert_eq!(inventory.check_limits(), Ok(()));
    }

    fn zone_source(base: &Path, tz_variable: Option<&str>) -> LinuxInventory {
        LinuxInventory {
            etc_timezone: base.join("timezone"),
            localtime: base.join("localtime"),
            tz_variable: tz_variable.map(str::to_owned),
            ..LinuxInventory::default()
        }
    }

    #[test]
    fn the_time_zone_comes_from_tz_then_etc_timezone_then_the_localtime_link() {
        let root = tempfile::tempdir().expect("tempdir");
        let base = root.path();
        std::os::unix::fs::symlink(
            "/usr/share/zoneinfo/America/New_York",
            base.join("localtime"),
        )
        .expect("symlink");
        assert_eq!(zone_source(base, None).time_zone(), "America/New_York");

        fs::write(base.join("timezone"), "Europe/Berlin\n").expect("write");
        assert_eq!(zone_source(base, None).time_zone(), "Europe/Berlin");

        let with_tz = zone_source(base, Some(":Asia/Kolkata"));
        assert_eq!(with_tz.time_zone(), "Asia/Kolkata");
        // A POSIX rule or a file path in TZ names no zone; the files still do.
        assert_eq!(
            zone_source(base, Some("CET-1CEST")).time_zone(),
            "Europe/Berlin"
        );
        assert_eq!(
            zone_source(base, Some("/etc/localtime")).time_zone(),
            "Europe/Berlin"
        );
    }
}
