//! Reading frames from a QUIC stream through the protocol's sans-IO frame decoder.

use hotline_protocol::codec::{FrameDecoder, FrameError};

/// Why a stream stopped yielding frames.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadFrameError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("stream: {0}")]
    Stream(#[from] quinn::ReadError),
}

/// A receive stream cut into frame payloads.
#[derive(Debug)]
pub(crate) struct FrameReader {
    recv: quinn::RecvStream,
    decoder: FrameDecoder,
    pending: Option<quinn::Chunk>,
}

impl FrameReader {
    pub(crate) fn new(recv: quinn::RecvStream, limit: usize) -> FrameReader {
        FrameReader {
            recv,
            decoder: FrameDecoder::new(limit),
            pending: None,
        }
    }

    /// Tells the peer to stop sending on this stream.
    pub(super) fn stop(&mut self) {
        self.recv.stop(0u32.into()).ok();
    }

    /// The next payload, or `None` when the peer finished the stream cleanly.
    ///
    /// Cancel-safe: every byte read is kept in `self` before the next await, so this can be
    /// a branch of `select!`.
    pub(crate) async fn next_frame(&mut self) -> Result<Option<Vec<u8>>, ReadFrameError> {
        loop {
            if let Some(payload) = self.decoder.take_frame() {
                return Ok(Some(payload));
            }
            if let Some(chunk) = self.pending.as_mut() {
                let used = self.decoder.feed(&chunk.bytes)?;
                chunk.bytes = chunk.bytes.slice(used..);
                if chunk.bytes.is_empty() {
                    self.pending = None;
                }
                continue;
            }
            match self.recv.read_chunk(16 * 1024, true).await? {
                Some(chunk) => self.pending = Some(chunk),
                None => {
                    self.decoder.finish()?;
                    return Ok(None);
                }
            }
        }
    }
}
