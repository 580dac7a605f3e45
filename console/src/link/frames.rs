//! The frame streams of remote screen sessions: a device opens one unidirectional stream per
//! running session, names the session in its first 16 bytes, then sends length-prefixed
//! records: screen frames and cursor records, told apart by their first byte. Each record's
//! layout and limits are checked before it is handed to the session's viewer; the console
//! does not re-encode it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hotline_protocol::DeviceId;
use hotline_protocol::remote::{SESSION_ID_LEN, SessionId};
use hotline_protocol::screen::{SCREEN_FRAME_LIMIT, parse_record, record_kind};
use tracing::{Instrument, debug, info_span};

/// Longest a frame stream waits for its session's answer to arrive on the control stream.
const ANSWER_WAIT: Duration = Duration::from_secs(10);
/// How often it looks.
const ANSWER_POLL: Duration = Duration::from_millis(20);

use super::Link;
use super::wire::FrameReader;
use crate::sessions::Welcome;

/// Accepts the device's frame streams until its connection ends.
pub(super) async fn accept(link: Arc<Link>, connection: quinn::Connection, device: DeviceId) {
    while let Ok(stream) = connection.accept_uni().await {
        let span = info_span!("frames", device = device.as_str());
        tokio::spawn(relay(link.clone(), stream, device.clone()).instrument(span));
    }
}

/// Whether the stream for session `id` may carry frames. The device opens it right after
/// sending its answer, but the two travel on different streams and the answer is handled in
/// the device's session loop, behind whatever it queued before: a stream for a session
/// still waiting for its answer is held, with no frame read, until the answer arrives or
/// [`ANSWER_WAIT`] passes.
async fn welcome(link: &Link, device: &DeviceId, id: SessionId) -> bool {
    let deadline = tokio::time::Instant::now() + ANSWER_WAIT;
    loop {
        match link.sessions.accepts_frames(device, id) {
            Welcome::Now => return true,
            Welcome::Never => return false,
            Welcome::NotYet if tokio::time::Instant::now() >= deadline => return false,
            Welcome::NotYet => tokio::time::sleep(ANSWER_POLL).await,
        }
    }
}

/// Relays one stream's records to its session's viewer, until the stream ends, the session
/// is over, or the device sends something that is not a valid record.
async fn relay(link: Arc<Link>, mut stream: quinn::RecvStream, device: DeviceId) {
    let mut id = [0u8; SESSION_ID_LEN];
    if let Err(error) = stream.read_exact(&mut id).await {
        debug!(%error, "frame stream ended before naming its session");
        return;
    }
    let id = SessionId(id);
    if !welcome(&link, &device, id).await {
        debug!(session = %id, "frame stream for a session this device does not run; stopped");
        stream.stop(0u32.into()).ok();
        return;
    }

    let mut reader = FrameReader::new(stream, SCREEN_FRAME_LIMIT);
    loop {
        let payload = match reader.next_frame().await {
            Ok(Some(payload)) => payload,
            Ok(None) => return,
            Err(error) => {
                debug!(session = %id, %error, "frame stream failed");
                return;
            }
        };
        let kind = match parse_record(&payload).and(record_kind(&payload)) {
            Ok(kind) => kind,
            Err(error) => {
                debug!(session = %id, %error, "malformed frame stream record; stream stopped");
                reader.stop();
                return;
            }
        };
        if !link
            .sessions
            .on_record(&device, id, kind, Bytes::from(payload))
        {
            reader.stop();
            return;
        }
    }
}
