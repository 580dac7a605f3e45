//! The screen encoder: from consecutive captured frames to the frames of
//! `hotline_protocol::screen`, sending only what changed.
//!
//! Each frame is compared tile by tile with what the viewer has (the encoder keeps a copy of
//! it). Moved content (scrolls, pans) is found and sent as copies; what still differs after
//! the copies is sent as the tight box of each changed tile, merged into rectangles. Text and
//! UI always go lossless. In [`Mode::Auto`], photographic tiles go as JPEG while much of the
//! screen is changing (video, a window dragged over a photo), and once such a tile has stayed
//! still for [`REFINE_AFTER`] frames it is sent again losslessly. An unchanged screen gives
//! no frame at all.

mod copies;
mod motion;
mod pack;
mod tiles;

use hotline_protocol::screen::{Rect, ScreenFrame, Update, encode_frame};

use crate::screen::Frame;
use copies::{Axis, Move};
use pack::Class;
use tiles::Grid;

// FIXME: a window dragged over a photographic wallpaper costs about 1.75x x264's bytes: the
// wallpaper it uncovers is sent lossless although the viewer saw it before; a cache of
// earlier tile contents both sides keep would turn it into references.
// FIXME: refinements are sent all in the frame where tiles become still, not spread over
// the following frames, so the end of a video is a burst.
/// Frames a lossy tile must stay unchanged before it is refined to lossless.
pub const REFINE_AFTER: u8 = 3;
/// A tile may go lossy when it changed in `CHURN_FRAMES` of the frames in `CHURN_WINDOW`
/// (this one and the two before).
const CHURN_WINDOW: u8 = 0b111;
const CHURN_FRAMES: u32 = 2;
/// Share of the screen (in tenths) that must change in one frame, after copies, before
/// photographic tiles may go lossy: a scroll's exposed strip or a keystroke never does.
const LOSSY_DAMAGE_TENTHS: u64 = 2;

/// Whether lossy coding is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every pixel exact, always.
    Lossless,
    /// Photographic regions that change a lot may go lossy, refined once still.
    Auto,
}

/// What one encoded frame holds, for logs and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameStats {
    pub copies: usize,
    pub lossless_rects: usize,
    pub jpeg_rects: usize,
    pub fills: usize,
    pub refined_tiles: usize,
}

/// Per-tile memory between frames.
#[derive(Debug, Clone, Copy, Default)]
struct TileState {
    /// The viewer holds a lossy version of this tile.
    lossy: bool,
    /// Frames since the tile last changed, while it is lossy.
    still: u8,
    /// One bit per recent frame, newest lowest: whether the tile changed in it (after
    /// copies). A tile that keeps changing is the "fast-moving" kind that may go lossy.
    history: u8,
}

/// Encodes a stream of frames of one screen for one viewer.
#[derive(Debug)]
pub struct Encoder {
    mode: Mode,
    jpeg_quality: u8,
    /// What the viewer's canvas holds (for lossy tiles: the pixels they were made from).
    viewer: Option<Frame>,
    tiles: Vec<TileState>,
    seq: u32,
}

impl Encoder {
    pub fn new(mode: Mode) -> Encoder {
        Encoder {
            mode,
            jpeg_quality: 45,
            viewer: None,
            tiles: Vec::new(),
            seq: 0,
        }
    }

    /// Sets the JPEG quality (1–100) of lossy rectangles.
    pub fn with_jpeg_quality(mut self, quality: u8) -> Encoder {
        self.jpeg_quality = quality.clamp(1, 100);
        self
    }

    /// Makes the next frame a key frame, as after a viewer joins or loses a frame.
    pub fn reset(&mut self) {
        self.viewer = None;
    }

