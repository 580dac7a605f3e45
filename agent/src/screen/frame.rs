//! One captured image: B,G,R,A bytes per pixel, rows without padding. Capture produces it,
//! the encoder consumes it; alpha is ignored (X11 leaves it undefined).

use hotline_protocol::screen::{MAX_AREA, MAX_SIDE, Rect};

/// A buffer whose length does not match the size it claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("a {width}x{height} frame needs {expected} bytes, got {got}")]
    Length {
        width: u16,
        height: u16,
        expected: usize,
        got: usize,
    },
    #[error("frame size {width}x{height} is outside 1..={MAX_SIDE} per side and {MAX_AREA} pixels")]
    Size { width: u32, height: u32 },
}

/// A screen image in BGRA, `width·4` bytes per row.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    width: u16,
    height: u16,
    pub(crate) bgra: Vec<u8>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frame({}x{})", self.width, self.height)
    }
}

impl Frame {
    /// Checks that the size is one a screen frame can carry.
    pub fn check_size(width: u32, height: u32) -> Result<(u16, u16), FrameError> {
        let fits = (1..=u32::from(MAX_SIDE)).contains(&width)
            && (1..=u32::from(MAX_SIDE)).contains(&height)
            && u64::from(width) * u64::from(height) <= MAX_AREA;
        if !fits {
            return Err(FrameError::Size { width, height });
        }
        Ok((width as u16, height as u16))
    }

    /// Wraps `bgra`, which must hold exactly `width·height·4` bytes.
    pub fn from_bgra(width: u32, height: u32, bgra: Vec<u8>) -> Result<Frame, FrameError> {
        let (width, height) = Frame::check_size(width, height)?;
        let expected = usize::from(width) * usize::from(height) * 4;
        if bgra.len() != expected {
            return Err(FrameError::Length {
                width,
                height,
                expected,
                got: bgra.len(),
            });
        }
        Ok(Frame {
            width,
            height,
            bgra,
        })
    }

    /// Converts R,G,B bytes (as PNG decoders return them) to a frame with alpha 255.
    pub fn from_rgb(width: u32, height: u32, rgb: &[u8]) -> Result<Frame, FrameError> {
        let bgra = rgb
            .chunks_exact(3)
            .flat_map(|p| [p[2], p[1], p[0], 255])
            .collect();
        Frame::from_bgra(width, height, bgra)
    }

    /// An all-black frame, which is what a viewer's canvas starts as.
    pub fn black(width: u16, height: u16) -> Frame {
        let mut bgra = vec![0; usize::from(width) * usize::from(height) * 4];
        for pixel in bgra.chunks_exact_mut(4) {
            pixel[3] = 255;
        }
        Frame {
            width,
            height,
            bgra,
        }
    }

    pub fn width(&self) -> u16 {
        self.width
    }

    pub fn height(&self) -> u16 {
        self.height
    }

    pub fn bgra(&self) -> &[u8] {
        &self.bgra
    }

    /// The R,G,B bytes of the whole frame, as the viewer's canvas holds them.
    pub fn to_rgb(&self) -> Vec<u8> {
        self.bgra
            .chunks_exact(4)
            .flat_map(|p| [p[2], p[1], p[0]])
            .collect()
    }

    /// Whether every pixel is black: what a failed capture often returns.
    pub fn is_all_black(&self) -> bool {
        self.bgra
            .chunks_exact(4)
            .all(|p| p[0] == 0 && p[1] == 0 && p[2] == 0)
    }

    /// Byte range of `w` pixels of row `y` from column `x`.
    pub(crate) fn span(&self, x: u16, y: u16, w: u16) -> std::ops::Range<usize> {
        let start = (usize::from(y) * usize::from(self.width) + usize::from(x)) * 4;
        start..start + usize::from(w) * 4
    }

    /// The bytes of `w` pixels of row `y` from column `x`.
    pub(crate) fn row(&self, x: u16, y: u16, w: u16) -> &[u8] {
        &self.bgra[self.span(x, y, w)]
    }

    /// Copies `rect` of `source` (same size as `self`) into `self`.
    pub(crate) fn copy_rect_from(&mut self, source: &Frame, rect: Rect) {
        for y in rect.y..rect.y + rect.h {
            let span = self.span(rect.x, y, rect.w);
            self.bgra[span.clone()].copy_from_slice(&source.bgra[span]);
        }
    }

    /// Moves the pixels at (`src_x`, `src_y`) to `rect` inside this frame, as a viewer
    /// applies a copy update.
    pub(crate) fn copy_within(&mut self, rect: Rect, src_x: u16, src_y: u16) {
        let rows: Box<dyn Iterator<Item = u16>> = if src_y < rect.y {
            Box::new((0..rect.h).rev())
        } else {
            Box::new(0..rect.h)
        };
        for row in rows {
            let source = self.span(src_x, src_y + row, rect.w);
            let target = self.span(rect.x, rect.y + row, rect.w).start;
            self.bgra.copy_within(source, target);
        }
    }
}
