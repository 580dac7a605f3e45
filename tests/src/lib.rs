//! Helpers shared by the end-to-end tests: build the real binaries once, then run a console
//! and agents as real processes on loopback, and drive the console's CLI as an admin would.

pub mod agent;
pub mod api;
pub mod browser;
pub mod console;
pub mod cupsd;
pub mod guard;
pub mod picture;
pub mod raw;
pub mod sim;
pub mod utmp;
pub mod xvfb;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Directory holding the built `hotline-console`, `hotline-agent` and `hotline-pkg`, built on
/// first use with the same profile as the test itself.
pub fn bin_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let mut build = std::process::Command::new(env!("CARGO"));
        build.args([
            "build",
            "--quiet",
            "-p",
            "hotline-console",
            "-p",
            "hotline-agent",
            "-p",
            "hotline-packages",
            "--bins",
        ]);
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        let status = build
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the binaries failed");
        // The test executable lives in <target>/<profile>/deps.
        let exe = std::env::current_exe().expect("test executable path");
        exe.parent()
            .and_then(|deps| deps.parent())
            .expect("target profile directory")
            .to_owned()
    })
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `signal` (for example `TERM` or `KILL`) to a process.
pub fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid} failed");
}
