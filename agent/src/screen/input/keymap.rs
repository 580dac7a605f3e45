//! Physical keys by their `KeyboardEvent.code` name, mapped to Linux evdev key codes (the
//! numbers of `linux/input-event-codes.h`). An X server fed by evdev numbers its keycodes
//! evdev + 8, and the caller's layout then decides which character a key makes, which is
//! the point: the analyst presses the key in the place, not the letter.

/// The evdev key code of the key `code` names, or `None` for a key this table lacks.
pub fn evdev_code(code: &str) -> Option<u16> {
    KEYS.iter()
        .find(|(name, _)| *name == code)
        .map(|(_, evdev)| *evdev)
}

/// `KeyboardEvent.code` names (W3C UI Events KeyboardEvent code values) and evdev codes.
const KEYS: &[(&str, u16)] = &[
    ("Escape", 1),
    ("Digit1", 2),
    ("Digit2", 3),
    ("Digit3", 4),
    ("Digit4", 5),
    ("Digit5", 6),
    ("Digit6", 7),
    ("Digit7", 8),
    ("Digit8", 9),
    ("Digit9", 10),
    ("Digit0", 11),
    ("Minus", 12),
    ("Equal", 13),
    ("Backspace", 14),
    ("Tab", 15),
    ("KeyQ", 16),
    ("KeyW", 17),
    ("KeyE", 18),
    ("KeyR", 19),
    ("KeyT", 20),
    ("KeyY", 21),
    ("KeyU", 22),
    ("KeyI", 23),
    ("KeyO", 24),
    ("KeyP", 25),
    ("BracketLeft", 26),
    ("BracketRight", 27),
    ("Enter", 28),
    ("ControlLeft", 29),
    ("KeyA", 30),
    ("KeyS", 31),
    ("KeyD", 32),
    ("KeyF", 33),
    ("KeyG", 34),
    ("KeyH", 35),
    ("KeyJ", 36),
    ("KeyK", 37),
    ("KeyL", 38),
    ("Semicolon", 39),
    ("Quote", 40),
    ("Backquote", 41),
    ("ShiftLeft", 42),
    ("Backslash", 43),
    ("KeyZ", 44),
    ("KeyX", 45),
    ("KeyC", 46),
    ("KeyV", 47),
    ("KeyB", 48),
    ("KeyN", 49),
    ("KeyM", 50),
    ("Comma", 51),
    ("Period", 52),
    ("Slash", 53),
    ("ShiftRight", 54),
    ("NumpadMultiply", 55),
    ("AltLeft", 56),
    ("Space", 57),
    ("CapsLock", 58),
    ("F1", 59),
    ("F2", 60),
    ("F3", 61),
    ("F4", 62),
    ("F5", 63),
    ("F6", 64),
    ("F7", 65),
    ("F8", 66),
    ("F9", 67),
    ("F10", 68),
    ("NumLock", 69),
    ("ScrollLock", 70),
    ("Numpad7", 71),
    ("Numpad8", 72),
    ("Numpad9", 73),
    ("NumpadSubtract", 74),
    ("Numpad4", 75),
    ("Numpad5", 76),
    ("Numpad6", 77),
    ("NumpadAdd", 78),
    ("Numpad1", 79),
    ("Numpad2", 80),
    ("Numpad3", 81),
    ("Numpad0", 82),
    ("NumpadDecimal", 83),
    ("IntlBackslash", 86),
    ("F11", 87),
    ("F12", 88),
    ("IntlRo", 89),
    ("Convert", 92),
    ("KanaMode", 93),
    ("NonConvert", 94),
    ("NumpadEnter", 96),
    ("ControlRight", 97),
    ("NumpadDivide", 98),
    ("PrintScreen", 99),
    ("AltRight", 100),
    ("Home", 102),
    ("ArrowUp", 103),
    ("PageUp", 104),
    ("ArrowLeft", 105),
    ("ArrowRight", 106),
    ("End", 107),
    ("ArrowDown", 108),
    ("PageDown", 109),
    ("Insert", 110),
    ("Delete", 111),
    ("AudioVolumeMute", 113),
    ("AudioVolumeDown", 114),
    ("AudioVolumeUp", 115),
    ("NumpadEqual", 117),
    ("Pause", 119),
    ("NumpadComma", 121),
    ("Lang1", 122),
    ("Lang2", 123),
    ("IntlYen", 124),
    ("MetaLeft", 125),
    ("MetaRight", 126),
    // Older Firefox names the Windows keys "OSLeft" and "OSRight".
    ("OSLeft", 125),
    ("OSRight", 126),
    ("ContextMenu", 127),
    ("MediaTrackNext", 163),
    ("MediaPlayPause", 164),
    ("MediaTrackPrevious", 165),
    ("MediaStop", 166),
    ("F13", 183),
    ("F14", 184),
    ("F15", 185),
    ("F16", 186),
    ("F17", 187),
    ("F18", 188),
    ("F19", 189),
    ("F20", 190),
    ("F21", 191),
    ("F22", 192),
    ("F23", 193),
    ("F24", 194),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_map_to_evdev() {
        assert_eq!(evdev_code("KeyA"), Some(30));
        assert_eq!(evdev_code("Digit1"), Some(2));
        assert_eq!(evdev_code("ShiftLeft"), Some(42));
        assert_eq!(evdev_code("Enter"), Some(28));
        assert_eq!(evdev_code("ArrowUp"), Some(103));
        assert_eq!(
            evdev_code("keya"),
            None,
            "names are case-sensitive, as browsers send them"
        );
        assert_eq!(evdev_code("Unidentified"), None);
    }

    #[test]
    fn every_name_fits_the_protocol_limit() {
        for (name, _) in KEYS {
            assert!(
                hotline_protocol::input::KeyCode::new(name).is_ok(),
                "{name}"
            );
        }
    }
}
