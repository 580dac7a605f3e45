//! A console under test: its own data directory, a `serve` process, and the admin CLI.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::{bin_dir, signal, wait_for};

/// A console data directory and, while started, its `serve` process.
#[derive(Debug)]
pub struct Console {
    root: TempDir,
    child: Option<Child>,
    /// The addresses the running console bound.
    pub quic: Option<SocketAddr>,
    pub https: Option<SocketAddr>,
    /// `HOTLINE_LOG` for the `serve` process.
    pub log_filter: String,
}

impl Console {
    /// Initialises a console with a 1 s heartbeat, so that tests see liveness quickly.
    pub fn init() -> Console {
        Console::init_with_heartbeat(1)
    }

    /// Initialises a console whose agents send a heartbeat every `seconds`.
    pub fn init_with_heartbeat(seconds: u64) -> Console {
        let root = tempfile::tempdir().expect("tempdir");
        let console = Console {
            root,
            child: None,
            quic: None,
            https: None,
            log_filter: "debug,sqlx=warn".to_owned(),
        };
        console.cli_ok(&["init"]);
        let config = console.data().join("console.toml");
        let text = std::fs::read_to_string(&config).expect("config");
        let text = text.replace(
            "heartbeat_secs = 15",
            &format!("heartbeat_secs = {seconds}"),
        );
        std::fs::write(&config, text).expect("config written");
        console
    }

    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.root.path().join("serve.log")
    }

    /// The `serve` process's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Starts `serve` on loopback: on `quic` when given (to come back on the same port after
    /// a restart), otherwise on a free port. Returns once it has bound both listeners.
    pub fn start_on(&mut self, quic: Option<SocketAddr>) {
        let quic = quic.map_or_else(|| "127.0.0.1:0".to_owned(), |a| a.to_string());
        let state_file = self.data().join("serve.json");
        std::fs::remove_file(&state_file).ok();
        let log = std::fs::File::create(self.log_path()).expect("log file");
        let child = Command::new(bin_dir().join("hotline-console"))
            .arg("--data")
            .arg(self.data())
            .args(["serve", "--quic", &quic, "--https", "127.0.0.1:0"])
            .env("HOTLINE_LOG", &self.log_filter)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("console starts");
        let pid = child.id();
        self.child = Some(child);
        let state: Value = wait_for("the console to bind", Duration::from_secs(20), || {
            let text = std::fs::read_to_string(&state_file).ok()?;
            let state: Value = serde_json::from_str(&text).ok()?;
            (state["pid"].as_u64() == Some(u64::from(pid))).then_some(state)
        });
        self.quic = state["quic"].as_str().and_then(|a| a.parse().ok());
        self.https = state["https"].as_str().and_then(|a| a.parse().ok());
    }

    /// The process id of the running `serve`.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn start(&mut self) {
        self.start_on(None);
    }

    /// Stops `serve` with SIGTERM, as a service manager would, and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "TERM");
            child.wait().expect("console exits");
        }
    }

    /// Runs `hotline-console --data DIR ARGS`.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(bin_dir().join("hotline-console"))
            .arg("--data")
            .arg(self.data())
            .args(args)
            .output()
            .expect("console CLI runs")
    }

    /// Runs the CLI and returns its standard output, panicking with its error on failure.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let output = self.cli(args);
        assert!(
            output.status.success(),
            "hotline-console {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    pub fn enroll_token(&self, extra: &[&str]) -> String {
        let mut args = vec!["enroll-token"];
        args.extend_from_slice(extra);
        self.cli_ok(&args).trim().to_owned()
    }

    pub fn devices(&self) -> Vec<Value> {
        serde_json::from_str(&self.cli_ok(&["devices", "--json"])).expect("devices JSON")
    }

    pub fn device(&self, id: &str) -> Option<Value> {
        self.devices().into_iter().find(|device| device["id"] == id)
    }

    /// Waits until `id` has `status` (`online`, `offline`, `revoked`).
    pub fn wait_status(&self, id: &str, status: &str, timeout: Duration) {
        wait_for(&format!("device {id} to be {status}"), timeout, || {
            (self.device(id)?["status"] == status).then_some(())
        });
    }

    /// Link events, newest first, as (kind, detail).
    pub fn events(&self) -> Vec<(String, String)> {
        let events: Vec<Value> =
            serde_json::from_str(&self.cli_ok(&["events", "--json"])).expect("events JSON");
        events
            .iter()
            .map(|event| {
                (
                    event["kind"].as_str().unwrap_or_default().to_owned(),
                    event["detail"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// The audit entries the console stored for `device`, in seq order, read from its
    /// database as the console wrote them.
    pub fn agent_audit(&self, device: &str) -> Vec<hotline_console::store::AgentAuditRow> {
        let device = device.parse().expect("device id");
        let path = self.data().join("hotline.db");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let store = hotline_console::store::Store::open(&path, false)
                .await
                .expect("database opens");
            let rows = store.agent_audit_entries(&device).await.expect("rows");
            store.close().await;
            rows
        })
    }

    /// Creates an account with `roles` through the CLI and returns its one-time password.
    pub fn add_account(&self, username: &str, display_name: &str, roles: &[&str]) -> String {
        let mut args = vec!["analyst", "add", username, "--name", display_name];
        for role in roles {
            args.extend_from_slice(&["--role", role]);
        }
        one_time_password(&self.cli_ok(&args))
    }

    /// The CA certificate's path, for tests that build clients by hand.
    pub fn ca_cert(&self) -> PathBuf {
        self.data().join("ca.cert.pem")
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

/// The password from a `one-time password: ...` line of CLI output.
pub fn one_time_password(output: &str) -> String {
    output
        .lines()
        .find_map(|line| line.strip_prefix("one-time password: "))
        .expect("a one-time password line")
        .trim()
        .to_owned()
}
