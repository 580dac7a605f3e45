//! The pointer on X11 through XFixes: `GetCursorImage` answers with the position, the image,
//! its hotspot and the cursor's serial in one round trip, so one request per poll tells both
//! a move and a change of shape. (`SelectCursorInput` would announce shape changes, but the
//! position still needs a request per poll, so it would save only the image's bytes, a few
//! KiB over the local socket.) The connection is opened as capture opens its own.

use x11rb::connection::RequestConnection as _;
use x11rb::errors::{ConnectionError, ReplyError};
use x11rb::protocol::xfixes::{self, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;

use super::{CursorError, CursorSample, CursorSource};
use crate::screen::capture::x11::resolve_display;
use hotline_protocol::screen::CursorId;

/// A connection to one X display for reading its pointer.
#[derive(Debug)]
pub struct X11Cursor {
    conn: RustConnection,
}

impl X11Cursor {
    /// Connects to `display`, or to `DISPLAY` when `None`, and checks for XFixes 2.
    pub fn connect(display: Option<&str>) -> Result<X11Cursor, CursorError> {
        Self::connect_for(None, display)
    }

    /// As [`X11Cursor::connect`], with `user`'s own X cookie when a user is named (see
    /// [`crate::x11::open`]).
    pub fn connect_for(
        user: Option<&str>,
        display: Option<&str>,
    ) -> Result<X11Cursor, CursorError> {
        let open = |reason: String, display: &str| CursorError::Open {
            display: display.to_owned(),
            reason,
        };
        let display = resolve_display(display).map_err(|error| open(error.to_string(), ""))?;
        let (conn, _) = crate::x11::open_as(user, &display)
            .map_err(|error| open(error.to_string(), &display))?;
        let present = conn
            .extension_information(xfixes::X11_EXTENSION_NAME)
            .map_err(|error| gone(&error))?
            .is_some();
        if !present {
            return Err(CursorError::NoXFixes(display));
        }
        // The server speaks the version the client asks for, so ask before any request.
        let version = conn
            .xfixes_query_version(4, 0)
            .map_err(|error| gone(&error))?
            .reply()
            .map_err(reply_error)?;
        if version.major_version < 2 {
            return Err(CursorError::NoXFixes(display));
        }
        let name = display.as_str();
        tracing::debug!(
            display = name,
            "connected to the X server to read the pointer"
        );
        Ok(X11Cursor { conn })
    }
}

impl CursorSource for X11Cursor {
    fn sample(&mut self) -> Result<CursorSample, CursorError> {
        let reply = self
            .conn
            .xfixes_get_cursor_image()
            .map_err(|error| gone(&error))?
            .reply()
            .map_err(reply_error)?;
        Ok(CursorSample {
            x: i32::from(reply.x),
            y: i32::from(reply.y),
            id: CursorId(reply.cursor_serial),
            width: reply.width,
            height: reply.height,
            hot_x: reply.xhot,
            hot_y: reply.yhot,
            argb: reply.cursor_image,
        })
    }
}

fn gone(error: &ConnectionError) -> CursorError {
    CursorError::DisplayGone(error.to_string())
}

fn reply_error(error: ReplyError) -> CursorError {
    match error {
        ReplyError::ConnectionError(error) => gone(&error),
        ReplyError::X11Error(error) => CursorError::Refused(format!("{:?}", error.error_kind)),
    }
}
