//! The caller's pointer, read apart from the screen (capture does not include it) behind one
//! [`CursorSource`] per platform (X11 first, [`x11`]): where it is and what it looks like,
//! with an id that changes whenever the image does.

pub mod x11;

use hotline_protocol::screen::{CursorId, CursorShape, MAX_CURSOR_SIDE};

/// The pointer at one moment, in root-window pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorSample {
    pub x: i32,
    pub y: i32,
    /// Changes whenever the image does (on X11, the cursor's serial).
    pub id: CursorId,
    pub width: u16,
    pub height: u16,
    pub hot_x: u16,
    pub hot_y: u16,
    /// `width·height` pixels as premultiplied A,R,G,B words, as X hands them over.
    pub argb: Vec<u32>,
}

impl CursorSample {
    /// The image as the protocol's shape: straight (not premultiplied) R,G,B,A bytes.
    /// `None` for an image the protocol cannot carry (empty, over [`MAX_CURSOR_SIDE`], a
    /// hotspot off the image, or pixels missing); the pointer is then shown hidden.
    pub fn shape(&self) -> Option<CursorShape> {
        let side_ok = |side: u16| (1..=MAX_CURSOR_SIDE).contains(&side);
        let count = usize::from(self.width) * usize::from(self.height);
        if !side_ok(self.width) || !side_ok(self.height) || self.argb.len() != count {
            return None;
        }
        let rgba = self
            .argb
            .iter()
            .flat_map(|&pixel| unpremultiply(pixel))
            .collect();
        let shape = CursorShape {
            id: self.id,
            width: self.width,
            height: self.height,
            hot_x: self.hot_x,
            hot_y: self.hot_y,
            rgba,
        };
        shape.check().ok().map(|()| shape)
    }
}

/// One premultiplied A,R,G,B word as straight R,G,B,A bytes, which the browser's
/// `ImageData` takes.
fn unpremultiply(pixel: u32) -> [u8; 4] {
    let [a, r, g, b] = pixel.to_be_bytes();
    if a == 0 {
        return [0, 0, 0, 0];
    }
    let straight = |channel: u8| {
        let value = (u32::from(channel) * 255 + u32::from(a) / 2) / u32::from(a);
        value.min(255) as u8
    };
    [straight(r), straight(g), straight(b), a]
}

/// Why the pointer cannot be read. The session goes on without it.
#[derive(Debug, thiserror::Error)]
pub enum CursorError {
    #[error("cannot open display {display} to read the pointer: {reason}")]
    Open { display: String, reason: String },
    #[error("the X server at {0} has no XFixes 2 or later, which reading the pointer needs")]
    NoXFixes(String),
    #[error("the display went away while reading the pointer: {0}")]
    DisplayGone(String),
    #[error("the X server refused to show the pointer: {0}")]
    Refused(String),
}

/// A pointer to follow.
pub trait CursorSource: Send {
    /// The pointer now: position, image and the image's id.
    fn sample(&mut self) -> Result<CursorSample, CursorError>;
}

/// Opens the platform's pointer source for `display` (as [`super::capture::open`] opens
/// the screen).
pub fn open(display: Option<&str>) -> Result<Box<dyn CursorSource>, CursorError> {
    Ok(Box::new(x11::X11Cursor::connect(display)?))
}

/// As [`open`], for `user`'s desktop (on X11 with the user's own cookie; no user means as
/// this process).
pub fn open_for(user: Option<&str>, display: &str) -> Result<Box<dyn CursorSource>, CursorError> {
    Ok(Box::new(x11::X11Cursor::connect_for(user, Some(display))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn premultiplied_pixels_become_straight_rgba() {
        assert_eq!(unpremultiply(0xff10_2030), [0x10, 0x20, 0x30, 0xff]);
        assert_eq!(unpremultiply(0x8040_0000), [0x80, 0, 0, 0x80]);
        assert_eq!(unpremultiply(0x0000_0000), [0, 0, 0, 0]);
        // A channel above its alpha is not valid premultiplied data; it is capped.
        assert_eq!(unpremultiply(0x10ff_0000), [255, 0, 0, 0x10]);
    }

    #[test]
    fn an_image_the_protocol_cannot_carry_has_no_shape() {
        let sample = CursorSample {
            x: 0,
            y: 0,
            id: CursorId(1),
            width: 2,
            height: 1,
            hot_x: 1,
            hot_y: 0,
            argb: vec![0xff00_0000, 0xffff_ffff],
        };
        let shape = sample.shape().expect("a 2x1 shape");
        assert_eq!(shape.rgba, [0, 0, 0, 255, 255, 255, 255, 255]);
        let hot_off = CursorSample {
            hot_x: 2,
            ..sample.clone()
        };
        assert!(hot_off.shape().is_none());
        let short = CursorSample {
            argb: vec![0],
            ..sample
        };
        assert!(short.shape().is_none());
    }
}
