//! Simulated devices and process figures for the benchmarks that load one console with many
//! devices: real enrollments and real QUIC connections, each with its own certificate, many
//! per UDP endpoint; and the CPU and memory of a process, read from /proc.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use hotline_agent::inventory::InventorySource;
use hotline_agent::link::{LinkHooks, LinkOptions};
use hotline_agent::state::AgentState;
use hotline_protocol::enroll::EnrollmentString;
use hotline_protocol::inventory::{Inventory, OsInfo};

/// Simulated devices per shared UDP endpoint.
pub const DEVICES_PER_ENDPOINT: usize = 500;

/// Enrolls `n` devices through the real enrollment protocol, 32 at a time.
pub async fn enroll_all(enrollment: &EnrollmentString, n: usize) -> Result<Vec<Arc<AgentState>>> {
    let mut states = Vec::with_capacity(n);
    let mut pending = tokio::task::JoinSet::new();
    for i in 0..n {
        let enrollment = enrollment.clone();
        pending.spawn(async move {
            hotline_agent::enroll::request(&enrollment, &format!("sim-{i:05}")).await
        });
        if pending.len() >= 32 {
            states.push(Arc::new(pending.join_next().await.context("task")???));
        }
    }
    while let Some(state) = pending.join_next().await {
        states.push(Arc::new(state??));
    }
    Ok(states)
}

/// The same small inventory from every simulated device.
#[derive(Debug, Clone, Copy, Default)]
pub struct FixedInventory;

impl InventorySource for FixedInventory {
    fn collect(&self) -> Inventory {
        Inventory {
            hostname: "sim".into(),
            os: OsInfo {
                family: "linux".into(),
                name: "simulated".into(),
                version: "0".into(),
            },
            arch: std::env::consts::ARCH.into(),
            sessions: Vec::new(),
            displays: Vec::new(),
            time_zone: "UTC".into(),
        }
    }
}

/// Client endpoints enough for `devices`, [`DEVICES_PER_ENDPOINT`] each.
pub fn endpoints(devices: usize) -> Result<Vec<quinn::Endpoint>> {
    (0..devices.div_ceil(DEVICES_PER_ENDPOINT))
        .map(|_| quinn::Endpoint::client("127.0.0.1:0".parse()?).context("client endpoint"))
        .collect()
}

/// Simulated devices online; dropping this stops them all.
#[derive(Debug)]
pub struct Devices {
    stop: tokio::sync::watch::Sender<bool>,
    _tasks: tokio::task::JoinSet<()>,
}

impl Drop for Devices {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// Runs the agent's own link for each state, [`DEVICES_PER_ENDPOINT`] to a UDP endpoint, and
/// returns once the console has welcomed every one. `hooks` gives each device's other hooks
/// (its endpoint and connected reporter are set here) and may start tasks of its own on the
/// set it is handed, which live as long as the devices.
pub async fn run_devices(
    states: &[Arc<AgentState>],
    mut hooks: impl FnMut(&mut tokio::task::JoinSet<()>) -> LinkHooks,
) -> Result<Devices> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let endpoints = endpoints(states.len())?;
    let mut tasks = tokio::task::JoinSet::new();
    let mut connected = Vec::with_capacity(states.len());
    for (i, state) in states.iter().enumerate() {
        let (report, seen) = tokio::sync::watch::channel(false);
        connected.push(seen);
        let hooks = LinkHooks {
            endpoint: Some(endpoints[i / DEVICES_PER_ENDPOINT].clone()),
            connected: Some(report),
            ..hooks(&mut tasks)
        };
        let state = state.clone();
        let stopped = stopped.clone();
        tasks.spawn(async move {
            let options = LinkOptions::default();
            hotline_agent::link::run(&state, &FixedInventory, options, hooks, stopped)
                .await
                .ok();
        });
    }
    while connected.iter().any(|seen| !*seen.borrow()) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(Devices {
        stop,
        _tasks: tasks,
    })
}

/// Resident memory of `pid` now, in bytes.
pub fn rss(pid: u32) -> Result<u64> {
    status_kib(pid, "VmRSS:").map(|kib| kib * 1024)
}

/// The most resident memory `pid` has had, in bytes.
pub fn peak_rss(pid: u32) -> Result<u64> {
    status_kib(pid, "VmHWM:").map(|kib| kib * 1024)
}

fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("{field} missing from {path}"))
}

/// User plus system CPU time of `pid`, in clock ticks (100 per second on Linux).
pub fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').context("stat format")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Ok(fields[11].parse::<u64>()? + fields[12].parse::<u64>()?)
}

/// Starts this benchmark's own binary again with `role` set to the console's data directory
/// `data` and the variables `env` (the binary then serves a baseline on the console's
/// certificates), and waits for the address it writes to `address_file`.
pub fn spawn_baseline(
    role: &str,
    data: &Path,
    env: &[(&str, &str)],
    address_file: &Path,
) -> Result<(Child, SocketAddr)> {
    let child = Command::new(std::env::current_exe()?)
        .env(role, data)
        .envs(env.iter().copied())
        .spawn()
        .context("starting the baseline server")?;
    let address = crate::wait_for("the baseline server", Duration::from_secs(10), || {
        std::fs::read_to_string(address_file)
            .ok()?
            .trim()
            .parse()
            .ok()
    });
    Ok((child, address))
}

/// A QUIC server endpoint with the console's own TLS configuration and transport limits,
/// from its data directory, on a loopback port; its address is written to `address_file`.
pub fn baseline_endpoint(data: &Path, address_file: &Path) -> Result<quinn::Endpoint> {
    let dir = hotline_console::datadir::DataDir::new(data);
    let identity = hotline_console::tls::Identity::load(&dir)?;
    let config = hotline_console::config::Config::default();
    let server = hotline_console::tls::quic_server(&identity, &config)?;
    let socket = hotline_console::link::agent_socket("127.0.0.1:0".parse()?)?;
    let runtime = quinn::default_runtime().context("runtime")?;
    let endpoint = quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(server),
        socket,
        runtime,
    )?;
    std::fs::write(address_file, endpoint.local_addr()?.to_string())
        .with_context(|| format!("writing {}", address_file.display()))?;
    Ok(endpoint)
}
