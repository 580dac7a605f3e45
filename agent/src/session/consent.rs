//! Whom a session request asks, and on which display: the signed-in user with a graphical
//! session is asked on their desktop; with nobody signed in, the device's policy may allow an
//! unattended session on the machine's own display, and otherwise the request is refused
//! with the reason.

use std::time::Duration;

use hotline_protocol::inventory::{DisplayKind, Inventory};
use hotline_protocol::remote::{ConsentOutcome, SessionMode, SessionRequest};

use crate::consent::{ConsentAnswer, ConsentRequest, PromptTarget};

/// What to do with a request before any desktop is touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Ask the signed-in user on their display.
    Ask(PromptTarget),
    /// Nobody is signed in and the policy allows it: run on `display` without a prompt.
    Unattended { display: String },
    /// No session can start; the reason goes to the analyst.
    CannotShow(String),
}

/// Decides from the inventory taken now. The first signed-in user with a graphical display
/// is the one asked; users signed in on text terminals only cannot see a prompt. An
/// unattended session runs on `unattended_display` when the agent was given one, and
/// otherwise on the first X11 display the inventory lists (the order the display sockets
/// are read in), which on a machine with several X servers may not be the one meant.
pub fn decide(
    inventory: &Inventory,
    unattended_allowed: bool,
    unattended_display: Option<&str>,
) -> Decision {
    if let Some((user, display)) = inventory
        .sessions
        .iter()
        .find_map(|s| Some((s.user.clone(), s.display.clone()?)))
    {
        return Decision::Ask(PromptTarget { user, display });
    }
    let anyone = !inventory.sessions.is_empty();
    if !unattended_allowed || anyone {
        let who = if anyone {
            "the signed-in users have no graphical session to ask on"
        } else {
            "nobody is signed in to ask for consent"
        };
        let policy = if unattended_allowed {
            ""
        } else {
            ", and the device's policy does not allow unattended sessions"
        };
        return Decision::CannotShow(format!("{who}{policy}"));
    }
    if let Some(display) = unattended_display {
        return Decision::Unattended {
            display: display.to_owned(),
        };
    }
    match inventory
        .displays
        .iter()
        .find(|display| display.kind == DisplayKind::X11)
    {
        Some(display) => Decision::Unattended {
            display: display.name.clone(),
        },
        None => Decision::CannotShow(
            "nobody is signed in and the device has no X11 display to capture".to_owned(),
        ),
    }
}

/// The prompt for `request`, in words the caller understands.
pub fn prompt_for(request: &SessionRequest) -> ConsentRequest {
    let what = match request.mode {
        SessionMode::View => "view your screen",
        SessionMode::Control => "view and control your screen",
    };
    ConsentRequest {
        analyst: request.analyst.clone(),
        ticket_number: request.ticket,
        ticket_title: request.ticket_title.clone(),
        what: what.to_owned(),
        timeout: Duration::from_millis(u64::from(request.consent_timeout_ms)),
    }
}

/// The outcome the console hears for the caller's answer. Only Allow allows.
pub fn outcome_of(answer: ConsentAnswer) -> ConsentOutcome {
    match answer {
        ConsentAnswer::Allow => ConsentOutcome::Allowed,
        ConsentAnswer::Deny => ConsentOutcome::Denied,
        ConsentAnswer::Timeout => ConsentOutcome::TimedOut,
        ConsentAnswer::CannotShow(reason) => ConsentOutcome::CannotShow(reason),
    }
}

#[cfg(test)]
mod tests {
    use hotline_protocol::inventory::{Display, OsInfo, UserSession};

    use super::*;

    fn inventory(sessions: Vec<UserSession>, displays: Vec<Display>) -> Inventory {
        Inventory {
            hostname: "desk-7".into(),
            os: OsInfo {
                family: "linux".into(),
                name: "Debian".into(),
                version: "6".into(),
            },
            arch: "x86_64".into(),
            sessions,
            displays,
            time_zone: "UTC".into(),
        }
    }

    fn session(user: &str, display: Option<&str>) -> UserSession {
        UserSession {
            user: user.into(),
            line: "tty2".into(),
            display: display.map(str::to_owned),
            since: 0,
        }
    }

    fn x11(name: &str) -> Display {
        Display {
            name: name.into(),
            kind: DisplayKind::X11,
        }
    }

    #[test]
    fn the_user_with_a_display_is_asked_even_when_unattended_is_allowed() {
        let sessions = vec![session("bob", None), session("alice", Some(":0"))];
        let target = PromptTarget {
            user: "alice".into(),
            display: ":0".into(),
        };
        for unattended in [false, true] {
            let decision = decide(
                &inventory(sessions.clone(), vec![x11(":0")]),
                unattended,
                None,
            );
            assert_eq!(decision, Decision::Ask(target.clone()));
        }
    }

    #[test]
    fn nobody_signed_in_without_unattended_cannot_show() {
        let decision = decide(&inventory(Vec::new(), vec![x11(":0")]), false, Some(":0"));
        let Decision::CannotShow(reason) = decision else {
            panic!("expected CannotShow, got {decision:?}");
        };
        assert!(reason.contains("nobody is signed in"), "{reason}");
        assert!(reason.contains("unattended"), "{reason}");
    }

    #[test]
    fn nobody_signed_in_with_unattended_runs_on_the_x11_display() {
        let displays = vec![
            Display {
                name: "wayland-0".into(),
                kind: DisplayKind::Wayland,
            },
            x11(":1"),
        ];
        let decision = decide(&inventory(Vec::new(), displays.clone()), true, None);
        assert_eq!(
            decision,
            Decision::Unattended {
                display: ":1".into()
            }
        );
        let none = decide(&inventory(Vec::new(), Vec::new()), true, None);
        assert!(matches!(none, Decision::CannotShow(reason) if reason.contains("no X11 display")));

        // The display the agent was given wins over the inventory's order.
        let chosen = decide(&inventory(Vec::new(), displays), true, Some(":7"));
        assert_eq!(
            chosen,
            Decision::Unattended {
                display: ":7".into()
            }
        );
    }

    #[test]
    fn a_user_on_a_text_terminal_only_is_not_unattended() {
        let decision = decide(
            &inventory(vec![session("bob", None)], vec![x11(":0")]),
            true,
            Some(":0"),
        );
        assert!(
            matches!(&decision, Decision::CannotShow(reason) if reason.contains("graphical")),
            "{decision:?}"
        );
    }

    #[test]
    fn the_prompt_says_what_is_asked_and_only_allow_allows() {
        let mut request = SessionRequest {
            id: hotline_protocol::remote::SessionId([1; 16]),
            device: hotline_protocol::DeviceId::from_random(1),
            ticket: 7,
            ticket_title: "Printer jams".into(),
            analyst: "Sam".into(),
            mode: SessionMode::View,
            monitor: hotline_protocol::remote::MonitorChoice::All,
            unattended_allowed: false,
            consent_timeout_ms: 1500,
            expires_at_ms: 0,
        };
        assert_eq!(prompt_for(&request).what, "view your screen");
        assert_eq!(prompt_for(&request).timeout, Duration::from_millis(1500));
        request.mode = SessionMode::Control;
        assert_eq!(prompt_for(&request).what, "view and control your screen");
        assert_eq!(outcome_of(ConsentAnswer::Allow), ConsentOutcome::Allowed);
        assert!(!outcome_of(ConsentAnswer::Timeout).allows());
        assert!(!outcome_of(ConsentAnswer::CannotShow("x".into())).allows());
    }
}
