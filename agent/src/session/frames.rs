//! The capture loop of a running session, on its own blocking thread: capture, encode what
//! changed, and hand the frame to the stream writer, at most [`FRAME_INTERVAL`] apart and
//! only while the viewer's window has room. A capture the window has no room for is not
//! made at all: frames are skipped on a slow link, never queued.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hotline_protocol::remote::Phase;
use hotline_protocol::screen::SCREEN_FRAME_LIMIT;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::{debug, trace};

use super::cursor::CursorIn;
use crate::screen::capture::{Area, CaptureError, ScreenSource};
use crate::screen::encode::{Encoder, Mode};
use crate::screen::input::Monitor as Bounds;

/// Shortest time between two captures: about 20 frames a second.
pub const FRAME_INTERVAL: Duration = Duration::from_millis(50);
/// How long the loop waits before it looks again at a full window or a blank screen.
const IDLE_POLL: Duration = Duration::from_millis(10);
/// After the analyst's input, the capture that shows its effect comes this soon: time for
/// the application to draw its answer to the key or click.
const INPUT_SETTLE: Duration = Duration::from_millis(4);
/// For this long after input the loop captures at [`ACTIVE_INTERVAL`]: an application that
/// took longer than [`INPUT_SETTLE`] to answer is caught at the next look, not a whole
/// [`FRAME_INTERVAL`] later.
const ACTIVE: Duration = Duration::from_millis(300);
const ACTIVE_INTERVAL: Duration = Duration::from_millis(16);
/// Never two captures closer than this, however fast input comes.
const MIN_INTERVAL: Duration = Duration::from_millis(8);

/// Why the capture loop stopped on its own.
#[derive(Debug, thiserror::Error)]
pub(super) enum FramesError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("a frame of {0} bytes is over the frame stream's limit of {SCREEN_FRAME_LIMIT}")]
    TooLarge(usize),
}

/// When the capture loop looks next: at its steady rate while the analyst only watches, and
/// soon after their input, whose effect they are waiting to see. An analyst typing is
/// judged by the time from key to pixels, which a steady 20 frames a second alone would
/// stretch by up to [`FRAME_INTERVAL`].
#[derive(Debug, Default)]
pub(super) struct Pace {
    input: Mutex<Option<Instant>>,
    woken: Condvar,
}

impl Pace {
    /// Input was just put on the desktop: look again soon.
    pub(super) fn input_applied(&self) {
        *lock(&self.input) = Some(Instant::now());
        self.woken.notify_one();
    }

