//! The one codec for every message: bincode 2 through serde, under one configuration whose
//! size limit is the frame limit of the stream the message travels on.
//!
//! A frame is a 4-byte big-endian payload length followed by the payload. bincode's standard
//! configuration has no size limit and the crate is no longer maintained (RUSTSEC-2025-0141),
//! so everything that touches it goes through this module: lengths are checked against the
//! stream's limit before a byte is buffered, inner lengths cannot claim more than that limit,
//! enum tags are checked before decoding, and trailing bytes are refused.

use bincode::config::{Configuration, Limit, LittleEndian, Varint};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::deploy::{DEPLOY_FRAME_LIMIT, DeployDown, DeployUp, OfferBody};
use crate::enroll::{EnrollReply, EnrollRequest};
use crate::messages::{AgentMessage, ConsoleMessage};

/// Bytes in a frame's length prefix.
pub const LENGTH_PREFIX: usize = 4;
/// Largest payload on a device's control stream.
pub const CONTROL_FRAME_LIMIT: usize = 64 * 1024;
/// Largest payload on an enrollment stream.
pub const ENROLL_FRAME_LIMIT: usize = 16 * 1024;

/// The shared encoding settings, with the limit as a type parameter so that each stream's
/// limit is enforced inside bincode as well as at the frame boundary.
type WireConfig<const LIMIT: usize> = Configuration<LittleEndian, Varint, Limit<LIMIT>>;

fn config<const LIMIT: usize>() -> WireConfig<LIMIT> {
    bincode::config::standard().with_limit::<LIMIT>()
}

/// A message type that travels in frames.
pub trait Wire: Serialize + DeserializeOwned {
    /// Name used in error messages.
    const NAME: &'static str;
    /// For an enum, how many variants it has; `None` for a struct.
    const VARIANTS: Option<u32>;
    /// Largest payload of the stream this message travels on.
    const FRAME_LIMIT: usize;

    /// Encodes the message as a payload, without the length prefix.
    fn encode_payload(&self) -> Result<Vec<u8>, EncodeError>;

    /// Decodes a whole payload: every byte must belong to the message.
    fn decode_payload(payload: &[u8]) -> Result<Self, DecodeError>;
}

macro_rules! wire {
    ($type:ty, $name:literal, $variants:expr, $limit:path) => {
        impl Wire for $type {
            const NAME: &'static str = $name;
            const VARIANTS: Option<u32> = $variants;
            const FRAME_LIMIT: usize = $limit;

            fn encode_payload(&self) -> Result<Vec<u8>, EncodeError> {
                encode_with(self, config::<{ $limit }>(), $name, $limit)
            }

            fn decode_payload(payload: &[u8]) -> Result<Self, DecodeError> {
                decode_with(payload, config::<{ $limit }>(), ($name, $limit), $variants)
            }
        }
    };
}

wire!(AgentMessage, "agent message", Some(5), CONTROL_FRAME_LIMIT);
wire!(
    ConsoleMessage,
    "console message",
    Some(6),
    CONTROL_FRAME_LIMIT
);
wire!(EnrollRequest, "enroll request", None, ENROLL_FRAME_LIMIT);
wire!(EnrollReply, "enroll reply", Some(2), ENROLL_FRAME_LIMIT);
wire!(DeployDown, "deploy message", Some(2), DEPLOY_FRAME_LIMIT);
wire!(DeployUp, "deploy reply", Some(3), DEPLOY_FRAME_LIMIT);
wire!(OfferBody, "assignment", None, DEPLOY_FRAME_LIMIT);

/// A message that could not be encoded. Only our own bug or an oversized message of our own
/// making leads here, never a peer.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("{message} too large: {len} > {limit} bytes")]
    TooLarge {
        message: &'static str,
        len: usize,
        limit: usize,
    },
    #[error("cannot encode {message}: {detail}")]
    Serde {
        message: &'static str,
        detail: String,
    },
}

