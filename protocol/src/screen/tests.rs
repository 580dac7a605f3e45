use super::*;

fn rect(x: u16, y: u16, w: u16, h: u16) -> Rect {
    Rect { x, y, w, h }
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A 4x2 key frame: a lossless left half (filtered), a red fill on the right half.
fn key_frame() -> ScreenFrame {
    let raw: [u8; 12] = [10, 20, 30, 11, 21, 31, 12, 22, 32, 13, 23, 33];
    let mut filtered = raw;
    for row in filtered.chunks_exact_mut(6) {
        for i in (3..6).rev() {
            row[i] = row[i].wrapping_sub(row[i - 3]);
        }
    }
    ScreenFrame {
        key: true,
        width: 4,
        height: 2,
        seq: 1,
        updates: vec![
            Update::Lossless {
                rect: rect(0, 0, 2, 2),
                filter: Filter::Left,
            },
            Update::Fill {
                rect: rect(2, 0, 2, 2),
                rgb: [255, 0, 0],
            },
        ],
        pixels: deflate(&filtered),
    }
}

#[test]
fn a_frame_round_trips_through_bytes_and_paints_the_canvas() {
    let frame = key_frame();
    let bytes = encode_frame(&frame);
    assert_eq!(parse_frame(&bytes).unwrap(), frame);

    let mut canvas = Canvas::new();
    canvas.apply(&frame).unwrap();
    assert_eq!(
        canvas.rgb(),
        [
            10, 20, 30, 11, 21, 31, 255, 0, 0, 255, 0, 0, //
            12, 22, 32, 13, 23, 33, 255, 0, 0, 255, 0, 0,
        ]
    );
}

#[test]
fn an_overlapping_copy_moves_pixels_as_through_a_temporary_buffer() {
    let mut canvas = Canvas::new();
    canvas.apply(&key_frame()).unwrap();
    let copy = ScreenFrame {
        key: false,
        width: 4,
        height: 2,
        seq: 2,
        updates: vec![Update::Copy {
            rect: rect(1, 0, 3, 2),
            src_x: 0,
            src_y: 0,
        }],
        pixels: Vec::new(),
    };
    canvas
        .apply(&parse_frame(&encode_frame(&copy)).unwrap())
        .unwrap();
    assert_eq!(
        &canvas.rgb()[..12],
        [10, 20, 30, 10, 20, 30, 11, 21, 31, 255, 0, 0]
    );
}

#[test]
fn rectangles_and_copy_sources_off_the_screen_are_refused() {
    let mut frame = key_frame();
    frame.updates[1] = Update::Fill {
        rect: rect(3, 0, 2, 2),
        rgb: [0; 3],
    };
    let error = parse_frame(&encode_frame(&frame)).unwrap_err();
    assert!(
        matches!(error, FrameParseError::Outside { index: 1, .. }),
        "{error}"
    );

    frame.updates[1] = Update::Copy {
        rect: rect(2, 0, 2, 2),
        src_x: 3,
        src_y: 0,
    };
    let error = parse_frame(&encode_frame(&frame)).unwrap_err();
    assert!(
        matches!(error, FrameParseError::CopySourceOutside { index: 1, .. }),
        "{error}"
    );
}

#[test]
fn a_pixel_stream_that_inflates_too_far_is_refused() {
    let mut frame = key_frame();
    frame.pixels = deflate(&[0; 13]);
    let error = Canvas::new().apply(&frame).unwrap_err();
    assert_eq!(
        error,
        PixelError::PixelCount {
            got: 13,
            expected: 12
        }
    );
    frame.pixels = deflate(&[0; 11]);
    let error = Canvas::new().apply(&frame).unwrap_err();
    assert_eq!(
        error,
        PixelError::PixelCount {
            got: 11,
            expected: 12
        }
    );
}

#[test]
fn headers_claiming_more_than_the_limits_are_refused_before_allocating() {
    let mut bytes = encode_frame(&key_frame());
    // The rectangle count: 16385, far more than the bytes present.
    bytes[10..12].copy_from_slice(&16385u16.to_le_bytes());
    assert_eq!(
        parse_frame(&bytes).unwrap_err(),
        FrameParseError::TooManyRects(16385)
    );
    // A count within the limit but beyond the bytes present fails on what follows.
    bytes[10..12].copy_from_slice(&16000u16.to_le_bytes());
    assert!(parse_frame(&bytes).is_err());

    let mut bytes = encode_frame(&key_frame());
    bytes[2..4].copy_from_slice(&0u16.to_le_bytes());
    assert!(matches!(
        parse_frame(&bytes).unwrap_err(),
        FrameParseError::BadSize { .. }
    ));
    let mut bytes = encode_frame(&key_frame());
    bytes[0] = 2;
    assert_eq!(
        parse_frame(&bytes).unwrap_err(),
        FrameParseError::UnknownVersion(2)
    );
    let mut bytes = encode_frame(&key_frame());
    bytes.push(0);
    assert_eq!(
        parse_frame(&bytes).unwrap_err(),
        FrameParseError::TrailingBytes(1)
    );
}

#[test]
fn a_delta_frame_before_a_key_frame_is_refused() {
    let mut frame = key_frame();
    frame.key = false;
    let error = Canvas::new().apply(&frame).unwrap_err();
    assert!(matches!(error, PixelError::SizeMismatch { .. }), "{error}");
}

#[test]
fn a_jpeg_of_another_size_than_its_rectangle_is_refused() {
    let mut frame = key_frame();
    frame.updates[1] = Update::Jpeg {
        rect: rect(2, 0, 2, 2),
        data: vec![0xff, 0xd8, 0xff, 0xd9],
    };
    let error = Canvas::new().apply(&frame).unwrap_err();
    assert!(
        matches!(error, PixelError::Jpeg { index: 1, .. }),
        "{error}"
    );
}

/// What the fuzz target checks, run on a few thousand mutations of a valid frame so that a
/// plain `cargo test` exercises the refusals too: no panic, and whatever parses re-encodes
/// to its own bytes.
#[test]
fn mutated_frames_are_refused_or_painted_without_panicking() {
    let mut frame = key_frame();
    frame.updates.push(Update::Copy {
        rect: rect(0, 1, 2, 1),
        src_x: 1,
        src_y: 0,
    });
    let valid = encode_frame(&frame);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..5000 {
        let mut bytes = valid.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % bytes.len();
            bytes[at] = next() as u8;
        }
        if next() % 8 == 0 {
            bytes.truncate((next() as usize) % bytes.len());
        }
        let Ok(parsed) = parse_frame(&bytes) else {
            continue;
        };
        assert_eq!(encode_frame(&parsed), bytes);
        let mut canvas = Canvas::new();
        let _ = canvas.apply(&parsed);
        assert_eq!(
            canvas.rgb().len(),
            usize::from(canvas.width()) * usize::from(canvas.height()) * 3
        );
    }
}
