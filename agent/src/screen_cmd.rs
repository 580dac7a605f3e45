//! `hotline-agent screen monitors|capture`: the capture backend from the command line, to
//! diagnose a device ("what does the agent see on this display, and if nothing, why").

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use hotline_agent::screen::Frame;
use hotline_agent::screen::capture::{self, Area};

use crate::output;

/// Prints the monitors of `display`.
pub(crate) fn monitors(display: Option<&str>) -> Result<()> {
    let mut source = capture::open(display).context("opening the display")?;
    let monitors = source.monitors().context("listing the monitors")?;
    output::monitors(&monitors)
}

/// What to capture and where to put it.
#[derive(Debug)]
pub(crate) struct CaptureArgs {
    pub(crate) display: Option<String>,
    pub(crate) monitor: Option<String>,
    pub(crate) out: PathBuf,
    pub(crate) frames: usize,
    pub(crate) interval: Duration,
}

/// Captures `frames` frames, `interval` apart, writing each over `out` as a PNG.
pub(crate) fn capture(args: &CaptureArgs) -> Result<()> {
    let mut source = capture::open(args.display.as_deref()).context("opening the display")?;
    let area = args.monitor.clone().map_or(Area::Screen, Area::Monitor);
    for index in 0..args.frames {
        if index > 0 {
            std::thread::sleep(args.interval);
        }
        let frame = source.capture(&area).context("capturing the screen")?;
        write_png(&frame, &args.out)?;
        output::captured(index, frame.width(), frame.height(), &args.out);
    }
    Ok(())
}

/// Writes `frame` as an RGB PNG, through a temporary file renamed over `path`, so a reader
/// never sees half a picture.
fn write_png(frame: &Frame, path: &Path) -> Result<()> {
    let partial = path.with_extension("png.partial");
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let mut encoder = png::Encoder::new(
        BufWriter::new(file),
        u32::from(frame.width()),
        u32::from(frame.height()),
    );
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder
        .write_header()
        .with_context(|| format!("writing {}", partial.display()))?;
    writer
        .write_image_data(&frame.to_rgb())
        .with_context(|| format!("writing {}", partial.display()))?;
    writer
        .finish()
        .with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("renaming {} to {}", partial.display(), path.display()))
}
