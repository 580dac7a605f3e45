//! One top-level X11 window for the prompt or the bar: created with the hints that keep it
//! above other windows on the primary monitor, drawn from a [`Canvas`], and read through an
//! event pump (`events`) that drops every synthetic event.
//!
//! Any client on a display can forge an event with `SendEvent`; the server marks such events,
//! and a click or key forged that way must never count as the caller's answer. Input that
//! arrives through XTEST (xdotool, other support tools) is indistinguishable from a real
//! device, as the server generates it. The one synthetic event used is the window manager's
//! `WM_DELETE_WINDOW`, which can only close (deny), never allow.

use x11rb::connection::{Connection, RequestConnection};
use x11rb::properties::{WmHints, WmSizeHints, WmSizeHintsSpecification};
use x11rb::protocol::randr::ConnectionExt as _;
use x11rb::protocol::xproto::{
    AtomEnum, ClientMessageEvent, ConnectionExt, CreateGCAux, CreateWindowAux, EventMask,
    ImageFormat, PropMode, VisualClass, Window, WindowClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

use super::canvas::{Canvas, Rect};

mod events;

use events::Keymap;
pub(crate) use events::{UiEvent, keysym};

x11rb::atom_manager! {
    Atoms: AtomsCookie {
        WM_PROTOCOLS,
        WM_DELETE_WINDOW,
        UTF8_STRING,
        _NET_WM_NAME,
        _NET_WM_WINDOW_TYPE,
        _NET_WM_WINDOW_TYPE_DIALOG,
        _NET_WM_WINDOW_TYPE_DOCK,
        _NET_WM_STATE,
        _NET_WM_STATE_ABOVE,
        _NET_WM_STATE_STICKY,
        _NET_WM_STATE_SKIP_TASKBAR,
        _NET_WM_STATE_SKIP_PAGER,
        _NET_ACTIVE_WINDOW,
        _NET_WM_STRUT,
        _NET_WM_STRUT_PARTIAL,
    }
}

/// Where the window goes and how the window manager should treat it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// A dialog in the middle of the screen, above other windows, taking the focus.
    CentredDialog,
    /// A strip at the top edge, above other windows and on every desktop, without focus.
    TopDock,
}

/// What the window was asked to be.
#[derive(Debug, Clone)]
pub(crate) struct WindowSpec<'a> {
    pub(crate) title: &'a str,
    pub(crate) class: &'a str,
    pub(crate) width: u16,
    pub(crate) height: u16,
    pub(crate) placement: Placement,
}

/// An open window and the connection that owns it.
#[derive(Debug)]
pub(crate) struct UiWindow {
    conn: RustConnection,
    window: Window,
    gc: u32,
    depth: u8,
    atoms: Atoms,
    keymap: Keymap,
}

impl UiWindow {
    /// Creates and maps the window on the connection's default screen.
    pub(crate) fn open(
        conn: RustConnection,
        screen: usize,
        spec: &WindowSpec<'_>,
    ) -> Result<UiWindow, String> {
        let failed = |error: &dyn std::fmt::Display| format!("creating the window: {error}");
        let root_screen = conn
            .setup()
            .roots
            .get(screen)
            .ok_or("the display has no such screen")?
            .clone();
        check_visual(&conn, &root_screen)?;
        let atoms = Atoms::new(&conn)
            .map_err(|e| failed(&e))?
            .reply()
            .map_err(|e| failed(&e))?;
        let keymap = Keymap::read(&conn).map_err(|e| failed(&e))?;

        // Place it before mapping, so the window manager sees where it should go: on the
        // primary monitor, where the caller looks, rather than across two.
        let area = primary_monitor(&conn, &root_screen);
        let x = area.x + (area.width - i32::from(spec.width)) / 2;
        let y = match spec.placement {
            Placement::CentredDialog => area.y + (area.height - i32::from(spec.height)) / 2,
            Placement::TopDock => area.y,
        };
        let window = conn.generate_id().map_err(|e| failed(&e))?;
        let events = EventMask::EXPOSURE
            | EventMask::KEY_PRESS
            | EventMask::BUTTON_PRESS
            | EventMask::BUTTON_RELEASE
            | EventMask::STRUCTURE_NOTIFY
            | EventMask::VISIBILITY_CHANGE;
        conn.create_window(
            root_screen.root_depth,
            window,
            root_screen.root,
            x as i16,
            y as i16,
            spec.width,
            spec.height,
            0,
            WindowClass::INPUT_OUTPUT,
            root_screen.root_visual,
            &CreateWindowAux::new()
                .background_pixel(root_screen.white_pixel)
                .event_mask(events),
        )
        .map_err(|e| failed(&e))?;
        let gc = conn.generate_id().map_err(|e| failed(&e))?;
        conn.create_gc(gc, window, &CreateGCAux::new())
            .map_err(|e| failed(&e))?;

        let ui = UiWindow {
            conn,
            window,
            gc,
            depth: root_screen.root_depth,
            atoms,
            keymap,
        };
        ui.set_hints(spec, (x, y)).map_err(|e| failed(&e))?;
        ui.conn.map_window(window).map_err(|e| failed(&e))?;
        if spec.placement == Placement::CentredDialog {
            ui.request_focus(root_screen.root).map_err(|e| failed(&e))?;
        }
        ui.conn.flush().map_err(|e| failed(&e))?;
        Ok(ui)
    }

