//! The agent runs as root while the prompt belongs on a signed-in user's display, whose X
//! server admits only clients with the user's cookie. These tests make that situation for
//! real: an Xvfb that demands a cookie, a process of the `nobody` account on it whose
//! environment names the authority file, and a prompt for `nobody` shown from this (root)
//! process.

use std::os::unix::fs::chown;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use hotline_agent::consent::x11::{ARM_DELAY, PROMPT_TITLE, X11Prompt, prompt_layout};
use hotline_agent::consent::{ConsentAnswer, ConsentPrompt, PromptTarget};
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
