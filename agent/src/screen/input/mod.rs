//! Injecting the analyst's input into the caller's desktop, behind one [`InputSink`] per
//! platform (X11 first).
//!
//! A sink remembers every key and button it holds down, and [`InputSink::release_all`]
//! lets them all go. The session calls it whenever control stops (End, pause, view only, the
//! analyst's tab losing focus): a key left down would keep typing, or hold Ctrl over
//! whatever the caller clicks next.

pub mod keymap;
pub mod x11;

use std::collections::BTreeSet;

use hotline_protocol::input::{InputEvent, InputLimitError, KeyCode, PointerButton};

/// The monitor input is aimed at, in root-window pixels: pointer positions arrive relative
/// to its top-left corner and are kept inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Monitor {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

impl Monitor {
    /// The root-window position of `x`, `y` on this monitor, clamped to its edges.
    pub fn to_root(&self, x: u32, y: u32) -> (i32, i32) {
        let clamp = |value: u32, size: u32| i32::try_from(value.min(size.saturating_sub(1)));
        (
            self.x + clamp(x, self.width).unwrap_or(0),
            self.y + clamp(y, self.height).unwrap_or(0),
        )
    }
}

/// Why input could not be injected.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot inject input on display {display}: {reason}")]
    Open { display: String, reason: String },
    #[error("unknown key {0}")]
    UnknownKey(KeyCode),
    #[error(transparent)]
    Limit(#[from] InputLimitError),
    #[error("injecting input failed: {0}")]
    Inject(String),
}

/// What a sink holds down right now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held {
    /// evdev codes of the keys held.
    pub keys: BTreeSet<u16>,
    pub buttons: BTreeSet<PointerButton>,
}

impl Held {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.buttons.is_empty()
    }
}

/// Puts input events on one desktop.
pub trait InputSink: Send {
    /// Injects one event after checking its limits. A key the sink does not know is an error
    /// and nothing is injected for it.
    fn apply(&mut self, event: &InputEvent) -> Result<(), InputError>;

    /// Releases every key and button this sink holds down. It tries them all even when one
    /// fails, and forgets them all either way.
    fn release_all(&mut self) -> Result<(), InputError>;

    /// The keys and buttons held down now.
    fn held(&self) -> &Held;

    /// Aims later pointer positions at another monitor (the analyst picked one, or the
    /// layout changed).
    fn set_monitor(&mut self, monitor: Monitor);
}

/// Opens the platform's input sink for `user`'s desktop on `display` (on X11 a display name
/// such as `:0`, opened with the user's own cookie; no user means as this process), aimed at
/// `monitor`.
pub fn open(
    user: Option<&str>,
    display: &str,
    monitor: Monitor,
) -> Result<Box<dyn InputSink>, InputError> {
    Ok(Box::new(x11::X11Input::open_for(user, display, monitor)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_kept_on_the_monitor() {
        let monitor = Monitor {
            x: 1920,
            y: 0,
            width: 1366,
            height: 768,
        };
        assert_eq!(monitor.to_root(0, 0), (1920, 0));
        assert_eq!(monitor.to_root(100, 50), (2020, 50));
        assert_eq!(monitor.to_root(5000, 5000), (1920 + 1365, 767));
    }
}
