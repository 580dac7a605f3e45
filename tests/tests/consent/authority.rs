//! The agent runs as root while the prompt, capture and input belong on a signed-in user's
//! display, whose X server admits only clients with the user's cookie. These tests make that
//! situation for real: an Xvfb that demands a cookie, a process of the `nobody` account on it
//! whose environment names the authority file, and the agent's code run from this (root)
//! process.

use std::os::unix::fs::chown;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use hotline_agent::consent::x11::{ARM_DELAY, PROMPT_TITLE, X11Prompt, prompt_layout};
use hotline_agent::consent::{ConsentAnswer, ConsentPrompt, PromptTarget};
use hotline_agent::screen::input::x11::X11Input;
use hotline_agent::screen::input::{InputSink, Monitor};
use hotline_agent::screen::{capture, cursor};
use hotline_protocol::input::InputEvent;
use hotline_tests::xvfb::Xvfb;

use crate::common::request;

const NOBODY: u32 = 65534;

/// Writes an X authority file with one cookie for any display, as display managers write
/// one per session.
fn write_authority(path: &Path) {
    let mut entry = 0xffff_u16.to_be_bytes().to_vec(); // any address family
    let mut cookie = [0u8; 16];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").expect("urandom"),
        &mut cookie,
    )
    .expect("random cookie");
    for field in [&b""[..], b"", b"MIT-MAGIC-COOKIE-1", &cookie[..]] {
        entry.extend_from_slice(&(field.len() as u16).to_be_bytes());
        entry.extend_from_slice(field);
    }
    std::fs::write(path, entry).expect("writing the authority file");
}

/// A process of `nobody` in the session on `xvfb`, as the user's desktop processes are.
fn session_process(xvfb: &Xvfb, authority: &Path) -> Child {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "env"])
        .arg(format!("DISPLAY={}", xvfb.display))
        .arg(format!("XAUTHORITY={}", authority.display()))
        .args(["sleep", "120"])
        .spawn()
        .expect("setpriv runs")
}

/// Whether these tests can act as another user; they say so when they cannot.
#[allow(
    clippy::print_stderr,
    reason = "a skipped test tells the developer why"
)]
fn running_as_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id runs");
    let root = String::from_utf8_lossy(&out.stdout).trim() == "0";
    if !root {
        // Acting as another user needs root, as the agent itself does; CI runs as root.
        eprintln!("skipped: acting as the user nobody needs root");
    }
    root
}

#[test]
fn a_root_agent_shows_the_prompt_with_the_users_cookie() {
    if !running_as_root() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let authority = dir.path().join("Xauthority");
    write_authority(&authority);
    chown(&authority, Some(NOBODY), Some(NOBODY)).expect("chown");
    let xvfb = Xvfb::start_with_authority(1280, 800, &authority).with_window_manager();
    let mut session = session_process(&xvfb, &authority);

    let target = PromptTarget {
        user: "nobody".into(),
        display: xvfb.display.clone(),
    };
    let prompt = std::thread::spawn(move || {
        X11Prompt::default().ask(&target, &request(Duration::from_secs(20)))
    });
    let window = xvfb.wait_for_window(PROMPT_TITLE, Duration::from_secs(30));
    std::thread::sleep(ARM_DELAY * 2);
    let (x, y) = prompt_layout().allow.centre();
    xvfb.click_in(&window, x, y);
    let answer = prompt.join().expect("prompt thread");
    session.kill().ok();
    session.wait().ok();
    assert_eq!(answer, ConsentAnswer::Allow);
}

/// The path in `XAUTHORITY` is the user's choice; root reads it only when the user owns it,
/// and without the cookie the server refuses the prompt, which then cannot show.
#[test]
fn an_authority_file_the_user_does_not_own_is_not_used() {
    if !running_as_root() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let authority = dir.path().join("Xauthority");
    write_authority(&authority); // owned by root, not by nobody
    let xvfb = Xvfb::start_with_authority(1280, 800, &authority);
    let mut session = session_process(&xvfb, &authority);

    let target = PromptTarget {
        user: "nobody".into(),
        display: xvfb.display.clone(),
    };
    let answer = X11Prompt::default().ask(&target, &request(Duration::from_secs(5)));
    session.kill().ok();
    session.wait().ok();
    match answer {
        ConsentAnswer::CannotShow(reason) => assert!(reason.contains(&xvfb.display), "{reason}"),
        other => panic!("expected CannotShow, got {other:?}"),
    }
}

/// Capture and input reach the user's display the same way the prompt does: a root agent
/// presents the user's cookie, and without it the server turns both away.
#[test]
fn a_root_agent_captures_and_drives_the_users_display_with_their_cookie() {
    if !running_as_root() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let authority = dir.path().join("Xauthority");
    write_authority(&authority);
    chown(&authority, Some(NOBODY), Some(NOBODY)).expect("chown");
    let xvfb = Xvfb::start_with_authority(1280, 800, &authority);
    let mut session = session_process(&xvfb, &authority);
    // The agent finds the cookie through the session's processes, so the one just started
    // must be running before it looks.
    wait_until_running(&session);

    // Without the user's cookie this process is refused: the server demands one.
    let refused = X11Input::open(&xvfb.display, whole_screen()).expect_err("no cookie");
    assert!(refused.to_string().contains(&xvfb.display), "{refused}");
    let refused = capture::open(Some(&xvfb.display)).err().expect("no cookie");
    assert!(refused.to_string().contains(&xvfb.display), "{refused}");

    assert!(cursor::open(Some(&xvfb.display)).is_err(), "no cookie");
    let mut pointer = cursor::open_for(Some("nobody"), &xvfb.display).expect("the pointer opens");
    pointer.sample().expect("the pointer reads");
    let mut source = capture::open_for(Some("nobody"), &xvfb.display).expect("capture opens");
    let monitors = source.monitors().expect("monitors");
    assert_eq!((monitors[0].width, monitors[0].height), (1280, 800));

    let mut sink = X11Input::open_for(Some("nobody"), &xvfb.display, whole_screen())
        .expect("the sink opens with the user's cookie");
    sink.apply(&InputEvent::PointerMove { x: 321, y: 234 })
        .expect("moves");
    let moved = wait_for_pointer(&xvfb, (321, 234));
    session.kill().ok();
    session.wait().ok();
    assert!(moved, "the pointer is at {:?}", xvfb.pointer());
}

fn whole_screen() -> Monitor {
    Monitor {
        x: 0,
        y: 0,
        width: 1280,
        height: 800,
    }
}

/// Waits until `child` has replaced `setpriv` with the session's own program.
fn wait_until_running(child: &Child) {
    let comm = format!("/proc/{}/comm", child.id());
    for _ in 0..100 {
        if std::fs::read_to_string(&comm).is_ok_and(|name| name.trim() == "sleep") {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the session process did not start");
}

fn wait_for_pointer(xvfb: &Xvfb, at: (i32, i32)) -> bool {
    for _ in 0..100 {
        if xvfb.pointer() == at {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
