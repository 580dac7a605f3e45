//! The caller's pointer, which travels apart from the screen frames: screen capture does not
//! include it, and a pointer redrawn into every frame would cost a frame per mouse move.
//!
//! Two records, fixed-layout and little-endian like the frames, so the browser reads them
//! directly:
//!
//! ```text
//! shape    = tag u8 (0x10) · id u32 · width u16 · height u16 · hot_x u16 · hot_y u16
//!            · rgba (width·height·4 bytes, not premultiplied, row by row)
//! position = tag u8 (0x11) · visible u8 (0|1) · id u32 · x u16 · y u16
//! ```
//!
//! A shape is sent once per id; positions name the shape to draw with its hotspot at
//! (`x`, `y`), relative to the captured area. A hidden position (the pointer is off the
//! chosen monitor, or has no image) has every other field zero. Both sides keep the shapes
//! in a [`CursorCache`] of [`CURSOR_CACHE`] entries that forgets the oldest *inserted* shape:
//! the rule depends only on shape records, which are never dropped, so the sender's mirror
//! of the viewer's cache is exact and it sends a shape again whenever the viewer has
//! forgotten it. Positions may be dropped (only the latest matters), so they never touch the
//! cache's order.

use std::collections::VecDeque;

/// The record tag of a cursor shape.
pub const TAG_CURSOR_SHAPE: u8 = 0x10;
/// The record tag of a cursor position.
pub const TAG_CURSOR_POSITION: u8 = 0x11;
/// Largest cursor side, in pixels.
pub const MAX_CURSOR_SIDE: u16 = 256;
/// How many shapes the sender may assume the viewer holds.
pub const CURSOR_CACHE: usize = 32;
/// Bytes of a shape record before its pixels.
const SHAPE_HEADER: usize = 13;
/// Bytes of a position record.
const POSITION_LEN: usize = 10;

/// A cursor shape's id, chosen by the sender (on X11, the cursor's serial).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CursorId(pub u32);

impl std::fmt::Display for CursorId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A cursor image and its hotspot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorShape {
    pub id: CursorId,
    pub width: u16,
    pub height: u16,
    /// The pixel of the image that sits at the pointer's position.
    pub hot_x: u16,
    pub hot_y: u16,
    /// `width·height` pixels as R,G,B,A bytes, alpha not premultiplied.
    pub rgba: Vec<u8>,
}

impl CursorShape {
    /// Checks the size and hotspot against the limits, so a sender refuses what the viewer
    /// would.
    pub fn check(&self) -> Result<(), CursorParseError> {
        check_shape(self.width, self.height, self.hot_x, self.hot_y)?;
        let expected = usize::from(self.width) * usize::from(self.height) * 4;
        if self.rgba.len() != expected {
            return Err(CursorParseError::Truncated { what: "the pixels" });
        }
        Ok(())
    }
}

/// Where the pointer is, and which shape it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorPosition {
    /// The hotspot of shape `id` is at (`x`, `y`) of the captured area.
    Visible { id: CursorId, x: u16, y: u16 },
    /// The pointer is not over the captured area, or shows no image.
    Hidden,
}

/// A cursor record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorUpdate {
    Shape(CursorShape),
    Position(CursorPosition),
}

/// Bytes that are not a valid cursor record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorParseError {
    #[error("cursor record ends early, in {what}")]
    Truncated { what: &'static str },
    #[error("cursor record has tag {0:#x}, not a cursor record's")]
    NotCursor(u8),
    #[error("cursor shape {width}x{height} outside 1..={MAX_CURSOR_SIDE} per side")]
    BadSize { width: u16, height: u16 },
    #[error("cursor hotspot ({hot_x},{hot_y}) outside the {width}x{height} shape")]
    HotspotOutside {
        hot_x: u16,
        hot_y: u16,
        width: u16,
        height: u16,
    },
    #[error("cursor position visibility {0} is neither 0 nor 1")]
    BadVisibility(u8),
    #[error("hidden cursor position carries a shape or coordinates")]
    HiddenWithFields,
    #[error("cursor record followed by {0} trailing bytes")]
    TrailingBytes(usize),
}

