//! Input the analyst sends to drive the caller's desktop: pointer, buttons, wheel, physical
//! keys and "type text", with the limits a device enforces before it injects anything.
//!
//! Keys travel as the browser's `KeyboardEvent.code` names ("KeyA", "ShiftLeft"): they name
//! the physical key, so the caller's keyboard layout decides the character. Arbitrary Unicode
//! goes through [`InputEvent::TypeText`] instead. Every value here comes from the console,
//! which relays what a browser sent, so each string has a cap checked at decode time
//! ([`KeyCode`]) or by [`InputEvent::check_limits`].

use serde::{Deserialize, Serialize};

/// Longest key code name accepted, in bytes ("MediaTrackPrevious" is 18).
pub const MAX_KEY_CODE: usize = 32;
/// Longest text one "type text" action may carry, in bytes.
pub const MAX_TYPE_TEXT: usize = 4096;
/// Most wheel steps one event may carry on either axis; a browser sends one or a few per
/// event, and a huge count would keep the device scrolling long after the analyst stopped.
pub const MAX_WHEEL_STEPS: i16 = 20;

/// One input action on the caller's desktop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InputEvent {
    /// Moves the pointer to `x`, `y` in pixels of the monitor the session shows, from its
    /// top-left corner; a device clamps a position outside the monitor to its edge.
    PointerMove { x: u32, y: u32 },
    /// Presses or releases a pointer button.
    Button {
        button: PointerButton,
        pressed: bool,
    },
    /// Turns the wheel by whole steps: positive `dy` scrolls down, positive `dx` right.
    Wheel { dx: i16, dy: i16 },
    /// Presses or releases the physical key `code`.
    Key { code: KeyCode, pressed: bool },
    /// Types `text` as it is, whatever the caller's layout.
    TypeText { text: String },
    /// Releases every key and button the session holds down (the analyst's tab lost focus).
    ReleaseAll,
}

/// The pointer buttons a browser reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PointerButton {
    Left,
    Middle,
    Right,
    Back,
    Forward,
}

/// A `KeyboardEvent.code` name: 1 to [`MAX_KEY_CODE`] ASCII letters and digits. Whether a
/// device knows the key is its own decision; this type only keeps hostile strings out.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyCode(String);

