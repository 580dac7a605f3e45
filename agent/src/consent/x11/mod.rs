//! The consent prompt and the session bar on X11: plain top-level windows drawn by the agent
//! itself (x11rb for the protocol, fontdue for the text), so they need no toolkit on the
//! workstation and every event they act on passes the same synthetic-event filter.

mod bar;
pub mod canvas;
pub mod prompt;
mod window;

use std::time::Instant;

pub use bar::{BAR_TITLE, X11SessionBar, bar_layout};
pub use canvas::FontPaths;
pub use prompt::{ARM_DELAY, PROMPT_TITLE, PromptLayout, prompt_layout};

use self::canvas::Fonts;
use self::prompt::{Choice, PromptState};
use self::window::{Placement, UiWindow, WindowSpec};
use crate::consent::{ConsentAnswer, ConsentPrompt, ConsentRequest, PromptTarget};

/// Shows the consent prompt on the target's X display.
#[derive(Debug, Clone, Default)]
pub struct X11Prompt {
    fonts: FontPaths,
}

impl X11Prompt {
    /// A prompt that draws with the given fonts instead of the system's DejaVu Sans.
    pub fn with_fonts(fonts: FontPaths) -> X11Prompt {
        X11Prompt { fonts }
    }

    fn show(&self, target: &PromptTarget, request: &ConsentRequest) -> Result<Choice, Ended> {
        let deadline = Instant::now() + request.timeout;
        let fonts = Fonts::load(&self.fonts).ok_or(Ended::CannotShow("no font".into()))?;
        let (conn, screen) = crate::x11::open(&target.user, &target.display)
            .map_err(|error| Ended::CannotShow(error.to_string()))?;
        let spec = WindowSpec {
            title: PROMPT_TITLE,
            class: "hotline-consent",
            width: prompt_layout().width as u16,
            height: prompt_layout().height as u16,
            placement: Placement::CentredDialog,
        };
        let mut window = UiWindow::open(conn, screen, &spec).map_err(Ended::CannotShow)?;
        let answer = run(&mut window, &fonts, request, deadline);
        window.close();
        answer
    }
}

/// How a prompt ended without a choice.
#[derive(Debug)]
enum Ended {
    Timeout,
    CannotShow(String),
}

impl ConsentPrompt for X11Prompt {
    fn ask(&self, target: &PromptTarget, request: &ConsentRequest) -> ConsentAnswer {
        let answer = match self.show(target, request) {
            Ok(Choice::Allow) => ConsentAnswer::Allow,
            Ok(Choice::Deny) => ConsentAnswer::Deny,
            Err(Ended::Timeout) => ConsentAnswer::Timeout,
            Err(Ended::CannotShow(reason)) => ConsentAnswer::CannotShow(reason),
        };
        tracing::info!(
            display = %target.display,
            user = %target.user,
            ticket = request.ticket_number,
            answer = answer.label(),
            "consent prompt answered"
        );
        answer
    }
}

/// The prompt's loop: redraw when something visible changed, wake for the countdown and for
/// Allow arming, and stop at the first answer or the deadline.
fn run(
    window: &mut UiWindow,
    fonts: &Fonts,
    request: &ConsentRequest,
    deadline: Instant,
) -> Result<Choice, Ended> {
    let mut state = PromptState::new();
    let mut drawn: Option<(u64, bool)> = None;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(Ended::Timeout);
        }

        // Draw when the seconds shown or the look of Allow would change.
        let left = deadline - now;
        let look = (left.as_secs(), state.armed(now));
        if drawn != Some(look) {
            let canvas = state.draw(fonts, request, left, now);
            window.present(&canvas).map_err(Ended::CannotShow)?;
            drawn = Some(look);
        }

        let next_second = now + (left - std::time::Duration::from_secs(left.as_secs()));
        let wake = match state.arms_at().filter(|at| *at > now) {
            Some(arms) => arms.min(next_second),
            None => next_second,
        };
        let Some(event) = window
            .next_event(wake.min(deadline))
            .map_err(Ended::CannotShow)?
        else {
            continue;
        };
        if event == window::UiEvent::Expose {
            drawn = None;
        }
        if let Some(choice) = state.handle(event, Instant::now()) {
            return Ok(choice);
        }
    }
}
