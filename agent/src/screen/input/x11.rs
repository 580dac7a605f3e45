//! Input on an X11 display through the XTEST extension, spoken directly on x11rb: the server
//! treats XTEST input as coming from its own devices, and no libxdo is needed.
//!
//! enigo's x11rb backend sends the same requests, but it opens the display itself by name
//! with this process's `XAUTHORITY`. An agent running as root (the usual service) then
//! cannot reach the signed-in user's display, which only the user's cookie opens; this sink
//! takes a connection opened by [`crate::x11`] with that cookie instead.
//!
//! Physical keys go by keycode (evdev + 8), so the caller's layout decides the character.
//! Text goes by keysym: a character the layout has unshifted is typed with its own key, any
//! other is bound for a moment to a spare keycode (one the layout leaves empty), typed there,
//! and the spare is emptied again when the sink closes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hotline_protocol::input::{InputEvent, PointerButton};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{self, ConnectionExt as _, Keycode, Keysym, Window};
use x11rb::protocol::xtest::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;

use super::{Held, InputError, InputSink, Monitor, keymap};

/// X servers fed by evdev number their keycodes 8 above evdev's.
const EVDEV_TO_X: u16 = 8;

/// A client that sees a spare keycode rebound reads the new mapping only when it next
/// looks a key up, so a spare is rebound no sooner than this after it was last typed; by
/// then the client has handled the earlier key press.
const REBIND_GAP: Duration = Duration::from_millis(40);

/// Keysyms X gives names to that text uses.
const XK_RETURN: Keysym = 0xff0d;
const XK_TAB: Keysym = 0xff09;

/// Injects input on one X display, aimed at one monitor.
pub struct X11Input {
    conn: RustConnection,
    root: Window,
    monitor: Monitor,
    held: Held,
    keyboard: Keyboard,
}

impl std::fmt::Debug for X11Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X11Input")
            .field("root", &self.root)
            .field("monitor", &self.monitor)
            .field("held", &self.held)
            .finish_non_exhaustive()
    }
}

impl X11Input {
    /// Connects to `display` as any X client of this process's user does (`XAUTHORITY`,
    /// then `~/.Xauthority`), aiming at `monitor`.
    pub fn open(display: &str, monitor: Monitor) -> Result<X11Input, InputError> {
        Self::open_for(None, display, monitor)
    }

    /// Connects to `display` with `user`'s own X cookie when a user is named (see
    /// [`crate::x11::open`]), otherwise as this process, aiming at `monitor`.
    pub fn open_for(
        user: Option<&str>,
        display: &str,
        monitor: Monitor,
    ) -> Result<X11Input, InputError> {
        let failed = |reason: String| InputError::Open {
            display: display.to_owned(),
            reason,
        };
        let (conn, screen) =
            crate::x11::open_as(user, display).map_err(|error| failed(error.to_string()))?;
        Self::on(conn, screen, monitor).map_err(failed)
    }

    /// Injects on an open connection, after checking the server has XTEST.
    fn on(conn: RustConnection, screen: usize, monitor: Monitor) -> Result<X11Input, String> {
        let version = conn
            .xtest_get_version(2, 2)
            .map_err(|error| format!("the server has no XTEST extension: {error}"))?
            .reply()
            .map_err(|error| format!("the server has no XTEST extension: {error}"))?;
        tracing::debug!(
            major = version.major_version,
            minor = version.minor_version,
            "XTEST available"
        );
        let root = conn
            .setup()
            .roots
            .get(screen)
            .ok_or_else(|| format!("the server has no screen {screen}"))?
            .root;
        let keyboard = Keyboard::read(&conn)?;
        Ok(X11Input {
            conn,
            root,
            monitor,
            held: Held::default(),
            keyboard,
        })
    }

