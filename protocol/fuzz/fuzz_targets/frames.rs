//! Frame decoding of hostile bytes: whatever the bytes and however the stream is cut into
//! chunks, the `FrameDecoder` yields the same frames as a one-pass reference, none over the
//! limit, nothing panics, and every payload that decodes as a message re-encodes to a payload
//! that decodes to the same message.

#![no_main]

use std::fmt::Debug;

use hotline_protocol::codec::{CONTROL_FRAME_LIMIT, FrameDecoder, FrameError, LENGTH_PREFIX};
use hotline_protocol::codec::{Wire, peek_version};
use hotline_protocol::deploy::{DeployDown, DeployUp};
use hotline_protocol::enroll::{EnrollReply, EnrollRequest};
use hotline_protocol::messages::{AgentMessage, ConsoleMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (sizes, stream) = split_input(data);
    let (expected_frames, expected_end) = reference_frames(stream);

    let mut decoder = FrameDecoder::new(CONTROL_FRAME_LIMIT);
    let mut frames = Vec::new();
    let end = feed_in_chunks(&mut decoder, stream, sizes, &mut frames);
    assert_eq!(end, expected_end, "chunk sizes {sizes:?}");
    assert_eq!(frames.len(), expected_frames.len(), "chunk sizes {sizes:?}");
    assert!(
        frames.iter().eq(expected_frames.iter()),
        "chunk sizes {sizes:?}"
    );

    for payload in &frames {
        check_payload(payload);
    }
});

/// Splits the input into chunk sizes and the stream: the first byte says how many of the
/// next bytes (0 to 7) are chunk sizes, so the fuzzer mutates the cutting and the bytes
/// independently.
fn split_input(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((&count, rest)) = data.split_first() else {
        return (&[], &[]);
    };
    rest.split_at(usize::from(count % 8).min(rest.len()))
}

/// Feeds `stream` to the decoder in chunks whose sizes cycle through `sizes`, taking each
/// frame as it completes, the way the IO layer does. A size of 0 feeds an empty chunk before
/// a 1-byte one, 255 feeds the rest of the stream, and no sizes feeds it all at once. Returns
/// the first framing error, or what `finish` says at the end of the stream.
fn feed_in_chunks(
    decoder: &mut FrameDecoder,
    stream: &[u8],
    sizes: &[u8],
    frames: &mut Vec<Vec<u8>>,
) -> Result<(), FrameError> {
    let mut rest = stream;
    let mut sizes = sizes.iter().copied().cycle();
    while !rest.is_empty() {
        let size = sizes.next().unwrap_or(255);
        if size == 0 {
            feed_chunk(decoder, &[], frames)?;
        }
        let take = match size {
            255 => rest.len(),
            size => usize::from(size).clamp(1, rest.len()),
        };
        let (chunk, after) = rest.split_at(take);
        feed_chunk(decoder, chunk, frames)?;
        rest = after;
    }
    decoder.finish()
}

fn feed_chunk(
    decoder: &mut FrameDecoder,
    mut chunk: &[u8],
    frames: &mut Vec<Vec<u8>>,
) -> Result<(), FrameError> {
    loop {
        let used = decoder.feed(chunk)?;
        assert!(
            used <= chunk.len(),
            "fed {} bytes, used {used}",
            chunk.len()
        );
        chunk = &chunk[used..];
        let Some(payload) = decoder.take_frame() else {
            // `feed` may leave input unread only when a frame is complete: the IO layer
            // takes a chunk as used up once no frame is waiting.
            assert!(chunk.is_empty(), "{} bytes left unread", chunk.len());
            return Ok(());
        };
        assert!(
            !payload.is_empty() && payload.len() <= CONTROL_FRAME_LIMIT,
            "frame of {} bytes from a decoder limited to {CONTROL_FRAME_LIMIT}",
            payload.len()
        );
        frames.push(payload);
    }
}