    /// Names the window, fixes its size and position, and asks to stay above others.
    fn set_hints(
        &self,
        spec: &WindowSpec<'_>,
        (x, y): (i32, i32),
    ) -> Result<(), x11rb::errors::ConnectionError> {
        let (conn, window, atoms) = (&self.conn, self.window, &self.atoms);
        let replace = PropMode::REPLACE;
        conn.change_property8(
            replace,
            window,
            AtomEnum::WM_NAME,
            AtomEnum::STRING,
            spec.title.as_bytes(),
        )?;
        conn.change_property8(
            replace,
            window,
            atoms._NET_WM_NAME,
            atoms.UTF8_STRING,
            spec.title.as_bytes(),
        )?;
        let class = format!("{}\0Hotline\0", spec.class);
        conn.change_property8(
            replace,
            window,
            AtomEnum::WM_CLASS,
            AtomEnum::STRING,
            class.as_bytes(),
        )?;
        conn.change_property32(
            replace,
            window,
            atoms.WM_PROTOCOLS,
            AtomEnum::ATOM,
            &[atoms.WM_DELETE_WINDOW],
        )?;

        let size = (i32::from(spec.width), i32::from(spec.height));
        let mut size_hints = WmSizeHints::new();
        size_hints.position = Some((WmSizeHintsSpecification::UserSpecified, x, y));
        size_hints.size = Some((WmSizeHintsSpecification::UserSpecified, size.0, size.1));
        size_hints.min_size = Some(size);
        size_hints.max_size = Some(size);
        size_hints.set_normal_hints(conn, window)?;
        let wm_hints = WmHints {
            input: Some(spec.placement == Placement::CentredDialog),
            ..WmHints::new()
        };
        wm_hints.set(conn, window)?;

        let (kind, states) = match spec.placement {
            Placement::CentredDialog => (
                atoms._NET_WM_WINDOW_TYPE_DIALOG,
                vec![atoms._NET_WM_STATE_ABOVE],
            ),
            Placement::TopDock => (
                atoms._NET_WM_WINDOW_TYPE_DOCK,
                vec![
                    atoms._NET_WM_STATE_ABOVE,
                    atoms._NET_WM_STATE_STICKY,
                    atoms._NET_WM_STATE_SKIP_TASKBAR,
                    atoms._NET_WM_STATE_SKIP_PAGER,
                ],
            ),
        };
        conn.change_property32(
            replace,
            window,
            atoms._NET_WM_WINDOW_TYPE,
            AtomEnum::ATOM,
            &[kind],
        )?;
        conn.change_property32(
            replace,
            window,
            atoms._NET_WM_STATE,
            AtomEnum::ATOM,
            &states,
        )?;
        if spec.placement == Placement::TopDock {
            // Reserve the strip, so maximised windows and new ones keep their title bars
            // below the bar instead of under it.
            let (top, first, last) = (
                u32::from(spec.height),
                x as u32,
                (x as u32) + u32::from(spec.width) - 1,
            );
            let partial = [0, 0, top, 0, 0, 0, 0, 0, first, last, 0, 0];
            conn.change_property32(
                replace,
                window,
                atoms._NET_WM_STRUT_PARTIAL,
                AtomEnum::CARDINAL,
                &partial,
            )?;
            conn.change_property32(
                replace,
                window,
                atoms._NET_WM_STRUT,
                AtomEnum::CARDINAL,
                &partial[..4],
            )?;
        }
        Ok(())
    }

