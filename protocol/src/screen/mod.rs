//! Screen frames: what the agent sends for each change of the caller's screen, the console
//! relays unchanged and the browser decodes. A frame is a list of rectangle updates applied
//! in order to a canvas the size of the captured area.
//!
//! The format is a small fixed-layout binary one rather than bincode, because a browser
//! decodes it in JavaScript. All integers are little-endian:
//!
//! ```text
//! frame   = version u8 (1) · flags u8 · width u16 · height u16 · seq u32 · count u16
//!           · rect{count} · pixels_len u32 · pixels (deflate-raw)
//! rect    = kind u8 · x u16 · y u16 · w u16 · h u16 · body
//! body    = copy:     src_x u16 · src_y u16            (kind 0)
//!         | fill:     r u8 · g u8 · b u8               (kind 1)
//!         | lossless: filter u8                         (kind 2)
//!         | jpeg:     len u32 · JPEG bytes              (kind 3)
//! ```
//!
//! The lossless rectangles' pixels are not inside the rectangles: they are concatenated in
//! rectangle order, as R,G,B bytes row by row (filtered per rectangle), and compressed as one
//! raw deflate stream at the end of the frame, which a browser inflates in one go with
//! `DecompressionStream("deflate-raw")`. (Chromium's DecompressionStream has no "zstd".)
//! A copy moves pixels already on the canvas, as if through a temporary buffer, so a
//! scroll costs a few bytes plus the newly exposed strip.
//!
//! A frame whose flag [`FLAG_KEY`] is set starts a new canvas of its size (after a resolution
//! change, for instance): the decoder fills it black first and the frame covers it. A delta
//! frame for another size than the canvas is refused.
//!
//! The caller's pointer travels on the same stream in cursor records (`cursor.rs`); each
//! record's first byte tells which it is (`record.rs`).

mod canvas;
mod cursor;
mod record;
mod wire;

pub use canvas::{Canvas, PixelError};
pub use cursor::{
    CURSOR_CACHE, CursorApplyError, CursorCache, CursorId, CursorParseError, CursorPosition,
    CursorShape, CursorUpdate, CursorView, MAX_CURSOR_SIDE, TAG_CURSOR_POSITION, TAG_CURSOR_SHAPE,
    encode_cursor, parse_cursor,
};
pub use record::{Record, RecordKind, RecordParseError, parse_record, record_kind};
pub use wire::{FrameParseError, encode_frame, parse_frame};

/// The only frame version this code reads and writes.
pub const FRAME_VERSION: u8 = 1;
/// Flag: this frame starts a new canvas (first frame, size change, resync).
pub const FLAG_KEY: u8 = 1;
/// Largest frame, in bytes: a 4K screen of incompressible lossless pixels fits.
pub const SCREEN_FRAME_LIMIT: usize = 32 * 1024 * 1024;
/// Largest canvas side, in pixels: three 4K monitors side by side fit.
pub const MAX_SIDE: u16 = 16384;
/// Largest canvas area, in pixels (three 4K monitors).
pub const MAX_AREA: u64 = 3 * 3840 * 2160;
/// Most rectangles in one frame.
pub const MAX_RECTS: usize = 16384;
/// Most pixels all lossless rectangles of one frame may carry together, as a multiple of the
/// canvas area; bounds what inflating a frame may allocate.
pub const MAX_LOSSLESS_AREA_FACTOR: u64 = 2;

/// A rectangle on the canvas, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rect {
    pub x: u16,
    pub y: u16,
    pub w: u16,
    pub h: u16,
}

impl Rect {
    pub fn area(&self) -> u64 {
        u64::from(self.w) * u64::from(self.h)
    }

    /// Whether the rectangle is not empty and lies inside a `width`×`height` canvas.
    pub fn fits(&self, width: u16, height: u16) -> bool {
        self.w > 0
            && self.h > 0
            && u32::from(self.x) + u32::from(self.w) <= u32::from(width)
            && u32::from(self.y) + u32::from(self.h) <= u32::from(height)
    }
}

/// How a lossless rectangle's bytes were filtered before compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// The R,G,B bytes as they are.
    None,
    /// Each byte minus the same channel of the pixel to its left (wrapping), as PNG's Sub
    /// filter: flat UI areas become runs of zeros that deflate well.
    Left,
}

impl Filter {
    fn code(self) -> u8 {
        match self {
            Filter::None => 0,
            Filter::Left => 1,
        }
    }

    fn from_code(code: u8) -> Option<Filter> {
        match code {
            0 => Some(Filter::None),
            1 => Some(Filter::Left),
            _ => None,
        }
    }
}

/// One update of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// Copy the canvas' pixels at (`src_x`, `src_y`), of the rectangle's size, to the
    /// rectangle.
    Copy { rect: Rect, src_x: u16, src_y: u16 },
    /// Paint the rectangle one colour.
    Fill { rect: Rect, rgb: [u8; 3] },
    /// The rectangle's exact pixels: `w·h·3` bytes of the frame's pixel stream.
    Lossless { rect: Rect, filter: Filter },
    /// A baseline JPEG of exactly the rectangle's size; lossy.
    Jpeg { rect: Rect, data: Vec<u8> },
}

impl Update {
    pub fn rect(&self) -> Rect {
        match self {
            Update::Copy { rect, .. }
            | Update::Fill { rect, .. }
            | Update::Lossless { rect, .. }
            | Update::Jpeg { rect, .. } => *rect,
        }
    }
}

/// A decoded frame header and its updates; `pixels` is the still-compressed deflate stream
/// holding the lossless rectangles' bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenFrame {
    pub key: bool,
    pub width: u16,
    pub height: u16,
    /// The sender's frame counter; the viewer acknowledges frames by it.
    pub seq: u32,
    pub updates: Vec<Update>,
    pub pixels: Vec<u8>,
}

impl ScreenFrame {
    /// Bytes the lossless rectangles need once inflated.
    pub fn lossless_bytes(&self) -> u64 {
        self.updates
            .iter()
            .filter(|update| matches!(update, Update::Lossless { .. }))
            .map(|update| update.rect().area() * 3)
            .sum()
    }
}

#[cfg(test)]
mod tests;
