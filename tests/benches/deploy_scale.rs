//! One package to many devices: a package built and signed with `hotline-pkg`, published to a
//! real console process, and deployed with `deploy create --all` to N simulated devices, each
//! a real QUIC connection with its own certificate. A simulated device takes the offer,
//! fetches every chunk and reports it installed; one in twenty also checks each chunk's
//! SHA-256 and the whole package's against the signed assignment (all of them would spend
//! the two cores the console is measured on). It installs nothing, so the figures are the
//! console's: the time until every device has reported, and the console's CPU and memory.
//!
//! The baseline, measured in the same run, is one QUIC connection on loopback with the
//! console's TLS configuration carrying the same bytes on one stream between two processes
//! that do nothing else: what the link itself can move.
//!
//! Run: `cargo bench -p hotline-tests --bench deploy_scale -- [--agents 200] [--mib 100]`.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark reports on standard output"
)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use hotline_agent::link::{DeployStream, LinkHooks};
use hotline_agent::state::AgentState;
use hotline_agent::tls::{CONSOLE_SERVER_NAME, Timing, device_client};
use hotline_protocol::codec::{Wire, encode_frame};
use hotline_protocol::deploy::{DEPLOY_FRAME_LIMIT, DeployDown, DeployUp, Outcome};
use hotline_tests::console::Console;
use hotline_tests::sim::{
    Devices, baseline_endpoint, cpu_ticks, enroll_all, peak_rss, rss, run_devices, spawn_baseline,
};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

/// Environment variable that turns this binary into the baseline's sending server.
const BASELINE: &str = "HOTLINE_BENCH_DEPLOY_BASELINE";
/// How many bytes the baseline server sends, set by the parent.
const BASELINE_BYTES: &str = "HOTLINE_BENCH_DEPLOY_BYTES";
/// One simulated device in this many checks every digest. All of them on the console's two
/// cores would take the CPU the console is measured on: real devices hash on their own.
const CHECKED_EVERY: usize = 20;
/// The baseline server's writes, as large as the console's chunks.
const WRITE: usize = 1024 * 1024;

struct Args {
    agents: usize,
    mib: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        agents: 200,
        mib: 100,
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        let mut value = || words.next().and_then(|v| v.parse::<usize>().ok());
        match word.as_str() {
            "--agents" => args.agents = value().unwrap_or(args.agents),
            "--mib" => args.mib = value().unwrap_or(args.mib),
            _ => {} // cargo passes --bench
        }
    }
    args
}

fn main() -> Result<()> {
    if let Ok(data) = std::env::var(BASELINE) {
        return baseline_server(Path::new(&data));
    }
    // The simulated devices' links log what goes wrong (RUST_LOG to see more).
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args = parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    // The publisher's side: keys, root, package, signed metadata.
    let publisher = tempfile::tempdir()?;
    let started = Instant::now();
    let (repo, length) = publish(publisher.path(), args.mib)?;
    println!(
        "built and signed a {:.1} MiB package in {:.1} s",
        length as f64 / MIB,
        started.elapsed().as_secs_f64()
    );

    // The console, with the repository published and N devices online.
    // The production heartbeat interval: the simulated devices share two cores with the
    // console, and a test interval would have them give up on it under that load.
    let mut console = Console::init_with_heartbeat(15);
    console.start();
    console.cli_ok(&["package", "publish", "--repo", &repo]);
    let token = console.enroll_token(&["--uses", &args.agents.to_string(), "--expires", "2h"]);
    let states = runtime.block_on(enroll_all(&token.parse()?, args.agents))?;
    let counts = Arc::new(Counts::default());
    let devices = runtime.block_on(connect_devices(&states, &counts))?;
    let ticket = open_ticket(&console);

    // The rollout, measured from `deploy create` until every device has reported.
    let pid = console.pid().context("console running")?;
    let rss_before = rss(pid)?;
    let cpu_before = cpu_ticks(pid)?;
    let started = Instant::now();
    let out = console.cli_ok(&[
        "deploy",
        "create",
        "--ticket",
        &ticket,
        "--package",
        "bench-payload@1.0.0",
        "--all",
    ]);
    let id = out
        .split_whitespace()
        .nth(1)
        .context("deployment id")?
        .to_owned();
    wait_finished(&console, &id, &counts, args.agents)?;
    let ours = Figures {
        time: started.elapsed(),
        cpu_secs: (cpu_ticks(pid)? - cpu_before) as f64 / 100.0,
        rss_before,
        rss_peak: peak_rss(pid)?,
    };
    drop(devices);
    let installed = counts.installed.load(Ordering::Relaxed);
    ensure!(
        installed == args.agents as u64,
        "{installed} of {} devices took the whole package",
        args.agents
    );
    let max_transfers = max_transfers();
    console.stop();

    // The baseline: the same bytes once over one bare connection.
    let address_file = console.root().join("baseline.addr");
    let bytes = length.to_string();
    let env = [(BASELINE_BYTES, bytes.as_str())];
    let (mut child, address) = spawn_baseline(BASELINE, &console.data(), &env, &address_file)?;
    let one = runtime.block_on(receive_baseline(&states[0], address, length))?;
    child.kill().ok();
    child.wait().ok();

    report(&args, length, max_transfers, &ours, one);
    Ok(())
}

