//! Screen encoding over the real frame corpus (`../shared/screens` from the workspace root,
//! or `HOTLINE_SCREENS`), side by side with ffmpeg's libx264 on the same frames in the same
//! run. For each workload: the first frame's bytes, the steady-state bytes per frame after
//! it and the kbit/s they make at the corpus' 10 frames per second, encode milliseconds per
//! frame on one core, and whether every frame decodes pixel-exact (checked with the
//! reference decoder against the manifest's `rgb_sha256`). Prints a markdown table.
//!
//! `cargo bench -p hotline-agent --bench screen [-- WORKLOAD...]`

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a bench binary reports on standard output, progress on standard error"
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hotline_agent::screen::Frame;
use hotline_agent::screen::encode::{Encoder, Mode};
use hotline_protocol::screen::{Canvas, parse_frame};
use sha2::{Digest, Sha256};

const WORKLOADS: [&str; 5] = ["idle", "typing", "scroll", "drag", "video"];
const FPS: f64 = 10.0;

struct Workload {
    name: String,
    frames: Vec<Frame>,
    hashes: Vec<String>,
}

/// Bytes per frame and time of one encoder over one workload.
struct Run {
    sizes: Vec<usize>,
    elapsed: Duration,
    /// Each frame's encode time (ours only; ffmpeg is timed as a whole).
    times: Vec<Duration>,
    exact_frames: Option<usize>,
}

impl Run {
    fn first(&self) -> usize {
        self.sizes[0]
    }

    fn steady(&self) -> f64 {
        let rest = &self.sizes[1..];
        rest.iter().sum::<usize>() as f64 / rest.len().max(1) as f64
    }

    fn ms_per_frame(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1000.0 / self.sizes.len() as f64
    }

    /// Mean encode time of the frames after the first.
    fn steady_ms(&self) -> f64 {
        let rest = self.times.get(1..).unwrap_or_default();
        rest.iter().sum::<Duration>().as_secs_f64() * 1000.0 / rest.len().max(1) as f64
    }
}

fn main() -> Result<()> {
    let corpus = std::env::var_os("HOTLINE_SCREENS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/screens"));
    let chosen: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let names: Vec<&str> = WORKLOADS
        .iter()
        .copied()
        .filter(|name| chosen.is_empty() || chosen.iter().any(|c| c == name))
        .collect();

    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut rows = Vec::new();
    for name in names {
        let workload = load(&corpus, name)?;
        eprintln!("{name}: {} frames", workload.frames.len());
        let ours = run_ours(&workload, Mode::Auto)?;
        let lossless = run_ours(&workload, Mode::Lossless)?;
        let x264 = run_x264(&workload)?;
        rows.push((workload.name, ours, lossless, x264));
    }

    println!(
        "| workload | first frame, B (× x264) | steady, B/frame (× x264) | kbit/s at 10 fps (x264) | lossless-only steady, B/frame | encode ms/frame (× x264) | steady encode ms/frame | pixel-exact |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    for (name, ours, lossless, x264) in rows {
        let exact = match ours.exact_frames {
            Some(n) if n == ours.sizes.len() => "yes".to_owned(),
            Some(n) => format!("no ({n} of {} frames)", ours.sizes.len()),
            None => "not checked".to_owned(),
        };
        println!(
            "| {name} | {} ({}) | {:.0} ({}) | {:.1} ({:.1}) | {:.0} | {:.2} ({}) | {:.2} | {exact} |",
            ours.first(),
            ratio(ours.first() as f64, x264.first() as f64),
            ours.steady(),
            ratio(ours.steady(), x264.steady()),
            ours.steady() * 8.0 * FPS / 1000.0,
            x264.steady() * 8.0 * FPS / 1000.0,
            lossless.steady(),
            ours.ms_per_frame(),
            ratio(ours.ms_per_frame(), x264.ms_per_frame()),
            ours.steady_ms(),
        );
    }
    // Timings on a shared machine mean little without the load they ran under.
    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let first_field = |text: &str| text.split_whitespace().next().unwrap_or("?").to_owned();
    println!();
    println!(
        "Load average (1 min) at start {}, at end {}.",
        first_field(&load_before),
        first_field(&load_after)
    );
    Ok(())
}

fn ratio(ours: f64, theirs: f64) -> String {
    if theirs == 0.0 {
        return "-".to_owned();
    }
    format!("{:.2}×", ours / theirs)
}

