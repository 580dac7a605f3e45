//! An agent under test: its own state directory and, while started, its `run` process.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use crate::{bin_dir, signal};

#[derive(Debug)]
pub struct Agent {
    root: TempDir,
    child: Option<Child>,
    /// The device id the console assigned.
    pub device: String,
    /// `HOTLINE_LOG` for the `run` process.
    pub log_filter: String,
    /// More environment for the `run` process (a display, another utmp file).
    pub env: Vec<(String, String)>,
}

impl Agent {
    /// Enrolls a new agent; on refusal returns what the agent printed.
    pub fn enroll(enrollment: &str) -> Result<Agent, String> {
        let root = tempfile::tempdir().expect("tempdir");
        let state = root.path().join("state");
        let output = Command::new(bin_dir().join("hotline-agent"))
            .arg("enroll")
            .arg("--state")
            .arg(&state)
            .arg(enrollment)
            .output()
            .expect("agent runs");
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        let device: serde_json::Value =
            serde_json::from_slice(&std::fs::read(state.join("device.json")).expect("device.json"))
                .expect("device JSON");
        Ok(Agent {
            root,
            child: None,
            device: device["device"].as_str().expect("device id").to_owned(),
            log_filter: "debug,sqlx=warn".to_owned(),
            env: Vec::new(),
        })
    }

    pub fn state(&self) -> PathBuf {
        self.root.path().join("state")
    }

    fn log_path(&self) -> PathBuf {
        self.root.path().join("agent.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Points the agent at another console address (as if the console moved).
    pub fn set_console(&self, address: &str) {
        let path = self.state().join("device.json");
        let mut device: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("device.json")).expect("JSON");
        device["console"] = address.into();
        std::fs::write(&path, serde_json::to_vec(&device).expect("JSON")).expect("written");
    }

    fn utmp_path(&self) -> PathBuf {
        self.root.path().join("utmp")
    }

    /// Makes the agent see `user` signed in on `display` from its next start, as the user
    /// its consent prompts ask.
    pub fn sign_in(&self, user: &str, display: &str) {
        crate::utmp::write_session(&self.utmp_path(), user, display);
    }

    /// Makes the agent see nobody signed in from its next start.
    pub fn sign_in_nobody(&self) {
        std::fs::write(self.utmp_path(), b"").expect("writing the test utmp file");
    }

    pub fn start(&mut self) {
        self.start_with(&[]);
    }

    /// Where `start_installing` installs packages.
    pub fn install_root(&self) -> PathBuf {
        self.root.path().join("install-root")
    }

    /// Starts the agent with packages installing under [`Agent::install_root`].
    pub fn start_installing(&mut self) {
        self.start_installing_with(&[]);
    }

    /// As [`Agent::start_installing`], with `KEY=VALUE` variables for package steps.
    pub fn start_installing_with(&mut self, step_env: &[String]) {
        std::fs::create_dir_all(self.install_root()).expect("install root");
        let root = self.install_root();
        let mut args: Vec<&std::ffi::OsStr> = vec!["--install-root".as_ref(), root.as_os_str()];
        for variable in step_env {
            args.extend_from_slice(&["--step-env".as_ref(), variable.as_ref()]);
        }
        self.start_with(&args);
    }

    /// `hotline-agent trust-root`: pins the publisher's root metadata at `path`.
    pub fn trust_root(&self, path: &std::path::Path) {
        let output = Command::new(bin_dir().join("hotline-agent"))
            .arg("trust-root")
            .arg("--state")
            .arg(self.state())
            .arg(path)
            .output()
            .expect("agent CLI runs");
        assert!(
            output.status.success(),
            "trust-root failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn start_with(&mut self, extra: &[&std::ffi::OsStr]) {
        let log = std::fs::File::create(self.log_path()).expect("log file");
        let mut command = Command::new(bin_dir().join("hotline-agent"));
        if self.utmp_path().exists() {
            command.arg("run").arg("--utmp").arg(self.utmp_path());
        } else {
            command.arg("run");
        }
        let child = command
            .arg("--state")
            .arg(self.state())
            .args(extra)
            .env("HOTLINE_LOG", &self.log_filter)
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("agent starts");
        self.child = Some(child);
    }

    /// The process id of the running agent.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the agent with SIGKILL, as a crash or power loss would end it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "KILL");
            child.wait().expect("agent exits");
        }
    }

    /// `hotline-agent audit list --json`: the local audit log, oldest first.
    pub fn audit_list(&self) -> Vec<serde_json::Value> {
        let output = Command::new(bin_dir().join("hotline-agent"))
            .args(["audit", "list", "--json", "--state"])
            .arg(self.state())
            .output()
            .expect("agent CLI runs");
        assert!(
            output.status.success(),
            "audit list failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("audit list JSON")
    }

    /// Stops the agent with SIGTERM and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "TERM");
            child.wait().expect("agent exits");
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}
