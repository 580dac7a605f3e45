//! The agent's screen session driver on a real X server (Xvfb with openbox): the consent
//! prompt is clicked with xdotool, the frames the driver streams decode to what is on the
//! screen, the analyst's pointer moves only while in control (until the console or the
//! caller's View only drops it), End on the session bar stops the frames within a second, a
//! lost connection ends the session, an unattended session keeps to the two-frame window and
//! ends at the console's End, and Deny, no answer, nobody signed in, a replay and a second
//! session are refused with their reasons, each on the audit log.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline_agent::audit::{self, Audit};
use hotline_agent::consent::x11::{
    BAR_TITLE, PROMPT_TITLE, X11Prompt, X11SessionBar, bar_layout, prompt_layout,
};
use hotline_agent::inventory::InventorySource;
use hotline_agent::screen::capture::x11::X11Source;
use hotline_agent::screen::capture::{Area, ScreenSource};
use hotline_agent::session::{FrameStream, SessionLink, Sessions};
use hotline_protocol::DeviceId;
use hotline_protocol::input::InputEvent;
use hotline_protocol::inventory::{Display, DisplayKind, Inventory, OsInfo, UserSession};
use hotline_protocol::remote::{
    ConsentOutcome, EndedBy, MonitorChoice, SESSION_ID_LEN, SessionControl, SessionId, SessionMode,
    SessionReport, SessionRequest,
};
use hotline_protocol::screen::{Canvas, RecordKind, parse_frame, record_kind};
use hotline_tests::picture::{Picture, pattern};
use hotline_tests::xvfb::Xvfb;
use tokio::io::{AsyncReadExt, DuplexStream};
use tokio::sync::mpsc;

const DEVICE: u64 = 7;

/// Who is signed in: the user running the tests, on the test display, or nobody.
struct SignedIn {
    user: Option<String>,
    display: String,
}

impl InventorySource for SignedIn {
    fn collect(&self) -> Inventory {
        let sessions = self.user.iter().map(|user| UserSession {
            user: user.clone(),
            line: "tty7".into(),
            display: Some(self.display.clone()),
            since: 0,
        });
        Inventory {
            hostname: "desk-7".into(),
            os: OsInfo {
                family: "linux".into(),
                name: "test".into(),
                version: "0".into(),
            },
            arch: std::env::consts::ARCH.into(),
            sessions: sessions.collect(),
            displays: vec![Display {
                name: self.display.clone(),
                kind: DisplayKind::X11,
            }],
            time_zone: "UTC".into(),
        }
    }
}

fn this_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn service(state: &Path, display: &str, signed_in: bool) -> Arc<Sessions> {
    let audit = Arc::new(Audit::open(state).expect("audit log"));
    let inventory = SignedIn {
        user: signed_in.then(this_user),
        display: display.to_owned(),
    };
    Arc::new(Sessions::new(
        DeviceId::from_random(DEVICE),
        (
            Arc::new(X11Prompt::default()),
            Arc::new(X11SessionBar::default()),
        ),
        audit,
        Box::new(inventory),
    ))
}

fn request(id: u8, mode: SessionMode, consent_timeout_ms: u32) -> SessionRequest {
    SessionRequest {
        id: SessionId([id; SESSION_ID_LEN]),
        device: DeviceId::from_random(DEVICE),
        ticket: 42,
        ticket_title: "Printer jams".into(),
        analyst: "Dana Scully".into(),
        mode,
        monitor: MonitorChoice::All,
        unattended_allowed: false,
        consent_timeout_ms,
        expires_at_ms: audit::now_ms() + 60_000,
    }
}

/// A link whose frame stream is an in-memory pipe; the other end comes back on `streams`.
fn link(
    reports: &mpsc::Sender<SessionReport>,
    streams: &mpsc::UnboundedSender<DuplexStream>,
) -> SessionLink {
    let streams = streams.clone();
    SessionLink {
        reports: reports.clone(),
        open_stream: Box::new(move || {
            Box::pin(async move {
                let (agent, viewer) = tokio::io::duplex(1 << 20);
                streams.send(viewer).ok();
                Ok(Box::pin(agent) as FrameStream)
            })
        }),
    }
}

