//! Input injection into real X applications: xev shows the clicks, wheel and physical keys it
//! receives, xterm the text typed into it, and the server's own key and button state shows
//! what release_all leaves held.

use std::fs::File;
use std::time::Duration;

use hotline_agent::screen::input::x11::X11Input;
use hotline_agent::screen::input::{InputError, InputSink, Monitor};
use hotline_protocol::input::{InputEvent, KeyCode, MAX_TYPE_TEXT, PointerButton};
use hotline_tests::wait_for;
use hotline_tests::xvfb::Xvfb;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, KeyButMask};

/// A display of the test's own without a window manager: applications map where they ask
/// and the keyboard follows the pointer, so what arrives depends on the sink alone.
fn display() -> Xvfb {
    Xvfb::start(1280, 800)
}

const WHOLE_SCREEN: Monitor = Monitor {
    x: 0,
    y: 0,
    width: 1280,
    height: 800,
};

fn key(code: &str, pressed: bool) -> InputEvent {
    InputEvent::Key {
        code: KeyCode::new(code).expect("a valid key code"),
        pressed,
    }
}

fn tap(sink: &mut X11Input, code: &str) {
    sink.apply(&key(code, true)).expect("key down");
    sink.apply(&key(code, false)).expect("key up");
}

fn click(sink: &mut X11Input, x: i32, y: i32) {
    let (x, y) = (
        x.try_into().expect("on screen"),
        y.try_into().expect("on screen"),
    );
    sink.apply(&InputEvent::PointerMove { x, y }).expect("move");
    for pressed in [true, false] {
        let event = InputEvent::Button {
            button: PointerButton::Left,
            pressed,
        };
        sink.apply(&event).expect("button");
    }
}

/// Starts `program` on the display and waits for its window named `name`; returns the
/// process and the window's centre on the screen.
fn start_app(
    xvfb: &Xvfb,
    command: &mut std::process::Command,
    name: &str,
) -> (std::process::Child, (i32, i32)) {
    let mut child = command.spawn().expect("the X application starts");
    let window = wait_for(
        &format!("the window {name}"),
        Duration::from_secs(20),
        || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} ended before its window showed: {status}");
            }
            xvfb.has_window(name)
                .then(|| xvfb.wait_for_window(name, Duration::from_secs(1)))
        },
    );
    let (x, y) = xvfb.window_origin(&window);
    (child, (x + 100, y + 80))
}

#[test]
fn clicks_wheel_and_physical_keys_reach_an_application() {
    let xvfb = display();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("xev.log");
    let mut command = xvfb.command("xev");
    command
        .args(["-geometry", "400x300+100+100", "-name", "hotline-xev"])
        .stdout(File::create(&log).expect("log file"));
    let (mut xev, (x, y)) = start_app(&xvfb, &mut command, "hotline-xev");

    let mut sink = X11Input::open(&xvfb.display, WHOLE_SCREEN).expect("the sink opens");
    click(&mut sink, x, y);
    sink.apply(&InputEvent::Wheel { dx: 0, dy: 1 })
        .expect("wheel");
    tap(&mut sink, "KeyA");
    sink.apply(&key("ShiftLeft", true)).expect("shift down");
    tap(&mut sink, "Digit1");
    sink.apply(&key("ShiftLeft", false)).expect("shift up");

    // xev prints each event it receives; the server generated them all (synthetic NO).
    let seen = wait_for("xev to show the input", Duration::from_secs(30), || {
        let text = std::fs::read_to_string(&log).ok()?;
        text.contains("keysym 0x21, exclam").then_some(text)
    });
    xev.kill().ok();
    xev.wait().ok();
    assert!(
        seen.contains("ButtonPress event") && seen.contains("button 1,"),
        "{seen}"
    );
    assert!(seen.contains("button 5,"), "no wheel step down in:\n{seen}");
    assert!(
        seen.contains("keycode 38 (keysym 0x61, a)"),
        "no KeyA in:\n{seen}"
    );
    assert!(
        seen.contains("keycode 50 (keysym 0xffe1, Shift_L)"),
        "no ShiftLeft in:\n{seen}"
    );
    let forged = seen
        .lines()
        .filter(|line| line.contains("Press event") || line.contains("Release event"))
        .any(|line| line.contains("synthetic YES"));
    assert!(!forged, "forged input events in:\n{seen}");
    assert!(sink.held().is_empty(), "still held: {:?}", sink.held());
}

