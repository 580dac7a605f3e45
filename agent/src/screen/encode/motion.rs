//! Finding a region moved in both directions at once, such as a window dragged across the
//! screen. Short detailed row segments ("anchors") of the new frame are looked up in the old
//! frame with a rolling hash over every position of the changed area; anchors found at
//! exactly one place vote for the move between the two, and the move with most votes is
//! checked tile by tile: each changed tile that equals the old frame shifted by the move
//! becomes part of a copy.

use std::collections::HashMap;

use hotline_protocol::screen::Rect;

use super::copies::{HashKeyed, Move};
use super::tiles::Grid;
use crate::screen::Frame;

/// Pixels in an anchor.
const ANCHOR: usize = 32;
/// Most anchors taken from one frame.
const MAX_ANCHORS: usize = 96;
/// Fewest votes a move needs.
const MIN_VOTES: u32 = 3;
const BASE: u64 = 0x0100_0000_01b3;

/// The copies that explain changed tiles by one two-dimensional move, if one is found.
pub(crate) fn find_motion(old: &Frame, new: &Frame, grid: &Grid, changed: &[bool]) -> Vec<Move> {
    let tiles: Vec<usize> = (0..grid.len()).filter(|&i| changed[i]).collect();
    if tiles.len() < 4 {
        return Vec::new();
    }
    let Some((dx, dy)) = vote(old, new, grid, &tiles) else {
        return Vec::new();
    };

    // Blocks of the changed tiles that equal the old frame shifted by the move, in
    // reading order. Blocks smaller than tiles let the copy reach a moved window's edges.
    let mut moved: Vec<Rect> = tiles
        .iter()
        .flat_map(|&i| blocks(grid.rect(i)))
        .filter(|block| shifted_equal(old, new, *block, dx, dy))
        .collect();
    moved.sort_by_key(|block| (block.y, block.x));
    let mut moves = merge_rows(&moved, dx, dy);

    // Copies run in order on the viewer's canvas: take the ones whose targets lie ahead of
    // the move first, so no copy overwrites what a later one reads.
    moves.sort_by_key(|m| {
        let y = if dy > 0 {
            -i32::from(m.rect.y)
        } else {
            i32::from(m.rect.y)
        };
        let x = if dx > 0 {
            -i32::from(m.rect.x)
        } else {
            i32::from(m.rect.x)
        };
        (y, x)
    });
    moves
}

/// The move most anchors agree on.
fn vote(old: &Frame, new: &Frame, grid: &Grid, tiles: &[usize]) -> Option<(i32, i32)> {
    // Anchors: the middle row of changed tiles, where it has detail.
    let step = tiles.len().div_ceil(MAX_ANCHORS);
    let mut anchors: HashKeyed<(u16, u16, u32)> = HashKeyed::default();
    for &index in tiles.iter().step_by(step) {
        let tile = grid.rect(index);
        if usize::from(tile.w) < ANCHOR {
            continue;
        }
        let (x, y) = (tile.x, tile.y + tile.h / 2);
        let pixels = new.row(x, y, ANCHOR as u16);
        let steps = pixels
            .chunks_exact(4)
            .zip(pixels.chunks_exact(4).skip(1))
            .filter(|(a, b)| a != b)
            .count();
        if steps >= 6 {
            anchors.insert(hash(pixels.chunks_exact(4).map(value)), (x, y, 0));
        }
    }
    if anchors.len() < MIN_VOTES as usize {
        return None;
    }

    // Every position of the changed area in the old frame, by rolling hash.
    let area = tiles.iter().map(|&i| grid.rect(i)).reduce(union)?;
    let mut found: HashKeyed<(u16, u16)> = HashKeyed::default();
    // A 64 Ki-bit filter of the anchors' hashes spares the map a lookup at nearly every
    // position.
    let mut filter = vec![0u64; 1024];
    for h in anchors.keys() {
        filter[(*h as usize >> 6) & 1023] |= 1 << (*h & 63);
    }
    let top_power = (1..ANCHOR).fold(1u64, |p, _| p.wrapping_mul(BASE));
    for y in area.y..area.y + area.h {
        let row: Vec<u64> = old
            .row(area.x, y, area.w)
            .chunks_exact(4)
            .map(value)
            .collect();
        if row.len() < ANCHOR {
            continue;
        }
        let mut h = hash(row[..ANCHOR].iter().copied());
        for start in 0..=row.len() - ANCHOR {
            if start > 0 {
                h = h
                    .wrapping_sub(row[start - 1].wrapping_mul(top_power))
                    .wrapping_mul(BASE)
                    .wrapping_add(row[start + ANCHOR - 1]);
            }
            if filter[(h as usize >> 6) & 1023] & (1 << (h & 63)) == 0 {
                continue;
            }
            if let Some(anchor) = anchors.get_mut(&h) {
                anchor.2 += 1;
                found.insert(h, (area.x + start as u16, y));
            }
        }
    }

    let mut votes: HashMap<(i32, i32), u32> = HashMap::new();
    for (h, (x, y, count)) in &anchors {
        if *count != 1 {
            continue;
        }
        let (ox, oy) = found[h];
        let shift = (i32::from(*x) - i32::from(ox), i32::from(*y) - i32::from(oy));
        if shift != (0, 0) {
            *votes.entry(shift).or_default() += 1;
        }
    }
    votes
        .into_iter()
        .filter(|&(_, count)| count >= MIN_VOTES)
        .max_by_key(|&(_, count)| count)
        .map(|(shift, _)| shift)
}

