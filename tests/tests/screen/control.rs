//! The analyst's input from the browser reaching real X applications: text from the "Type
//! text" dialog arrives exactly in an xterm; a click on the scaled canvas lands where it was
//! aimed on the caller's screen, and physical keys typed in the page arrive as those keys;
//! a key held in the page is released on the X server when the page loses focus and when
//! the caller presses End.
//!
//! Each test runs on its own Xvfb without a window manager unless it needs the session bar,
//! so the keyboard follows the pointer and what arrives depends on the session alone.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions, MouseActions, PointerAction};
use hotline_agent::consent::x11::{ARM_DELAY, BAR_TITLE, bar_layout};
use hotline_tests::browser::{self, Browser};
use hotline_tests::picture::{Picture, pattern};
use hotline_tests::wait_for;
use hotline_tests::xvfb::Xvfb;
use x11rb::protocol::xproto::ConnectionExt;

use super::session::{APPEARS, Desk, answer_prompt, desk, wait_state};

const WIDTH: u16 = 1280;
const HEIGHT: u16 = 800;

/// A display of the test's own with a picture on its root window (a black screen is
/// refused as a failed capture).
fn display(seed: u32) -> (Xvfb, Picture) {
    let xvfb = Xvfb::start(u32::from(WIDTH), u32::from(HEIGHT));
    let picture = pattern(u32::from(WIDTH), u32::from(HEIGHT), seed);
    let shown = Picture::wallpaper(&xvfb.display, WIDTH, HEIGHT, &picture);
    (xvfb, shown)
}

/// A device with nobody signed in whose policy allows unattended sessions, and the
/// analyst's viewer running a control session on it with the first frame drawn.
fn unattended_control(xvfb: &Xvfb, page: &Browser) -> Desk {
    let desk = desk(xvfb, false, 8, page);
    let ticket = desk.ticket.to_string();
    desk.console.cli_ok(&[
        "device",
        "policy",
        &desk.agent.device,
        "--unattended-sessions",
        "on",
        "--ticket",
        &ticket,
    ]);
    desk.open_viewer(page, "control");
    wait_state(page, "running");
    wait_for_frame(page);
    desk
}

