use std::path::{Path, PathBuf};

use hotline_protocol::screen::{Canvas, Update, parse_frame};
use sha2::{Digest, Sha256};

use super::*;

/// A frame with text-like content: a flat background with sharp-edged ink scattered by a
/// hash of the position and `seed`, so no two rows or columns are alike.
fn ui_frame(width: u16, height: u16, seed: u32) -> Frame {
    let mut rgb = Vec::with_capacity(usize::from(width) * usize::from(height) * 3);
    for y in 0..u32::from(height) {
        for x in 0..u32::from(width) {
            let mut h = u64::from(x) | u64::from(y) << 20 | u64::from(seed) << 40;
            h = (h ^ h >> 31).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            h = (h ^ h >> 29).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            let ink = (h ^ h >> 32) % 5 == 0;
            rgb.extend_from_slice(if ink { &[20, 30, 40] } else { &[240, 240, 235] });
        }
    }
    Frame::from_rgb(u32::from(width), u32::from(height), &rgb).unwrap()
}

fn decode(canvas: &mut Canvas, bytes: &[u8]) {
    canvas.apply(&parse_frame(bytes).unwrap()).unwrap();
}

#[test]
fn an_unchanged_screen_produces_no_frame() {
    let frame = ui_frame(320, 200, 1);
    let mut encoder = Encoder::new(Mode::Auto);
    assert!(encoder.encode(&frame).is_some());
    assert!(encoder.encode(&frame).is_none());
    assert!(encoder.encode(&frame.clone()).is_none());
}

#[test]
fn odd_sizes_round_trip_pixel_exact() {
    for (width, height) in [(1366, 768), (1001, 333), (17, 5), (1, 1)] {
        let mut encoder = Encoder::new(Mode::Lossless);
        let mut canvas = Canvas::new();
        for seed in [1, 2, 2, 3] {
            let frame = ui_frame(width, height, seed);
            if let Some((bytes, _)) = encoder.encode(&frame) {
                decode(&mut canvas, &bytes);
            }
            assert_eq!(
                canvas.rgb(),
                frame.to_rgb(),
                "{width}x{height}, seed {seed}"
            );
        }
    }
}

#[test]
fn a_size_change_starts_a_key_frame() {
    let mut encoder = Encoder::new(Mode::Lossless);
    let mut canvas = Canvas::new();
    for (width, height) in [(640, 480), (800, 600), (640, 480)] {
        let frame = ui_frame(width, height, 4);
        let (bytes, _) = encoder.encode(&frame).unwrap();
        assert!(parse_frame(&bytes).unwrap().key);
        decode(&mut canvas, &bytes);
        assert_eq!(canvas.rgb(), frame.to_rgb());
    }
}

/// Shifts the rows from `top` down by `dy` (content moves up, as when scrolling down) and
/// paints the exposed strip with new content.
fn scrolled(frame: &Frame, top: u16, dy: u16, seed: u32) -> Frame {
    let fresh = ui_frame(frame.width(), frame.height(), seed);
    let mut out = frame.clone();
    for y in top..frame.height() {
        let source = y + dy;
        let row = if source < frame.height() {
            frame.row(0, source, frame.width()).to_vec()
        } else {
            fresh.row(0, y, frame.width()).to_vec()
        };
        let span = out.span(0, y, frame.width());
        out.bgra[span].copy_from_slice(&row);
    }
    out
}

#[test]
fn a_vertical_scroll_is_sent_as_a_copy_and_the_exposed_strip() {
    let first = ui_frame(800, 600, 5);
    let second = scrolled(&first, 40, 31, 6);
    let mut encoder = Encoder::new(Mode::Lossless);
    let mut canvas = Canvas::new();
    let (key, _) = encoder.encode(&first).unwrap();
    decode(&mut canvas, &key);
    let (bytes, stats) = encoder.encode(&second).unwrap();
    decode(&mut canvas, &bytes);

    assert_eq!(canvas.rgb(), second.to_rgb());
    assert!(stats.copies >= 1, "{stats:?}");
    let frame = parse_frame(&bytes).unwrap();
    for update in &frame.updates {
        if let Update::Copy { rect, src_x, src_y } = update {
            assert_eq!((*src_x, *src_y), (rect.x, rect.y + 31), "{update:?}");
        }
    }
    assert!(
        bytes.len() * 4 < key.len(),
        "{} B after a {} B key frame",
        bytes.len(),
        key.len()
    );
}

