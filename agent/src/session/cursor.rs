//! The pointer loop of a running session, on its own blocking thread: read the caller's
//! pointer at the capture rate, send its shape when the viewer does not hold it, and its
//! position (relative to the captured area, hidden off it) when it changed. Shapes queue,
//! since the viewer's cache follows them; positions replace each other unsent, so a slow
//! link never backs them up.

use std::sync::{Arc, Mutex};

use hotline_protocol::remote::Phase;
use hotline_protocol::screen::{CursorCache, CursorPosition, CursorUpdate, encode_cursor};
use tokio::sync::{mpsc, watch};
use tracing::{debug, trace, warn};

use super::frames::{FRAME_INTERVAL, lock};
use crate::screen::cursor::{CursorSample, CursorSource};
use crate::screen::input::Monitor as Bounds;

/// Where the pointer loop's records go: shapes in order, the latest position alone.
#[derive(Debug)]
pub(super) struct CursorOut {
    pub(super) shapes: mpsc::Sender<Vec<u8>>,
    pub(super) position: watch::Sender<Option<Vec<u8>>>,
}

/// The writer's side of [`CursorOut`].
#[derive(Debug)]
pub(super) struct CursorIn {
    pub(super) shapes: mpsc::Receiver<Vec<u8>>,
    pub(super) position: watch::Receiver<Option<Vec<u8>>>,
}

/// Shapes waiting for the writer; a few, since the pointer changes shape rarely.
const SHAPE_QUEUE: usize = 4;

pub(super) fn channel() -> (CursorOut, CursorIn) {
    let (shapes_out, shapes_in) = mpsc::channel(SHAPE_QUEUE);
    let (position_out, position_in) = watch::channel(None);
    (
        CursorOut {
            shapes: shapes_out,
            position: position_out,
        },
        CursorIn {
            shapes: shapes_in,
            position: position_in,
        },
    )
}

/// Decides what to send for each sample: the sender's mirror of the viewer's shape cache
/// and the last position sent.
#[derive(Debug, Default)]
pub(super) struct CursorTracker {
    held: CursorCache<()>,
    last: Option<CursorPosition>,
}

impl CursorTracker {
    /// The records `sample` calls for, given the captured area `bounds` in root pixels: a
    /// shape the viewer does not hold first, then the position if it changed.
    pub(super) fn update(&mut self, sample: &CursorSample, bounds: Bounds) -> Vec<CursorUpdate> {
        let mut out = Vec::new();
        let mut position = CursorPosition::Hidden;
        if let Some((x, y)) = relative(sample.x, sample.y, bounds) {
            if self.held.contains(sample.id) {
                position = CursorPosition::Visible {
                    id: sample.id,
                    x,
                    y,
                };
            } else if let Some(shape) = sample.shape() {
                self.held.insert(shape.id, ());
                out.push(CursorUpdate::Shape(shape));
                position = CursorPosition::Visible {
                    id: sample.id,
                    x,
                    y,
                };
            }
        }
        if self.last != Some(position) {
            self.last = Some(position);
            out.push(CursorUpdate::Position(position));
        }
        out
    }
}

/// The position of (`x`, `y`) inside `bounds`, or `None` off it.
fn relative(x: i32, y: i32, bounds: Bounds) -> Option<(u16, u16)> {
    let inside = |value: i32, start: i32, size: u32| {
        let offset = i64::from(value) - i64::from(start);
        (0..i64::from(size)).contains(&offset).then_some(offset)
    };
    let x = inside(x, bounds.x, bounds.width)?;
    let y = inside(y, bounds.y, bounds.height)?;
    Some((u16::try_from(x).ok()?, u16::try_from(y).ok()?))
}