fn wait_for_frame(page: &Browser) {
    let start = Instant::now();
    while page.eval("return window.__hotlineScreen.stats.frames") == 0 {
        assert!(start.elapsed() < APPEARS, "no frame reached the canvas");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts `command` on the display and waits for its window named `name`; returns the
/// process and the window's top-left corner on the screen.
fn start_app(xvfb: &Xvfb, command: &mut Command, name: &str) -> (Child, (i32, i32)) {
    let mut child = command.spawn().expect("the X application starts");
    let window = wait_for(&format!("the window {name}"), APPEARS, || {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{name} ended before its window showed: {status}");
        }
        xvfb.has_window(name)
            .then(|| xvfb.wait_for_window(name, Duration::from_secs(1)))
    });
    (child, xvfb.window_origin(&window))
}

/// The page's viewport point that shows the caller's screen pixel `x`, `y`, worked out from
/// the canvas' box and the picture's scale inside it (it is letterboxed to fit).
fn page_point(page: &Browser, x: u16, y: u16) -> (f64, f64) {
    let script = format!(
        "const c = window.__hotlineScreen.canvas; const r = c.getBoundingClientRect();
         const s = Math.min(r.width / c.width, r.height / c.height);
         const left = r.left + (r.width - c.width * s) / 2, top = r.top + (r.height - c.height * s) / 2;
         return [Math.round(left + ({x} + 0.5) * s), Math.round(top + ({y} + 0.5) * s), c.width, s];"
    );
    let value = page.eval(&script);
    assert_eq!(
        value[2], WIDTH,
        "the canvas is not the caller's screen: {value}"
    );
    let scale = value[3].as_f64().expect("scale");
    assert!(
        scale < 1.0,
        "the canvas is not scaled down, so the mapping is not exercised: {value}"
    );
    (value[0].as_f64().expect("x"), value[1].as_f64().expect("y"))
}

/// Clicks the canvas where it shows the caller's screen pixel `x`, `y`, as a person's
/// mouse would (WebDriver pointer actions: real pointer events in the page).
fn click_screen(page: &Browser, x: u16, y: u16) {
    let (x, y) = page_point(page, x, y);
    let mouse = MouseActions::new("mouse".into())
        .then(PointerAction::MoveTo {
            duration: None,
            x,
            y,
        })
        .then(PointerAction::Down {
            button: fantoccini::actions::MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::Up {
            button: fantoccini::actions::MOUSE_BUTTON_LEFT,
        });
    page.run(async |c| c.perform_actions(mouse).await)
        .expect("clicking the canvas");
}

/// Presses and releases each of `keys` in the focused element, as a keyboard would.
fn type_keys(page: &Browser, keys: &str) {
    let mut actions = KeyActions::new("keyboard".into());
    for key in keys.chars() {
        actions = actions
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
    }
    page.run(async |c| c.perform_actions(actions).await)
        .expect("typing in the page");
}

/// Presses `key` in the focused element and keeps it down.
fn hold_key(page: &Browser, key: char) {
    let actions = KeyActions::new("keyboard".into()).then(KeyAction::Down { value: key });
    page.run(async |c| c.perform_actions(actions).await)
        .expect("pressing a key in the page");
}

/// Lets go of everything WebDriver holds, so the next test starts clean.
fn release_page_keys(page: &Browser) {
    page.run(async |c| c.release_actions().await)
        .expect("releasing the page's keys");
}

fn active_element(page: &Browser) -> String {
    page.eval("return document.activeElement ? document.activeElement.id : ''")
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Whether the X server holds `keycode` down now, by its own key state.
fn key_down(display: &str, keycode: u8) -> bool {
    let (conn, _) = x11rb::connect(Some(display)).expect("connecting to the X server");
    let keys = conn
        .query_keymap()
        .expect("asking for the keymap")
        .reply()
        .expect("the keymap")
        .keys;
    keys[usize::from(keycode / 8)] & (1 << (keycode % 8)) != 0
}

fn wait_key(display: &str, keycode: u8, down: bool, why: &str) {
    wait_for(why, APPEARS, || {
        (key_down(display, keycode) == down).then_some(())
    });
}

/// Whether xev's output `text` shows an event of `kind` whose description names `detail`.
fn has_event(text: &str, kind: &str, detail: &str) -> bool {
    text.split(kind)
        .skip(1)
        .any(|event| event.lines().take(3).any(|line| line.contains(detail)))
}

fn read_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn text_from_the_type_text_dialog_arrives_exactly_in_an_x_application() {
    let (xvfb, _shown) = display(11);
    let dir = tempfile::tempdir().expect("tempdir");
    let typed = dir.path().join("typed.txt");
    let script = format!("cat > '{}'", typed.display());
    let mut command = xvfb.command("xterm");
    command
        .env("LC_ALL", "C.UTF-8")
        .args(["-u8", "-T", "hotline-xterm", "-geometry", "60x10+100+100"])
        .args(["-e", "sh", "-c", &script]);
    let (mut xterm, (x, y)) = start_app(&xvfb, &mut command, "hotline-xterm");
    let page = browser::shared();
    let _desk = unattended_control(&xvfb, &page);

    // A click through the canvas puts the pointer, and so the keyboard, on the terminal.
    let into = |offset: i32| u16::try_from(offset).expect("on screen");
    click_screen(&page, into(x + 120), into(y + 40));
    page.click("#type-text");
    page.find("#type-text-dialog[open]");
    assert_eq!(active_element(&page), "type-text-input");
    let text = "Grüße 1+1=2 ü€";
    page.fill("#type-text-input", &format!("{text}\n"));
    page.click("#type-text-send");
    let got = wait_for("the typed line", APPEARS, || {
        let got = read_text(&typed);
        got.ends_with('\n').then_some(got)
    });
    assert_eq!(got.as_bytes(), format!("{text}\n").as_bytes());
    assert_eq!(
        page.eval("return document.getElementById('type-text-dialog').open"),
        false
    );
    assert_eq!(
        active_element(&page),
        "screen",
        "the focus did not return to the canvas"
    );

    // Escape cancels: what was written is not typed, and the focus is back on the canvas.
    page.click("#type-text");
    page.find("#type-text-dialog[open]");
    page.fill("#type-text-input", "not this\n");
    page.fill("#type-text-input", "\u{E00C}");
    page.wait_until(
        "the dialog to close",
        "return !document.getElementById('type-text-dialog').open",
    );
    assert_eq!(
        active_element(&page),
        "screen",
        "the focus did not return to the canvas"
    );
    // The next text arrives right after the first: the cancelled one never went out.
    page.click("#type-text");
    page.find("#type-text-dialog[open]");
    page.fill("#type-text-input", "ok\n");
    page.click("#type-text-send");
    let got = wait_for("the second line", APPEARS, || {
        let got = read_text(&typed);
        got.ends_with("ok\n").then_some(got)
    });
    assert_eq!(got, format!("{text}\nok\n"));
    xterm.kill().ok();
    xterm.wait().ok();
}

#[test]
fn a_click_on_the_scaled_canvas_and_physical_keys_reach_an_x_application_where_aimed() {
    let (xvfb, _shown) = display(12);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("xev.log");
    let mut command = xvfb.command("xev");
    command
        .args(["-geometry", "500x400+300+200", "-name", "hotline-xev"])
        .stdout(File::create(&log).expect("log file"));
    let (mut xev, (x, y)) = start_app(&xvfb, &mut command, "hotline-xev");
    let page = browser::shared();
    let _desk = unattended_control(&xvfb, &page);

    // An odd point far from the corners: a mapping that ignored the scale or the
    // letterboxing would land tens of pixels away.
    let target = (x + 377, y + 291);
    let into = |offset: i32| u16::try_from(offset).expect("on screen");
    click_screen(&page, into(target.0), into(target.1));
    type_keys(&page, "hi");

    let seen = wait_for("xev to show the keys", APPEARS, || {
        let text = read_text(&log);
        has_event(&text, "KeyRelease event", "keysym 0x69, i").then_some(text)
    });
    xev.kill().ok();
    xev.wait().ok();

    // Where the button went down, on the screen, by the X server's account.
    let press = seen
        .split("ButtonPress event")
        .nth(1)
        .unwrap_or_else(|| panic!("no ButtonPress in:\n{seen}"));
    assert!(press.contains("button 1,"), "{press}");
    let root = press
        .split("root:(")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|pair| pair.split_once(','))
        .and_then(|(px, py)| Some((px.parse::<i32>().ok()?, py.parse::<i32>().ok()?)))
        .unwrap_or_else(|| panic!("no root position in:\n{press}"));
    // One page pixel covers a little more than one screen pixel: the click is exact to
    // within that.
    assert!(
        (root.0 - target.0).abs() <= 1 && (root.1 - target.1).abs() <= 1,
        "the click landed at {root:?}, aimed at {target:?}"
    );
    for key in ["keysym 0x68, h", "keysym 0x69, i"] {
        for kind in ["KeyPress event", "KeyRelease event"] {
            assert!(
                has_event(&seen, kind, key),
                "no {kind} for {key} in:\n{seen}"
            );
        }
    }
    let forged = seen
        .lines()
        .filter(|line| line.contains("Press event") || line.contains("Release event"))
        .any(|line| line.contains("synthetic YES"));
    assert!(!forged, "forged input events in:\n{seen}");
}

/// X keycodes of the default keymap (evdev) for KeyA and KeyS.
const KEYCODE_A: u8 = 38;
const KEYCODE_S: u8 = 39;

#[test]
fn a_key_held_in_the_page_is_released_when_the_page_loses_focus_and_when_the_caller_ends() {
    // A caller signed in, so that the session bar (and its End) is there.
    let xvfb = Xvfb::start(u32::from(WIDTH), u32::from(HEIGHT)).with_window_manager();
    let picture = pattern(u32::from(WIDTH), u32::from(HEIGHT), 13);
    let _shown = Picture::wallpaper(&xvfb.display, WIDTH, HEIGHT, &picture);
    let page = browser::shared();
    let desk = desk(&xvfb, true, 30, &page);
    desk.open_viewer(&page, "control");
    wait_state(&page, "requested");
    answer_prompt(&xvfb, true);
    wait_state(&page, "running");
    wait_for_frame(&page);
    page.eval("document.getElementById('screen').focus()");

    // Held in the page, the key is held on the caller's X server...
    hold_key(&page, 'a');
    wait_key(
        &xvfb.display,
        KEYCODE_A,
        true,
        "KeyA to be down on the X server",
    );
    // ...until the canvas loses the focus, with no key up from the page.
    page.eval("document.getElementById('end-session').focus()");
    wait_key(
        &xvfb.display,
        KEYCODE_A,
        false,
        "KeyA to be released at blur",
    );
    release_page_keys(&page);

    // Held again, it is released when the caller presses End on the session bar.
    page.eval("document.getElementById('screen').focus()");
    hold_key(&page, 's');
    wait_key(
        &xvfb.display,
        KEYCODE_S,
        true,
        "KeyS to be down on the X server",
    );
    let bar = xvfb.wait_for_window(BAR_TITLE, APPEARS);
    std::thread::sleep(ARM_DELAY * 2);
    let (x, y) = bar_layout(true).end.centre();
    xvfb.click_in(&bar, x, y);
    let text = wait_state(&page, "ended");
    assert!(text.contains("caller"), "{text}");
    wait_key(
        &xvfb.display,
        KEYCODE_S,
        false,
        "KeyS to be released at End",
    );
    release_page_keys(&page);
}
