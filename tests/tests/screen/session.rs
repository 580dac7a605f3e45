//! Remote screen sessions end to end: a real console and agent on loopback, the agent's
//! prompt on a real X server clicked with xdotool, and the analyst's viewer in headless
//! Chromium. Allow shows the caller's screen pixel-exact in the browser canvas and lets the
//! analyst drive it; Deny and no answer refuse; the caller's End stops the frames; a device
//! with nobody signed in tells the analyst why, until an admin's policy for the device lets
//! sessions run there unattended; the caller's pointer is drawn over the canvas
//! (`cursor.rs`).

use std::time::{Duration, Instant};

use hotline_agent::consent::x11::{ARM_DELAY, BAR_TITLE, PROMPT_TITLE, bar_layout, prompt_layout};
use hotline_tests::agent::Agent;
use hotline_tests::api::Api;
use hotline_tests::browser::{self, Browser};
use hotline_tests::console::Console;
use hotline_tests::picture::{Picture, pattern};
use hotline_tests::xvfb::Xvfb;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[path = "cursor.rs"]
mod cursor;

pub(super) const PASSWORD: &str = "correct horse battery staple";
const WIDTH: u16 = 1366;
const HEIGHT: u16 = 768;
pub(super) const APPEARS: Duration = Duration::from_secs(30);

/// A console whose prompts wait `consent_secs`, an agent online that sees `signed_in` (a user on
/// the display, or nobody), and an analyst signed in to the browser on an open ticket naming
/// the device.
pub(super) struct Desk {
    pub(super) console: Console,
    pub(super) agent: Agent,
    pub(super) ticket: i64,
}

pub(super) fn desk(xvfb: &Xvfb, signed_in: bool, consent_secs: u32, page: &Browser) -> Desk {
    let mut console = Console::init();
    let config = console.data().join("console.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    let text = text.replace(
        "consent_timeout_secs = 30",
        &format!("consent_timeout_secs = {consent_secs}"),
    );
    std::fs::write(&config, text).expect("config");
    console.start();

    let mut agent = Agent::enroll(&console.enroll_token(&[])).expect("enrolls");
    // The agent reads its own utmp file: the user on the test display, or nobody, whatever
    // this machine's own utmp says.
    if signed_in {
        agent.sign_in("root", &xvfb.display);
    } else {
        agent.sign_in_nobody();
    }
    agent.env.push(("DISPLAY".into(), xvfb.display.clone()));
    // Unattended sessions go to this test's own display, whatever other X servers run.
    agent
        .env
        .push(("HOTLINE_UNATTENDED_DISPLAY".into(), xvfb.display.clone()));
    agent.start();
    console.wait_status(&agent.device, "online", Duration::from_secs(15));

    let one_time = console.add_account("dana", "Dana Scully", &["analyst"]);
    let api = Api::first_login(&console, "dana", &one_time, PASSWORD);
    let reply = api.post(
        "/api/tickets",
        &json!({ "title": "Screen flickers", "caller": { "name": "Walter", "contact": "ext 7" },
                 "priority": 2, "devices": [agent.device] }),
    );
    assert_eq!(reply.status, 201, "{reply:?}");
    let ticket = reply.body["number"].as_i64().expect("number");

    sign_in(page, &console, "dana");
    Desk {
        console,
        agent,
        ticket,
    }
}

/// Signs `username` in to the web console in `page`, signing out whoever was signed in.
fn sign_in(page: &Browser, console: &Console, username: &str) {
    let base = format!("https://{}", console.https.expect("started"));
    page.goto(&format!("{base}/login"));
    page.eval(
        "return fetch('/api/logout', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' }).then(() => true, () => false)",
    );
    page.goto(&format!("{base}/login"));
    page.fill("#username", username);
    page.fill("#password", PASSWORD);
    page.click("button[type=submit]");
    page.wait_until("signed in", "return location.pathname === '/tickets'");
}