    /// Sends one fake event: `kind` is the core event code, `detail` the keycode or button.
    fn fake(&self, kind: u8, detail: u8, x: i16, y: i16) -> Result<(), InputError> {
        self.conn
            .xtest_fake_input(kind, detail, x11rb::CURRENT_TIME, self.root, x, y, 0)
            .map_err(inject)?;
        Ok(())
    }

    fn fake_key(&self, keycode: Keycode, pressed: bool) -> Result<(), InputError> {
        let kind = if pressed {
            xproto::KEY_PRESS_EVENT
        } else {
            xproto::KEY_RELEASE_EVENT
        };
        self.fake(kind, keycode, 0, 0)
    }

    fn fake_button(&self, button: u8, pressed: bool) -> Result<(), InputError> {
        let kind = if pressed {
            xproto::BUTTON_PRESS_EVENT
        } else {
            xproto::BUTTON_RELEASE_EVENT
        };
        self.fake(kind, button, 0, 0)
    }

    fn flush(&self) -> Result<(), InputError> {
        self.conn.flush().map_err(inject)
    }

    /// Waits until the server has handled every request sent so far. A flush only hands
    /// them to the socket: requests still in flight when the connection closes can be
    /// lost, and a release or a restored keymap lost that way leaves a key held or a spare
    /// keycode bound to what was typed.
    fn settle(&self) -> Result<(), InputError> {
        round_trip(&self.conn)
    }

    fn key(&mut self, evdev: u16, pressed: bool) -> Result<(), InputError> {
        if !pressed && !self.held.keys.contains(&evdev) {
            // A release for a press this sink never sent (made before control began, or
            // already released by release_all): nothing to let go.
            return Ok(());
        }
        let keycode = Keycode::try_from(evdev + EVDEV_TO_X)
            .map_err(|_| InputError::Inject(format!("evdev key {evdev} has no X keycode")))?;
        self.fake_key(keycode, pressed)?;
        if pressed {
            self.held.keys.insert(evdev);
        } else {
            self.held.keys.remove(&evdev);
        }
        Ok(())
    }

    fn button(&mut self, button: PointerButton, pressed: bool) -> Result<(), InputError> {
        if !pressed && !self.held.buttons.contains(&button) {
            return Ok(());
        }
        self.fake_button(x_button(button), pressed)?;
        if pressed {
            self.held.buttons.insert(button);
        } else {
            self.held.buttons.remove(&button);
        }
        Ok(())
    }

    /// Wheel steps are clicks of buttons 4 to 7, as X has always delivered them.
    fn wheel(&self, dx: i16, dy: i16) -> Result<(), InputError> {
        let steps = [(dy, 5, 4), (dx, 7, 6)];
        for (delta, positive, negative) in steps {
            let button = if delta > 0 { positive } else { negative };
            for _ in 0..delta.unsigned_abs() {
                self.fake_button(button, true)?;
                self.fake_button(button, false)?;
            }
        }
        Ok(())
    }

    /// Types `text` character by character; line breaks and tabs as their keys.
    // FIXME: a character on the layout's own key follows a Caps Lock or Shift the caller has
    // on ("pass" arrives as "PASS"); typing exactly needs those modifiers lifted around the
    // text, or every character on a spare keycode.
    fn type_text(&mut self, text: &str) -> Result<(), InputError> {
        for c in text.chars() {
            let keysym = keysym_of(c);
            let keycode = self.keyboard.keycode_for(&self.conn, keysym)?;
            self.fake_key(keycode, true)?;
            self.fake_key(keycode, false)?;
            // The server must have the press before a spare is rebound for the next
            // character; a round trip makes sure.
            self.settle()?;
        }
        Ok(())
    }
}

