//! Records of a frame stream from a hostile agent, as the console tells them apart and the
//! reference viewer applies them: parsing never panics, a cursor record that parses
//! re-encodes to its own bytes (its layout has one encoding), and applying a run of them
//! keeps the shape cache within its bound and never draws a shape it does not hold.

#![no_main]

use hotline_protocol::screen::{
    CURSOR_CACHE, CursorView, Record, encode_cursor, encode_frame, parse_record, record_kind,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The input is a run of records, each behind a two-byte little-endian length, so
    // positions can follow the shapes they name.
    let mut view = CursorView::default();
    let mut rest = data;
    while let [low, high, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*low, *high]));
        let (bytes, next) = tail.split_at(len.min(tail.len()));
        rest = next;
        let kind = record_kind(bytes);
        match parse_record(bytes) {
            Ok(Record::Frame(frame)) => {
                assert!(kind.is_ok());
                assert_eq!(encode_frame(&frame), bytes, "re-encoding a frame differs");
            }
            Ok(Record::Cursor(update)) => {
                assert!(kind.is_ok());
                assert_eq!(
                    encode_cursor(&update),
                    bytes,
                    "re-encoding a cursor differs"
                );
                if let Err(error) = view.apply(&update) {
                    let _ = error.to_string();
                }
            }
            Err(error) => {
                let _ = error.to_string();
            }
        }
        assert!(view.shapes().len() <= CURSOR_CACHE);
        if let Some((shape, _, _)) = view.pointer() {
            assert!(view.shapes().contains(shape.id));
        }
    }
});