/// Follows the pointer until the phase stops allowing capture or the writer is gone. A
/// pointer that cannot be read any more stops this loop only: the screen goes on.
pub(super) fn run(
    mut source: Box<dyn CursorSource>,
    phase: &Mutex<Phase>,
    bounds: &Arc<Mutex<Bounds>>,
    out: &CursorOut,
) {
    let mut tracker = CursorTracker::default();
    while lock(phase).may_capture() {
        let started = std::time::Instant::now();
        let sample = match source.sample() {
            Ok(sample) => sample,
            Err(error) => {
                warn!(%error, "the pointer cannot be read; the viewer shows none");
                out.position
                    .send_replace(Some(encode_cursor(&CursorUpdate::Position(
                        CursorPosition::Hidden,
                    ))));
                return;
            }
        };
        let area = *lock(bounds);
        for update in tracker.update(&sample, area) {
            trace!(kind = kind(&update), "cursor");
            let bytes = encode_cursor(&update);
            let sent = match update {
                CursorUpdate::Shape(_) => out.shapes.blocking_send(bytes).is_ok(),
                CursorUpdate::Position(_) => {
                    out.position.send_replace(Some(bytes));
                    !out.position.is_closed()
                }
            };
            if !sent {
                debug!("frame writer gone; the pointer loop stops");
                return;
            }
        }
        std::thread::sleep(FRAME_INTERVAL.saturating_sub(started.elapsed()));
    }
}

fn kind(update: &CursorUpdate) -> &'static str {
    match update {
        CursorUpdate::Shape(_) => "shape",
        CursorUpdate::Position(_) => "position",
    }
}

#[cfg(test)]
mod tests {
    use hotline_protocol::screen::{CURSOR_CACHE, CursorId};

    use super::*;

    fn sample(id: u32, x: i32, y: i32) -> CursorSample {
        CursorSample {
            x,
            y,
            id: CursorId(id),
            width: 2,
            height: 2,
            hot_x: 1,
            hot_y: 1,
            argb: vec![0xff00_0000; 4],
        }
    }

    const RIGHT: Bounds = Bounds {
        x: 1920,
        y: 0,
        width: 1280,
        height: 1024,
    };

    #[test]
    fn a_shape_goes_once_and_positions_only_when_they_change() {
        let mut tracker = CursorTracker::default();
        let first = tracker.update(&sample(5, 2000, 10), RIGHT);
        assert!(matches!(&first[0], CursorUpdate::Shape(shape) if shape.id == CursorId(5)));
        assert_eq!(
            first[1],
            CursorUpdate::Position(CursorPosition::Visible {
                id: CursorId(5),
                x: 80,
                y: 10
            })
        );
        assert!(tracker.update(&sample(5, 2000, 10), RIGHT).is_empty());
        let moved = tracker.update(&sample(5, 2001, 10), RIGHT);
        assert!(matches!(moved.as_slice(), [CursorUpdate::Position(_)]));
    }

    #[test]
    fn a_pointer_off_the_chosen_monitor_is_hidden() {
        let mut tracker = CursorTracker::default();
        let off = tracker.update(&sample(5, 100, 10), RIGHT);
        assert_eq!(off, [CursorUpdate::Position(CursorPosition::Hidden)]);
        assert!(tracker.update(&sample(5, 1919, 10), RIGHT).is_empty());
        assert!(
            tracker
                .update(&sample(5, 1920 + 1280, 10), RIGHT)
                .is_empty()
        );
        let back = tracker.update(&sample(5, 1920, 1023), RIGHT);
        assert_eq!(
            back.len(),
            2,
            "the shape, first needed now, and the position"
        );
    }

    #[test]
    fn a_shape_the_viewer_forgot_is_sent_again() {
        let mut tracker = CursorTracker::default();
        tracker.update(&sample(0, 2000, 0), RIGHT);
        for id in 1..=CURSOR_CACHE as u32 {
            tracker.update(&sample(id, 2000, 0), RIGHT);
        }
        let again = tracker.update(&sample(0, 2000, 0), RIGHT);
        assert!(matches!(&again[0], CursorUpdate::Shape(shape) if shape.id == CursorId(0)));
    }
}