impl KeyCode {
    pub fn new(name: &str) -> Result<KeyCode, InputLimitError> {
        if name.is_empty() || name.len() > MAX_KEY_CODE {
            return Err(InputLimitError::KeyCodeLength {
                len: name.len(),
                limit: MAX_KEY_CODE,
            });
        }
        if !name.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
            return Err(InputLimitError::KeyCodeCharacters);
        }
        Ok(KeyCode(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for KeyCode {
    type Error = InputLimitError;

    fn try_from(name: String) -> Result<KeyCode, InputLimitError> {
        KeyCode::new(&name)
    }
}

impl From<KeyCode> for String {
    fn from(code: KeyCode) -> String {
        code.0
    }
}

impl std::fmt::Display for KeyCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An input event over one of its limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputLimitError {
    #[error("key code length {len} outside 1..={limit} bytes")]
    KeyCodeLength { len: usize, limit: usize },
    #[error("key code is not ASCII letters and digits")]
    KeyCodeCharacters,
    #[error("text to type too long: {len} > {limit} bytes")]
    TextTooLong { len: usize, limit: usize },
    #[error("text to type holds control character U+{0:04X}")]
    ControlCharacter(u32),
    #[error("wheel steps {steps} outside -{limit}..={limit}")]
    WheelTooFar { steps: i16, limit: i16 },
}

impl InputEvent {
    /// Checks what decoding alone cannot: the text's length and characters (line breaks and
    /// tabs are typed; other control characters are refused, as they have no key to type
    /// them with and some act as commands in a terminal) and the wheel's steps.
    pub fn check_limits(&self) -> Result<(), InputLimitError> {
        match self {
            InputEvent::TypeText { text } => check_text(text),
            InputEvent::Wheel { dx, dy } => {
                for steps in [*dx, *dy] {
                    if steps.unsigned_abs() > MAX_WHEEL_STEPS.unsigned_abs() {
                        return Err(InputLimitError::WheelTooFar {
                            steps,
                            limit: MAX_WHEEL_STEPS,
                        });
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Drops every pointer move that another move follows directly, keeping the order of
/// everything else: a device that fell behind jumps to where the pointer is now instead of
/// replaying its path. Moves around a button or key stay, so a drag still starts and ends
/// where the analyst pressed and released.
pub fn coalesce_moves(events: impl IntoIterator<Item = InputEvent>) -> Vec<InputEvent> {
    let mut out: Vec<InputEvent> = Vec::new();
    for event in events {
        let replaces_last = matches!(event, InputEvent::PointerMove { .. })
            && matches!(out.last(), Some(InputEvent::PointerMove { .. }));
        if replaces_last {
            out.pop();
        }
        out.push(event);
    }
    out
}

fn check_text(text: &str) -> Result<(), InputLimitError> {
    if text.len() > MAX_TYPE_TEXT {
        return Err(InputLimitError::TextTooLong {
            len: text.len(),
            limit: MAX_TYPE_TEXT,
        });
    }
    match text
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        Some(c) => Err(InputLimitError::ControlCharacter(c.into())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(event: &InputEvent) -> Result<InputEvent, String> {
        let config = bincode::config::standard().with_limit::<65536>();
        let bytes = bincode::serde::encode_to_vec(event, config).map_err(|e| e.to_string())?;
        bincode::serde::decode_from_slice(&bytes, config)
            .map(|(event, _)| event)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn events_roundtrip() {
        let events = [
            InputEvent::PointerMove { x: 1365, y: 767 },
            InputEvent::Button {
                button: PointerButton::Right,
                pressed: true,
            },
            InputEvent::Wheel { dx: 0, dy: -3 },
            InputEvent::Key {
                code: KeyCode::new("ShiftLeft").expect("valid"),
                pressed: false,
            },
            InputEvent::TypeText {
                text: "Grüße 1+1=2 ü€".into(),
            },
            InputEvent::ReleaseAll,
        ];
        for event in &events {
            assert_eq!(&roundtrip(event).expect("roundtrip"), event);
            assert_eq!(event.check_limits(), Ok(()));
        }
    }

    #[test]
    fn hostile_key_codes_are_refused_when_decoded() {
        // Serialise the raw shape a hostile console could send, bypassing `KeyCode::new`.
        #[derive(Serialize)]
        enum Raw {
            _Move,
            _Button,
            _Wheel,
            Key { code: String, pressed: bool },
        }
        let config = bincode::config::standard().with_limit::<65536>();
        for code in ["", "Key A", "<script>", &"K".repeat(MAX_KEY_CODE + 1)] {
            let raw = Raw::Key {
                code: code.to_owned(),
                pressed: true,
            };
            let bytes = bincode::serde::encode_to_vec(&raw, config).expect("encodes");
            let decoded: Result<(InputEvent, usize), _> =
                bincode::serde::decode_from_slice(&bytes, config);
            assert!(decoded.is_err(), "{code:?} decoded");
        }
    }

    #[test]
    fn runs_of_moves_collapse_to_their_last() {
        let moved = |x| InputEvent::PointerMove { x, y: 0 };
        let press = InputEvent::Button {
            button: PointerButton::Left,
            pressed: true,
        };
        let events = [
            moved(1),
            moved(2),
            moved(3),
            press.clone(),
            moved(4),
            moved(5),
        ];
        assert_eq!(coalesce_moves(events), vec![moved(3), press, moved(5)]);
    }

    #[test]
    fn text_and_wheel_limits() {
        let long = InputEvent::TypeText {
            text: "a".repeat(MAX_TYPE_TEXT + 1),
        };
        assert!(matches!(
            long.check_limits(),
            Err(InputLimitError::TextTooLong { .. })
        ));
        let bell = InputEvent::TypeText {
            text: "ring\u{7}".into(),
        };
        assert_eq!(
            bell.check_limits(),
            Err(InputLimitError::ControlCharacter(7))
        );
        let lines = InputEvent::TypeText {
            text: "one\ntwo\tthree".into(),
        };
        assert_eq!(lines.check_limits(), Ok(()));
        let wheel = InputEvent::Wheel {
            dx: 0,
            dy: i16::MIN,
        };
        assert!(matches!(
            wheel.check_limits(),
            Err(InputLimitError::WheelTooFar { .. })
        ));
    }
}
