//! X11 capture on x11rb: MIT-SHM through a memfd when the server has SHM 1.2 (see
//! [`super::shm`] for why, and why not scrap), plain `GetImage` otherwise; monitors from
//! RandR 1.5. Every capture waits for the server's reply to its own request before reading
//! a byte, so each frame is the screen at that request, and it re-reads the root window's
//! size first, so a resolution change is followed at the next frame.

use x11rb::connection::{Connection, RequestConnection as _};
use x11rb::errors::{ConnectError, ConnectionError, ReplyError};
use x11rb::protocol::randr::ConnectionExt as _;
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{ConnectionExt as _, ImageFormat, Window};
use x11rb::rust_connection::RustConnection;

use super::shm::SharedBuffer;
use super::{Area, CaptureError, Monitor, ScreenSource, refuse_black};
use crate::screen::Frame;

/// A connection to one X display, ready to capture its first screen.
#[derive(Debug)]
pub struct X11Source {
    conn: RustConnection,
    display: String,
    root: Window,
    /// Whether the server takes memfds (SHM 1.2 `AttachFd`); cleared if it ever refuses.
    shm_fd: bool,
    segment: Option<Segment>,
}

/// The shared buffer and the server's id for it, for one capture size.
#[derive(Debug)]
struct Segment {
    id: shm::Seg,
    buffer: SharedBuffer,
}

impl X11Source {
    /// Connects to `display`, or to `DISPLAY` when `None`, and checks that the screen can
    /// be captured: an X server (not Xwayland), authorised, in a 32-bit-per-pixel format.
    pub fn connect(display: Option<&str>) -> Result<X11Source, CaptureError> {
        Self::connect_for(None, display)
    }

    /// As [`X11Source::connect`], but with `user`'s own X cookie when a user is named (an
    /// agent running as root reaches the signed-in user's display only that way; see
    /// [`crate::x11::open`]).
    pub fn connect_for(
        user: Option<&str>,
        display: Option<&str>,
    ) -> Result<X11Source, CaptureError> {
        let display = resolve_display(display)?;
        let (conn, screen) = crate::x11::open_as(user, &display).map_err(open_error)?;

        // Xwayland answers like an X server but shows only X clients, black elsewhere.
        let xwayland = conn
            .extension_information("XWAYLAND")
            .map_err(|error| gone(&error))?;
        if xwayland.is_some() {
            return Err(CaptureError::Wayland {
                detail: format!("the X server at {display} is Xwayland"),
            });
        }

        let root = check_format(&conn, screen)?;
        let shm_fd = shm_supports_fd(&conn);
        let name = display.as_str();
        tracing::debug!(
            display = name,
            shm_fd,
            "connected to the X server for capture"
        );
        Ok(X11Source {
            conn,
            display,
            root,
            shm_fd,
            segment: None,
        })
    }

    /// The root window's current size.
    fn screen_size(&self) -> Result<(u32, u32), CaptureError> {
        let geometry = self
            .conn
            .get_geometry(self.root)
            .map_err(|e| gone(&e))?
            .reply()
            .map_err(reply_error)?;
        Ok((u32::from(geometry.width), u32::from(geometry.height)))
    }

    /// The pixels of `rect` through the shared buffer, made anew when the size changed.
    /// Returns `Ok(None)` when the shared buffer cannot be made or attached, so the caller
    /// falls back to `GetImage`; errors of the capture itself are errors.
    fn capture_shm(
        &mut self,
        (x, y, w, h): (i16, i16, u16, u16),
    ) -> Result<Option<Vec<u8>>, CaptureError> {
        let len = usize::from(w) * usize::from(h) * 4;
        if self.segment.as_ref().is_none_or(|s| s.buffer.len() != len) {
            self.detach();
            let (buffer, fd) = match SharedBuffer::new(len) {
                Ok(made) => made,
                Err(error) => {
                    tracing::debug!(%error, "cannot make the shared screen buffer");
                    return Ok(None);
                }
            };
            let id = self
                .conn
                .generate_id()
                .map_err(|e| CaptureError::DisplayGone(e.to_string()))?;
            let attached = self
                .conn
                .shm_attach_fd(id, fd, false)
                .map_err(|e| gone(&e))?
                .check();
            match attached {
                Ok(()) => self.segment = Some(Segment { id, buffer }),
                Err(ReplyError::X11Error(error)) => {
                    tracing::debug!(?error, "the X server refused the shared screen buffer");
                    return Ok(None);
                }
                Err(error) => return Err(reply_error(error)),
            }
        }
        let segment = self
            .segment
            .as_ref()
            .ok_or_else(|| CaptureError::Refused("no segment".into()))?;
        let z_pixmap = u8::from(ImageFormat::Z_PIXMAP);
        // Waiting for the reply is what makes the frame current: the server has written
        // the buffer when it answers, and not necessarily before.
        self.conn
            .shm_get_image(self.root, x, y, w, h, !0, z_pixmap, segment.id, 0)
            .map_err(|e| gone(&e))?
            .reply()
            .map_err(reply_error)?;
        Ok(Some(segment.buffer.bytes().to_vec()))
    }

