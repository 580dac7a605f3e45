//! The consent prompt: what it shows, the answers a caller gives with the mouse and the
//! keyboard, and the clicks and displays that must not count as an answer.

use std::process::Command;
use std::time::{Duration, Instant};

use hotline_agent::consent::x11::{ARM_DELAY, FontPaths, PROMPT_TITLE, X11Prompt, prompt_layout};
use hotline_agent::consent::{ConsentAnswer, ConsentPrompt, PromptTarget};
use hotline_tests::bin_dir;
use hotline_tests::xvfb::Xvfb;

use crate::common::{ask, display, me, request, target};

const APPEARS: Duration = Duration::from_secs(30);

/// Waits for the prompt and then long enough that Allow is armed.
fn armed_prompt(xvfb: &Xvfb) -> String {
    let window = xvfb.wait_for_window(PROMPT_TITLE, APPEARS);
    std::thread::sleep(ARM_DELAY * 2);
    window
}

#[test]
fn the_prompt_is_centred_drawn_and_titled() {
    let xvfb = display();
    let prompt = ask(target(&xvfb), request(Duration::from_secs(20)));
    let window = armed_prompt(&xvfb);

    // Centred on the 1280×800 screen.
    let layout = prompt_layout();
    let (x, y) = xvfb.window_origin(&window);
    assert!(
        (x - (1280 - layout.width) / 2).abs() <= 2,
        "prompt at x {x}"
    );
    assert!(
        (y - (800 - layout.height) / 2).abs() <= 40,
        "prompt at y {y} (the title bar may push it down)"
    );

    // Its pixels hold antialiased text, not a blank or single-colour window.
    let dir = tempfile::tempdir().expect("tempdir");
    let shot = dir.path().join("prompt.png");
    let status = xvfb
        .command("import")
        .args(["-window", &window])
        .arg(&shot)
        .status()
        .expect("import runs (scripts/test.sh installs imagemagick)");
    assert!(status.success(), "import failed");
    let colours = Command::new("convert")
        .arg(&shot)
        .args(["-format", "%k", "info:"])
        .output()
        .expect("convert runs");
    let colours: u32 = String::from_utf8_lossy(&colours.stdout)
        .trim()
        .parse()
        .expect("a colour count");
    assert!(
        colours > 20,
        "only {colours} colours: the prompt looks blank"
    );

    let (dx, dy) = layout.deny.centre();
    xvfb.click_in(&window, dx, dy);
    assert_eq!(prompt.join().expect("prompt thread"), ConsentAnswer::Deny);
}

#[test]
fn clicking_allow_allows() {
    let xvfb = display();
    let prompt = ask(target(&xvfb), request(Duration::from_secs(20)));
    let window = armed_prompt(&xvfb);
    let (x, y) = prompt_layout().allow.centre();
    xvfb.click_in(&window, x, y);
    assert_eq!(prompt.join().expect("prompt thread"), ConsentAnswer::Allow);
    assert!(
        !xvfb.has_window(PROMPT_TITLE),
        "the prompt stayed on screen"
    );
}

#[test]
fn clicking_deny_denies() {
    let xvfb = display();
    let prompt = ask(target(&xvfb), request(Duration::from_secs(20)));
    let window = xvfb.wait_for_window(PROMPT_TITLE, APPEARS);
    let (x, y) = prompt_layout().deny.centre();
    xvfb.click_in(&window, x, y);
    assert_eq!(prompt.join().expect("prompt thread"), ConsentAnswer::Deny);
}

#[test]
fn no_answer_times_out_and_closes_the_prompt() {
    let xvfb = display();
    let started = Instant::now();
    let prompt = ask(target(&xvfb), request(Duration::from_secs(2)));
    // Timeout (rather than CannotShow) says the prompt was on screen; waiting to see its
    // window here could miss it on a busy machine, as it is gone after two seconds.
    assert_eq!(
        prompt.join().expect("prompt thread"),
        ConsentAnswer::Timeout
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2),
        "timed out early, after {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(15),
        "timed out late, after {waited:?}"
    );
    assert!(
        !xvfb.has_window(PROMPT_TITLE),
        "the prompt stayed on screen"
    );
}

#[test]
fn escape_denies() {
    let xvfb = display();
    let prompt = ask(target(&xvfb), request(Duration::from_secs(20)));
    armed_prompt(&xvfb);
    xvfb.xdotool(&["key", "Escape"]);
    assert_eq!(prompt.join().expect("prompt thread"), ConsentAnswer::Deny);
}