impl InputSink for X11Input {
    fn apply(&mut self, event: &InputEvent) -> Result<(), InputError> {
        event.check_limits()?;
        match event {
            InputEvent::PointerMove { x, y } => {
                let (x, y) = self.monitor.to_root(*x, *y);
                let clamp = |v: i32| i16::try_from(v).unwrap_or(i16::MAX);
                self.fake(xproto::MOTION_NOTIFY_EVENT, 0, clamp(x), clamp(y))?;
            }
            InputEvent::Button { button, pressed } => self.button(*button, *pressed)?,
            InputEvent::Wheel { dx, dy } => self.wheel(*dx, *dy)?,
            InputEvent::Key { code, pressed } => {
                let evdev = keymap::evdev_code(code.as_str())
                    .ok_or_else(|| InputError::UnknownKey(code.clone()))?;
                self.key(evdev, *pressed)?;
            }
            InputEvent::TypeText { text } => self.type_text(text)?,
            InputEvent::ReleaseAll => self.release_all()?,
        }
        self.flush()
    }

    fn release_all(&mut self) -> Result<(), InputError> {
        let held = std::mem::take(&mut self.held);
        let mut first_error = None;
        for evdev in &held.keys {
            let sent = Keycode::try_from(evdev + EVDEV_TO_X)
                .map_err(|_| InputError::Inject(format!("evdev key {evdev} has no X keycode")))
                .and_then(|keycode| self.fake_key(keycode, false));
            if let Err(error) = sent {
                first_error.get_or_insert(error);
            }
        }
        for button in &held.buttons {
            if let Err(error) = self.fake_button(x_button(*button), false) {
                first_error.get_or_insert(error);
            }
        }
        if let Err(error) = self.settle() {
            first_error.get_or_insert(error);
        }
        tracing::debug!(
            keys = held.keys.len(),
            buttons = held.buttons.len(),
            "released what the session held"
        );
        first_error.map_or(Ok(()), Err)
    }

    fn held(&self) -> &Held {
        &self.held
    }

    fn set_monitor(&mut self, monitor: Monitor) {
        self.monitor = monitor;
    }
}

impl Drop for X11Input {
    fn drop(&mut self) {
        if let Err(error) = self.release_all() {
            tracing::warn!(%error, "releasing held input when the sink closed");
        }
        if let Err(error) = self.keyboard.empty_spares(&self.conn) {
            tracing::warn!(%error, "emptying the spare keycodes text was typed on");
        }
    }
}

/// The keyboard mapping as this sink knows it: which keysyms the layout has unshifted, and
/// the spare keycodes text borrows.
#[derive(Debug)]
struct Keyboard {
    /// Keysyms in the first column of the layout, and their keycodes.
    unshifted: HashMap<Keysym, Keycode>,
    /// Keycodes the layout leaves empty, least recently typed first, with what is bound to
    /// them now and when it was last typed.
    spares: Vec<Spare>,
    keysyms_per_keycode: u8,
}

#[derive(Debug, Clone, Copy)]
struct Spare {
    keycode: Keycode,
    bound: Option<Keysym>,
    typed: Option<Instant>,
}

impl Keyboard {
    fn read(conn: &RustConnection) -> Result<Keyboard, String> {
        let setup = conn.setup();
        let (first, last) = (setup.min_keycode, setup.max_keycode);
        let mapping = conn
            .get_keyboard_mapping(first, last - first + 1)
            .map_err(|error| format!("reading the keyboard mapping: {error}"))?
            .reply()
            .map_err(|error| format!("reading the keyboard mapping: {error}"))?;
        let per = usize::from(mapping.keysyms_per_keycode).max(1);

        let mut unshifted = HashMap::new();
        let mut spares = Vec::new();
        for (offset, syms) in mapping.keysyms.chunks(per).enumerate() {
            let Ok(keycode) = Keycode::try_from(usize::from(first) + offset) else {
                break;
            };
            if syms.iter().all(|&sym| sym == 0) {
                spares.push(Spare {
                    keycode,
                    bound: None,
                    typed: None,
                });
            } else if syms[0] != 0 {
                unshifted.entry(syms[0]).or_insert(keycode);
            }
        }
        Ok(Keyboard {
            unshifted,
            spares,
            keysyms_per_keycode: mapping.keysyms_per_keycode.max(1),
        })
    }