fn value(pixel: &[u8]) -> u64 {
    u64::from(u32::from_le_bytes([pixel[0], pixel[1], pixel[2], 0])) + 1
}

fn hash(values: impl Iterator<Item = u64>) -> u64 {
    values.fold(0u64, |h, v| h.wrapping_mul(BASE).wrapping_add(v))
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

/// Whether `tile` of `new` equals the old frame's pixels `(dx, dy)` back.
fn shifted_equal(old: &Frame, new: &Frame, tile: Rect, dx: i32, dy: i32) -> bool {
    let (sx, sy) = (i32::from(tile.x) - dx, i32::from(tile.y) - dy);
    let inside = sx >= 0
        && sy >= 0
        && sx + i32::from(tile.w) <= i32::from(old.width())
        && sy + i32::from(tile.h) <= i32::from(old.height());
    inside
        && (0..tile.h).all(|row| {
            new.row(tile.x, tile.y + row, tile.w) == old.row(sx as u16, sy as u16 + row, tile.w)
        })
}

/// Side of the blocks a moved region is assembled from.
const BLOCK: u16 = 8;

/// The blocks of `tile`, the last ones cut to its edge.
fn blocks(tile: Rect) -> impl Iterator<Item = Rect> {
    (0..tile.h.div_ceil(BLOCK)).flat_map(move |r| {
        (0..tile.w.div_ceil(BLOCK)).map(move |c| {
            let (x, y) = (tile.x + c * BLOCK, tile.y + r * BLOCK);
            Rect {
                x,
                y,
                w: BLOCK.min(tile.x + tile.w - x),
                h: BLOCK.min(tile.y + tile.h - y),
            }
        })
    })
}

/// Joins moved blocks that touch along a row into one copy each, then stacks copies that
/// span the same columns.
fn merge_rows(tiles: &[Rect], dx: i32, dy: i32) -> Vec<Move> {
    let mut rects: Vec<Rect> = Vec::new();
    for tile in tiles {
        match rects.last_mut() {
            Some(last) if last.y == tile.y && last.h == tile.h && last.x + last.w == tile.x => {
                last.w += tile.w;
            }
            _ => rects.push(*tile),
        }
    }
    // Stack rows that span the same columns.
    let mut stacked: Vec<Rect> = Vec::new();
    for rect in rects {
        match stacked
            .iter_mut()
            .find(|s| s.x == rect.x && s.w == rect.w && s.y + s.h == rect.y)
        {
            Some(above) => above.h += rect.h,
            None => stacked.push(rect),
        }
    }
    stacked
        .into_iter()
        .map(|rect| Move {
            rect,
            src_x: (i32::from(rect.x) - dx) as u16,
            src_y: (i32::from(rect.y) - dy) as u16,
        })
        .collect()
}