/// A caller typing into another window when the prompt pops up presses Enter: that must
/// not allow, so focus starts on Deny.
#[test]
fn enter_does_not_allow() {
    let xvfb = display();
    let prompt = ask(target(&xvfb), request(Duration::from_secs(20)));
    armed_prompt(&xvfb);
    xvfb.xdotool(&["key", "Return"]);
    assert_eq!(prompt.join().expect("prompt thread"), ConsentAnswer::Deny);
}

/// Any client on the display can forge a click with SendEvent; the prompt ignores it. The
/// real click on Deny afterwards shows the prompt was still waiting.
#[test]
fn a_synthetic_click_on_allow_does_not_allow() {
    let xvfb = display();
    let prompt = ask(target(&xvfb), request(Duration::from_secs(20)));
    let window = armed_prompt(&xvfb);
    let (ax, ay) = prompt_layout().allow.centre();
    xvfb.synthetic_click_in(&window, ax, ay);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !prompt.is_finished(),
        "the forged click answered the prompt"
    );

    let (dx, dy) = prompt_layout().deny.centre();
    xvfb.click_in(&window, dx, dy);
    assert_eq!(prompt.join().expect("prompt thread"), ConsentAnswer::Deny);
}

/// A click meant for what was under the pointer before the prompt appeared must not land on
/// Allow: it is disarmed for its first moments on screen.
#[test]
fn a_click_on_allow_right_after_the_prompt_appears_does_not_allow() {
    let xvfb = display();
    let prompt = ask(target(&xvfb), request(Duration::from_secs(20)));
    let window = xvfb.wait_for_window(PROMPT_TITLE, APPEARS);
    let (x, y) = prompt_layout().allow.centre();
    xvfb.click_in(&window, x, y);
    std::thread::sleep(ARM_DELAY * 2);
    assert!(!prompt.is_finished(), "the early click answered the prompt");

    // Once armed, the same click allows.
    xvfb.click_in(&window, x, y);
    assert_eq!(prompt.join().expect("prompt thread"), ConsentAnswer::Allow);
}

#[test]
fn a_display_that_does_not_exist_cannot_show_and_says_which() {
    let target = PromptTarget {
        user: me(),
        display: ":4242".into(),
    };
    match X11Prompt::default().ask(&target, &request(Duration::from_secs(5))) {
        ConsentAnswer::CannotShow(reason) => assert!(reason.contains(":4242"), "{reason}"),
        other => panic!("expected CannotShow, got {other:?}"),
    }
}

#[test]
fn nobody_signed_in_and_wayland_cannot_show() {
    let request = request(Duration::from_secs(5));
    let nobody = PromptTarget {
        user: String::new(),
        display: ":0".into(),
    };
    let wayland = PromptTarget {
        user: me(),
        display: "wayland-0".into(),
    };
    for (target, expected) in [(nobody, "nobody is signed in"), (wayland, "Wayland")] {
        match X11Prompt::default().ask(&target, &request) {
            ConsentAnswer::CannotShow(reason) => assert!(reason.contains(expected), "{reason}"),
            other => panic!("expected CannotShow, got {other:?}"),
        }
    }
}

/// Without a font the prompt would be a blank window with two unlabeled buttons.
#[test]
fn no_font_cannot_show() {
    let xvfb = display();
    let prompt = X11Prompt::with_fonts(FontPaths {
        regular: "/nonexistent/DejaVuSans.ttf".into(),
        bold: "/nonexistent/DejaVuSans-Bold.ttf".into(),
    });
    let answer = prompt.ask(&target(&xvfb), &request(Duration::from_secs(5)));
    assert_eq!(answer, ConsentAnswer::CannotShow("no font".into()));
    assert!(!xvfb.has_window(PROMPT_TITLE));
}