const MIB: f64 = 1024.0 * 1024.0;

/// What the console cost over the rollout.
struct Figures {
    time: Duration,
    cpu_secs: f64,
    rss_before: u64,
    rss_peak: u64,
}

/// What the simulated devices saw.
#[derive(Debug, Default)]
struct Counts {
    installed: AtomicU64,
    bytes: AtomicU64,
}

/// Makes a publisher's keys and root, a package whose payload is `mib` MiB that zstd cannot
/// shrink, and a repository that signs it; returns the repository and the package's length.
fn publish(dir: &Path, mib: usize) -> Result<(String, u64)> {
    let pkg = hotline_tests::bin_dir().join("hotline-pkg");
    let run = |args: &[&str]| -> Result<()> {
        let output = std::process::Command::new(&pkg).args(args).output()?;
        if !output.status.success() {
            bail!(
                "hotline-pkg {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    };
    let path = |name: &str| dir.join(name).display().to_string();

    std::fs::create_dir_all(dir.join("keys"))?;
    for role in ["root", "targets", "snapshot", "timestamp"] {
        run(&["keygen", "--out", &path(&format!("keys/{role}.key"))])?;
    }
    let source = dir.join("source");
    std::fs::create_dir_all(source.join("payload"))?;
    std::fs::write(source.join("package.toml"), MANIFEST)?;
    std::fs::write(source.join("payload/payload.bin"), noise(mib << 20))?;
    let package = path("bench-payload-1.0.0.hpkg");
    run(&["build", &path("source"), "--out", &package])?;
    run(&[
        "root",
        "--out",
        &path("root.json"),
        "--root-key",
        &path("keys/root.key.pub"),
        "--targets-key",
        &path("keys/targets.key.pub"),
        "--snapshot-key",
        &path("keys/snapshot.key.pub"),
        "--timestamp-key",
        &path("keys/timestamp.key.pub"),
        "--sign",
        &path("keys/root.key"),
    ])?;
    run(&[
        "init",
        "--repo",
        &path("repo"),
        "--root",
        &path("root.json"),
    ])?;
    run(&[
        "publish",
        "--repo",
        &path("repo"),
        "--targets-key",
        &path("keys/targets.key"),
        "--snapshot-key",
        &path("keys/snapshot.key"),
        "--timestamp-key",
        &path("keys/timestamp.key"),
        &package,
    ])?;
    Ok((path("repo"), std::fs::metadata(&package)?.len()))
}

const MANIFEST: &str = r#"name = "bench-payload"
version = "1.0.0"
description = "A large payload for the deployment benchmark"

[requirements]
os = "any"
arch = "any"
free_space_bytes = 0

[[install]]
run = ["true"]
timeout_secs = 60

[detection]
all = [{ file = { path = "payload.bin" } }]
"#;

/// Bytes zstd cannot shrink, so the package keeps the size asked for on the wire.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// An open ticket for the rollout; `--all` needs no device named on it.
fn open_ticket(console: &Console) -> String {
    let out = console.cli_ok(&[
        "ticket",
        "open",
        "--title",
        "Roll out the benchmark payload",
        "--caller-name",
        "Change board",
        "--caller-contact",
        "cab@example.org",
    ]);
    out.trim().rsplit(' ').next().unwrap_or_default().to_owned()
}

/// The console's `max_transfers`: the bench runs with the default configuration.
fn max_transfers() -> u32 {
    hotline_console::deploy::DeployConfig::default().max_transfers
}

/// Runs the simulated devices, each playing the device on every deployment stream, and
/// returns once all are online.
async fn connect_devices(states: &[Arc<AgentState>], counts: &Arc<Counts>) -> Result<Devices> {
    let mut devices = 0usize;
    run_devices(states, |tasks| {
        let (streams, mut opened) = mpsc::unbounded_channel::<DeployStream>();
        let counts = counts.clone();
        let check = devices.is_multiple_of(CHECKED_EVERY);
        devices += 1;
        tasks.spawn(async move {
            while let Some(stream) = opened.recv().await {
                let counts = counts.clone();
                tokio::spawn(async move {
                    if let Err(error) = play_device(stream, check, &counts).await {
                        println!("warning: a simulated device failed: {error:#}");
                    }
                });
            }
        });
        LinkHooks {
            deploy_streams: Some(streams),
            ..LinkHooks::default()
        }
    })
    .await
}

/// One device's side of a deployment stream: the offer, a fetch from the first chunk, every
/// chunk taken in order and, when `check`, checked against its digest and the whole against
/// the assignment, and an "installed" report.
async fn play_device(
    (mut send, mut recv): DeployStream,
    check: bool,
    counts: &Counts,
) -> Result<()> {
    let DeployDown::Offer(offer) = DeployDown::decode_payload(&read_frame(&mut recv).await?)?
    else {
        bail!("the stream did not open with an offer");
    };
    send.write_all(&encode_frame(&DeployUp::Fetch { from: 0 })?)
        .await?;
    let mut whole = Sha256::new();
    for expected in 0..offer.chunk_count() {
        let DeployDown::Chunk {
            index,
            sha256,
            data,
        } = DeployDown::decode_payload(&read_frame(&mut recv).await?)?
        else {
            bail!("a second offer in one stream");
        };
        ensure!(
            index == expected,
            "chunk {index} came where {expected} was due"
        );
        if check {
            ensure!(
                <[u8; 32]>::from(Sha256::digest(&data)) == sha256,
                "chunk {index} does not match its digest"
            );
            whole.update(&data);
        }
        counts.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
    }
    ensure!(
        !check || <[u8; 32]>::from(whole.finalize()) == offer.assignment.sha256,
        "the package does not match the assignment"
    );
    send.write_all(&encode_frame(&DeployUp::report(Outcome::Installed, ""))?)
        .await?;
    send.finish()?;
    counts.installed.fetch_add(1, Ordering::Relaxed);
    // Let the report reach the console before the stream is dropped.
    send.stopped().await.ok();
    Ok(())
}

/// One length-prefixed frame of a deployment stream.
async fn read_frame(recv: &mut quinn::RecvStream) -> Result<Vec<u8>> {
    let mut length = [0u8; 4];
    recv.read_exact(&mut length).await?;
    let length = u32::from_be_bytes(length) as usize;
    ensure!(length <= DEPLOY_FRAME_LIMIT, "a frame of {length} bytes");
    let mut payload = vec![0u8; length];
    recv.read_exact(&mut payload).await?;
    Ok(payload)
}

/// Polls `deploy status` until the deployment is finished and every device has reported.
fn wait_finished(console: &Console, id: &str, counts: &Counts, agents: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(3600);
    let mut last_line = Instant::now();
    loop {
        let status: serde_json::Value =
            serde_json::from_str(&console.cli_ok(&["deploy", "status", id, "--json"]))?;
        let state = status["status"].as_str().unwrap_or_default();
        if state == "finished" {
            return Ok(());
        }
        ensure!(
            state == "active" || state == "scheduled",
            "the deployment is {state}: {}",
            status["reason"]
        );
        ensure!(Instant::now() < deadline, "the rollout took over an hour");
        if last_line.elapsed() >= Duration::from_secs(10) {
            let done = counts.installed.load(Ordering::Relaxed);
            let moved = counts.bytes.load(Ordering::Relaxed) as f64 / MIB;
            println!("  {done} of {agents} devices installed, {moved:.0} MiB moved");
            last_line = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The baseline server: the console's QUIC configuration, sending `HOTLINE_BENCH_DEPLOY_BYTES`
/// on one stream to each connection and nothing else.
fn baseline_server(data: &Path) -> Result<()> {
    let bytes: u64 = std::env::var(BASELINE_BYTES)?.parse()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let address_file = data.parent().context("data parent")?.join("baseline.addr");
        let endpoint = baseline_endpoint(data, &address_file)?;
        let payload = noise(WRITE);
        while let Some(incoming) = endpoint.accept().await {
            let payload = payload.clone();
            tokio::spawn(async move {
                let Ok(connection) = incoming.await else {
                    return;
                };
                // A bidirectional stream, as deployment streams are: devices take no
                // unidirectional streams from the console.
                let Ok((mut send, _recv)) = connection.open_bi().await else {
                    return;
                };
                let mut left = bytes;
                while left > 0 {
                    let n = left.min(WRITE as u64) as usize;
                    if send.write_all(&payload[..n]).await.is_err() {
                        return;
                    }
                    left -= n as u64;
                }
                send.finish().ok();
                connection.closed().await;
            });
        }
        Ok(())
    })
}

/// Receives `length` bytes on one bare connection and returns how long they took.
async fn receive_baseline(
    state: &AgentState,
    address: std::net::SocketAddr,
    length: u64,
) -> Result<Duration> {
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
    let config = device_client(state, Timing::default())?;
    let connection = endpoint
        .connect_with(config, address, CONSOLE_SERVER_NAME)?
        .await?;
    let started = Instant::now();
    let (_send, mut recv) = connection.accept_bi().await?;
    let mut buffer = vec![0u8; WRITE];
    let mut got = 0u64;
    while got < length {
        let n = recv
            .read(&mut buffer)
            .await?
            .context("the stream ended early")?;
        got += n as u64;
    }
    let took = started.elapsed();
    connection.close(0u32.into(), b"done");
    Ok(took)
}

fn report(args: &Args, length: u64, max_transfers: u32, ours: &Figures, one: Duration) {
    let n = args.agents as f64;
    let total = length as f64 * n;
    let ours_rate = total / MIB / ours.time.as_secs_f64();
    let one_rate = length as f64 / MIB / one.as_secs_f64();
    let cpu_per_gib = ours.cpu_secs / (total / MIB / 1024.0);
    println!();
    println!(
        "| {} MiB package to {} devices ({} transfers at once) | figure |",
        args.mib, args.agents, max_transfers
    );
    println!("|---|---:|");
    println!(
        "| time until every device reported | {:.1} s |",
        ours.time.as_secs_f64()
    );
    println!("| bytes delivered | {:.0} MiB |", total / MIB);
    println!("| console throughput, all devices | {ours_rate:.0} MiB/s |");
    println!("| one bare QUIC connection (baseline) | {one_rate:.0} MiB/s |");
    println!(
        "| ratio, console over one connection | {:.2} |",
        ours_rate / one_rate
    );
    println!(
        "| console CPU | {:.1} s ({:.2} s per GiB, {:.0} % of one core) |",
        ours.cpu_secs,
        cpu_per_gib,
        ours.cpu_secs / ours.time.as_secs_f64() * 100.0
    );
    println!(
        "| console RSS before → peak | {:.1} → {:.1} MiB |",
        ours.rss_before as f64 / MIB,
        ours.rss_peak as f64 / MIB
    );
}