/// A payload the peer sent that is not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown {message} variant {tag}")]
    UnknownVariant { message: &'static str, tag: u32 },
    #[error("{message} followed by {trailing} trailing bytes")]
    TrailingBytes {
        message: &'static str,
        trailing: usize,
    },
    #[error("{message} declares a length beyond the {limit}-byte limit")]
    LimitExceeded { message: &'static str, limit: usize },
    #[error("{message} ends early")]
    Truncated { message: &'static str },
    #[error("{message} holds invalid UTF-8")]
    InvalidUtf8 { message: &'static str },
    #[error("malformed {message}: {detail}")]
    Malformed {
        message: &'static str,
        detail: String,
    },
}

/// A byte stream that does not split into frames.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame too large: {len} > {limit} bytes")]
    TooLarge { len: u64, limit: usize },
    #[error("empty frame")]
    Empty,
    #[error("truncated frame: stream ended after {got} of {expected} bytes")]
    Truncated { got: usize, expected: usize },
}

/// Encodes `message` as one frame: length prefix and payload.
pub fn encode_frame<M: Wire>(message: &M) -> Result<Vec<u8>, EncodeError> {
    let payload = message.encode_payload()?;
    let len = u32::try_from(payload.len()).map_err(|_| EncodeError::TooLarge {
        message: M::NAME,
        len: payload.len(),
        limit: M::FRAME_LIMIT,
    })?;
    let mut frame = Vec::with_capacity(LENGTH_PREFIX + payload.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&payload);
    Ok(frame)
}

fn encode_with<M, C>(
    message: &M,
    config: C,
    name: &'static str,
    limit: usize,
) -> Result<Vec<u8>, EncodeError>
where
    M: Serialize,
    C: bincode::config::Config,
{
    let payload =
        bincode::serde::encode_to_vec(message, config).map_err(|error| EncodeError::Serde {
            message: name,
            detail: error.to_string(),
        })?;
    if payload.len() > limit {
        return Err(EncodeError::TooLarge {
            message: name,
            len: payload.len(),
            limit,
        });
    }
    Ok(payload)
}

fn decode_with<M, C>(
    payload: &[u8],
    config: C,
    (name, limit): (&'static str, usize),
    variants: Option<u32>,
) -> Result<M, DecodeError>
where
    M: DeserializeOwned,
    C: bincode::config::Config,
{
    // Check the enum tag first so that an unknown message gets an error naming its tag,
    // rather than whatever serde makes of it.
    if let Some(variants) = variants {
        let (tag, _) = bincode::decode_from_slice::<u32, C>(payload, config)
            .map_err(|error| map_decode_error(&error, name, limit))?;
        if tag >= variants {
            return Err(DecodeError::UnknownVariant { message: name, tag });
        }
    }

    let (message, used) = bincode::serde::decode_from_slice::<M, C>(payload, config)
        .map_err(|error| map_decode_error(&error, name, limit))?;
    if used != payload.len() {
        return Err(DecodeError::TrailingBytes {
            message: name,
            trailing: payload.len() - used,
        });
    }
    Ok(message)
}

fn map_decode_error(
    error: &bincode::error::DecodeError,
    message: &'static str,
    limit: usize,
) -> DecodeError {
    use bincode::error::DecodeError as E;
    match error {
        E::UnexpectedEnd { .. } => DecodeError::Truncated { message },
        E::LimitExceeded => DecodeError::LimitExceeded { message, limit },
        E::Utf8 { .. } => DecodeError::InvalidUtf8 { message },
        E::UnexpectedVariant { found, .. } => DecodeError::UnknownVariant {
            message,
            tag: *found,
        },
        other => DecodeError::Malformed {
            message,
            detail: other.to_string(),
        },
    }
}

/// Reads the protocol version at the start of a hello-like payload (an [`AgentMessage`] whose
/// variant 0 is the hello, or an [`EnrollRequest`]) without decoding the rest, so that a peer
/// on another major version is told so by name instead of getting a decode error.
pub fn peek_version(payload: &[u8], tagged: bool) -> Option<crate::ProtocolVersion> {
    let config = config::<CONTROL_FRAME_LIMIT>();
    let rest = if tagged {
        let (tag, used) = bincode::decode_from_slice::<u32, _>(payload, config).ok()?;
        if tag != 0 {
            return None;
        }
        &payload[used..]
    } else {
        payload
    };
    let (version, _) = bincode::serde::decode_from_slice(rest, config).ok()?;
    Some(version)
}

/// Splits a byte stream into frame payloads without trusting any length it reads.
///
/// The payload buffer is allocated only once a length prefix has passed the limit check, and
/// [`FrameDecoder::feed`] stops at each frame's end, so memory stays below one frame plus
/// whatever chunk the caller holds.
#[derive(Debug)]
pub struct FrameDecoder {
    limit: usize,
    prefix: [u8; LENGTH_PREFIX],
    prefix_len: usize,
    payload: Option<(usize, Vec<u8>)>,
    ready: Option<Vec<u8>>,
}

impl FrameDecoder {
    /// A decoder for a stream whose payloads may be at most `limit` bytes.
    pub fn new(limit: usize) -> FrameDecoder {
        FrameDecoder {
            limit,
            prefix: [0; LENGTH_PREFIX],
            prefix_len: 0,
            payload: None,
            ready: None,
        }
    }

    /// Consumes bytes from `input` until it runs out or a frame is complete, and returns how
    /// many it consumed. A complete frame waits in [`FrameDecoder::take_frame`]; until it is
    /// taken, `feed` consumes nothing.
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, FrameError> {
        if self.ready.is_some() {
            return Ok(0);
        }
        let mut used = 0;

        // The length prefix, which may arrive split across chunks.
        if self.payload.is_none() {
            let take = (LENGTH_PREFIX - self.prefix_len).min(input.len());
            self.prefix[self.prefix_len..self.prefix_len + take].copy_from_slice(&input[..take]);
            self.prefix_len += take;
            used += take;
            if self.prefix_len < LENGTH_PREFIX {
                return Ok(used);
            }
            let len = u32::from_be_bytes(self.prefix);
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            if len == 0 {
                return Err(FrameError::Empty);
            }
            if len > self.limit {
                return Err(FrameError::TooLarge {
                    len: u64::from(u32::from_be_bytes(self.prefix)),
                    limit: self.limit,
                });
            }
            self.payload = Some((len, Vec::with_capacity(len)));
        }

        // The payload.
        if let Some((len, buffer)) = self.payload.as_mut() {
            let take = (*len - buffer.len()).min(input.len() - used);
            buffer.extend_from_slice(&input[used..used + take]);
            used += take;
            if buffer.len() == *len {
                self.ready = self.payload.take().map(|(_, buffer)| buffer);
                self.prefix_len = 0;
            }
        }
        Ok(used)
    }

    /// The next complete payload, if there is one.
    pub fn take_frame(&mut self) -> Option<Vec<u8>> {
        self.ready.take()
    }

    /// Called when the stream ends: an error if it ended inside a frame.
    pub fn finish(&self) -> Result<(), FrameError> {
        match (&self.payload, self.prefix_len) {
            (Some((expected, buffer)), _) => Err(FrameError::Truncated {
                got: buffer.len() + LENGTH_PREFIX,
                expected: expected + LENGTH_PREFIX,
            }),
            (None, 0) => Ok(()),
            (None, got) => Err(FrameError::Truncated {
                got,
                expected: LENGTH_PREFIX,
            }),
        }
    }
}

#[cfg(test)]
mod tests;