    /// Sleeps until the capture after one that started at `started` is due.
    fn wait_after(&self, started: Instant) {
        let mut input = lock(&self.input);
        loop {
            let now = Instant::now();
            let due = next_due(started, *input, now);
            if now >= due {
                return;
            }
            input = self
                .woken
                .wait_timeout(input, due - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// When the capture after one that started at `started` is due, given the last input.
fn next_due(started: Instant, input: Option<Instant>, now: Instant) -> Instant {
    let steady = started + FRAME_INTERVAL;
    let soonest = started + MIN_INTERVAL;
    match input {
        // Input the last capture cannot have shown: look once the application has drawn.
        Some(at) if at >= started => steady.min(at + INPUT_SETTLE).max(soonest),
        Some(at) if now.saturating_duration_since(at) < ACTIVE => {
            steady.min(started + ACTIVE_INTERVAL)
        }
        _ => steady,
    }
}

/// What the loop shares with the session's driver.
#[derive(Debug, Clone)]
pub(super) struct Shared {
    /// The session's phase: the loop captures only while it allows, and counts frames in
    /// its window.
    pub(super) phase: Arc<Mutex<Phase>>,
    /// What to capture; the driver changes it when the analyst picks another monitor.
    pub(super) area: Arc<Mutex<Area>>,
    /// The captured area in root pixels, which pointer positions are relative to.
    pub(super) bounds: Arc<Mutex<Bounds>>,
    /// Told of input, so the capture showing its effect comes soon.
    pub(super) pace: Arc<Pace>,
}

/// Captures until the phase stops allowing it (`Ok`), the writer is gone (`Ok`), or the
/// screen cannot be captured any more (`Err`).
pub(super) fn run(
    mut source: Box<dyn ScreenSource>,
    shared: &Shared,
    frames: &mpsc::Sender<Vec<u8>>,
) -> Result<(), FramesError> {
    // The encoder numbers its frames from 1 as the window does, and every frame it returns
    // is sent and counted, so its `seq` is the one the viewer acknowledges.
    let mut encoder = Encoder::new(Mode::Auto);
    let mut last_area: Option<Area> = None;
    loop {
        let started = Instant::now();
        match room(&shared.phase) {
            None => return Ok(()),
            Some(false) => {
                std::thread::sleep(IDLE_POLL);
                continue;
            }
            Some(true) => {}
        }

        // A different area is another canvas: start the viewer on a key frame.
        let area = lock(&shared.area).clone();
        if last_area.as_ref() != Some(&area) {
            encoder.reset();
            last_area = Some(area.clone());
        }
        let frame = match source.capture(&area) {
            Ok(frame) => frame,
            // A blanked screen is not sent as the caller's desktop; the viewer keeps the last
            // picture until there is something to show again.
            Err(CaptureError::AllBlack(why)) => {
                trace!(why, "screen is black; no frame sent");
                std::thread::sleep(FRAME_INTERVAL);
                continue;
            }
            Err(error) => return Err(error.into()),
        };

        if let Some((bytes, stats)) = encoder.encode(&frame) {
            if bytes.len() > SCREEN_FRAME_LIMIT {
                return Err(FramesError::TooLarge(bytes.len()));
            }
            let seq = {
                let mut phase = lock(&shared.phase);
                match phase.frames() {
                    Some(window) => window.next_seq(),
                    // Ended while this frame was being made: it never leaves.
                    None => return Ok(()),
                }
            };
            trace!(seq, bytes = bytes.len(), ?stats, "frame");
            if frames.blocking_send(bytes).is_err() {
                debug!("frame writer gone; capture stops");
                return Ok(());
            }
        }
        shared.pace.wait_after(started);
    }
}

/// Whether the window has room for a frame, or `None` once the session may not capture.
fn room(phase: &Mutex<Phase>) -> Option<bool> {
    let mut phase = lock(phase);
    if !phase.may_capture() {
        return None;
    }
    phase.frames().map(|window| window.may_send())
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The data behind these locks is plain state updated in one step each; a panic
    // elsewhere cannot leave it half-written.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Writes the frame stream after its session id: each record (frame or cursor) behind its
/// 4-byte big-endian length, until the capture loop drops its sender; then finishes the
/// stream. Shapes go before positions (a position may name the shape just queued), and
/// both before frames, which are large and few.
pub(super) async fn write<S: AsyncWrite + Unpin>(
    mut stream: S,
    mut frames: mpsc::Receiver<Vec<u8>>,
    CursorIn {
        mut shapes,
        mut position,
    }: CursorIn,
) -> std::io::Result<()> {
    loop {
        // A closed cursor channel fails its pattern and is left out of this wait; the
        // stream ends with the frames.
        let record = tokio::select! {
            biased;
            Some(shape) = shapes.recv() => shape,
            Ok(()) = position.changed() => match position.borrow_and_update().clone() {
                Some(record) => record,
                None => continue,
            },
            frame = frames.recv() => match frame {
                Some(frame) => frame,
                None => break,
            },
        };
        let len = u32::try_from(record.len()).map_err(std::io::Error::other)?;
        stream.write_all(&len.to_be_bytes()).await?;
        stream.write_all(&record).await?;
    }
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    #[test]
    fn input_brings_the_next_capture_forward_and_keeps_the_pace_up_for_a_while() {
        let started = Instant::now();
        let ms = Duration::from_millis;

        // Nobody typing: the steady rate.
        assert_eq!(next_due(started, None, started), started + FRAME_INTERVAL);

        // A key just after a capture began: the next one once the application has drawn,
        // but never sooner than the shortest interval.
        let key = started + ms(10);
        assert_eq!(next_due(started, Some(key), key), key + INPUT_SETTLE);
        assert_eq!(
            next_due(started, Some(started), started),
            started + MIN_INTERVAL
        );

        // A key the last capture already followed: a faster pace while it is recent, the
        // steady one after.
        let earlier = started - ms(100);
        assert_eq!(
            next_due(started, Some(earlier), started),
            started + ACTIVE_INTERVAL
        );
        let long_ago = started - ACTIVE - ms(1);
        assert_eq!(
            next_due(started, Some(long_ago), started),
            started + FRAME_INTERVAL
        );
    }

    #[tokio::test]
    async fn frames_go_behind_a_big_endian_length_and_the_stream_finishes() {
        let (agent, mut viewer) = tokio::io::duplex(1024);
        let (frames, received) = mpsc::channel(2);
        let (cursor_out, cursor_in) = super::super::cursor::channel();
        drop(cursor_out);
        let writer = tokio::spawn(write(agent, received, cursor_in));
        frames.send(vec![1, 2, 3]).await.expect("writer running");
        frames.send(vec![9; 300]).await.expect("writer running");
        drop(frames);
        writer.await.expect("writer task").expect("written");

        let mut bytes = Vec::new();
        viewer
            .read_to_end(&mut bytes)
            .await
            .expect("read to the end");
        assert_eq!(&bytes[..7], &[0, 0, 0, 3, 1, 2, 3]);
        assert_eq!(&bytes[7..11], &300u32.to_be_bytes());
        assert_eq!(bytes.len(), 11 + 300);
    }

    #[tokio::test]
    async fn positions_not_yet_written_give_way_to_the_latest() {
        let (agent, mut viewer) = tokio::io::duplex(1024);
        let (frames, received) = mpsc::channel(2);
        let (cursor_out, cursor_in) = super::super::cursor::channel();
        // Queued before the writer runs: one shape, then three positions of which only the
        // last is still there to write.
        cursor_out.shapes.send(vec![0x10, 1]).await.expect("queued");
        for x in 1..=3 {
            cursor_out.position.send_replace(Some(vec![0x11, x]));
        }
        let writer = tokio::spawn(write(agent, received, cursor_in));
        let mut bytes = [0u8; 12];
        viewer.read_exact(&mut bytes).await.expect("two records");
        assert_eq!(bytes, [0, 0, 0, 2, 0x10, 1, 0, 0, 0, 2, 0x11, 3]);
        drop((frames, cursor_out));
        writer.await.expect("writer task").expect("written");
        let mut rest = Vec::new();
        viewer.read_to_end(&mut rest).await.expect("the end");
        assert!(
            rest.is_empty(),
            "nothing after the latest position: {rest:?}"
        );
    }
}
