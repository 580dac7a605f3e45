//! A real X server for the tests: Xvfb, started once per test binary with `-noreset` (without
//! it, Xvfb resets and drops every window whenever its last client disconnects), with an
//! optional window manager, and the xdotool helpers the tests click and type with.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
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
    /// The X authority file clients must present, when the server asks for one.
    pub authority: Option<PathBuf>,
    server: Guarded,
    window_manager: Option<Guarded>,
}

impl Xvfb {
    /// Starts Xvfb with one screen of `width`×`height` at depth 24, on a display number the
    /// server picks itself (`-displayfd`), so parallel test binaries never collide.
    pub fn start(width: u32, height: u32) -> Xvfb {
        Xvfb::start_with(width, height, None)
    }

    /// Starts Xvfb as [`Xvfb::start`] does, admitting only clients that present a cookie
    /// from the X authority file `authority`; the helpers here present it.
    pub fn start_with_authority(width: u32, height: u32, authority: &Path) -> Xvfb {
        Xvfb::start_with(width, height, Some(authority.to_owned()))
    }

    fn start_with(width: u32, height: u32, authority: Option<PathBuf>) -> Xvfb {
        let auth = authority
            .as_ref()
            .map(|path| format!("-auth '{}'", path.display()))
            .unwrap_or_default();
        let mut server = Guarded::spawn(&format!(
            "Xvfb -displayfd 3 -noreset -nolisten tcp {auth} -screen 0 {width}x{height}x24"
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
            authority,
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
        let auth = self
            .authority
            .as_ref()
            .map(|path| format!("XAUTHORITY='{}'", path.display()))
            .unwrap_or_default();
        self.window_manager = Some(Guarded::spawn(&format!(
            "env DISPLAY={display} {auth} openbox"
        )));
        wait_for("the window manager", Duration::from_secs(10), || {
            let out = self
                .command("xprop")
                .args(["-root", "_NET_SUPPORTING_WM_CHECK"])
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
        if let Some(authority) = &self.authority {
            command.env("XAUTHORITY", authority);
        }
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

impl Xvfb {
    /// Moves the pointer to `x`, `y` inside `window` and clicks the first button through
    /// XTEST, as a person's click arrives.
    pub fn click_in(&self, window: &str, x: i32, y: i32) {
        let (x, y) = (x.to_string(), y.to_string());
        self.xdotool(&["mousemove", "--window", window, &x, &y, "click", "1"]);
    }

    /// Moves the pointer to `x`, `y` inside `window` and sends it a click with `SendEvent`:
    /// the forged click any client on the display could make.
    pub fn synthetic_click_in(&self, window: &str, x: i32, y: i32) {
        let (x, y) = (x.to_string(), y.to_string());
        self.xdotool(&["mousemove", "--window", window, &x, &y]);
        self.xdotool(&["click", "--window", window, "1"]);
    }

    /// The pointer's position on the screen.
    pub fn pointer(&self) -> (i32, i32) {
        let out = self.xdotool(&["getmouselocation", "--shell"]);
        let value = |key: &str| {
            out.lines()
                .find_map(|line| line.strip_prefix(key))
                .and_then(|v| v.trim().parse().ok())
                .expect("xdotool reports the pointer")
        };
        (value("X="), value("Y="))
    }

    /// The screen position of `window`'s top-left pixel (inside any frame the window
    /// manager drew), as xwininfo reports it.
    pub fn window_origin(&self, window: &str) -> (i32, i32) {
        let out = self
            .command("xwininfo")
            .args(["-id", window])
            .output()
            .expect("xwininfo runs (scripts/test.sh installs x11-utils)");
        let text = String::from_utf8_lossy(&out.stdout);
        let value = |key: &str| {
            text.lines()
                .find_map(|line| line.trim().strip_prefix(key))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("xwininfo has no {key:?}: {text}"))
        };
        (
            value("Absolute upper-left X:"),
            value("Absolute upper-left Y:"),
        )
    }

    /// Whether a visible window whose name matches `pattern` exists now.
    pub fn has_window(&self, pattern: &str) -> bool {
        let out = self
            .command("xdotool")
            .args(["search", "--onlyvisible", "--name", pattern])
            .output()
            .expect("xdotool runs");
        !String::from_utf8_lossy(&out.stdout).trim().is_empty()
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
