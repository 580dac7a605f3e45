//! Finding moved content: a scroll or a pan shifts a region by whole pixels, and the viewer
//! can move what it already has with a copy update instead of receiving the pixels again.
//!
//! For each strip of tile columns (vertical moves) or tile rows (horizontal moves) with
//! enough changed tiles, every line of the strip is hashed in the old and the new frame. A
//! new line whose hash is found at exactly one place in the old strip votes for the shift
//! between the two; the shift with most votes wins if it has enough. Neighbouring strips
//! with the same shift form one region, and the longest run of lines that match exactly
//! under the shift becomes the copy. Lines that are blank (whose hash repeats) do not vote,
//! as they match under any shift.

use std::collections::HashMap;

use hotline_protocol::screen::Rect;

use super::tiles::{Grid, TILE};
use crate::screen::Frame;

/// A map keyed by our own line hashes: they are well mixed already, so the key is its own
/// hash (SipHash, the default, costs more than the rest of the search).
pub(crate) type HashKeyed<V> = HashMap<u64, V, std::hash::BuildHasherDefault<KeyIsHash>>;

/// The hasher of [`HashKeyed`]: takes the `u64` key as the hash.
#[derive(Debug, Default)]
pub(crate) struct KeyIsHash(u64);

impl std::hash::Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// A copy the viewer makes, in the protocol's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Move {
    pub(crate) rect: Rect,
    pub(crate) src_x: u16,
    pub(crate) src_y: u16,
}

/// Which way lines run: `Vertical` finds up/down moves by hashing rows of a tile column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Axis {
    Vertical,
    Horizontal,
}

/// Fewest changed tiles in a strip before it is searched.
const MIN_CHANGED_TILES: usize = 2;
/// Fewest votes a shift needs.
const MIN_VOTES: u32 = 8;
/// Fewest matching lines a copy must span to be worth its 14 bytes and the search.
const MIN_RUN: usize = 16;

/// One strip's lines hashed in both frames, and the shift it voted for.
struct Strip {
    /// The strip's offset and thickness across the lines (x and width for `Vertical`).
    across: (u16, u16),
    old: Vec<u64>,
    new: Vec<u64>,
    changed: std::ops::Range<usize>,
    shift: Option<i32>,
}

/// The moves between `old` (what the viewer has) and `new`, given which tiles changed.
pub(crate) fn find_moves(
    old: &Frame,
    new: &Frame,
    grid: &Grid,
    changed: &[bool],
    axis: Axis,
) -> Vec<Move> {
    let strips = strips(old, new, grid, changed, axis);
    let mut moves = Vec::new();
    let mut i = 0;
    while i < strips.len() {
        let Some(shift) = strips[i].shift else {
            i += 1;
            continue;
        };
        // Neighbouring strips (adjacent across the lines) with the same shift form one region.
        let mut j = i + 1;
        while j < strips.len()
            && strips[j].shift == Some(shift)
            && strips[j].across.0 == strips[j - 1].across.0 + strips[j - 1].across.1
        {
            j += 1;
        }
        if let Some(found) = longest_run(&strips[i..j], shift, axis) {
            moves.push(found);
        }
        i = j;
    }
    moves
}

fn strips(old: &Frame, new: &Frame, grid: &Grid, changed: &[bool], axis: Axis) -> Vec<Strip> {
    let (count, length) = match axis {
        Axis::Vertical => (grid.cols, grid.height),
        Axis::Horizontal => (grid.rows, grid.width),
    };
    let tile_at = |strip: usize, along: usize| match axis {
        Axis::Vertical => along * grid.cols + strip,
        Axis::Horizontal => strip * grid.cols + along,
    };
    let tiles_along = match axis {
        Axis::Vertical => grid.rows,
        Axis::Horizontal => grid.cols,
    };
    let mut strips = Vec::new();
    for strip in 0..count {
        let changed_tiles: Vec<usize> = (0..tiles_along)
            .filter(|&t| changed[tile_at(strip, t)])
            .collect();
        if changed_tiles.len() < MIN_CHANGED_TILES {
            continue;
        }
        let start = strip as u16 * TILE;
        let thickness = TILE.min(
            match axis {
                Axis::Vertical => grid.width,
                Axis::Horizontal => grid.height,
            } - start,
        );
        let first = changed_tiles[0] * usize::from(TILE);
        let last = ((changed_tiles[changed_tiles.len() - 1] + 1) * usize::from(TILE))
            .min(usize::from(length));
        let mut strip = Strip {
            across: (start, thickness),
            old: hash_lines(old, axis, start, thickness, length),
            new: hash_lines(new, axis, start, thickness, length),
            changed: first..last,
            shift: None,
        };
        strip.shift = vote(&strip);
        strips.push(strip);
    }
    strips
}