    /// A keycode that types `keysym` with no modifier held: the layout's own key, a spare
    /// already bound to it, or the least recently typed spare, bound now.
    fn keycode_for(
        &mut self,
        conn: &RustConnection,
        keysym: Keysym,
    ) -> Result<Keycode, InputError> {
        if let Some(&keycode) = self.unshifted.get(&keysym) {
            return Ok(keycode);
        }
        let index = match self.spares.iter().position(|s| s.bound == Some(keysym)) {
            Some(index) => index,
            None if self.spares.is_empty() => {
                return Err(InputError::Inject(format!(
                    "keysym {keysym:#x} is not on the keyboard and no keycode is spare"
                )));
            }
            None => {
                // The front of the list is the spare typed longest ago.
                self.bind(conn, 0, keysym)?;
                0
            }
        };
        let mut spare = self.spares.remove(index);
        spare.typed = Some(Instant::now());
        let keycode = spare.keycode;
        self.spares.push(spare);
        Ok(keycode)
    }

    /// Binds `keysym` in every column of spare `index`, so Shift or a group switch the
    /// caller holds does not change what it types.
    fn bind(
        &mut self,
        conn: &RustConnection,
        index: usize,
        keysym: Keysym,
    ) -> Result<(), InputError> {
        let spare = self.spares[index];
        if let Some(typed) = spare.typed {
            let since = typed.elapsed();
            if since < REBIND_GAP {
                std::thread::sleep(REBIND_GAP - since);
            }
        }
        let syms = vec![keysym; usize::from(self.keysyms_per_keycode)];
        conn.change_keyboard_mapping(1, spare.keycode, self.keysyms_per_keycode, &syms)
            .map_err(inject)?;
        self.spares[index].bound = Some(keysym);
        Ok(())
    }

    /// Empties every spare this sink bound, leaving the layout as it found it.
    fn empty_spares(&mut self, conn: &RustConnection) -> Result<(), InputError> {
        let empty = vec![0; usize::from(self.keysyms_per_keycode)];
        for spare in self.spares.iter_mut().filter(|s| s.bound.is_some()) {
            conn.change_keyboard_mapping(1, spare.keycode, self.keysyms_per_keycode, &empty)
                .map_err(inject)?;
            spare.bound = None;
        }
        round_trip(conn)
    }
}

fn round_trip(conn: &RustConnection) -> Result<(), InputError> {
    conn.get_input_focus()
        .map_err(inject)?
        .reply()
        .map_err(inject)?;
    Ok(())
}

/// The keysym X gives `c`: Latin-1 characters are their own keysyms, any other character
/// is 0x0100_0000 plus its code point (X11 keysym encoding, appendix A).
fn keysym_of(c: char) -> Keysym {
    match c {
        '\n' => XK_RETURN,
        '\t' => XK_TAB,
        ' '..='~' | '\u{a0}'..='\u{ff}' => u32::from(c),
        c => 0x0100_0000 | u32::from(c),
    }
}

fn x_button(button: PointerButton) -> u8 {
    match button {
        PointerButton::Left => 1,
        PointerButton::Middle => 2,
        PointerButton::Right => 3,
        PointerButton::Back => 8,
        PointerButton::Forward => 9,
    }
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "the shape map_err calls with"
)]
fn inject(error: impl std::fmt::Display) -> InputError {
    InputError::Inject(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_maps_to_keysyms() {
        assert_eq!(keysym_of('a'), 0x61);
        assert_eq!(keysym_of('ü'), 0xfc);
        assert_eq!(keysym_of('ß'), 0xdf);
        assert_eq!(keysym_of('€'), 0x0100_20ac);
        assert_eq!(keysym_of('\n'), XK_RETURN);
        assert_eq!(keysym_of('\t'), XK_TAB);
    }
}
