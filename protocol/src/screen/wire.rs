//! Reading and writing the frame layout described in the module above. Reading checks every
//! limit before it allocates: the frame size, the canvas size, the rectangle count, that each
//! rectangle and copy source lies on the canvas, and how many lossless pixels the frame may
//! inflate to.

use super::{
    FLAG_KEY, FRAME_VERSION, Filter, MAX_AREA, MAX_LOSSLESS_AREA_FACTOR, MAX_RECTS, MAX_SIDE, Rect,
    SCREEN_FRAME_LIMIT, ScreenFrame, Update,
};

const KIND_COPY: u8 = 0;
const KIND_FILL: u8 = 1;
const KIND_LOSSLESS: u8 = 2;
const KIND_JPEG: u8 = 3;

/// Bytes that are not a valid screen frame; each says what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameParseError {
    #[error("screen frame too large: {len} > {SCREEN_FRAME_LIMIT} bytes")]
    TooLarge { len: usize },
    #[error("screen frame ends early, in {what}")]
    Truncated { what: &'static str },
    #[error("screen frame version {0} is not supported (this side reads {FRAME_VERSION})")]
    UnknownVersion(u8),
    #[error("screen frame flags {0:#x} hold unknown bits")]
    UnknownFlags(u8),
    #[error("screen size {width}x{height} outside 1..={MAX_SIDE} per side and {MAX_AREA} pixels")]
    BadSize { width: u16, height: u16 },
    #[error("screen frame has {0} rectangles, more than {MAX_RECTS}")]
    TooManyRects(usize),
    #[error("rectangle {index} has unknown kind {kind}")]
    UnknownKind { index: usize, kind: u8 },
    #[error("rectangle {index} has unknown filter {filter}")]
    UnknownFilter { index: usize, filter: u8 },
    #[error("rectangle {index} ({rect:?}) is empty or outside the {width}x{height} screen")]
    Outside {
        index: usize,
        rect: Rect,
        width: u16,
        height: u16,
    },
    #[error("copy {index} reads from ({src_x},{src_y}), outside the screen")]
    CopySourceOutside {
        index: usize,
        src_x: u16,
        src_y: u16,
    },
    #[error("lossless rectangles cover {area} pixels, more than {limit} for this screen")]
    LosslessTooLarge { area: u64, limit: u64 },
    #[error("screen frame followed by {0} trailing bytes")]
    TrailingBytes(usize),
}

/// Parses one frame. The pixel stream stays compressed; [`super::Canvas`] inflates it.
pub fn parse_frame(bytes: &[u8]) -> Result<ScreenFrame, FrameParseError> {
    if bytes.len() > SCREEN_FRAME_LIMIT {
        return Err(FrameParseError::TooLarge { len: bytes.len() });
    }
    let mut reader = Reader { rest: bytes };

    // The header: version first, so a newer sender gets a clear refusal.
    let version = reader.u8("the version")?;
    if version != FRAME_VERSION {
        return Err(FrameParseError::UnknownVersion(version));
    }
    let flags = reader.u8("the flags")?;
    if flags & !FLAG_KEY != 0 {
        return Err(FrameParseError::UnknownFlags(flags));
    }
    let width = reader.u16("the width")?;
    let height = reader.u16("the height")?;
    let area = u64::from(width) * u64::from(height);
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE || area > MAX_AREA {
        return Err(FrameParseError::BadSize { width, height });
    }
    let seq = reader.u32("the sequence number")?;
    let count = usize::from(reader.u16("the rectangle count")?);
    if count > MAX_RECTS {
        return Err(FrameParseError::TooManyRects(count));
    }

    // The rectangles. Each is at least 10 bytes, so a count larger than the bytes present
    // fails as truncated before the vector grows past what the frame could hold.
    let mut updates = Vec::with_capacity(count.min(bytes.len() / 10));
    let mut lossless_area = 0u64;
    let limit = area * MAX_LOSSLESS_AREA_FACTOR;
    for index in 0..count {
        let update = read_update(&mut reader, index, width, height)?;
        if let Update::Lossless { rect, .. } = &update {
            lossless_area += rect.area();
            if lossless_area > limit {
                return Err(FrameParseError::LosslessTooLarge {
                    area: lossless_area,
                    limit,
                });
            }
        }
        updates.push(update);
    }

    // The pixel stream, and nothing after it.
    let len = reader.u32("the pixel stream length")? as usize;
    let pixels = reader.take(len, "the pixel stream")?.to_vec();
    if !reader.rest.is_empty() {
        return Err(FrameParseError::TrailingBytes(reader.rest.len()));
    }
    Ok(ScreenFrame {
        key: flags & FLAG_KEY != 0,
        width,
        height,
        seq,
        updates,
        pixels,
    })
}