/// A cursor record that does not fit what the viewer holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorApplyError {
    #[error("cursor position names shape {0}, which the viewer does not hold")]
    UnknownShape(CursorId),
}

fn check_shape(width: u16, height: u16, hot_x: u16, hot_y: u16) -> Result<(), CursorParseError> {
    if width == 0 || height == 0 || width > MAX_CURSOR_SIDE || height > MAX_CURSOR_SIDE {
        return Err(CursorParseError::BadSize { width, height });
    }
    if hot_x >= width || hot_y >= height {
        return Err(CursorParseError::HotspotOutside {
            hot_x,
            hot_y,
            width,
            height,
        });
    }
    Ok(())
}

/// Parses one cursor record (its tag included).
pub fn parse_cursor(bytes: &[u8]) -> Result<CursorUpdate, CursorParseError> {
    let (&tag, body) = bytes
        .split_first()
        .ok_or(CursorParseError::Truncated { what: "the tag" })?;
    match tag {
        TAG_CURSOR_SHAPE => parse_shape(body).map(CursorUpdate::Shape),
        TAG_CURSOR_POSITION => parse_position(body).map(CursorUpdate::Position),
        other => Err(CursorParseError::NotCursor(other)),
    }
}

fn parse_shape(body: &[u8]) -> Result<CursorShape, CursorParseError> {
    let header = body
        .get(..SHAPE_HEADER - 1)
        .ok_or(CursorParseError::Truncated { what: "the shape" })?;
    let u16_at = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
    let id = CursorId(u32::from_le_bytes([
        header[0], header[1], header[2], header[3],
    ]));
    let (width, height, hot_x, hot_y) = (u16_at(4), u16_at(6), u16_at(8), u16_at(10));
    // The size is checked before the pixels are sliced, so it bounds what is copied.
    check_shape(width, height, hot_x, hot_y)?;
    let len = usize::from(width) * usize::from(height) * 4;
    let pixels = &body[SHAPE_HEADER - 1..];
    if pixels.len() < len {
        return Err(CursorParseError::Truncated { what: "the pixels" });
    }
    if pixels.len() > len {
        return Err(CursorParseError::TrailingBytes(pixels.len() - len));
    }
    Ok(CursorShape {
        id,
        width,
        height,
        hot_x,
        hot_y,
        rgba: pixels.to_vec(),
    })
}

fn parse_position(body: &[u8]) -> Result<CursorPosition, CursorParseError> {
    if body.len() < POSITION_LEN - 1 {
        return Err(CursorParseError::Truncated {
            what: "the position",
        });
    }
    if body.len() > POSITION_LEN - 1 {
        return Err(CursorParseError::TrailingBytes(
            body.len() - (POSITION_LEN - 1),
        ));
    }
    let id = CursorId(u32::from_le_bytes([body[1], body[2], body[3], body[4]]));
    let x = u16::from_le_bytes([body[5], body[6]]);
    let y = u16::from_le_bytes([body[7], body[8]]);
    match body[0] {
        0 if id.0 == 0 && x == 0 && y == 0 => Ok(CursorPosition::Hidden),
        0 => Err(CursorParseError::HiddenWithFields),
        1 => Ok(CursorPosition::Visible { id, x, y }),
        other => Err(CursorParseError::BadVisibility(other)),
    }
}

/// Writes a cursor record in the layout [`parse_cursor`] reads. The caller keeps a shape to
/// the limits ([`CursorShape::check`]).
pub fn encode_cursor(update: &CursorUpdate) -> Vec<u8> {
    match update {
        CursorUpdate::Shape(shape) => {
            let mut out = Vec::with_capacity(SHAPE_HEADER + shape.rgba.len());
            out.push(TAG_CURSOR_SHAPE);
            out.extend_from_slice(&shape.id.0.to_le_bytes());
            for value in [shape.width, shape.height, shape.hot_x, shape.hot_y] {
                out.extend_from_slice(&value.to_le_bytes());
            }
            out.extend_from_slice(&shape.rgba);
            out
        }
        CursorUpdate::Position(position) => {
            let (visible, id, x, y) = match *position {
                CursorPosition::Visible { id, x, y } => (1, id, x, y),
                CursorPosition::Hidden => (0, CursorId(0), 0, 0),
            };
            let mut out = Vec::with_capacity(POSITION_LEN);
            out.push(TAG_CURSOR_POSITION);
            out.push(visible);
            out.extend_from_slice(&id.0.to_le_bytes());
            out.extend_from_slice(&x.to_le_bytes());
            out.extend_from_slice(&y.to_le_bytes());
            out
        }
    }
}