    /// Asks the window manager to activate the prompt (EWMH `_NET_ACTIVE_WINDOW`), so that
    /// Escape reaches it. Focus starts on Deny, so keys meant for another window cannot allow.
    fn request_focus(&self, root: Window) -> Result<(), x11rb::errors::ConnectionError> {
        let message = ClientMessageEvent::new(
            32,
            self.window,
            self.atoms._NET_ACTIVE_WINDOW,
            [1, x11rb::CURRENT_TIME, 0, 0, 0],
        );
        let mask = EventMask::SUBSTRUCTURE_REDIRECT | EventMask::SUBSTRUCTURE_NOTIFY;
        self.conn.send_event(false, root, mask, message)?;
        Ok(())
    }

    /// Uploads the canvas, in bands that fit the server's request size limit.
    pub(crate) fn present(&self, canvas: &Canvas) -> Result<(), String> {
        let row_bytes = (canvas.width * 4) as usize;
        let rows_per_band = ((self.conn.maximum_request_bytes() - 64) / row_bytes).max(1);
        for (band, chunk) in canvas.pixels.chunks(row_bytes * rows_per_band).enumerate() {
            let rows = chunk.len() / row_bytes;
            self.conn
                .put_image(
                    ImageFormat::Z_PIXMAP,
                    self.window,
                    self.gc,
                    canvas.width as u16,
                    rows as u16,
                    0,
                    (band * rows_per_band) as i16,
                    0,
                    self.depth,
                    chunk,
                )
                .map_err(|error| {
                    format!("the display closed the connection while drawing: {error}")
                })?;
        }
        self.conn
            .flush()
            .map_err(|error| format!("the display closed the connection while drawing: {error}"))
    }

    /// Destroys the window and waits until the server has done so.
    pub(crate) fn close(self) {
        self.conn.destroy_window(self.window).ok();
        self.conn.sync().ok();
    }
}

/// The canvas writes 32-bit pixels of a 24-bit TrueColor visual with red in the high byte,
/// in the byte order of a little-endian server; anything else would show garbled colours.
fn check_visual(
    conn: &RustConnection,
    screen: &x11rb::protocol::xproto::Screen,
) -> Result<(), String> {
    let unsupported = || {
        format!(
            "unsupported display: depth {} is not 24-bit TrueColor",
            screen.root_depth
        )
    };
    let visual = screen
        .allowed_depths
        .iter()
        .flat_map(|depth| depth.visuals.iter())
        .find(|visual| visual.visual_id == screen.root_visual)
        .ok_or_else(unsupported)?;
    let format = conn
        .setup()
        .pixmap_formats
        .iter()
        .find(|format| format.depth == screen.root_depth);
    let little_endian =
        conn.setup().image_byte_order == x11rb::protocol::xproto::ImageOrder::LSB_FIRST;
    if screen.root_depth == 24
        && visual.class == VisualClass::TRUE_COLOR
        && visual.red_mask == 0xff_0000
        && format.is_some_and(|format| format.bits_per_pixel == 32)
        && little_endian
    {
        Ok(())
    } else {
        Err(unsupported())
    }
}

/// The primary monitor's rectangle as RandR reports it, else the first monitor's, else the
/// whole screen (a server without RandR 1.5).
fn primary_monitor(conn: &RustConnection, screen: &x11rb::protocol::xproto::Screen) -> Rect {
    let whole = Rect::new(
        0,
        0,
        i32::from(screen.width_in_pixels),
        i32::from(screen.height_in_pixels),
    );
    let monitors = match conn
        .randr_get_monitors(screen.root, true)
        .map(|c| c.reply())
    {
        Ok(Ok(reply)) => reply.monitors,
        _ => return whole,
    };
    monitors
        .iter()
        .find(|monitor| monitor.primary)
        .or(monitors.first())
        .map_or(whole, |monitor| {
            Rect::new(
                monitor.x.into(),
                monitor.y.into(),
                monitor.width.into(),
                monitor.height.into(),
            )
        })
}
