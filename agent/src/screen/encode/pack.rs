//! Turning changed tiles into the updates of a frame: runs of neighbouring tiles become one
//! rectangle, one-colour rectangles become fills, and the rest are packed losslessly (left
//! filter, one raw deflate stream per frame) or as JPEG.

use std::io::Write;

use flate2::Compression;
use flate2::write::DeflateEncoder;
use hotline_protocol::screen::{Filter, Rect, Update};
use jpeg_encoder::{ColorType, Encoder as JpegEncoder, SamplingFactor};

use super::tiles::{Grid, uniform_colour};
use crate::screen::Frame;

/// How a changed tile travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Lossless,
    Lossy,
}

/// Merges changed tiles into rectangles: runs along each tile row, then runs stacked on the
/// row above when they span the same columns and meet. `boxes[i]` is the changed box of tile
/// `i` (`None` when unchanged).
pub(crate) fn rectangles(
    grid: &Grid,
    boxes: &[Option<Rect>],
    classes: &[Class],
) -> Vec<(Rect, Class)> {
    // Runs along each tile row, as (first column, last column, box, class).
    let mut rows: Vec<Vec<(usize, usize, Rect, Class)>> = vec![Vec::new(); grid.rows];
    for (row, runs) in rows.iter_mut().enumerate() {
        for col in 0..grid.cols {
            let index = row * grid.cols + col;
            let Some(tile_box) = boxes[index] else {
                continue;
            };
            let class = classes[index];
            match runs.last_mut() {
                Some((_, last, run, run_class)) if *last + 1 == col && *run_class == class => {
                    *last = col;
                    *run = union(*run, tile_box);
                }
                _ => runs.push((col, col, tile_box, class)),
            }
        }
    }

    // Stack a run onto the one above when both cover the same tiles edge to edge.
    let mut done: Vec<(Rect, Class)> = Vec::new();
    let mut open: Vec<(usize, usize, Rect, Class)> = Vec::new();
    for (row, runs) in rows.into_iter().enumerate() {
        let row_top = grid.rect(row * grid.cols).y;
        let mut next_open = Vec::new();
        for run in runs {
            let above = open.iter().position(|o| {
                o.0 == run.0
                    && o.1 == run.1
                    && o.3 == run.3
                    && o.2.x == run.2.x
                    && o.2.w == run.2.w
                    && o.2.y + o.2.h == row_top
                    && run.2.y == row_top
            });
            match above {
                Some(at) => {
                    let mut merged = open.swap_remove(at);
                    merged.2 = union(merged.2, run.2);
                    next_open.push(merged);
                }
                None => next_open.push(run),
            }
        }
        done.extend(open.drain(..).map(|o| (o.2, o.3)));
        open = next_open;
    }
    done.extend(open.into_iter().map(|o| (o.2, o.3)));
    done
}

fn union(a: Rect, b: Rect) -> Rect {
    let (x0, y0) = (a.x.min(b.x), a.y.min(b.y));
    let (x1, y1) = ((a.x + a.w).max(b.x + b.w), (a.y + a.h).max(b.y + b.h));
    Rect {
        x: x0,
        y: y0,
        w: x1 - x0,
        h: y1 - y0,
    }
}

/// Builds the updates for `rects` of `frame` and the frame's pixel stream. `key` frames are
/// compressed harder: they are rare, large, and what a viewer waits for before it sees
/// anything.
pub(crate) fn pack(
    frame: &Frame,
    rects: &[(Rect, Class)],
    jpeg_quality: u8,
    key: bool,
) -> (Vec<Update>, Vec<u8>) {
    let mut updates = Vec::with_capacity(rects.len());
    let mut raw = Vec::new();
    for &(rect, class) in rects {
        if let Some(rgb) = uniform_colour(frame, rect) {
            updates.push(Update::Fill { rect, rgb });
            continue;
        }
        match class {
            Class::Lossy => match jpeg(frame, rect, jpeg_quality) {
                Some(data) => updates.push(Update::Jpeg { rect, data }),
                None => push_lossless(frame, rect, &mut updates, &mut raw),
            },
            Class::Lossless => push_lossless(frame, rect, &mut updates, &mut raw),
        }
    }
    let level = if key {
        Compression::default()
    } else {
        Compression::fast()
    };
    let pixels = if raw.is_empty() {
        Vec::new()
    } else {
        deflate(&raw, level)
    };
    (updates, pixels)
}

fn push_lossless(frame: &Frame, rect: Rect, updates: &mut Vec<Update>, raw: &mut Vec<u8>) {
    updates.push(Update::Lossless {
        rect,
        filter: Filter::Left,
    });
    raw.reserve(rect.area() as usize * 3);
    for y in rect.y..rect.y + rect.h {
        let mut left = [0u8; 3];
        for pixel in frame.row(rect.x, y, rect.w).chunks_exact(4) {
            let rgb = [pixel[2], pixel[1], pixel[0]];
            raw.extend_from_slice(&[
                rgb[0].wrapping_sub(left[0]),
                rgb[1].wrapping_sub(left[1]),
                rgb[2].wrapping_sub(left[2]),
            ]);
            left = rgb;
        }
    }
}

fn deflate(raw: &[u8], level: Compression) -> Vec<u8> {
    let mut encoder = DeflateEncoder::new(Vec::with_capacity(raw.len() / 4), level);
    // Writing to a Vec cannot fail.
    encoder.write_all(raw).ok();
    encoder.finish().unwrap_or_default()
}

/// The rectangle as a baseline JPEG with 4:2:0 chroma, or `None` if the encoder refuses it
/// (it then goes lossless).
fn jpeg(frame: &Frame, rect: Rect, quality: u8) -> Option<Vec<u8>> {
    let mut bgra = Vec::with_capacity(rect.area() as usize * 4);
    for y in rect.y..rect.y + rect.h {
        bgra.extend_from_slice(frame.row(rect.x, y, rect.w));
    }
    let mut out = Vec::new();
    let mut encoder = JpegEncoder::new(&mut out, quality);
    encoder.set_sampling_factor(SamplingFactor::R_4_2_0);
    // Per-image Huffman tables: about a tenth smaller, for one more pass over the blocks.
    encoder.set_optimized_huffman_tables(true);
    match encoder.encode(&bgra, rect.w, rect.h, ColorType::Bgra) {
        Ok(()) => Some(out),
        Err(error) => {
            tracing::debug!(%error, ?rect, "JPEG encoder refused a rectangle; sending it lossless");
            None
        }
    }
}
