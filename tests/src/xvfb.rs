//! A real X server for the tests: Xvfb, started once per test binary with `-noreset` (without
//! it, Xvfb resets and drops every window whenever its last client disconnects), with an
//! optional window manager, and the xdotool helpers the tests click and type with.

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::guard::Guarded;
use crate::wait_for;

/// A running Xvfb and, when asked for, a window manager on it. Both end on drop, and with
/// the test process.
#[derive(Debug)]
pub struct Xvfb {
    /// The display name, such as `:7`.
    pub display: String,
    server: Guarded,
    window_manager: Option<Guarded>,
}

impl Xvfb {
    /// Starts Xvfb with one screen of `width`×`height` at depth 24, on a display number the
    /// server picks itself (`-displayfd`), so parallel test binaries never collide.
    pub fn start(width: u32, height: u32) -> Xvfb {
        let mut server = Guarded::spawn(&format!(
            "Xvfb -displayfd 3 -noreset -nolisten tcp -screen 0 {width}x{height}x24"
        ));

        // Xvfb writes the display number and a newline once it accepts connections.
        let stdout = server.stdout().expect("piped stdout");
        let mut number = String::new();
        BufReader::new(stdout)
            .read_line(&mut number)
            .expect("reading Xvfb's display number");
        assert!(
            !number.trim().is_empty(),
            "Xvfb did not start (scripts/test.sh installs xvfb)"
        );
        Xvfb {
            display: format!(":{}", number.trim()),
            server,
            window_manager: None,
        }
    }

    /// The X server's process id, to look at what it holds (its open files, its mappings).
    pub fn server_pid(&self) -> u32 {
        self.server
            .child_pid()
            .expect("Xvfb runs under its guard shell")
    }

    /// Starts openbox on the display and waits until it manages windows.
    pub fn with_window_manager(mut self) -> Xvfb {
        let display = self.display.clone();
        self.window_manager = Some(Guarded::spawn(&format!("env DISPLAY={display} openbox")));
        wait_for("the window manager", Duration::from_secs(10), || {
            let out = Command::new("xprop")
                .args(["-display", &display, "-root", "_NET_SUPPORTING_WM_CHECK"])
                .output()
                .ok()?;
            String::from_utf8_lossy(&out.stdout)
                .contains("window id")
                .then_some(())
        });
        self
    }

    /// A command with `DISPLAY` set to this server.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("DISPLAY", &self.display);
        command
    }

    /// Runs xdotool with `args` on this display and returns its standard output; panics
    /// naming the arguments when it fails.
    pub fn xdotool(&self, args: &[&str]) -> String {
        let out = self
            .command("xdotool")
            .args(args)
            .output()
            .expect("xdotool runs (scripts/test.sh installs it)");
        assert!(
            out.status.success(),
            "xdotool {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until a window whose name matches `pattern` (a regular expression, as xdotool
    /// takes it) is visible, and returns its id.
    pub fn wait_for_window(&self, pattern: &str, timeout: Duration) -> String {
        wait_for(&format!("a window named {pattern:?}"), timeout, || {
            let out = self
                .command("xdotool")
                .args(["search", "--onlyvisible", "--name", pattern])
                .output()
                .ok()?;
            let text = String::from_utf8_lossy(&out.stdout);
            text.lines().next().map(|id| id.trim().to_owned())
        })
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        if let Some(wm) = self.window_manager.as_mut() {
            wm.stop();
        }
        self.server.stop();
    }
}

/// The one Xvfb (1920×1080, with a window manager) a test binary shares between its tests.
/// It is never dropped; it ends with the test process (see `guard::Guarded`).
pub fn shared() -> &'static Xvfb {
    static SHARED: OnceLock<Xvfb> = OnceLock::new();
    SHARED.get_or_init(|| Xvfb::start(1920, 1080).with_window_manager())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_the_size_asked_and_ends_on_drop() {
        let xvfb = Xvfb::start(1366, 768);
        let out = xvfb.command("xdpyinfo").output().expect("xdpyinfo runs");
        assert!(String::from_utf8_lossy(&out.stdout).contains("1366x768 pixels"));

        let display = xvfb.display.clone();
        drop(xvfb);
        let out = Command::new("xdpyinfo")
            .args(["-display", &display])
            .output()
            .expect("xdpyinfo runs");
        assert!(!out.status.success(), "{display} still answers after drop");
    }
}
