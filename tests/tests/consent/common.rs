//! What the consent tests share: a display of their own, the user to show things to, and a
//! prompt running on a thread.

use std::thread::JoinHandle;
use std::time::Duration;

use hotline_agent::consent::x11::X11Prompt;
use hotline_agent::consent::{ConsentAnswer, ConsentPrompt, ConsentRequest, PromptTarget};
use hotline_tests::xvfb::Xvfb;

/// A display for one test with openbox on it. Each test has its own: prompts open in the
/// middle of the screen and the pointer is one per display, so tests sharing one would
/// click each other's windows.
pub(crate) fn display() -> Xvfb {
    Xvfb::start(1280, 800).with_window_manager()
}

/// The user running the tests, who owns the Xvfb.
pub(crate) fn me() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub(crate) fn target(xvfb: &Xvfb) -> PromptTarget {
    PromptTarget {
        user: me(),
        display: xvfb.display.clone(),
    }
}

pub(crate) fn request(timeout: Duration) -> ConsentRequest {
    ConsentRequest {
        analyst: "Sam Analyst".into(),
        ticket_number: 7,
        ticket_title: "Printer on the third floor prints every page twice".into(),
        what: "view and control your screen".into(),
        timeout,
    }
}

/// Starts the prompt on its own thread, as the agent runs it on a blocking task.
pub(crate) fn ask(target: PromptTarget, request: ConsentRequest) -> JoinHandle<ConsentAnswer> {
    std::thread::spawn(move || X11Prompt::default().ask(&target, &request))
}