/// The frames of a whole stream in one pass over it, as the format defines them: a 4-byte
/// big-endian length, never 0 nor above the limit, then that many bytes.
fn reference_frames(stream: &[u8]) -> (Vec<&[u8]>, Result<(), FrameError>) {
    let mut frames = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let Some((prefix, after)) = rest.split_first_chunk::<LENGTH_PREFIX>() else {
            let error = FrameError::Truncated {
                got: rest.len(),
                expected: LENGTH_PREFIX,
            };
            return (frames, Err(error));
        };
        let len = u32::from_be_bytes(*prefix);
        if len == 0 {
            return (frames, Err(FrameError::Empty));
        }
        if len as usize > CONTROL_FRAME_LIMIT {
            let error = FrameError::TooLarge {
                len: u64::from(len),
                limit: CONTROL_FRAME_LIMIT,
            };
            return (frames, Err(error));
        }
        if after.len() < len as usize {
            let error = FrameError::Truncated {
                got: rest.len(),
                expected: LENGTH_PREFIX + len as usize,
            };
            return (frames, Err(error));
        }
        let (payload, after) = after.split_at(len as usize);
        frames.push(payload);
        rest = after;
    }
    (frames, Ok(()))
}

/// Decodes one payload as every message type, as a confused or hostile peer could make any
/// stream carry any of them.
fn check_payload(payload: &[u8]) {
    // The console reads the version of a first frame before decoding it, and must read the
    // same version that a full decode finds.
    match round_trip::<AgentMessage>(payload) {
        Some(AgentMessage::Hello(hello)) => {
            assert_eq!(peek_version(payload, true), Some(hello.protocol));
        }
        // The console checks every audit entry it decodes: the check must not panic, and
        // an entry that passes must hash the same way twice.
        Some(AgentMessage::Audit(entry)) if entry.check().is_ok() => {
            assert_eq!(entry.compute_hash(), entry.hash);
        }
        _ => {}
    }
    round_trip::<ConsoleMessage>(payload);
    if let Some(request) = round_trip::<EnrollRequest>(payload) {
        assert_eq!(peek_version(payload, false), Some(request.protocol));
    }
    round_trip::<EnrollReply>(payload);
    // Deployment streams: an offer's limit check runs on whatever decodes, and must not
    // panic; neither may counting its chunks.
    if let Some(DeployDown::Offer(offer)) = round_trip::<DeployDown>(payload) {
        let _ = offer.check_limits();
        let _ = offer.chunk_count();
        let _ = offer.assignment.signing_bytes();
    }
    round_trip::<DeployUp>(payload);
}

/// Decodes `payload` as `M`; when that succeeds, checks that the message re-encodes and that
/// the encoding decodes to the same message, and returns the message.
fn round_trip<M: Wire + PartialEq + Debug>(payload: &[u8]) -> Option<M> {
    let message = match M::decode_payload(payload) {
        Ok(message) => message,
        Err(error) => {
            // The sessions put this text in close reasons, so formatting it must not panic.
            let _ = error.to_string();
            return None;
        }
    };
    let encoded = message.encode_payload().unwrap_or_else(|error| {
        panic!(
            "{} decoded from {} bytes but does not re-encode: {error}",
            M::NAME,
            payload.len()
        )
    });

    // bincode 2 decodes a non-canonical varint (1 as `251, 1, 0`) like the canonical one, so
    // a payload need not re-encode to its own bytes: this fuzzer's first run found
    // `[1, 1, 251, 1, 0, 1]`, an enroll reply that re-encodes as `[1, 1, 1, 1]`. The canonical
    // form is the shortest, and varints are the only freedom bincode leaves, so the encoding
    // is never longer and equals the payload whenever it is as long.
    assert!(
        encoded.len() < payload.len() || encoded == payload,
        "{} of {} bytes re-encodes to {encoded:?}",
        M::NAME,
        payload.len()
    );
    assert_eq!(M::decode_payload(&encoded).ok().as_ref(), Some(&message));
    Some(message)
}
