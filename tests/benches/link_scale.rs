//! How many devices one console holds: N simulated agents, each a real QUIC connection with
//! its own certificate, connect to a real console process, which is then measured for
//! connect time, memory per connected agent and CPU at the heartbeat rate.
//!
//! The baseline, measured in the same run, is the same N connections held by a bare QUIC
//! server with the same TLS configuration and transport limits but no application: the
//! ratio says what Hotline adds on top of QUIC itself.
//!
//! Run: `cargo bench -p hotline-tests --bench link_scale -- --agents 1000 [--window 30]`.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark reports on standard output"
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hotline_agent::link::LinkHooks;
use hotline_agent::state::AgentState;
use hotline_agent::tls::{CONSOLE_SERVER_NAME, Timing, device_client};
use hotline_protocol::enroll::EnrollmentString;
use hotline_tests::console::Console;
use hotline_tests::sim::{
    DEVICES_PER_ENDPOINT, baseline_endpoint, cpu_ticks, endpoints, enroll_all, rss, run_devices,
    spawn_baseline,
};

/// Environment variable that turns this binary into the bare QUIC server of the baseline.
const BARE_SERVER: &str = "HOTLINE_BENCH_BARE_SERVER";

struct Args {
    agents: usize,
    window: Duration,
}

fn parse_args() -> Args {
    let mut args = Args {
        agents: 1000,
        window: Duration::from_secs(30),
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        let mut value = || words.next().and_then(|v| v.parse::<u64>().ok());
        match word.as_str() {
            "--agents" => args.agents = value().map_or(args.agents, |n| n as usize),
            "--window" => args.window = value().map_or(args.window, Duration::from_secs),
            _ => {} // cargo passes --bench
        }
    }
    args
}

/// What one server process cost.
struct Figures {
    connect: Duration,
    rss_before: u64,
    rss_after: u64,
    cpu_share: f64,
}

impl Figures {
    fn per_agent(&self, agents: usize) -> f64 {
        self.rss_after.saturating_sub(self.rss_before) as f64 / agents as f64
    }
}

fn main() -> Result<()> {
    if let Ok(data) = std::env::var(BARE_SERVER) {
        return bare_server(&data);
    }
    let args = parse_args();
    let n = args.agents;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    // The console, with the production heartbeat interval.
    let mut console = Console::init_with_heartbeat(15);
    console.start();
    let token = console.enroll_token(&["--uses", &n.to_string(), "--expires", "2h"]);
    let enrollment: EnrollmentString = token.parse()?;
    let started = Instant::now();
    let states = runtime.block_on(enroll_all(&enrollment, n))?;
    println!(
        "enrolled {n} agents in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let pid = console.pid().context("console running")?;
    let ours = measure(pid, args.window, || {
        runtime.block_on(run_devices(&states, |_| LinkHooks::default()))
    })?;
    console.stop();
    // A figure means nothing if agents were turned away: say so next to it.
    let log = console.log();
    for needle in ["handshake failed", "handshake timed out", "refused"] {
        let count = log.matches(needle).count();
        if count > 0 {
            println!("warning: the console log has {count} lines with \"{needle}\"");
        }
    }

    // The baseline: a bare QUIC server on the console's certificates.
    let address_file = console.root().join("bare.addr");
    let (mut bare, address) = spawn_baseline(BARE_SERVER, &console.data(), &[], &address_file)?;
    let theirs = measure(bare.id(), args.window, || {
        runtime.block_on(hold_bare(&states, address))
    })?;
    bare.kill().ok();
    bare.wait().ok();

    report(n, args.window, &ours, &theirs);
    Ok(())
}

/// Runs `connect` (which returns once every agent is connected, plus a guard that keeps them
/// so), then samples the server's memory and CPU.
fn measure<G>(pid: u32, window: Duration, connect: impl FnOnce() -> Result<G>) -> Result<Figures> {
    std::thread::sleep(Duration::from_secs(2));
    let rss_before = rss(pid)?;
    let started = Instant::now();
    let guard = connect()?;
    let connect = started.elapsed();

    // Let the first heartbeats and database writes settle before sampling.
    std::thread::sleep(Duration::from_secs(5));
    let rss_after = rss(pid)?;
    let cpu_start = cpu_ticks(pid)?;
    std::thread::sleep(window);
    let cpu_share = (cpu_ticks(pid)? - cpu_start) as f64 / 100.0 / window.as_secs_f64();
    drop(guard);
    Ok(Figures {
        connect,
        rss_before,
        rss_after,
        cpu_share,
    })
}

/// Opens one bare QUIC connection per state, with the same client certificate and timing.
async fn hold_bare(
    states: &[Arc<AgentState>],
    address: SocketAddr,
) -> Result<Vec<quinn::Connection>> {
    let endpoints = endpoints(states.len())?;
    let mut pending = tokio::task::JoinSet::new();
    for (i, state) in states.iter().enumerate() {
        let config = device_client(state, Timing::default())?;
        let endpoint = endpoints[i / DEVICES_PER_ENDPOINT].clone();
        pending.spawn(async move {
            endpoint
                .connect_with(config, address, CONSOLE_SERVER_NAME)?
                .await
                .map_err(anyhow::Error::from)
        });
    }
    let mut connections = Vec::with_capacity(states.len());
    while let Some(connection) = pending.join_next().await {
        connections.push(connection??);
    }
    Ok(connections)
}

/// The baseline server: the console's QUIC configuration, holding connections and nothing else.
fn bare_server(data: &str) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let data = std::path::Path::new(data);
        let address_file = data.parent().context("data parent")?.join("bare.addr");
        let endpoint = baseline_endpoint(data, &address_file)?;
        while let Some(incoming) = endpoint.accept().await {
            tokio::spawn(async move {
                if let Ok(connection) = incoming.await {
                    connection.closed().await;
                }
            });
        }
        Ok(())
    })
}

fn report(n: usize, window: Duration, ours: &Figures, bare: &Figures) {
    let kib = |bytes: f64| bytes / 1024.0;
    println!();
    println!("| {n} agents | Hotline console | bare QUIC server (baseline) | ratio |");
    println!("|---|---:|---:|---:|");
    println!(
        "| time to connect all | {:.2} s | {:.2} s | {:.2} |",
        ours.connect.as_secs_f64(),
        bare.connect.as_secs_f64(),
        ours.connect.as_secs_f64() / bare.connect.as_secs_f64()
    );
    println!(
        "| memory per connected agent | {:.1} KiB | {:.1} KiB | {:.2} |",
        kib(ours.per_agent(n)),
        kib(bare.per_agent(n)),
        ours.per_agent(n) / bare.per_agent(n).max(1.0)
    );
    println!(
        "| server RSS, idle → loaded | {:.1} → {:.1} MiB | {:.1} → {:.1} MiB | |",
        kib(kib(ours.rss_before as f64)),
        kib(kib(ours.rss_after as f64)),
        kib(kib(bare.rss_before as f64)),
        kib(kib(bare.rss_after as f64)),
    );
    println!(
        "| CPU over {} s (share of one core) | {:.2} % | {:.2} % | {:.2} |",
        window.as_secs(),
        ours.cpu_share * 100.0,
        bare.cpu_share * 100.0,
        ours.cpu_share / bare.cpu_share.max(1e-6)
    );
}
