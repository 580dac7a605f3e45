//! The records of a session's frame stream. Each record's first byte is its tag: a screen
//! frame opens with its version ([`super::FRAME_VERSION`], tags 0x01..=0x0f are kept for
//! later frame versions), a cursor record with [`super::TAG_CURSOR_SHAPE`] or
//! [`super::TAG_CURSOR_POSITION`]. So the console tells them apart from one byte and relays
//! either unchanged, and the browser routes a binary message the same way.

use super::{
    CursorParseError, CursorUpdate, FRAME_VERSION, FrameParseError, ScreenFrame,
    TAG_CURSOR_POSITION, TAG_CURSOR_SHAPE, parse_cursor, parse_frame,
};

/// What a record is, from its tag alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A screen frame; counted in the two-frame window and acknowledged.
    Frame,
    /// A cursor shape; never dropped, since the viewer's cache follows them.
    CursorShape,
    /// A cursor position; only the latest matters, so one may replace another unsent.
    CursorPosition,
}

/// A parsed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Frame(ScreenFrame),
    Cursor(CursorUpdate),
}

/// Bytes that are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordParseError {
    #[error("empty record on the frame stream")]
    Empty,
    #[error("record tag {0:#x} is not known (frames open with {FRAME_VERSION})")]
    UnknownTag(u8),
    #[error(transparent)]
    Frame(#[from] FrameParseError),
    #[error(transparent)]
    Cursor(#[from] CursorParseError),
}

/// The kind of record `bytes` holds, from its tag.
pub fn record_kind(bytes: &[u8]) -> Result<RecordKind, RecordParseError> {
    match bytes.first() {
        None => Err(RecordParseError::Empty),
        Some(&FRAME_VERSION) => Ok(RecordKind::Frame),
        Some(&TAG_CURSOR_SHAPE) => Ok(RecordKind::CursorShape),
        Some(&TAG_CURSOR_POSITION) => Ok(RecordKind::CursorPosition),
        Some(&tag) => Err(RecordParseError::UnknownTag(tag)),
    }
}

/// Parses one record, checking every limit of its kind.
pub fn parse_record(bytes: &[u8]) -> Result<Record, RecordParseError> {
    match record_kind(bytes)? {
        RecordKind::Frame => Ok(Record::Frame(parse_frame(bytes)?)),
        RecordKind::CursorShape | RecordKind::CursorPosition => {
            Ok(Record::Cursor(parse_cursor(bytes)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screen::{CursorPosition, encode_cursor, encode_frame};

    #[test]
    fn the_tag_tells_frames_from_cursor_records() {
        let frame = ScreenFrame {
            key: true,
            width: 1,
            height: 1,
            seq: 1,
            updates: Vec::new(),
            pixels: Vec::new(),
        };
        let bytes = encode_frame(&frame);
        assert_eq!(record_kind(&bytes), Ok(RecordKind::Frame));
        assert_eq!(parse_record(&bytes), Ok(Record::Frame(frame)));

        let hidden = CursorUpdate::Position(CursorPosition::Hidden);
        let bytes = encode_cursor(&hidden);
        assert_eq!(record_kind(&bytes), Ok(RecordKind::CursorPosition));
        assert_eq!(parse_record(&bytes), Ok(Record::Cursor(hidden)));

        assert_eq!(parse_record(&[]), Err(RecordParseError::Empty));
        assert_eq!(parse_record(&[2, 0]), Err(RecordParseError::UnknownTag(2)));
        assert!(matches!(
            parse_record(&[TAG_CURSOR_SHAPE]),
            Err(RecordParseError::Cursor(_))
        ));
    }
}
