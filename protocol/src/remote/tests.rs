use super::phase::FrameWindow;
use super::*;
use crate::codec::{CONTROL_FRAME_LIMIT, Wire};
use crate::input::KeyCode;
use crate::messages::{AgentMessage, ConsoleMessage};

fn id(n: u8) -> SessionId {
    SessionId([n; SESSION_ID_LEN])
}

fn request() -> SessionRequest {
    SessionRequest {
        id: id(1),
        device: "0123456789ab".parse().expect("device id"),
        ticket: 42,
        ticket_title: "Printer jams".into(),
        analyst: "Dana Scully".into(),
        mode: SessionMode::Control,
        monitor: MonitorChoice::All,
        unattended_allowed: false,
        consent_timeout_ms: 30_000,
        expires_at_ms: 1_000,
    }
}

#[test]
fn session_messages_roundtrip_on_the_control_stream() {
    let controls = [
        SessionControl::Request(Box::new(request())),
        SessionControl::Input {
            id: id(1),
            events: vec![
                InputEvent::PointerMove { x: 10, y: 20 },
                InputEvent::Key {
                    code: KeyCode::new("KeyA").expect("code"),
                    pressed: true,
                },
            ],
        },
        SessionControl::Ack { id: id(1), seq: 7 },
        SessionControl::ViewOnly { id: id(1) },
        SessionControl::SelectMonitor {
            id: id(1),
            monitor: MonitorChoice::One(1),
        },
        SessionControl::End {
            id: id(1),
            reason: "done".into(),
        },
    ];
    for control in controls {
        let message = ConsoleMessage::Session(Box::new(control));
        let bytes = message.encode_payload().expect("encodes");
        assert!(bytes.len() < CONTROL_FRAME_LIMIT);
        assert_eq!(
            ConsoleMessage::decode_payload(&bytes).expect("decodes"),
            message
        );
    }
    let reports = [
        SessionReport::Answered {
            id: id(2),
            outcome: ConsentOutcome::CannotShow("nobody is signed in".into()),
            monitors: vec![MonitorLayout {
                index: 0,
                name: "screen".into(),
                x: 0,
                y: 0,
                width: 1366,
                height: 768,
                primary: true,
            }],
        },
        SessionReport::Started { id: id(2) },
        SessionReport::ViewOnly {
            id: id(2),
            by_caller: true,
        },
        SessionReport::Ended {
            id: id(2),
            by: EndedBy::Caller,
            reason: "caller pressed End".into(),
        },
    ];
    for report in reports {
        let message = AgentMessage::Session(Box::new(report));
        let bytes = message.encode_payload().expect("encodes");
        assert_eq!(
            AgentMessage::decode_payload(&bytes).expect("decodes"),
            message
        );
    }
}

#[test]
fn session_ids_parse_only_as_32_hex_digits() {
    let text = id(0xab).to_string();
    assert_eq!(text.parse::<SessionId>(), Ok(id(0xab)));
    for bad in [
        "",
        "ab",
        &"g".repeat(32),
        &"a".repeat(33),
        "+bababababababababababababababab",
    ] {
        assert!(bad.parse::<SessionId>().is_err(), "{bad} parsed");
    }
}

#[test]
fn limits_are_checked() {
    let mut long = request();
    long.analyst = "x".repeat(MAX_TEXT + 1);
    assert!(
        SessionControl::Request(Box::new(long))
            .check_limits()
            .is_err()
    );
    let mut slow = request();
    slow.consent_timeout_ms = MAX_CONSENT_TIMEOUT_MS + 1;
    assert!(
        SessionControl::Request(Box::new(slow))
            .check_limits()
            .is_err()
    );
    let flood = SessionControl::Input {
        id: id(1),
        events: vec![InputEvent::ReleaseAll; MAX_INPUT_BATCH + 1],
    };
    assert_eq!(
        flood.check_limits(),
        Err(SessionLimitError::TooManyEvents(MAX_INPUT_BATCH + 1))
    );
}

#[test]
fn nothing_flows_before_allow_or_after_the_end() {
    let mut phase = Phase::requested(SessionMode::Control);
    assert!(!phase.may_capture() && !phase.may_inject());
    phase.answer(&ConsentOutcome::Allowed).expect("answer");
    assert!(
        !phase.may_capture(),
        "capture before the frame stream opened"
    );
    phase.start().expect("start");
    assert!(phase.may_capture() && phase.may_inject());
    phase.view_only().expect("view only");
    assert!(phase.may_capture() && !phase.may_inject());
    phase.end();
    assert!(!phase.may_capture() && !phase.may_inject());
    assert!(phase.start().is_err(), "a session never restarts");
}

#[test]
fn a_refusal_ends_the_session_and_later_reports_are_out_of_order() {
    for outcome in [
        ConsentOutcome::Denied,
        ConsentOutcome::TimedOut,
        ConsentOutcome::CannotShow("no display".into()),
        ConsentOutcome::Refused("expired".into()),
    ] {
        let mut phase = Phase::requested(SessionMode::View);
        phase.answer(&outcome).expect("answer");
        assert_eq!(phase, Phase::Over, "{outcome:?}");
        let started = SessionReport::Started { id: id(1) };
        assert!(phase.on_report(&started).is_err());
    }
    let mut phase = Phase::requested(SessionMode::View);
    assert!(
        phase
            .on_report(&SessionReport::Started { id: id(1) })
            .is_err()
    );
}

#[test]
fn at_most_two_frames_are_unacknowledged_and_acks_cannot_run_ahead() {
    let mut window = FrameWindow::default();
    assert!(window.may_send());
    assert_eq!(window.next_seq(), 1);
    assert_eq!(window.next_seq(), 2);
    assert!(!window.may_send(), "a third frame before any ack");

    window.ack(5);
    assert!(
        !window.may_send(),
        "an ack for a frame never sent opened the window"
    );
    window.ack(1);
    assert!(window.may_send());
    window.next_seq();
    window.ack(3);
    assert_eq!(window.acked, 3);
    window.ack(2);
    assert_eq!(window.acked, 3, "an old ack moved the window back");
}