fn load(corpus: &Path, name: &str) -> Result<Workload> {
    let dir = corpus.join(name);
    let manifest_path = dir.join("manifest.json");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&manifest_path)
            .with_context(|| format!("reading {}", manifest_path.display()))?,
    )
    .with_context(|| format!("parsing {}", manifest_path.display()))?;
    let entries = manifest["frames"]
        .as_array()
        .context("manifest without frames")?;
    let mut frames = Vec::new();
    let mut hashes = Vec::new();
    for entry in entries {
        let file = dir.join(entry["file"].as_str().context("frame without file")?);
        frames.push(read_png(&file)?);
        hashes.push(
            entry["rgb_sha256"]
                .as_str()
                .context("frame without rgb_sha256")?
                .to_owned(),
        );
    }
    Ok(Workload {
        name: name.to_owned(),
        frames,
        hashes,
    })
}

fn read_png(path: &Path) -> Result<Frame> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .with_context(|| format!("reading {}", path.display()))?;
    let mut rgb = vec![0; reader.output_buffer_size().context("PNG too large")?];
    let info = reader
        .next_frame(&mut rgb)
        .with_context(|| format!("decoding {}", path.display()))?;
    if info.color_type != png::ColorType::Rgb || info.bit_depth != png::BitDepth::Eight {
        bail!("{} is not 8-bit RGB", path.display());
    }
    Ok(Frame::from_rgb(
        info.width,
        info.height,
        &rgb[..info.buffer_size()],
    )?)
}

fn run_ours(workload: &Workload, mode: Mode) -> Result<Run> {
    let mut encoder = Encoder::new(mode);
    let mut encoded = Vec::new();
    let mut times = Vec::new();
    let start = Instant::now();
    for frame in &workload.frames {
        let began = Instant::now();
        let result = encoder.encode(frame);
        times.push(began.elapsed());
        if std::env::var_os("HOTLINE_BENCH_DEBUG").is_some()
            && let Some((bytes, stats)) = &result
        {
            eprintln!("{mode:?} {} B {stats:?}", bytes.len());
        }
        encoded.push(result.map(|(bytes, _)| bytes));
    }
    let elapsed = start.elapsed();

    // Decode everything the viewer would get, and compare each frame with the original.
    let mut canvas = Canvas::new();
    let mut exact = 0;
    for (bytes, hash) in encoded.iter().zip(&workload.hashes) {
        if let Some(bytes) = bytes {
            canvas.apply(&parse_frame(bytes)?)?;
        }
        exact += usize::from(hex(&Sha256::digest(canvas.rgb())) == *hash);
    }
    Ok(Run {
        sizes: encoded
            .iter()
            .map(|b| b.as_ref().map_or(0, Vec::len))
            .collect(),
        elapsed,
        times,
        exact_frames: Some(exact),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// libx264 as `measure-baselines.py` runs it: ultrafast, zerolatency, CRF 23, one thread,
/// from raw BGRA in tmpfs; the time is the whole ffmpeg process, including the conversion
/// to YUV.
fn run_x264(workload: &Workload) -> Result<Run> {
    let dir = tempfile::Builder::new()
        .prefix("hotline-screen-bench")
        .tempdir_in(if Path::new("/dev/shm").is_dir() {
            "/dev/shm"
        } else {
            "/tmp"
        })
        .context("making a scratch directory")?;
    let raw = dir.path().join("frames.bgra");
    let mut bytes = Vec::new();
    for frame in &workload.frames {
        bytes.extend_from_slice(frame.bgra());
    }
    std::fs::write(&raw, bytes).context("writing raw frames")?;
    let (width, height) = (workload.frames[0].width(), workload.frames[0].height());
    let out = dir.path().join("x264.mkv");

    let start = Instant::now();
    let status = Command::new("ffmpeg")
        .args([
            "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "bgra", "-s",
        ])
        .arg(format!("{width}x{height}"))
        .args(["-framerate", "10", "-filter_threads", "1", "-i"])
        .arg(&raw)
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-crf",
            "23",
        ])
        .args(["-pix_fmt", "yuv420p", "-g", "1000", "-threads", "1"])
        .arg(&out)
        .status()
        .context("running ffmpeg (scripts/test.sh installs it)")?;
    let elapsed = start.elapsed();
    if !status.success() {
        bail!("ffmpeg failed: {status}");
    }

    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=size",
            "-of",
            "csv=p=0",
        ])
        .arg(&out)
        .output()
        .context("running ffprobe")?;
    let sizes: Vec<usize> = String::from_utf8_lossy(&probe.stdout)
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .context("reading ffprobe's packet sizes")?;
    if sizes.len() != workload.frames.len() {
        bail!(
            "x264 wrote {} packets for {} frames",
            sizes.len(),
            workload.frames.len()
        );
    }
    Ok(Run {
        sizes,
        elapsed,
        times: Vec::new(),
        exact_frames: None,
    })
}