async fn next_report(reports: &mut mpsc::Receiver<SessionReport>) -> SessionReport {
    tokio::time::timeout(Duration::from_secs(30), reports.recv())
        .await
        .expect("a report in time")
        .expect("the reports channel is open")
}

/// Reads one frame of the stream, or `None` at its end.
/// The next screen frame on the stream, passing over the cursor records between frames.
async fn read_frame(stream: &mut DuplexStream) -> Option<Vec<u8>> {
    loop {
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).await.ok()?;
        let mut record = vec![0u8; u32::from_be_bytes(len) as usize];
        stream.read_exact(&mut record).await.ok()?;
        if record_kind(&record) == Ok(RecordKind::Frame) {
            return Some(record);
        }
    }
}

fn actions(state: &Path) -> Vec<(String, String)> {
    audit::inspect(state)
        .expect("audit log")
        .entries
        .into_iter()
        .map(|entry| (entry.action, format!("{:?}", entry.outcome)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_session_streams_the_screen_and_the_bar_ends_it() {
    let xvfb = Xvfb::start(1024, 768).with_window_manager();
    let display = xvfb.display.clone();
    // Something on the screen (a black one is never streamed), clear of the prompt and bar.
    let _shown = Picture::show(&display, 180, 120, &pattern(180, 120, 9));
    let state = tempfile::tempdir().expect("temp dir");
    let sessions = service(state.path(), &display, true);
    let (reports_tx, mut reports) = mpsc::channel(16);
    let (streams_tx, mut streams) = mpsc::unbounded_channel();

    // The caller allows.
    let controls = sessions
        .start(
            request(1, SessionMode::Control, 20_000),
            link(&reports_tx, &streams_tx),
            audit::now_ms(),
        )
        .expect("admitted");
    let allow = prompt_layout().allow;
    let clicker = {
        let display = display.clone();
        tokio::task::spawn_blocking(move || {
            let xvfb = XvfbRef(display);
            xvfb.click(PROMPT_TITLE, (allow.x, allow.y, allow.width, allow.height));
        })
    };
    let answered = next_report(&mut reports).await;
    clicker.await.expect("clicked Allow");
    let SessionReport::Answered {
        outcome, monitors, ..
    } = answered
    else {
        panic!("expected Answered, got {answered:?}");
    };
    assert_eq!(outcome, ConsentOutcome::Allowed);
    assert_eq!((monitors[0].width, monitors[0].height), (1024, 768));
    assert!(matches!(
        next_report(&mut reports).await,
        SessionReport::Started { .. }
    ));

    // A second request while this one runs is refused with the reason.
    assert!(
        sessions
            .start(
                request(2, SessionMode::View, 20_000),
                link(&reports_tx, &streams_tx),
                audit::now_ms()
            )
            .is_none()
    );
    let second = next_report(&mut reports).await;
    assert!(
        matches!(&second, SessionReport::Answered { outcome: ConsentOutcome::Refused(r), .. }
            if r.contains("already running")),
        "{second:?}"
    );

    // The stream: the session id, then frames that decode to what is on the screen.
    let mut stream = streams.recv().await.expect("the frame stream opened");
    let mut id = [0u8; SESSION_ID_LEN];
    stream.read_exact(&mut id).await.expect("the session id");
    assert_eq!(id, [1; SESSION_ID_LEN]);
    let mut canvas = Canvas::new();
    let mut source = X11Source::connect(Some(&display)).expect("capture for the test");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut first = true;
    loop {
        let bytes = tokio::time::timeout_at(deadline.into(), read_frame(&mut stream))
            .await
            .expect("frames until the canvas matches the screen")
            .expect("the stream goes on");
        let frame = parse_frame(&bytes).expect("a valid frame");
        assert!(!first || frame.key, "the first frame is a key frame");
        first = false;
        canvas.apply(&frame).expect("the frame applies");
        controls
            .send(SessionControl::Ack {
                id: SessionId(id),
                seq: frame.seq,
            })
            .expect("session running");
        let screen = source.capture(&Area::Screen).expect("capture");
        if canvas.rgb() == screen.to_rgb().as_slice() {
            break;
        }
    }

    // In control, the analyst's pointer reaches the X server; after the console drops the
    // session to view only, it does not.
    let pointer = |x: u32, y: u32| SessionControl::Input {
        id: SessionId(id),
        events: vec![InputEvent::PointerMove { x, y }],
    };
    controls.send(pointer(500, 400)).expect("session running");
    let location = || {
        let out = xvfb.xdotool(&["getmouselocation", "--shell"]);
        let value = |key: &str| {
            out.lines()
                .find_map(|line| line.strip_prefix(key))
                .map(str::to_owned)
        };
        (value("X="), value("Y="))
    };
    hotline_tests::wait_for("the pointer at 500,400", Duration::from_secs(5), || {
        (location() == (Some("500".into()), Some("400".into()))).then_some(())
    });
    controls
        .send(SessionControl::ViewOnly { id: SessionId(id) })
        .expect("session running");
    let view_only = next_report(&mut reports).await;
    assert_eq!(
        view_only,
        SessionReport::ViewOnly {
            id: SessionId(id),
            by_caller: false
        }
    );
    controls.send(pointer(20, 20)).expect("session running");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(location(), (Some("500".into()), Some("400".into())));

    // End on the bar: reported as the caller's, and the stream ends within a second.
    let end = bar_layout(true).end;
    let clicker = {
        let display = display.clone();
        tokio::task::spawn_blocking(move || {
            XvfbRef(display).click(BAR_TITLE, (end.x, end.y, end.width, end.height));
        })
    };
    let ended = next_report(&mut reports).await;
    let pressed = Instant::now();
    clicker.await.expect("clicked End");
    assert!(
        matches!(
            &ended,
            SessionReport::Ended {
                by: EndedBy::Caller,
                ..
            }
        ),
        "{ended:?}"
    );
    let drained = tokio::time::timeout(Duration::from_secs(1), async {
        while read_frame(&mut stream).await.is_some() {}
    });
    drained
        .await
        .expect("the frame stream ends within a second of End");
    assert!(pressed.elapsed() < Duration::from_secs(2));

    let recorded = actions(state.path());
    let names: Vec<&str> = recorded.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        names,
        [
            "screen.session",
            "screen.session.start",
            "screen.session",
            "screen.session.view_only",
            "screen.session.end"
        ]
    );
    assert!(recorded[2].1.contains("already running"), "{recorded:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_no_answer_nobody_signed_in_and_a_replay_start_nothing() {
    let xvfb = Xvfb::start(800, 600).with_window_manager();
    let display = xvfb.display.clone();
    let _shown = Picture::show(&display, 120, 90, &pattern(120, 90, 3));
    let state = tempfile::tempdir().expect("temp dir");
    let sessions = service(state.path(), &display, true);
    let (reports_tx, mut reports) = mpsc::channel(16);
    let (streams_tx, mut streams) = mpsc::unbounded_channel();
    let outcome = |report: SessionReport| match report {
        SessionReport::Answered { outcome, .. } => outcome,
        other => panic!("expected Answered, got {other:?}"),
    };

    // Deny.
    sessions
        .start(
            request(1, SessionMode::View, 20_000),
            link(&reports_tx, &streams_tx),
            audit::now_ms(),
        )
        .expect("admitted");
    let deny = prompt_layout().deny;
    let clicker = {
        let display = display.clone();
        tokio::task::spawn_blocking(move || {
            XvfbRef(display).click(PROMPT_TITLE, (deny.x, deny.y, deny.width, deny.height));
        })
    };
    assert_eq!(
        outcome(next_report(&mut reports).await),
        ConsentOutcome::Denied
    );
    clicker.await.expect("clicked Deny");

    // No answer.
    sessions
        .start(
            request(2, SessionMode::View, 1_500),
            link(&reports_tx, &streams_tx),
            audit::now_ms(),
        )
        .expect("admitted");
    assert_eq!(
        outcome(next_report(&mut reports).await),
        ConsentOutcome::TimedOut
    );

    // The same request again.
    assert!(
        sessions
            .start(
                request(2, SessionMode::View, 1_500),
                link(&reports_tx, &streams_tx),
                audit::now_ms()
            )
            .is_none()
    );
    let replay = outcome(next_report(&mut reports).await);
    assert!(
        matches!(&replay, ConsentOutcome::Refused(r) if r.contains("replay")),
        "{replay:?}"
    );

    // Nobody signed in, and the policy does not allow unattended sessions.
    let nobody = service(&state.path().join("nobody"), &display, false);
    nobody
        .start(
            request(3, SessionMode::View, 1_500),
            link(&reports_tx, &streams_tx),
            audit::now_ms(),
        )
        .expect("admitted");
    let cannot = outcome(next_report(&mut reports).await);
    assert!(
        matches!(&cannot, ConsentOutcome::CannotShow(r) if r.contains("nobody is signed in")),
        "{cannot:?}"
    );

    assert!(streams.try_recv().is_err(), "no frame stream was opened");
    let recorded = actions(state.path());
    assert_eq!(recorded.len(), 3, "{recorded:?}");
    assert!(
        recorded
            .iter()
            .all(|(action, outcome)| action == "screen.session" && outcome.contains("Refused"))
    );
}

/// A display to click on from a blocking thread (the `Xvfb` itself stays with the test).
struct XvfbRef(String);

impl XvfbRef {
    /// Clicks the centre of `rect` (window pixels) in the window named `title`, once the
    /// window has been visible long enough for its buttons to take clicks.
    fn click(&self, title: &str, rect: (i32, i32, i32, i32)) {
        let window = hotline_tests::wait_for(
            &format!("a window named {title:?}"),
            Duration::from_secs(15),
            || {
                let out = Command::new("xdotool")
                    .env("DISPLAY", &self.0)
                    .args(["search", "--onlyvisible", "--name", title])
                    .output()
                    .ok()?;
                let text = String::from_utf8_lossy(&out.stdout);
                text.lines().next().map(|id| id.trim().to_owned())
            },
        );
        std::thread::sleep(hotline_agent::consent::x11::ARM_DELAY + Duration::from_millis(500));
        let (x, y, w, h) = rect;
        let (x, y) = ((x + w / 2).to_string(), (y + h / 2).to_string());
        let out = Command::new("xdotool")
            .env("DISPLAY", &self.0)
            .args(["mousemove", "--window", &window, &x, &y, "click", "1"])
            .output()
            .expect("xdotool runs");
        assert!(out.status.success(), "xdotool click failed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unattended_session_runs_without_a_prompt_and_the_console_ends_it() {
    let xvfb = Xvfb::start(640, 480);
    let _shown = Picture::show(&xvfb.display, 640, 480, &pattern(640, 480, 5));
    let state = tempfile::tempdir().expect("temp dir");
    let sessions = service(state.path(), &xvfb.display, false);
    let (reports_tx, mut reports) = mpsc::channel(16);
    let (streams_tx, mut streams) = mpsc::unbounded_channel();

    let mut unattended = request(1, SessionMode::View, 20_000);
    unattended.unattended_allowed = true;
    let controls = sessions
        .start(unattended, link(&reports_tx, &streams_tx), audit::now_ms())
        .expect("admitted");
    let answered = next_report(&mut reports).await;
    assert!(
        matches!(
            &answered,
            SessionReport::Answered {
                outcome: ConsentOutcome::Unattended,
                ..
            }
        ),
        "{answered:?}"
    );
    assert!(matches!(
        next_report(&mut reports).await,
        SessionReport::Started { .. }
    ));

    // Without acks the window holds two frames at most, however long the screen changes.
    let mut stream = streams.recv().await.expect("the frame stream opened");
    let mut id = [0u8; SESSION_ID_LEN];
    stream.read_exact(&mut id).await.expect("the session id");
    let key = parse_frame(&read_frame(&mut stream).await.expect("a frame")).expect("valid");
    assert!(key.key && (key.width, key.height) == (640, 480));
    let mut canvas = Canvas::new();
    canvas.apply(&key).expect("the key frame applies");
    assert_eq!(canvas.rgb(), pattern(640, 480, 5).as_slice());
    let mut shown = Vec::new();
    for seed in 6..10 {
        shown.push(Picture::show(
            &xvfb.display,
            640,
            480,
            &pattern(640, 480, seed),
        ));
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    let second = tokio::time::timeout(Duration::from_secs(1), read_frame(&mut stream)).await;
    assert!(second.is_ok_and(|frame| frame.is_some()), "a second frame");
    let third = tokio::time::timeout(Duration::from_millis(500), read_frame(&mut stream)).await;
    assert!(third.is_err(), "a third frame before any ack");

    controls
        .send(SessionControl::End {
            id: SessionId(id),
            reason: "analyst ended the session".into(),
        })
        .expect("session running");
    let ended = next_report(&mut reports).await;
    assert!(
        matches!(&ended, SessionReport::Ended { by: EndedBy::Console, reason, .. }
            if reason == "analyst ended the session"),
        "{ended:?}"
    );
    let drained = tokio::time::timeout(Duration::from_secs(1), async {
        while read_frame(&mut stream).await.is_some() {}
    });
    drained
        .await
        .expect("the frame stream ends within a second of End");
    let recorded = actions(state.path());
    assert!(
        recorded
            .iter()
            .any(|(action, _)| action == "screen.session.start")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_view_only_takes_control_back() {
    let xvfb = Xvfb::start(1024, 768).with_window_manager();
    let display = xvfb.display.clone();
    let _shown = Picture::show(&display, 180, 120, &pattern(180, 120, 11));
    let state = tempfile::tempdir().expect("temp dir");
    let sessions = service(state.path(), &display, true);
    let (reports_tx, mut reports) = mpsc::channel(16);
    let (streams_tx, _streams) = mpsc::unbounded_channel();

    let controls = sessions
        .start(
            request(1, SessionMode::Control, 20_000),
            link(&reports_tx, &streams_tx),
            audit::now_ms(),
        )
        .expect("admitted");
    let allow = prompt_layout().allow;
    let (x, y, w, h) = (allow.x, allow.y, allow.width, allow.height);
    let clicker = {
        let display = display.clone();
        tokio::task::spawn_blocking(move || XvfbRef(display).click(PROMPT_TITLE, (x, y, w, h)))
    };
    let answered = next_report(&mut reports).await;
    clicker.await.expect("clicked Allow");
    assert!(matches!(
        answered,
        SessionReport::Answered {
            outcome: ConsentOutcome::Allowed,
            ..
        }
    ));
    assert!(matches!(
        next_report(&mut reports).await,
        SessionReport::Started { .. }
    ));

    let view_only = bar_layout(true)
        .view_only
        .expect("a control session offers View only");
    let (x, y, w, h) = (view_only.x, view_only.y, view_only.width, view_only.height);
    let clicker = {
        let display = display.clone();
        tokio::task::spawn_blocking(move || XvfbRef(display).click(BAR_TITLE, (x, y, w, h)))
    };
    let report = next_report(&mut reports).await;
    clicker.await.expect("clicked View only");
    assert_eq!(
        report,
        SessionReport::ViewOnly {
            id: SessionId([1; SESSION_ID_LEN]),
            by_caller: true
        }
    );

    // Input after that does not reach the desktop.
    let before = xvfb.xdotool(&["getmouselocation"]);
    controls
        .send(SessionControl::Input {
            id: SessionId([1; SESSION_ID_LEN]),
            events: vec![InputEvent::PointerMove { x: 3, y: 700 }],
        })
        .expect("session running");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(xvfb.xdotool(&["getmouselocation"]), before);
    drop(controls);
    let ended = next_report(&mut reports).await;
    assert!(
        matches!(&ended, SessionReport::Ended { by: EndedBy::Device, reason, .. }
            if reason.contains("connection")),
        "{ended:?}"
    );
}