#[test]
fn typed_text_arrives_exactly() {
    let xvfb = display();
    let dir = tempfile::tempdir().expect("tempdir");
    let typed = dir.path().join("typed.txt");
    let script = format!("cat > '{}'", typed.display());
    let mut command = xvfb.command("xterm");
    command
        .env("LC_ALL", "C.UTF-8")
        .args(["-u8", "-T", "hotline-xterm", "-geometry", "60x10+100+100"])
        .args(["-e", "sh", "-c", &script]);
    let (mut xterm, (x, y)) = start_app(&xvfb, &mut command, "hotline-xterm");

    let mut sink = X11Input::open(&xvfb.display, WHOLE_SCREEN).expect("the sink opens");
    click(&mut sink, x, y);
    let text = "Grüße 1+1=2 ü€";
    sink.apply(&InputEvent::TypeText {
        text: format!("{text}\n"),
    })
    .expect("types");

    // cat writes the line once the terminal passes it on, at the newline.
    let got = wait_for("the typed line", Duration::from_secs(30), || {
        std::fs::read_to_string(&typed)
            .ok()
            .filter(|got| got.ends_with('\n'))
    });
    xterm.kill().ok();
    xterm.wait().ok();
    assert_eq!(got, format!("{text}\n"));
}

#[test]
fn release_all_lets_go_of_held_keys_and_buttons() {
    let xvfb = display();
    let mut sink = X11Input::open(&xvfb.display, WHOLE_SCREEN).expect("the sink opens");
    sink.apply(&key("ShiftLeft", true)).expect("shift down");
    sink.apply(&InputEvent::Button {
        button: PointerButton::Left,
        pressed: true,
    })
    .expect("button down");
    assert!(!sink.held().is_empty());

    // Ask the server itself what is down: its key bitmap and the pointer's button mask.
    let (conn, screen) = x11rb::connect(Some(&xvfb.display)).expect("connects");
    let root = conn.setup().roots[screen].root;
    let server_state = || {
        let keys = conn
            .query_keymap()
            .expect("asks")
            .reply()
            .expect("keymap")
            .keys;
        let shift = keys[50 / 8] & (1 << (50 % 8)) != 0;
        let mask = conn
            .query_pointer(root)
            .expect("asks")
            .reply()
            .expect("pointer")
            .mask;
        (shift, mask.contains(KeyButMask::BUTTON1))
    };
    assert_eq!(server_state(), (true, true), "the presses did not arrive");

    sink.release_all().expect("releases");
    assert!(sink.held().is_empty(), "still held: {:?}", sink.held());
    assert_eq!(
        server_state(),
        (false, false),
        "the server still holds something"
    );
}

#[test]
fn pointer_positions_are_kept_on_the_chosen_monitor() {
    let xvfb = display();
    let monitor = Monitor {
        x: 100,
        y: 50,
        width: 640,
        height: 480,
    };
    let mut sink = X11Input::open(&xvfb.display, monitor).expect("the sink opens");
    sink.apply(&InputEvent::PointerMove { x: 0, y: 0 })
        .expect("move");
    assert_eq!(xvfb.pointer(), (100, 50));
    sink.apply(&InputEvent::PointerMove { x: 320, y: 240 })
        .expect("move");
    assert_eq!(xvfb.pointer(), (420, 290));
    sink.apply(&InputEvent::PointerMove {
        x: 10_000,
        y: 10_000,
    })
    .expect("move");
    assert_eq!(xvfb.pointer(), (739, 529));
}

#[test]
fn unknown_keys_and_oversized_text_are_refused_and_nothing_is_held() {
    let xvfb = display();
    let mut sink = X11Input::open(&xvfb.display, WHOLE_SCREEN).expect("the sink opens");
    let error = sink.apply(&key("Fn", true)).expect_err("no such key");
    assert!(matches!(error, InputError::UnknownKey(_)), "{error}");
    let long = InputEvent::TypeText {
        text: "a".repeat(MAX_TYPE_TEXT + 1),
    };
    let error = sink.apply(&long).expect_err("too long");
    assert!(matches!(error, InputError::Limit(_)), "{error}");
    assert!(sink.held().is_empty());
}

#[test]
fn a_display_that_does_not_exist_is_an_error_naming_it() {
    let error = X11Input::open(":4244", WHOLE_SCREEN).expect_err("no such display");
    assert!(error.to_string().contains(":4244"), "{error}");
}

/// The keyboard mapping of `display`, as every X client reads it.
fn keymap(display: &str) -> Vec<u32> {
    let (conn, _) = x11rb::connect(Some(display)).expect("connects");
    let (first, last) = (conn.setup().min_keycode, conn.setup().max_keycode);
    conn.get_keyboard_mapping(first, last - first + 1)
        .expect("asks")
        .reply()
        .expect("keymap")
        .keysyms
}

/// Text borrows spare keycodes for characters the layout lacks; when the sink closes they
/// are empty again, so nothing of what was typed stays readable in the caller's keymap.
#[test]
fn typed_text_leaves_the_keymap_as_it_found_it() {
    let xvfb = display();
    let before = keymap(&xvfb.display);
    let mut sink = X11Input::open(&xvfb.display, WHOLE_SCREEN).expect("the sink opens");
    sink.apply(&InputEvent::TypeText {
        text: "Hunter2!Pw é€üÀ Ωж".into(),
    })
    .expect("types");
    assert_ne!(keymap(&xvfb.display), before, "spare keycodes were bound");
    drop(sink);
    assert_eq!(keymap(&xvfb.display), before);
}