/// `hotline-agent consent ask`, the support staff's way to try a prompt, prints the answer.
#[test]
fn the_cli_prints_the_answer() {
    let xvfb = display();
    let ask = |display: &str| {
        Command::new(bin_dir().join("hotline-agent"))
            .args(["consent", "ask", "--display", display, "--user", &me()])
            .args(["--analyst", "Sam", "--ticket", "7", "--title", "Printer"])
            .args(["--timeout", "20s"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("agent runs")
    };

    let missing = ask(":4243").wait_with_output().expect("agent ends");
    let out = String::from_utf8_lossy(&missing.stdout);
    assert!(
        out.starts_with("cannot_show: ") && out.contains(":4243"),
        "{out}"
    );

    let child = ask(&xvfb.display);
    let window = xvfb.wait_for_window(PROMPT_TITLE, APPEARS);
    let (x, y) = prompt_layout().deny.centre();
    xvfb.click_in(&window, x, y);
    let out = child.wait_with_output().expect("agent ends");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "deny");
}

/// A window laid over Allow and taken away just before a click (the clickjacking trick)
/// disarms Allow again: the prompt must be fully visible for a while before Allow counts.
#[test]
fn a_click_right_after_a_window_uncovers_allow_does_not_allow() {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{ConnectionExt, CreateWindowAux, WindowClass};
    use x11rb::wrapper::ConnectionExt as _;

    let xvfb = display();
    let prompt = ask(target(&xvfb), request(Duration::from_secs(20)));
    let window = armed_prompt(&xvfb);

    // An override-redirect window (no window manager can keep the prompt above it) over
    // Allow, for longer than Allow takes to arm.
    let (conn, screen) = x11rb::connect(Some(&xvfb.display)).expect("connects");
    let root = conn.setup().roots[screen].root;
    let (ox, oy) = xvfb.window_origin(&window);
    let allow = prompt_layout().allow;
    let cover = conn.generate_id().expect("an id");
    conn.create_window(
        x11rb::COPY_DEPTH_FROM_PARENT,
        cover,
        root,
        (ox + allow.x) as i16,
        (oy + allow.y) as i16,
        allow.width as u16,
        allow.height as u16,
        0,
        WindowClass::INPUT_OUTPUT,
        x11rb::COPY_FROM_PARENT,
        &CreateWindowAux::new()
            .override_redirect(1)
            .background_pixel(0),
    )
    .expect("creates the cover");
    conn.map_window(cover).expect("maps");
    conn.sync().expect("sync");
    std::thread::sleep(ARM_DELAY * 2);

    // Uncover and click at once.
    conn.unmap_window(cover).expect("unmaps");
    conn.sync().expect("sync");
    let (x, y) = allow.centre();
    xvfb.click_in(&window, x, y);
    std::thread::sleep(ARM_DELAY * 2);
    assert!(
        !prompt.is_finished(),
        "the click right after uncovering answered the prompt"
    );

    xvfb.click_in(&window, x, y);
    assert_eq!(prompt.join().expect("prompt thread"), ConsentAnswer::Allow);
}

/// On a desk with two monitors the prompt opens in the middle of the primary one, not
/// astride the gap between them.
#[test]
fn the_prompt_opens_on_the_primary_monitor() {
    use x11rb::connection::Connection;
    use x11rb::protocol::randr::{ConnectionExt as _, MonitorInfo};
    use x11rb::protocol::xproto::ConnectionExt as _;
    use x11rb::wrapper::ConnectionExt as _;

    // Split the 1280×800 screen into two RandR monitors, the right one primary.
    let xvfb = display();
    let (conn, screen) = x11rb::connect(Some(&xvfb.display)).expect("connects");
    let root = conn.setup().roots[screen].root;
    for (name, x, primary) in [("HOTLINE-LEFT", 0, false), ("HOTLINE-RIGHT", 640, true)] {
        let name = conn
            .intern_atom(false, name.as_bytes())
            .expect("asks")
            .reply()
            .expect("an atom")
            .atom;
        let monitor = MonitorInfo {
            name,
            primary,
            automatic: false,
            x,
            y: 0,
            width: 640,
            height: 800,
            width_in_millimeters: 170,
            height_in_millimeters: 210,
            outputs: Vec::new(),
        };
        conn.randr_set_monitor(root, monitor)
            .expect("sets a monitor");
    }
    conn.sync().expect("the server took the monitors");

    let prompt = ask(target(&xvfb), request(Duration::from_secs(20)));
    let window = xvfb.wait_for_window(PROMPT_TITLE, APPEARS);
    let (x, _) = xvfb.window_origin(&window);
    let expected = 640 + (640 - prompt_layout().width) / 2;
    assert!(
        (x - expected).abs() <= 2,
        "prompt at x {x}, expected {expected}"
    );

    let (dx, dy) = prompt_layout().deny.centre();
    xvfb.click_in(&window, dx, dy);
    assert_eq!(prompt.join().expect("prompt thread"), ConsentAnswer::Deny);
}