impl Desk {
    pub(super) fn open_viewer(&self, page: &Browser, mode: &str) {
        let base = format!("https://{}", self.console.https.expect("started"));
        page.goto(&format!(
            "{base}/tickets/{}/screen?device={}&mode={mode}",
            self.ticket, self.agent.device
        ));
        page.find("#session-status");
    }

    /// The ticket's audit entries, in order.
    fn ticket_record(&self) -> Vec<Value> {
        let export = self.console.cli_ok(&[
            "audit",
            "export",
            "--ticket",
            &self.ticket.to_string(),
            "--json",
        ]);
        let export: Value = serde_json::from_str(&export).expect("export JSON");
        export["audit"].as_array().expect("entries").clone()
    }

    /// The ticket's audit actions and answers about sessions, in order.
    fn session_record(&self) -> Vec<(String, String)> {
        self.ticket_record()
            .iter()
            .filter(|e| {
                e["action"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("session."))
            })
            .map(|e| {
                let detail = e["params"]["answer"]
                    .as_str()
                    .or(e["params"]["by"].as_str())
                    .unwrap_or_default();
                (
                    e["action"].as_str().unwrap_or_default().to_owned(),
                    detail.to_owned(),
                )
            })
            .collect()
    }
}

fn status(page: &Browser) -> (String, String) {
    let value = page.eval(
        "const s = document.getElementById('session-status'); return [s.dataset.state || '', s.textContent]",
    );
    (
        value[0].as_str().unwrap_or_default().to_owned(),
        value[1].as_str().unwrap_or_default().to_owned(),
    )
}