    /// Encodes `frame` against what the viewer has. Returns the frame's bytes, or `None` when
    /// nothing changed. A size change starts a key frame.
    pub fn encode(&mut self, frame: &Frame) -> Option<(Vec<u8>, FrameStats)> {
        let grid = Grid::new(frame.width(), frame.height());
        let key = self.viewer.as_ref().is_none_or(|viewer| {
            (viewer.width(), viewer.height()) != (frame.width(), frame.height())
        });
        if key {
            // The viewer's new canvas starts black, so black tiles cost nothing.
            self.viewer = Some(Frame::black(frame.width(), frame.height()));
            self.tiles = vec![TileState::default(); grid.len()];
        }
        let viewer = self.viewer.as_mut()?;
        let mut stats = FrameStats::default();
        let mut updates = Vec::new();

        // What differs from the viewer's canvas, tile by tile.
        let mut boxes: Vec<Option<Rect>> = (0..grid.len())
            .map(|i| tiles::changed_box(viewer, frame, grid.rect(i)))
            .collect();

        // Moved content: copies first, so only what they do not explain is sent as pixels.
        if !key {
            for axis in [Axis::Vertical, Axis::Horizontal] {
                let changed = searchable(&boxes, &self.tiles);
                let moves = copies::find_moves(viewer, frame, &grid, &changed, axis);
                for found in &moves {
                    apply_move(viewer, &mut self.tiles, &grid, found);
                    updates.push(Update::Copy {
                        rect: found.rect,
                        src_x: found.src_x,
                        src_y: found.src_y,
                    });
                    for index in grid.touched(found.rect).collect::<Vec<_>>() {
                        boxes[index] = tiles::changed_box(viewer, frame, grid.rect(index));
                    }
                }
                stats.copies += moves.len();
            }

            // Then content moved both ways at once, such as a dragged window.
            let changed = searchable(&boxes, &self.tiles);
            let moves = motion::find_motion(viewer, frame, &grid, &changed);
            for found in &moves {
                apply_move(viewer, &mut self.tiles, &grid, found);
                updates.push(Update::Copy {
                    rect: found.rect,
                    src_x: found.src_x,
                    src_y: found.src_y,
                });
            }
            for found in &moves {
                for index in grid.touched(found.rect).collect::<Vec<_>>() {
                    boxes[index] = tiles::changed_box(viewer, frame, grid.rect(index));
                }
            }
            stats.copies += moves.len();
        }

        // Lossy tiles that stayed still are refined: sent again, losslessly, whole.
        let mut refine = vec![false; grid.len()];
        for (index, state) in self.tiles.iter_mut().enumerate() {
            if !state.lossy || boxes[index].is_some() {
                continue;
            }
            state.still = state.still.saturating_add(1);
            if state.still >= REFINE_AFTER {
                boxes[index] = Some(grid.rect(index));
                refine[index] = true;
                stats.refined_tiles += 1;
            }
        }

        // Which tiles may go lossy: photographic ones, while much of the screen changes
        // (refinements do not count as change, and are never lossy).
        let damage: u64 = (0..grid.len())
            .filter(|&i| !refine[i])
            .filter_map(|i| boxes[i].map(|b| b.area()))
            .sum();
        let screen = u64::from(frame.width()) * u64::from(frame.height());
        let lossy_allowed =
            self.mode == Mode::Auto && !key && damage * 10 >= screen * LOSSY_DAMAGE_TENTHS;
        for (index, state) in self.tiles.iter_mut().enumerate() {
            let changed = boxes[index].is_some() && !refine[index];
            state.history = state.history << 1 | u8::from(changed);
        }
        let tiles = &self.tiles;
        let classes: Vec<Class> = (0..grid.len())
            .map(|i| {
                let churning = (tiles[i].history & CHURN_WINDOW).count_ones() >= CHURN_FRAMES;
                match boxes[i] {
                    Some(_)
                        if lossy_allowed
                            && churning
                            && !refine[i]
                            && tiles::looks_photographic(frame, grid.rect(i)) =>
                    {
                        Class::Lossy
                    }
                    _ => Class::Lossless,
                }
            })
            .collect();
        for (index, state) in self.tiles.iter_mut().enumerate() {
            if boxes[index].is_none() {
                continue;
            }
            // A lossy tile that now goes lossless is sent whole: the part outside the
            // changed box would otherwise stay lossy with nothing left to refine it.
            if state.lossy && classes[index] == Class::Lossless {
                boxes[index] = Some(grid.rect(index));
            }
            state.lossy = classes[index] == Class::Lossy;
            state.still = 0;
        }

        // Pixels for the rest, and the viewer's canvas brought up to date.
        let rects = pack::rectangles(&grid, &boxes, &classes);
        let (pixel_updates, pixels) = pack::pack(frame, &rects, self.jpeg_quality, key);
        for &(rect, _) in &rects {
            viewer.copy_rect_from(frame, rect);
        }
        for update in &pixel_updates {
            match update {
                Update::Lossless { .. } => stats.lossless_rects += 1,
                Update::Jpeg { .. } => stats.jpeg_rects += 1,
                Update::Fill { .. } => stats.fills += 1,
                Update::Copy { .. } => {}
            }
        }
        updates.extend(pixel_updates);
        if updates.is_empty() && !key {
            return None;
        }

        self.seq = self.seq.wrapping_add(1);
        let encoded = ScreenFrame {
            key,
            width: frame.width(),
            height: frame.height(),
            seq: self.seq,
            updates,
            pixels,
        };
        Some((encode_frame(&encoded), stats))
    }
}

/// The changed tiles worth searching for moved content: not those that went lossy in the
/// last frame and change again (video), whose pixels never match exactly and whose search
/// would cost more than the rest of the frame.
fn searchable(boxes: &[Option<Rect>], tiles: &[TileState]) -> Vec<bool> {
    boxes
        .iter()
        .zip(tiles)
        .map(|(changed, state)| changed.is_some() && !(state.lossy && state.history & 1 == 1))
        .collect()
}

/// Applies a copy to the encoder's picture of the viewer's canvas. Lossy pixels stay lossy
/// where they land, so the tiles a lossy tile moves onto are refined later too.
fn apply_move(viewer: &mut Frame, tiles: &mut [TileState], grid: &Grid, found: &Move) {
    let source = Rect {
        x: found.src_x,
        y: found.src_y,
        ..found.rect
    };
    let lossy_source = grid.touched(source).any(|index| tiles[index].lossy);
    viewer.copy_within(found.rect, found.src_x, found.src_y);
    if lossy_source {
        for index in grid.touched(found.rect).collect::<Vec<_>>() {
            tiles[index].lossy = true;
            tiles[index].still = 0;
        }
    }
}

#[cfg(test)]
mod tests;