#[test]
fn a_horizontal_pan_is_sent_as_a_copy() {
    let first = ui_frame(800, 600, 7);
    let mut second = first.clone();
    for y in 0..600 {
        let row = first.row(0, y, 800).to_vec();
        let span = second.span(45, y, 755);
        second.bgra[span].copy_from_slice(&row[..755 * 4]);
    }
    let mut encoder = Encoder::new(Mode::Lossless);
    let mut canvas = Canvas::new();
    decode(&mut canvas, &encoder.encode(&first).unwrap().0);
    let (bytes, stats) = encoder.encode(&second).unwrap();
    decode(&mut canvas, &bytes);
    assert_eq!(canvas.rgb(), second.to_rgb());
    assert!(stats.copies >= 1, "{stats:?}");
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/screens")
}

fn corpus_frame(workload: &str, index: usize) -> (Frame, String) {
    let dir = corpus().join(workload);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let entry = &manifest["frames"][index];
    let file = std::fs::File::open(dir.join(entry["file"].as_str().unwrap())).unwrap();
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut rgb).unwrap();
    let frame = Frame::from_rgb(info.width, info.height, &rgb[..info.buffer_size()]).unwrap();
    (frame, entry["rgb_sha256"].as_str().unwrap().to_owned())
}

/// Every workload of the corpus, a few consecutive frames each, decodes to exactly the
/// manifest's pixels in lossless mode.
#[test]
fn the_corpus_round_trips_pixel_exact_in_lossless_mode() {
    for workload in ["idle", "typing", "scroll", "drag", "video"] {
        let mut encoder = Encoder::new(Mode::Lossless);
        let mut canvas = Canvas::new();
        for index in 0..4 {
            let (frame, hash) = corpus_frame(workload, index);
            if let Some((bytes, _)) = encoder.encode(&frame) {
                decode(&mut canvas, &bytes);
            }
            let got: String = Sha256::digest(canvas.rgb())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(got, hash, "{workload} frame {index}");
        }
    }
}

/// In auto mode a photographic region that changes a lot goes lossy, and once it stays
/// still it is refined until the canvas is exact again.
#[test]
fn lossy_video_is_refined_to_exact_once_still() {
    let mut encoder = Encoder::new(Mode::Auto);
    let mut canvas = Canvas::new();
    let mut jpeg = 0;
    for index in 0..3 {
        let (frame, _) = corpus_frame("video", index);
        let (bytes, stats) = encoder.encode(&frame).unwrap();
        jpeg += stats.jpeg_rects;
        decode(&mut canvas, &bytes);
    }
    assert!(jpeg > 0, "the video never went lossy");
    let (last, hash) = corpus_frame("video", 2);
    assert_ne!(canvas.rgb(), last.to_rgb());
    for _ in 0..REFINE_AFTER {
        if let Some((bytes, _)) = encoder.encode(&last) {
            decode(&mut canvas, &bytes);
        }
    }
    let got: String = Sha256::digest(canvas.rgb())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(got, hash);
    assert!(
        encoder.encode(&last).is_none(),
        "a refined, still screen sends nothing"
    );
}

#[test]
fn a_window_moved_diagonally_is_sent_as_copies() {
    // A 300x200 "window" of text-like content over a flat desktop, moved by (+37, +23).
    let desktop = |at: (u16, u16)| {
        let window = ui_frame(300, 200, 8);
        let mut frame = Frame::black(800, 600);
        for pixel in frame.bgra.chunks_exact_mut(4) {
            pixel.copy_from_slice(&[90, 60, 30, 255]);
        }
        for y in 0..200 {
            let span = frame.span(at.0, at.1 + y, 300);
            frame.bgra[span].copy_from_slice(window.row(0, y, 300));
        }
        frame
    };
    let (first, second) = (desktop((100, 80)), desktop((137, 103)));
    let mut encoder = Encoder::new(Mode::Lossless);
    let mut canvas = Canvas::new();
    decode(&mut canvas, &encoder.encode(&first).unwrap().0);
    let (bytes, stats) = encoder.encode(&second).unwrap();
    decode(&mut canvas, &bytes);

    assert_eq!(canvas.rgb(), second.to_rgb());
    assert!(stats.copies >= 1, "{stats:?}");
    // The window's pixels are not sent again: far less than the window itself.
    assert!(
        bytes.len() < 300 * 200 / 8,
        "{} B for a moved window",
        bytes.len()
    );
}
