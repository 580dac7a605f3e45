//! The tile grid the encoder compares frames on, and the comparison itself: which tiles of
//! a frame differ from what the viewer has, and the tight box of the change inside each.

use hotline_protocol::screen::Rect;

use crate::screen::Frame;

/// Tile side in pixels: small enough that a keystroke costs one tile, large enough that a
/// full screen is a few hundred tiles.
pub(crate) const TILE: u16 = 64;

/// The tiles of a screen: `cols`×`rows`, the last column and row cut to the screen's edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    pub(crate) width: u16,
    pub(crate) height: u16,
    pub(crate) cols: usize,
    pub(crate) rows: usize,
}

impl Grid {
    pub(crate) fn new(width: u16, height: u16) -> Grid {
        Grid {
            width,
            height,
            cols: usize::from(width.div_ceil(TILE)),
            rows: usize::from(height.div_ceil(TILE)),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.cols * self.rows
    }

    /// The pixels of tile `index`.
    pub(crate) fn rect(&self, index: usize) -> Rect {
        let (col, row) = ((index % self.cols) as u16, (index / self.cols) as u16);
        let (x, y) = (col * TILE, row * TILE);
        Rect {
            x,
            y,
            w: TILE.min(self.width - x),
            h: TILE.min(self.height - y),
        }
    }

    /// The indices of the tiles that `rect` touches.
    pub(crate) fn touched(&self, rect: Rect) -> impl Iterator<Item = usize> + '_ {
        let (c0, c1) = (rect.x / TILE, (rect.x + rect.w - 1) / TILE);
        let (r0, r1) = (rect.y / TILE, (rect.y + rect.h - 1) / TILE);
        (r0..=r1)
            .flat_map(move |r| (c0..=c1).map(move |c| usize::from(r) * self.cols + usize::from(c)))
    }
}

/// The smallest box inside `tile` holding every pixel where `a` and `b` differ, or `None`
/// when they agree there. Alpha is compared too; captures set it to 255.
pub(crate) fn changed_box(a: &Frame, b: &Frame, tile: Rect) -> Option<Rect> {
    let (mut top, mut bottom) = (None, 0);
    let (mut left, mut right) = (tile.w, 0);
    for y in tile.y..tile.y + tile.h {
        let (ra, rb) = (a.row(tile.x, y, tile.w), b.row(tile.x, y, tile.w));
        if ra == rb {
            continue;
        }
        top.get_or_insert(y);
        bottom = y;
        let first = ra
            .chunks_exact(4)
            .zip(rb.chunks_exact(4))
            .position(|(p, q)| p != q);
        let last = ra
            .chunks_exact(4)
            .zip(rb.chunks_exact(4))
            .rposition(|(p, q)| p != q);
        if let (Some(first), Some(last)) = (first, last) {
            left = left.min(first as u16);
            right = right.max(last as u16);
        }
    }
    let top = top?;
    Some(Rect {
        x: tile.x + left,
        y: top,
        w: right - left + 1,
        h: bottom - top + 1,
    })
}

/// Whether the tile looks photographic: many neighbouring pixels differ by a little, as in
/// gradients, photos and video. Text and UI, even antialiased, are mostly flat runs with
/// sharp steps (under a tenth of pairs differ slightly, against a third in the corpus's
/// video). Sampled on every second row.
pub(crate) fn looks_photographic(frame: &Frame, tile: Rect) -> bool {
    let (mut slight, mut total) = (0u32, 0u32);
    for y in (tile.y..tile.y + tile.h).step_by(2) {
        let row = frame.row(tile.x, y, tile.w);
        for (left, pixel) in row.chunks_exact(4).zip(row.chunks_exact(4).skip(1)) {
            let step: u32 = (0..3).map(|c| u32::from(left[c].abs_diff(pixel[c]))).sum();
            total += 1;
            slight += u32::from(step > 0 && step <= SLIGHT_STEP);
        }
    }
    total > 0 && slight * 100 >= total * PHOTO_PERCENT
}

/// Largest difference (summed over R, G, B) between neighbours that counts as slight.
const SLIGHT_STEP: u32 = 24;
/// Share of slight steps, in percent, from which a tile counts as photographic.
const PHOTO_PERCENT: u32 = 4;

/// The one colour of `rect`, when it has only one.
pub(crate) fn uniform_colour(frame: &Frame, rect: Rect) -> Option<[u8; 3]> {
    let first = frame.row(rect.x, rect.y, 1);
    let colour = [first[2], first[1], first[0]];
    for y in rect.y..rect.y + rect.h {
        let row = frame.row(rect.x, y, rect.w);
        if !row.chunks_exact(4).all(|p| p[..3] == first[..3]) {
            return None;
        }
    }
    Some(colour)
}
