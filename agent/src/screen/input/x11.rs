//! Input on an X11 display through enigo's x11rb backend, which sends XTEST requests: the
//! server then treats the input as coming from its own devices, and no libxdo is needed.
//! Physical keys go by keycode (evdev + 8), text by enigo's keysym remapping, which binds
//! each character to a spare keycode so any Unicode text types whatever the layout.

use enigo::{Axis, Button, Coordinate, Direction, Enigo, Keyboard, Mouse, Settings};
use hotline_protocol::input::{InputEvent, PointerButton};

use super::{Held, InputError, InputSink, Monitor, keymap};

/// X servers fed by evdev number their keycodes 8 above evdev's.
const EVDEV_TO_X: u16 = 8;

/// Injects input on one X display, aimed at one monitor.
pub struct X11Input {
    enigo: Enigo,
    monitor: Monitor,
    held: Held,
}

impl std::fmt::Debug for X11Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X11Input")
            .field("monitor", &self.monitor)
            .field("held", &self.held)
            .finish_non_exhaustive()
    }
}

impl X11Input {
    /// Connects to `display`, aiming at `monitor`.
    // FIXME: enigo opens the display by name with this process's XAUTHORITY, so an agent
    // running as root reaches only displays it may already open; a user's own display needs
    // the sink to run in a helper process started as that user (crate::x11 finds the cookie
    // for the prompt, but enigo takes no connection or cookie from outside).
    pub fn open(display: &str, monitor: Monitor) -> Result<X11Input, InputError> {
        let settings = Settings {
            x11_display: Some(display.to_owned()),
            release_keys_when_dropped: true,
            ..Settings::default()
        };
        let enigo = Enigo::new(&settings).map_err(|error| InputError::Open {
            display: display.to_owned(),
            reason: error.to_string(),
        })?;
        Ok(X11Input {
            enigo,
            monitor,
            held: Held::default(),
        })
    }

    fn key(&mut self, evdev: u16, pressed: bool) -> Result<(), InputError> {
        if !pressed && !self.held.keys.contains(&evdev) {
            // A release for a press this sink never sent (made before control began, or
            // already released by release_all): nothing to let go.
            return Ok(());
        }
        let direction = if pressed {
            Direction::Press
        } else {
            Direction::Release
        };
        self.enigo
            .raw(evdev + EVDEV_TO_X, direction)
            .map_err(inject)?;
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
        let direction = if pressed {
            Direction::Press
        } else {
            Direction::Release
        };
        self.enigo
            .button(enigo_button(button), direction)
            .map_err(inject)?;
        if pressed {
            self.held.buttons.insert(button);
        } else {
            self.held.buttons.remove(&button);
        }
        Ok(())
    }

    /// Types `text` character by character; line breaks and tabs as their keys.
    fn type_text(&mut self, text: &str) -> Result<(), InputError> {
        for c in text.chars() {
            let key = match c {
                '\n' => enigo::Key::Return,
                '\t' => enigo::Key::Tab,
                c => enigo::Key::Unicode(c),
            };
            self.enigo.key(key, Direction::Click).map_err(inject)?;
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
                self.enigo.move_mouse(x, y, Coordinate::Abs).map_err(inject)
            }
            InputEvent::Button { button, pressed } => self.button(*button, *pressed),
            InputEvent::Wheel { dx, dy } => {
                if *dy != 0 {
                    self.enigo
                        .scroll(i32::from(*dy), Axis::Vertical)
                        .map_err(inject)?;
                }
                if *dx != 0 {
                    self.enigo
                        .scroll(i32::from(*dx), Axis::Horizontal)
                        .map_err(inject)?;
                }
                Ok(())
            }
            InputEvent::Key { code, pressed } => {
                let evdev = keymap::evdev_code(code.as_str())
                    .ok_or_else(|| InputError::UnknownKey(code.clone()))?;
                self.key(evdev, *pressed)
            }
            InputEvent::TypeText { text } => self.type_text(text),
            InputEvent::ReleaseAll => self.release_all(),
        }
    }

    fn release_all(&mut self) -> Result<(), InputError> {
        let held = std::mem::take(&mut self.held);
        let mut first_error = None;
        for evdev in &held.keys {
            if let Err(error) = self.enigo.raw(evdev + EVDEV_TO_X, Direction::Release) {
                first_error.get_or_insert(inject(error));
            }
        }
        for button in &held.buttons {
            if let Err(error) = self.enigo.button(enigo_button(*button), Direction::Release) {
                first_error.get_or_insert(inject(error));
            }
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
        // enigo lets go of its keys when dropped, but not of buttons.
        if let Err(error) = self.release_all() {
            tracing::warn!(%error, "releasing held input when the sink closed");
        }
    }
}

fn enigo_button(button: PointerButton) -> Button {
    match button {
        PointerButton::Left => Button::Left,
        PointerButton::Middle => Button::Middle,
        PointerButton::Right => Button::Right,
        PointerButton::Back => Button::Back,
        PointerButton::Forward => Button::Forward,
    }
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "the shape map_err calls with"
)]
fn inject(error: enigo::InputError) -> InputError {
    InputError::Inject(error.to_string())
}