    fn capture_plain(&self, (x, y, w, h): (i16, i16, u16, u16)) -> Result<Vec<u8>, CaptureError> {
        let reply = self
            .conn
            .get_image(ImageFormat::Z_PIXMAP, self.root, x, y, w, h, !0)
            .map_err(|e| gone(&e))?
            .reply()
            .map_err(reply_error)?;
        Ok(reply.data)
    }

    /// Tells the server to let go of the current segment; the memfd goes with it.
    fn detach(&mut self) {
        if let Some(segment) = self.segment.take() {
            if let Ok(cookie) = self.conn.shm_detach(segment.id) {
                cookie.ignore_error();
            }
            self.conn.flush().ok();
        }
    }

    /// The rectangle of `area` in root window coordinates, clipped to the screen.
    fn area_rect(
        &mut self,
        area: &Area,
        width: u32,
        height: u32,
    ) -> Result<(i16, i16, u16, u16), CaptureError> {
        let (x, y, w, h) = match area {
            Area::Screen => (0, 0, width, height),
            Area::Monitor(name) => {
                let monitors = self.monitors()?;
                let monitor = monitors.iter().find(|m| &m.name == name).ok_or_else(|| {
                    CaptureError::NoSuchMonitor {
                        name: name.clone(),
                        known: monitors
                            .iter()
                            .map(|m| m.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    }
                })?;
                let (x, y) = (
                    monitor.x.clamp(0, width as i32) as u32,
                    monitor.y.clamp(0, height as i32) as u32,
                );
                (
                    x,
                    y,
                    monitor.width.min(width - x),
                    monitor.height.min(height - y),
                )
            }
        };
        Frame::check_size(w, h).map_err(|_| CaptureError::TooLarge {
            width: w,
            height: h,
        })?;
        Ok((x as i16, y as i16, w as u16, h as u16))
    }
}

impl ScreenSource for X11Source {
    fn monitors(&mut self) -> Result<Vec<Monitor>, CaptureError> {
        let (width, height) = self.screen_size()?;
        let whole = || {
            vec![Monitor {
                name: "screen".to_owned(),
                x: 0,
                y: 0,
                width,
                height,
                primary: true,
            }]
        };
        // GetMonitors is RandR 1.5; without it the screen is one monitor.
        let version = match self
            .conn
            .randr_query_version(1, 5)
            .map_err(|e| gone(&e))?
            .reply()
        {
            Ok(version) => version,
            Err(_) => return Ok(whole()),
        };
        if (version.major_version, version.minor_version) < (1, 5) {
            return Ok(whole());
        }
        let reply = self
            .conn
            .randr_get_monitors(self.root, true)
            .map_err(|e| gone(&e))?
            .reply()
            .map_err(reply_error)?;
        let mut monitors = Vec::with_capacity(reply.monitors.len());
        for info in reply.monitors {
            let name = self
                .conn
                .get_atom_name(info.name)
                .map_err(|e| gone(&e))?
                .reply()
                .map_err(reply_error)?;
            monitors.push(Monitor {
                name: String::from_utf8_lossy(&name.name).into_owned(),
                x: i32::from(info.x),
                y: i32::from(info.y),
                width: u32::from(info.width),
                height: u32::from(info.height),
                primary: info.primary,
            });
        }
        Ok(if monitors.is_empty() {
            whole()
        } else {
            monitors
        })
    }

