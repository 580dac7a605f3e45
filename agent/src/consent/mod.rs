//! Asking the person at the device before anything privileged touches their desktop or their
//! account. A screen session, taking control, or resetting the password of a signed-in user
//! asks through a [`ConsentPrompt`]; each platform implements it (X11 first), and a device
//! where no prompt can be shown answers [`ConsentAnswer::CannotShow`] with the reason.
//!
//! The rule every caller follows: only [`ConsentAnswer::Allow`] allows. A timeout, a prompt
//! that could not be shown or a prompt that failed halfway are all refusals (RustDesk #4956
//! granted access after a timeout).

pub mod bar;
pub mod limit;
pub mod x11;

use std::time::Duration;

/// What the prompt shows: who asks, on which ticket, for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRequest {
    /// The analyst's display name, as the console reports it.
    pub analyst: String,
    pub ticket_number: u64,
    pub ticket_title: String,
    /// One sentence a caller understands, such as "view your screen" or "view and control
    /// your screen" or "reset the password of your account alice".
    pub what: String,
    /// How long the prompt waits before it counts as a refusal.
    pub timeout: Duration,
}

/// The desktop session to ask on: its user and its display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptTarget {
    /// The signed-in user whose desktop shows the prompt.
    pub user: String,
    /// The X11 display name (`:0`), or a Wayland socket name.
    pub display: String,
}

/// How a prompt ended. Only `Allow` allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentAnswer {
    Allow,
    Deny,
    /// Nobody answered within the request's timeout.
    Timeout,
    /// The prompt could not be shown (nobody signed in, no display, no access); the reason
    /// goes back to the analyst.
    CannotShow(String),
}

impl ConsentAnswer {
    pub fn allows(&self) -> bool {
        matches!(self, ConsentAnswer::Allow)
    }

    /// The word the audit trail and the analyst see: `allow`, `deny`, `timeout`,
    /// `cannot_show`.
    pub fn label(&self) -> &'static str {
        match self {
            ConsentAnswer::Allow => "allow",
            ConsentAnswer::Deny => "deny",
            ConsentAnswer::Timeout => "timeout",
            ConsentAnswer::CannotShow(_) => "cannot_show",
        }
    }
}

/// Shows a consent prompt and waits for its answer. Implementations block (call them from
/// `tokio::task::spawn_blocking`), never return later than `request.timeout` plus a moment,
/// and map every failure to `CannotShow` with the reason.
pub trait ConsentPrompt: Send + Sync {
    fn ask(&self, target: &PromptTarget, request: &ConsentRequest) -> ConsentAnswer;
}

/// The prompt for a device that has no way to show one: every request is refused with the
/// reason, so nothing that needs consent ever proceeds without it.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoPrompt;

impl ConsentPrompt for NoPrompt {
    fn ask(&self, target: &PromptTarget, _request: &ConsentRequest) -> ConsentAnswer {
        ConsentAnswer::CannotShow(format!(
            "this agent cannot show a prompt on display {} of {}",
            target.display, target.user
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allow_allows() {
        let refusals = [
            ConsentAnswer::Deny,
            ConsentAnswer::Timeout,
            ConsentAnswer::CannotShow("no display".into()),
        ];
        assert!(ConsentAnswer::Allow.allows());
        assert!(refusals.iter().all(|answer| !answer.allows()));
    }

    #[test]
    fn no_prompt_refuses_with_the_reason() {
        let target = PromptTarget {
            user: "alice".into(),
            display: ":0".into(),
        };
        let request = ConsentRequest {
            analyst: "Sam".into(),
            ticket_number: 7,
            ticket_title: "printer".into(),
            what: "view your screen".into(),
            timeout: Duration::from_secs(30),
        };
        match NoPrompt.ask(&target, &request) {
            ConsentAnswer::CannotShow(reason) => assert!(reason.contains(":0")),
            other => panic!("expected CannotShow, got {other:?}"),
        }
    }
}
