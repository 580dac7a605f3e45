//! Screen frames from a hostile agent, as the console relays and the reference decoder
//! paints them: parsing never panics, a frame that parses re-encodes to its own bytes (the
//! layout is fixed, so it has one encoding), and painting it on a fresh canvas or on the
//! canvas the previous frame left either succeeds or fails with an error, never a panic.

#![no_main]

use hotline_protocol::screen::{Canvas, encode_frame, parse_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The input may hold two frames: the first byte says where the first one ends, so the
    // second is painted on what the first left (delta frames, copies of earlier pixels).
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let (first, second) = rest.split_at((usize::from(cut) * 4).min(rest.len()));

    let mut canvas = Canvas::new();
    for bytes in [first, second] {
        let frame = match parse_frame(bytes) {
            Ok(frame) => frame,
            Err(error) => {
                let _ = error.to_string();
                continue;
            }
        };
        assert_eq!(encode_frame(&frame), bytes, "re-encoding differs");
        if let Err(error) = canvas.apply(&frame) {
            let _ = error.to_string();
        }
        assert_eq!(
            canvas.rgb().len(),
            usize::from(canvas.width()) * usize::from(canvas.height()) * 3
        );
    }
});