/// The shapes a viewer holds, or the sender's mirror of them: at most [`CURSOR_CACHE`],
/// forgetting the one inserted longest ago.
#[derive(Debug, Clone)]
pub struct CursorCache<T> {
    entries: VecDeque<(CursorId, T)>,
}

impl<T> Default for CursorCache<T> {
    fn default() -> Self {
        CursorCache {
            entries: VecDeque::with_capacity(CURSOR_CACHE),
        }
    }
}

impl<T> CursorCache<T> {
    pub fn get(&self, id: CursorId) -> Option<&T> {
        self.entries
            .iter()
            .find(|(held, _)| *held == id)
            .map(|(_, value)| value)
    }

    pub fn contains(&self, id: CursorId) -> bool {
        self.get(id).is_some()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Holds `value` under `id`. A shape sent again under a held id replaces it in place
    /// (keeping its age); otherwise the oldest entry goes when the cache is full.
    pub fn insert(&mut self, id: CursorId, value: T) {
        if let Some(entry) = self.entries.iter_mut().find(|(held, _)| *held == id) {
            entry.1 = value;
            return;
        }
        if self.entries.len() == CURSOR_CACHE {
            self.entries.pop_front();
        }
        self.entries.push_back((id, value));
    }
}

/// The reference viewer of cursor records: the shapes held and the pointer to draw.
#[derive(Debug, Default, Clone)]
pub struct CursorView {
    shapes: CursorCache<CursorShape>,
    position: Option<(CursorId, u16, u16)>,
}

impl CursorView {
    /// Applies one record. A position naming a shape not held hides the pointer and is an
    /// error: the sender mirrors this cache, so it is the sender's fault.
    pub fn apply(&mut self, update: &CursorUpdate) -> Result<(), CursorApplyError> {
        match update {
            CursorUpdate::Shape(shape) => self.shapes.insert(shape.id, shape.clone()),
            CursorUpdate::Position(CursorPosition::Hidden) => self.position = None,
            CursorUpdate::Position(CursorPosition::Visible { id, x, y }) => {
                if !self.shapes.contains(*id) {
                    self.position = None;
                    return Err(CursorApplyError::UnknownShape(*id));
                }
                self.position = Some((*id, *x, *y));
            }
        }
        Ok(())
    }

    /// The pointer to draw: its shape, and where the shape's top-left corner goes (which
    /// may be left of or above the area).
    pub fn pointer(&self) -> Option<(&CursorShape, i32, i32)> {
        let (id, x, y) = self.position?;
        let shape = self.shapes.get(id)?;
        let left = i32::from(x) - i32::from(shape.hot_x);
        let top = i32::from(y) - i32::from(shape.hot_y);
        Some((shape, left, top))
    }