    fn capture(&mut self, area: &Area) -> Result<Frame, CaptureError> {
        let (width, height) = self.screen_size()?;
        let rect = self.area_rect(area, width, height)?;

        let mut bgra = if self.shm_fd {
            match self.capture_shm(rect)? {
                Some(bytes) => bytes,
                // A server that advertises AttachFd but refuses it (a remote display, a
                // sandbox) still serves plain GetImage.
                None => {
                    tracing::debug!("MIT-SHM unusable; capturing with GetImage from now on");
                    self.shm_fd = false;
                    self.capture_plain(rect)?
                }
            }
        } else {
            self.capture_plain(rect)?
        };

        // X leaves the padding byte of a depth-24 pixel undefined.
        for pixel in bgra.chunks_exact_mut(4) {
            pixel[3] = 255;
        }
        let frame = Frame::from_bgra(u32::from(rect.2), u32::from(rect.3), bgra)
            .map_err(|error| CaptureError::Unsupported(error.to_string()))?;
        refuse_black(frame, &format!("display {}", self.display))
    }
}

impl Drop for X11Source {
    fn drop(&mut self) {
        self.detach();
    }
}

pub(crate) fn resolve_display(display: Option<&str>) -> Result<String, CaptureError> {
    if let Some(display) = display.filter(|d| !d.is_empty()) {
        return Ok(display.to_owned());
    }
    match std::env::var("DISPLAY") {
        Ok(display) if !display.is_empty() => Ok(display),
        _ if std::env::var_os("WAYLAND_DISPLAY").is_some() => Err(CaptureError::Wayland {
            detail: "WAYLAND_DISPLAY is set and DISPLAY is not".to_owned(),
        }),
        _ => Err(CaptureError::NoDisplay("DISPLAY is not set".to_owned())),
    }
}

fn open_error(error: crate::x11::OpenError) -> CaptureError {
    use crate::x11::OpenError;
    match error {
        OpenError::Open { display, error } => connect_error(&display, error),
        OpenError::Wayland(display) => CaptureError::Wayland {
            detail: format!("{display} is a Wayland display"),
        },
        other => CaptureError::NoDisplay(other.to_string()),
    }
}

fn connect_error(display: &str, error: ConnectError) -> CaptureError {
    let display = display.to_owned();
    match error {
        ConnectError::SetupAuthenticate(refusal) => CaptureError::NotAuthorised {
            display,
            reason: String::from_utf8_lossy(&refusal.reason).trim().to_owned(),
        },
        ConnectError::SetupFailed(refusal) => CaptureError::NotAuthorised {
            display,
            reason: String::from_utf8_lossy(&refusal.reason).trim().to_owned(),
        },
        other => CaptureError::NoServer {
            display,
            reason: other.to_string(),
        },
    }
}

fn gone(error: &ConnectionError) -> CaptureError {
    CaptureError::DisplayGone(error.to_string())
}

fn reply_error(error: ReplyError) -> CaptureError {
    match error {
        ReplyError::ConnectionError(error) => gone(&error),
        ReplyError::X11Error(error) => CaptureError::Refused(format!("{:?}", error.error_kind)),
    }
}

/// Checks that the screen's pixels are 32-bit B,G,R,x words, the layout [`Frame`] holds,
/// and returns the root window.
fn check_format(conn: &RustConnection, screen: usize) -> Result<Window, CaptureError> {
    let setup = conn.setup();
    let screen = setup
        .roots
        .get(screen)
        .ok_or_else(|| CaptureError::Unsupported(format!("the server has no screen {screen}")))?;
    let depth = screen.root_depth;
    let bits = setup
        .pixmap_formats
        .iter()
        .find(|format| format.depth == depth)
        .map(|format| format.bits_per_pixel);
    let visual = screen
        .allowed_depths
        .iter()
        .flat_map(|d| &d.visuals)
        .find(|v| v.visual_id == screen.root_visual);
    let masks = visual.map(|v| (v.red_mask, v.green_mask, v.blue_mask));
    let little_endian = setup.image_byte_order == x11rb::protocol::xproto::ImageOrder::LSB_FIRST;
    if !(matches!(depth, 24 | 32)
        && bits == Some(32)
        && masks == Some((0xff_0000, 0xff00, 0xff))
        && little_endian)
    {
        return Err(CaptureError::Unsupported(format!(
            "depth {depth}, {bits:?} bits per pixel, masks {masks:?}, little-endian {little_endian}"
        )));
    }
    Ok(screen.root)
}

/// Whether the server has MIT-SHM 1.2 or later, which takes a file descriptor.
// FIXME: servers with SHM 1.0/1.1 only get plain GetImage (slower, same pixels); a SysV
// segment made 0600 and marked IPC_RMID once both sides attached would be as private, but
// needs SysV calls rustix does not offer.
fn shm_supports_fd(conn: &RustConnection) -> bool {
    let present = matches!(
        conn.extension_information(shm::X11_EXTENSION_NAME),
        Ok(Some(_))
    );
    if !present {
        return false;
    }
    match conn.shm_query_version().map(|cookie| cookie.reply()) {
        Ok(Ok(version)) => (version.major_version, version.minor_version) >= (1, 2),
        _ => false,
    }
}
