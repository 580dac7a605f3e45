//! The reference decoder: applies frames to an RGB canvas exactly as the browser must. The
//! round-trip tests and the benchmark's pixel-exact check use it; a frame that decodes here
//! but not in the browser (or the other way round) is a bug in one of the two.

use std::io::Read;

use flate2::read::DeflateDecoder;

use super::{Filter, Rect, ScreenFrame, Update};

/// A frame that parsed but whose pixels cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PixelError {
    #[error(
        "delta frame for a {width}x{height} screen, but the canvas is {canvas_width}x{canvas_height} (a key frame must come first)"
    )]
    SizeMismatch {
        width: u16,
        height: u16,
        canvas_width: u16,
        canvas_height: u16,
    },
    #[error("pixel stream does not inflate: {0}")]
    Inflate(String),
    #[error("pixel stream inflates to {got} bytes, the lossless rectangles need {expected}")]
    PixelCount { got: u64, expected: u64 },
    #[error("JPEG of rectangle {index} does not decode: {reason}")]
    Jpeg { index: usize, reason: String },
    #[error("JPEG of rectangle {index} is {got_w}x{got_h}, the rectangle {want_w}x{want_h}")]
    JpegSize {
        index: usize,
        got_w: usize,
        got_h: usize,
        want_w: u16,
        want_h: u16,
    },
}

/// A screen as the viewer sees it: R,G,B bytes, row-major, no padding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Canvas {
    width: u16,
    height: u16,
    rgb: Vec<u8>,
}

impl Canvas {
    pub fn new() -> Canvas {
        Canvas::default()
    }

    pub fn width(&self) -> u16 {
        self.width
    }

    pub fn height(&self) -> u16 {
        self.height
    }

    /// The pixels, R,G,B per pixel, `width·3` bytes per row.
    pub fn rgb(&self) -> &[u8] {
        &self.rgb
    }

    /// Applies one parsed frame. On an error the canvas may hold part of the frame; the
    /// viewer then asks for a key frame.
    pub fn apply(&mut self, frame: &ScreenFrame) -> Result<(), PixelError> {
        if frame.key {
            self.width = frame.width;
            self.height = frame.height;
            self.rgb = vec![0; usize::from(frame.width) * usize::from(frame.height) * 3];
        } else if (frame.width, frame.height) != (self.width, self.height) {
            return Err(PixelError::SizeMismatch {
                width: frame.width,
                height: frame.height,
                canvas_width: self.width,
                canvas_height: self.height,
            });
        }

        let pixels = inflate_exact(&frame.pixels, frame.lossless_bytes())?;
        let mut offset = 0;
        for (index, update) in frame.updates.iter().enumerate() {
            match update {
                Update::Copy { rect, src_x, src_y } => self.copy(*rect, *src_x, *src_y),
                Update::Fill { rect, rgb } => self.fill(*rect, *rgb),
                Update::Lossless { rect, filter } => {
                    let len = rect.area() as usize * 3;
                    self.put_lossless(*rect, *filter, &pixels[offset..offset + len]);
                    offset += len;
                }
                Update::Jpeg { rect, data } => self.put_jpeg(index, *rect, data)?,
            }
        }
        Ok(())
    }

    fn row_range(&self, x: u16, y: u16, w: u16) -> std::ops::Range<usize> {
        let start = (usize::from(y) * usize::from(self.width) + usize::from(x)) * 3;
        start..start + usize::from(w) * 3
    }

    fn copy(&mut self, rect: Rect, src_x: u16, src_y: u16) {
        // Rows are copied in the order that never reads a row already overwritten, and
        // `copy_within` handles the overlap inside a row.
        let rows: Box<dyn Iterator<Item = u16>> = if src_y < rect.y {
            Box::new((0..rect.h).rev())
        } else {
            Box::new(0..rect.h)
        };
        for row in rows {
            let source = self.row_range(src_x, src_y + row, rect.w);
            let target = self.row_range(rect.x, rect.y + row, rect.w).start;
            self.rgb.copy_within(source, target);
        }
    }

    fn fill(&mut self, rect: Rect, rgb: [u8; 3]) {
        for row in 0..rect.h {
            let range = self.row_range(rect.x, rect.y + row, rect.w);
            for pixel in self.rgb[range].chunks_exact_mut(3) {
                pixel.copy_from_slice(&rgb);
            }
        }
    }

    fn put_lossless(&mut self, rect: Rect, filter: Filter, bytes: &[u8]) {
        let stride = usize::from(rect.w) * 3;
        for (row, source) in bytes.chunks_exact(stride).enumerate() {
            let range = self.row_range(rect.x, rect.y + row as u16, rect.w);
            let target = &mut self.rgb[range];
            target.copy_from_slice(source);
            if filter == Filter::Left {
                for i in 3..target.len() {
                    target[i] = target[i].wrapping_add(target[i - 3]);
                }
            }
        }
    }

    fn put_jpeg(&mut self, index: usize, rect: Rect, data: &[u8]) -> Result<(), PixelError> {
        use zune_jpeg::zune_core::colorspace::ColorSpace;
        use zune_jpeg::zune_core::options::DecoderOptions;

        // The rectangle bounds what the decoder may allocate: a JPEG header claiming more
        // is refused before its pixels are decoded.
        let options = DecoderOptions::default()
            .set_max_width(usize::from(rect.w))
            .set_max_height(usize::from(rect.h))
            .jpeg_set_out_colorspace(ColorSpace::RGB);
        let mut decoder = zune_jpeg::JpegDecoder::new_with_options(
            zune_jpeg::zune_core::bytestream::ZCursor::new(data),
            options,
        );
        let decoded = decoder.decode().map_err(|error| PixelError::Jpeg {
            index,
            reason: error.to_string(),
        })?;
        let (got_w, got_h) = decoder.dimensions().unwrap_or((0, 0));
        if (got_w, got_h) != (usize::from(rect.w), usize::from(rect.h))
            || decoded.len() != rect.area() as usize * 3
        {
            return Err(PixelError::JpegSize {
                index,
                got_w,
                got_h,
                want_w: rect.w,
                want_h: rect.h,
            });
        }
        self.put_lossless(rect, Filter::None, &decoded);
        Ok(())
    }
}

/// Inflates `stream` to exactly `expected` bytes, refusing both fewer and more: reading one
/// byte past the expected count is how a stream that would inflate further is caught without
/// inflating it.
fn inflate_exact(stream: &[u8], expected: u64) -> Result<Vec<u8>, PixelError> {
    if expected == 0 && stream.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(expected as usize);
    DeflateDecoder::new(stream)
        .take(expected + 1)
        .read_to_end(&mut out)
        .map_err(|error| PixelError::Inflate(error.to_string()))?;
    if out.len() as u64 != expected {
        return Err(PixelError::PixelCount {
            got: out.len() as u64,
            expected,
        });
    }
    Ok(out)
}
