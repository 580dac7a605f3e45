//! The session bar: on top of the screen while a session runs, End and View only reported
//! to the session's owner, forged clicks ignored, and gone when closed.

use std::time::Duration;

use hotline_agent::consent::bar::{BarEvent, BarSession, SessionBar, SessionIndicator};
use hotline_agent::consent::x11::{ARM_DELAY, BAR_TITLE, X11SessionBar, bar_layout};
use hotline_tests::wait_for;
use hotline_tests::xvfb::Xvfb;

use crate::common::{display, target};

fn session(control: bool) -> BarSession {
    BarSession {
        analyst: "Sam Analyst".into(),
        ticket_number: 7,
        ticket_title: "Printer on the third floor".into(),
        control,
    }
}

/// Shows the bar and waits until it is on screen and takes clicks.
fn show(xvfb: &Xvfb, control: bool) -> (SessionBar, String) {
    let bar = X11SessionBar::default()
        .show(&target(xvfb), &session(control))
        .expect("the bar shows");
    let window = xvfb.wait_for_window(BAR_TITLE, Duration::from_secs(30));
    std::thread::sleep(ARM_DELAY * 2);
    (bar, window)
}

fn next_event(bar: &mut SessionBar) -> BarEvent {
    wait_for("a bar event", Duration::from_secs(30), || {
        bar.events.try_recv().ok()
    })
}

#[test]
fn the_bar_sits_at_the_top_and_end_reports_end() {
    let xvfb = display();
    let (mut bar, window) = show(&xvfb, true);
    let (x, y) = xvfb.window_origin(&window);
    assert_eq!(y, 0, "the bar is not at the top edge");
    assert_eq!(
        x,
        (1280 - bar_layout(true).width) / 2,
        "the bar is not centred"
    );

    let (ex, ey) = bar_layout(true).end.centre();
    xvfb.click_in(&window, ex, ey);
    assert_eq!(next_event(&mut bar), BarEvent::End);

    bar.close();
    assert!(!xvfb.has_window(BAR_TITLE), "the bar stayed after close");
}

#[test]
fn view_only_reports_view_only_and_then_disappears_from_the_bar() {
    let xvfb = display();
    let (mut bar, window) = show(&xvfb, true);
    let view_only = bar_layout(true)
        .view_only
        .expect("control sessions offer view only");
    let (vx, vy) = view_only.centre();
    xvfb.click_in(&window, vx, vy);
    assert_eq!(next_event(&mut bar), BarEvent::ViewOnly);

    // The owner drops control; the button is gone, so the same click does nothing, and End
    // still works.
    bar.set_control(false);
    std::thread::sleep(Duration::from_millis(300));
    xvfb.click_in(&window, vx, vy);
    let (ex, ey) = bar_layout(false).end.centre();
    xvfb.click_in(&window, ex, ey);
    assert_eq!(next_event(&mut bar), BarEvent::End);
}

#[test]
fn a_view_session_has_no_view_only_button() {
    assert_eq!(bar_layout(false).view_only, None);
    let xvfb = display();
    let (mut bar, window) = show(&xvfb, false);
    let (vx, vy) = bar_layout(true)
        .view_only
        .expect("exists with control")
        .centre();
    xvfb.click_in(&window, vx, vy);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        bar.events.try_recv().is_err(),
        "a click beside End reported something"
    );
}

#[test]
fn a_synthetic_click_on_end_is_ignored() {
    let xvfb = display();
    let (mut bar, window) = show(&xvfb, true);
    let (ex, ey) = bar_layout(true).end.centre();
    xvfb.synthetic_click_in(&window, ex, ey);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        bar.events.try_recv().is_err(),
        "the forged click was reported"
    );
    xvfb.click_in(&window, ex, ey);
    assert_eq!(next_event(&mut bar), BarEvent::End);
}

#[test]
fn the_bar_reports_when_its_display_goes_away() {
    let xvfb = display();
    let (mut bar, _window) = show(&xvfb, true);
    drop(xvfb);
    match next_event(&mut bar) {
        BarEvent::Lost(reason) => assert!(reason.contains("display"), "{reason}"),
        other => panic!("expected Lost, got {other:?}"),
    }
}

/// `hotline-agent consent bar` shows the bar and prints what the caller presses.
#[test]
fn the_cli_prints_what_the_caller_pressed() {
    let xvfb = display();
    let child = std::process::Command::new(hotline_tests::bin_dir().join("hotline-agent"))
        .args([
            "consent",
            "bar",
            "--display",
            &xvfb.display,
            "--user",
            &crate::common::me(),
        ])
        .args([
            "--analyst",
            "Sam",
            "--ticket",
            "7",
            "--title",
            "Printer",
            "--control",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("agent runs");
    let window = xvfb.wait_for_window(BAR_TITLE, Duration::from_secs(30));
    std::thread::sleep(ARM_DELAY * 2);
    let (vx, vy) = bar_layout(true)
        .view_only
        .expect("control session")
        .centre();
    xvfb.click_in(&window, vx, vy);
    std::thread::sleep(Duration::from_millis(300));
    let (ex, ey) = bar_layout(false).end.centre();
    xvfb.click_in(&window, ex, ey);
    let out = child.wait_with_output().expect("agent ends");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "view_only\nend\n");
}