fn read_update(
    reader: &mut Reader<'_>,
    index: usize,
    width: u16,
    height: u16,
) -> Result<Update, FrameParseError> {
    let kind = reader.u8("a rectangle kind")?;
    let rect = Rect {
        x: reader.u16("a rectangle")?,
        y: reader.u16("a rectangle")?,
        w: reader.u16("a rectangle")?,
        h: reader.u16("a rectangle")?,
    };
    if !rect.fits(width, height) {
        return Err(FrameParseError::Outside {
            index,
            rect,
            width,
            height,
        });
    }
    match kind {
        KIND_COPY => {
            let src_x = reader.u16("a copy source")?;
            let src_y = reader.u16("a copy source")?;
            let source = Rect {
                x: src_x,
                y: src_y,
                ..rect
            };
            if !source.fits(width, height) {
                return Err(FrameParseError::CopySourceOutside {
                    index,
                    src_x,
                    src_y,
                });
            }
            Ok(Update::Copy { rect, src_x, src_y })
        }
        KIND_FILL => {
            let rgb = [
                reader.u8("a fill colour")?,
                reader.u8("a fill colour")?,
                reader.u8("a fill colour")?,
            ];
            Ok(Update::Fill { rect, rgb })
        }
        KIND_LOSSLESS => {
            let code = reader.u8("a filter")?;
            let filter = Filter::from_code(code).ok_or(FrameParseError::UnknownFilter {
                index,
                filter: code,
            })?;
            Ok(Update::Lossless { rect, filter })
        }
        KIND_JPEG => {
            let len = reader.u32("a JPEG length")? as usize;
            let data = reader.take(len, "a JPEG")?.to_vec();
            Ok(Update::Jpeg { rect, data })
        }
        kind => Err(FrameParseError::UnknownKind { index, kind }),
    }
}

/// Writes a frame in the layout [`parse_frame`] reads. The caller keeps to the limits (the
/// encoder makes frames only of its own screen); a frame it builds wrongly fails to parse.
pub fn encode_frame(frame: &ScreenFrame) -> Vec<u8> {
    let jpeg_bytes: usize = frame
        .updates
        .iter()
        .map(|update| match update {
            Update::Jpeg { data, .. } => data.len() + 4,
            _ => 0,
        })
        .sum();
    let mut out =
        Vec::with_capacity(16 + frame.updates.len() * 14 + jpeg_bytes + frame.pixels.len());
    out.push(FRAME_VERSION);
    out.push(if frame.key { FLAG_KEY } else { 0 });
    out.extend_from_slice(&frame.width.to_le_bytes());
    out.extend_from_slice(&frame.height.to_le_bytes());
    out.extend_from_slice(&frame.seq.to_le_bytes());
    let count = u16::try_from(frame.updates.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&count.to_le_bytes());
    for update in &frame.updates {
        write_update(&mut out, update);
    }
    let len = u32::try_from(frame.pixels.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&frame.pixels);
    out
}

fn write_update(out: &mut Vec<u8>, update: &Update) {
    let kind = match update {
        Update::Copy { .. } => KIND_COPY,
        Update::Fill { .. } => KIND_FILL,
        Update::Lossless { .. } => KIND_LOSSLESS,
        Update::Jpeg { .. } => KIND_JPEG,
    };
    let rect = update.rect();
    out.push(kind);
    for value in [rect.x, rect.y, rect.w, rect.h] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    match update {
        Update::Copy { src_x, src_y, .. } => {
            out.extend_from_slice(&src_x.to_le_bytes());
            out.extend_from_slice(&src_y.to_le_bytes());
        }
        Update::Fill { rgb, .. } => out.extend_from_slice(rgb),
        Update::Lossless { filter, .. } => out.push(filter.code()),
        Update::Jpeg { data, .. } => {
            let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(data);
        }
    }
}

/// A cursor over the frame's bytes whose reads fail as truncated, naming the field.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], FrameParseError> {
        if self.rest.len() < len {
            return Err(FrameParseError::Truncated { what });
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, FrameParseError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, FrameParseError> {
        let bytes = self.take(2, what)?;
        Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, FrameParseError> {
        let bytes = self.take(4, what)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }
}
