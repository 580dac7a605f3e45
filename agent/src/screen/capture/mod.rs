//! Screen capture behind one interface per platform: list the monitors and their layout,
//! and capture one monitor or the whole screen into a BGRA [`Frame`]. X11 is the first
//! backend ([`x11`]); Wayland (through the desktop portal) and Windows come later behind
//! the same trait.
//!
//! Every failure is a [`CaptureError`] whose message a caller understands and the analyst
//! is shown: a Wayland session, no X server, no authorisation, the display gone. A frame
//! that comes back entirely black is refused as [`CaptureError::AllBlack`], never streamed
//! as if it were the screen.

mod shm;
pub mod x11;

use crate::screen::Frame;

/// One monitor of the screen, in screen coordinates.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Monitor {
    /// The name the platform gives it (`DP-1`, `screen`).
    pub name: String,
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    pub primary: bool,
}

/// What to capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Area {
    /// The whole screen, every monitor.
    Screen,
    /// One monitor, by name.
    Monitor(String),
}

/// Why the screen cannot be captured. The messages are meant for the analyst.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(
        "the desktop is a Wayland session ({detail}); screen capture on Wayland is not supported yet"
    )]
    Wayland { detail: String },
    #[error("no display to capture: {0}")]
    NoDisplay(String),
    #[error("no X server at display {display}: {reason}")]
    NoServer { display: String, reason: String },
    #[error("the X server at display {display} refused access: {reason}")]
    NotAuthorised { display: String, reason: String },
    #[error("the display went away during capture: {0}")]
    DisplayGone(String),
    #[error("the X server refused a capture request: {0}")]
    Refused(String),
    #[error("the screen's pixel format is not supported: {0}")]
    Unsupported(String),
    #[error("no monitor named {name:?} (the screen has {known})")]
    NoSuchMonitor { name: String, known: String },
    #[error("the screen captured as entirely black ({0}); a black frame is not sent as the screen")]
    AllBlack(String),
    #[error("the screen is {width}x{height}, which a frame cannot carry")]
    TooLarge { width: u32, height: u32 },
}

/// A screen to capture from.
pub trait ScreenSource: Send {
    /// The monitors, as laid out now.
    fn monitors(&mut self) -> Result<Vec<Monitor>, CaptureError>;

    /// Captures `area` as it is now: the frame shows the screen at the time of this call,
    /// never an earlier request's image. The size is read again on every call, so a
    /// resolution change shows as a frame of the new size.
    fn capture(&mut self, area: &Area) -> Result<Frame, CaptureError>;
}

/// Opens the platform's screen source for `display` (on X11 a display name such as `:0`;
/// `None` means the session's own, `DISPLAY`).
// FIXME: X11 only; a Wayland session is refused with its reason until the desktop portal
// backend exists.
pub fn open(display: Option<&str>) -> Result<Box<dyn ScreenSource>, CaptureError> {
    Ok(Box::new(x11::X11Source::connect(display)?))
}

/// As [`open`], for `user`'s desktop: the agent runs as root or as another account, and
/// presents the user's own credentials for their display (on X11 their cookie).
pub fn open_for(user: Option<&str>, display: &str) -> Result<Box<dyn ScreenSource>, CaptureError> {
    Ok(Box::new(x11::X11Source::connect_for(user, Some(display))?))
}

/// Refuses a frame that is entirely black: on X11 that is what a capture of a screen we
/// may not read, or of a blanked or locked one, looks like, and the viewer must be told so
/// rather than shown black as if it were the caller's desktop.
pub(crate) fn refuse_black(frame: Frame, why: &str) -> Result<Frame, CaptureError> {
    if frame.is_all_black() {
        return Err(CaptureError::AllBlack(why.to_owned()));
    }
    Ok(frame)
}