/// Hashes each line of a strip across the whole frame.
fn hash_lines(frame: &Frame, axis: Axis, start: u16, thickness: u16, length: u16) -> Vec<u64> {
    match axis {
        Axis::Vertical => (0..length)
            .map(|y| hash(frame.row(start, y, thickness)))
            .collect(),
        Axis::Horizontal => {
            // Column hashes, built a row at a time so the frame is read in memory order.
            let mut hashes = vec![0xcbf2_9ce4_8422_2325u64; usize::from(length)];
            for y in start..start + thickness {
                let row = frame.row(0, y, length);
                for (h, pixel) in hashes.iter_mut().zip(row.chunks_exact(4)) {
                    let value = u32::from_le_bytes([pixel[0], pixel[1], pixel[2], pixel[3]]);
                    *h = (*h ^ u64::from(value))
                        .wrapping_mul(0x0100_0000_01b3)
                        .rotate_left(5);
                }
            }
            hashes
        }
    }
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let value = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        h = (h ^ value).wrapping_mul(0x0100_0000_01b3).rotate_left(23);
    }
    for &byte in words.remainder() {
        h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The shift most changed lines of the strip agree on, if enough do.
fn vote(strip: &Strip) -> Option<i32> {
    // Where each old line hash occurs, or `None` when it occurs more than once.
    let mut places: HashKeyed<Option<usize>> = HashKeyed::default();
    places.reserve(strip.old.len());
    for (at, &h) in strip.old.iter().enumerate() {
        places
            .entry(h)
            .and_modify(|place| *place = None)
            .or_insert(Some(at));
    }
    let mut votes: HashMap<i32, u32> = HashMap::new();
    for at in strip.changed.clone() {
        let h = strip.new[at];
        if h == strip.old[at] {
            continue;
        }
        if let Some(Some(from)) = places.get(&h) {
            *votes.entry(at as i32 - *from as i32).or_default() += 1;
        }
    }
    votes
        .into_iter()
        .filter(|&(_, count)| count >= MIN_VOTES)
        .max_by_key(|&(shift, count)| (count, -shift.abs()))
        .map(|(shift, _)| shift)
}

/// The longest run of lines, within the strips' changed span, where every strip's new line
/// equals its old line `shift` lines back; as a move.
fn longest_run(strips: &[Strip], shift: i32, axis: Axis) -> Option<Move> {
    let lines = strips[0].new.len() as i32;
    let start = strips.iter().map(|s| s.changed.start).min()? as i32;
    let end = strips.iter().map(|s| s.changed.end).max()? as i32;
    let matches = |at: i32| {
        let from = at - shift;
        (0..lines).contains(&from)
            && strips
                .iter()
                .all(|s| s.new[at as usize] == s.old[from as usize])
    };

    let (mut best, mut run_start) = ((0, 0), None);
    for at in start..=end {
        if at < end && matches(at) {
            run_start.get_or_insert(at);
            continue;
        }
        if let Some(from) = run_start.take()
            && at - from > best.1 - best.0
        {
            best = (from, at);
        }
    }
    if ((best.1 - best.0) as usize) < MIN_RUN {
        return None;
    }

    let across = strips[0].across.0;
    let thickness = strips.iter().map(|s| s.across.1).sum::<u16>();
    let (along, length) = (best.0 as u16, (best.1 - best.0) as u16);
    let source = (best.0 - shift) as u16;
    Some(match axis {
        Axis::Vertical => Move {
            rect: Rect {
                x: across,
                y: along,
                w: thickness,
                h: length,
            },
            src_x: across,
            src_y: source,
        },
        Axis::Horizontal => Move {
            rect: Rect {
                x: along,
                y: across,
                w: length,
                h: thickness,
            },
            src_x: source,
            src_y: across,
        },
    })
}