pub(super) fn wait_state(page: &Browser, state: &str) -> String {
    let start = Instant::now();
    loop {
        let (now, text) = status(page);
        if now == state {
            return text;
        }
        assert!(
            start.elapsed() < APPEARS,
            "waited for session state {state}, but it is {now:?}: {text:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Clicks a prompt button once Allow is armed.
pub(super) fn answer_prompt(xvfb: &Xvfb, allow: bool) {
    let window = xvfb.wait_for_window(PROMPT_TITLE, APPEARS);
    std::thread::sleep(ARM_DELAY * 2);
    let layout = prompt_layout();
    let (x, y) = if allow {
        layout.allow.centre()
    } else {
        layout.deny.centre()
    };
    xvfb.click_in(&window, x, y);
}

/// SHA-256 of the canvas' R,G,B bytes in rows `top..bottom`, computed in the page.
fn canvas_rows_sha(page: &Browser, top: u32, bottom: u32) -> String {
    let script = format!(
        "const c = window.__hotlineScreen.canvas; const d = c.getContext('2d').getImageData(0, {top}, c.width, {bottom} - {top}).data;
         const rgb = new Uint8Array(d.length / 4 * 3);
         for (let i = 0, j = 0; i < d.length; i += 4) {{ rgb[j++] = d[i]; rgb[j++] = d[i + 1]; rgb[j++] = d[i + 2]; }}
         return crypto.subtle.digest('SHA-256', rgb).then((h) => Array.from(new Uint8Array(h)).map((b) => b.toString(16).padStart(2, '0')).join(''));"
    );
    page.eval(&script).as_str().unwrap_or_default().to_owned()
}

fn rows_sha(rgb: &[u8], width: u16, top: u32, bottom: u32) -> String {
    let stride = usize::from(width) * 3;
    let bytes = &rgb[top as usize * stride..bottom as usize * stride];
    hex::encode(Sha256::digest(bytes))
}

#[test]
fn allowed_the_callers_screen_arrives_pixel_exact_and_their_end_stops_it_within_a_second() {
    let xvfb = Xvfb::start(u32::from(WIDTH), u32::from(HEIGHT)).with_window_manager();
    let picture = pattern(u32::from(WIDTH), u32::from(HEIGHT), 7);
    let _shown = Picture::wallpaper(&xvfb.display, WIDTH, HEIGHT, &picture);
    let page = browser::shared();
    let desk = desk(&xvfb, true, 30, &page);

    desk.open_viewer(&page, "view");
    wait_state(&page, "requested");
    answer_prompt(&xvfb, true);
    wait_state(&page, "running");

    // The session bar covers a strip at the top of the caller's screen; everything below it
    // is the picture, and must arrive exactly.
    let bar_bottom = u32::try_from(bar_layout(false).height).expect("height") + 8;
    let expected = rows_sha(&picture, WIDTH, bar_bottom, u32::from(HEIGHT));
    let start = Instant::now();
    loop {
        let size = page.eval("const c = window.__hotlineScreen.canvas; return [c.width, c.height]");
        if size == json!([WIDTH, HEIGHT])
            && canvas_rows_sha(&page, bar_bottom, u32::from(HEIGHT)) == expected
        {
            break;
        }
        assert!(
            start.elapsed() < APPEARS,
            "the canvas never showed the caller's screen pixel-exact (size {size})"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The caller presses End on the bar: the viewer says so, and no frame arrives after a
    // second has passed.
    let bar = xvfb.wait_for_window(BAR_TITLE, APPEARS);
    std::thread::sleep(ARM_DELAY * 2);
    let (x, y) = bar_layout(false).end.centre();
    xvfb.click_in(&bar, x, y);
    let text = wait_state(&page, "ended");
    assert!(text.contains("caller"), "{text}");
    std::thread::sleep(Duration::from_secs(1));
    let frames = page.eval("return window.__hotlineScreen.stats.frames");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        page.eval("return window.__hotlineScreen.stats.frames"),
        frames,
        "frames kept arriving after End"
    );

    let record = desk.session_record();
    let actions: Vec<&str> = record.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "session.request",
            "session.answer",
            "session.start",
            "session.end"
        ],
        "{record:?}"
    );
    assert_eq!(record[1].1, "allow");
    assert_eq!(record[3].1, "caller");
}

#[test]
fn deny_and_no_answer_refuse_the_session_and_the_ticket_says_so() {
    let xvfb = Xvfb::start(1280, 800).with_window_manager();
    let _shown = Picture::wallpaper(&xvfb.display, 1280, 800, &pattern(1280, 800, 3));
    let page = browser::shared();
    let desk = desk(&xvfb, true, 8, &page);

    desk.open_viewer(&page, "control");
    wait_state(&page, "requested");
    answer_prompt(&xvfb, false);
    let text = wait_state(&page, "refused");
    assert!(text.contains("declined"), "{text}");

    // Nobody answers the second request: after the 8 s timeout it is refused.
    desk.open_viewer(&page, "view");
    wait_state(&page, "requested");
    let text = wait_state(&page, "refused");
    assert!(text.contains("did not answer"), "{text}");
    assert!(
        page.eval("return window.__hotlineScreen.stats.frames") == json!(0),
        "a frame arrived without an Allow"
    );

    let answers: Vec<String> = desk
        .session_record()
        .into_iter()
        .filter(|(action, _)| action == "session.answer")
        .map(|(_, answer)| answer)
        .collect();
    assert_eq!(answers, ["deny", "timeout"]);
}

#[test]
fn with_nobody_signed_in_the_analyst_is_told_why_until_an_admin_allows_unattended_sessions() {
    let xvfb = Xvfb::start(1280, 800);
    let picture = pattern(1280, 800, 5);
    let _shown = Picture::wallpaper(&xvfb.display, 1280, 800, &picture);
    let page = browser::shared();
    let desk = desk(&xvfb, false, 8, &page);

    desk.open_viewer(&page, "view");
    let text = wait_state(&page, "refused");
    assert!(text.contains("nobody is signed in"), "{text}");
    assert!(text.contains("policy does not allow"), "{text}");
    assert!(
        !xvfb.has_window(PROMPT_TITLE),
        "a prompt showed with nobody signed in"
    );

    // The analyst on the ticket may not change the device's policy; an admin may.
    let path = format!("/api/devices/{}/policy", desk.agent.device);
    let allow = json!({ "ticket": desk.ticket, "unattended_sessions": true });
    let analyst = Api::login(&desk.console, "dana", PASSWORD);
    let refused = analyst.request("PUT", &path, Some(&allow));
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(refused.error().contains("admin"), "{refused:?}");
    let one_time = desk
        .console
        .add_account("skinner", "Walter Skinner", &["admin"]);
    Api::first_login(&desk.console, "skinner", &one_time, PASSWORD);
    sign_in(&page, &desk.console, "skinner");
    let base = format!("https://{}", desk.console.https.expect("started"));
    page.goto(&format!("{base}/devices"));
    page.wait_until(
        "the device's row, clicked",
        &format!(
            "const row = [...document.querySelectorAll('tr')].find((r) => r.textContent.includes('{}'));
             if (row) row.click(); return Boolean(row);",
            desk.agent.device
        ),
    );
    page.find("#unattended-sessions");
    assert_eq!(
        page.eval("return document.getElementById('unattended-sessions').checked"),
        false
    );
    assert_eq!(
        page.eval("return document.getElementById('policy-ticket').value"),
        desk.ticket.to_string()
    );
    page.click("#unattended-sessions");
    page.click("#policy-save");
    page.wait_until(
        "the device page to show the new policy",
        "return document.getElementById('unattended-state')?.textContent === 'Unattended sessions: allowed.'",
    );
    assert_eq!(analyst.get(&path).body["unattended_sessions"], true);
    sign_in(&page, &desk.console, "dana");

    // A new request runs without a prompt on the test's display, and the whole screen
    // arrives exactly (no session bar: nobody is there to see it).
    desk.open_viewer(&page, "view");
    wait_state(&page, "running");
    let expected = rows_sha(&picture, 1280, 0, 800);
    let start = Instant::now();
    while canvas_rows_sha(&page, 0, 800) != expected {
        assert!(
            start.elapsed() < APPEARS,
            "the canvas never showed the unattended screen pixel-exact"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        !xvfb.has_window(PROMPT_TITLE),
        "an unattended session prompted"
    );
    page.click("#end-session");
    wait_state(&page, "ended");

    // The ticket says who changed what, and that the session ran unattended.
    let record = desk.ticket_record();
    let policy: Vec<(&str, &str, &Value)> = record
        .iter()
        .filter(|e| e["action"] == "policy.set")
        .map(|e| {
            let actor = e["actor"].as_str().unwrap_or_default();
            let outcome = e["outcome"].as_str().unwrap_or_default();
            (actor, outcome, &e["params"]["unattended_sessions"])
        })
        .collect();
    assert_eq!(policy.len(), 2, "{record:?}");
    assert_eq!((policy[0].0, policy[0].1), ("analyst:dana", "refused"));
    assert_eq!((policy[1].0, policy[1].1), ("analyst:skinner", "ok"));
    assert_eq!(*policy[1].2, json!({ "old": false, "new": true }));
    let answers: Vec<String> = desk
        .session_record()
        .into_iter()
        .filter(|(action, _)| action == "session.answer")
        .map(|(_, answer)| answer)
        .collect();
    assert_eq!(answers, ["cannot_show", "unattended"]);
    let started = record
        .iter()
        .find(|e| e["action"] == "session.start")
        .expect("a session.start entry");
    assert_eq!(started["params"]["unattended"], true, "{started}");

    // The operator's CLI turns it off again, saying what it was.
    let device = desk.agent.device.as_str();
    let ticket = desk.ticket.to_string();
    let changed = desk.console.cli_ok(&[
        "device",
        "policy",
        device,
        "--unattended-sessions",
        "off",
        "--ticket",
        &ticket,
    ]);
    assert!(
        changed.contains("unattended sessions on -> off"),
        "{changed}"
    );
    let shown = desk.console.cli_ok(&["device", "policy", device]);
    assert!(shown.contains("unattended sessions off"), "{shown}");
}

impl Drop for Desk {
    #[allow(
        clippy::print_stderr,
        reason = "a failed test's diagnosis goes where the test harness shows it"
    )]
    fn drop(&mut self) {
        // A failed test shows what both sides logged; a passing one stays quiet.
        if std::thread::panicking() {
            eprintln!("--- console log ---\n{}", self.console.log());
            eprintln!("--- agent log ---\n{}", self.agent.log());
        }
    }
}