    pub fn shapes(&self) -> &CursorCache<CursorShape> {
        &self.shapes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(id: u32, width: u16, height: u16) -> CursorShape {
        CursorShape {
            id: CursorId(id),
            width,
            height,
            hot_x: width / 2,
            hot_y: 0,
            rgba: (0..usize::from(width) * usize::from(height) * 4)
                .map(|i| i as u8)
                .collect(),
        }
    }

    #[test]
    fn records_round_trip_through_their_layout() {
        let updates = [
            CursorUpdate::Shape(shape(7, 3, 2)),
            CursorUpdate::Position(CursorPosition::Visible {
                id: CursorId(7),
                x: 300,
                y: 2,
            }),
            CursorUpdate::Position(CursorPosition::Hidden),
        ];
        for update in updates {
            let bytes = encode_cursor(&update);
            assert_eq!(parse_cursor(&bytes), Ok(update));
        }
        let bytes = encode_cursor(&CursorUpdate::Shape(shape(1, 2, 2)));
        assert_eq!(&bytes[..5], &[TAG_CURSOR_SHAPE, 1, 0, 0, 0]);
        assert_eq!(bytes.len(), SHAPE_HEADER + 16);
    }

    #[test]
    fn shapes_over_the_limits_are_refused_before_their_pixels() {
        let mut big = encode_cursor(&CursorUpdate::Shape(shape(1, 2, 2)));
        big[5..7].copy_from_slice(&257u16.to_le_bytes());
        assert_eq!(
            parse_cursor(&big),
            Err(CursorParseError::BadSize {
                width: 257,
                height: 2
            })
        );
        let mut hot = encode_cursor(&CursorUpdate::Shape(shape(1, 2, 2)));
        hot[11..13].copy_from_slice(&2u16.to_le_bytes());
        assert!(matches!(
            parse_cursor(&hot),
            Err(CursorParseError::HotspotOutside { hot_y: 2, .. })
        ));
        let whole = encode_cursor(&CursorUpdate::Shape(shape(1, 2, 2)));
        assert_eq!(
            parse_cursor(&whole[..whole.len() - 1]),
            Err(CursorParseError::Truncated { what: "the pixels" })
        );
        let mut long = whole.clone();
        long.push(0);
        assert_eq!(parse_cursor(&long), Err(CursorParseError::TrailingBytes(1)));
        assert!(shape(1, 256, 256).check().is_ok());
        assert!(shape(1, 0, 4).check().is_err());
    }

    #[test]
    fn positions_are_canonical() {
        let mut hidden = encode_cursor(&CursorUpdate::Position(CursorPosition::Hidden));
        hidden[6] = 1;
        assert_eq!(
            parse_cursor(&hidden),
            Err(CursorParseError::HiddenWithFields)
        );
        hidden[1] = 2;
        assert_eq!(
            parse_cursor(&hidden),
            Err(CursorParseError::BadVisibility(2))
        );
        assert_eq!(
            parse_cursor(&[TAG_CURSOR_POSITION, 1]),
            Err(CursorParseError::Truncated {
                what: "the position"
            })
        );
        assert_eq!(parse_cursor(&[1, 2]), Err(CursorParseError::NotCursor(1)));
        assert!(parse_cursor(&[]).is_err());
    }

    #[test]
    fn the_cache_forgets_the_oldest_inserted_shape_whatever_was_drawn() {
        let mut view = CursorView::default();
        for id in 0..CURSOR_CACHE as u32 {
            view.apply(&CursorUpdate::Shape(shape(id, 1, 1)))
                .expect("shape");
        }
        // Drawing shape 0 does not make it younger: positions may be dropped on the way,
        // so the sender could not know.
        let at_zero = CursorPosition::Visible {
            id: CursorId(0),
            x: 5,
            y: 6,
        };
        view.apply(&CursorUpdate::Position(at_zero)).expect("held");
        view.apply(&CursorUpdate::Shape(shape(99, 1, 1)))
            .expect("shape");
        assert_eq!(view.shapes().len(), CURSOR_CACHE);
        assert!(!view.shapes().contains(CursorId(0)));
        assert!(view.shapes().contains(CursorId(1)));
        assert_eq!(
            view.apply(&CursorUpdate::Position(at_zero)),
            Err(CursorApplyError::UnknownShape(CursorId(0)))
        );
        assert!(view.pointer().is_none());

        let mut mirror = CursorCache::<()>::default();
        for id in (0..CURSOR_CACHE as u32).chain([99]) {
            mirror.insert(CursorId(id), ());
        }
        assert!(!mirror.contains(CursorId(0)) && mirror.contains(CursorId(99)));
    }

    #[test]
    fn the_pointer_is_drawn_with_its_hotspot_at_the_position() {
        let mut view = CursorView::default();
        view.apply(&CursorUpdate::Shape(shape(3, 8, 4)))
            .expect("shape");
        let at = CursorPosition::Visible {
            id: CursorId(3),
            x: 2,
            y: 10,
        };
        view.apply(&CursorUpdate::Position(at)).expect("held");
        let (shape, left, top) = view.pointer().expect("visible");
        assert_eq!((shape.id, left, top), (CursorId(3), 2 - 4, 10));
        view.apply(&CursorUpdate::Position(CursorPosition::Hidden))
            .expect("hidden");
        assert!(view.pointer().is_none());
    }
}
