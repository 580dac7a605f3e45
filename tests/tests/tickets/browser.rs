//! The web console in a real browser (headless Chromium): an analyst signs in for the first
//! time, opens a ticket, adds a note and sees the timeline follow a colleague's note live; a
//! device's hostile host name shows as text; the live timeline's WebSocket refuses another
//! origin (MeshCentral CVE-2024-26135).

use std::time::Duration;

use hotline_tests::agent::Agent;
use hotline_tests::api::Api;
use hotline_tests::browser;
use hotline_tests::console::Console;
use hotline_tests::raw::{RawClient, hello_frame_with_hostname, load_state};
use hotline_tests::wait_for;
use serde_json::json;

const PASSWORD: &str = "correct horse battery staple";
const HOSTILE_HOST: &str = "<img src=x onerror=alert(1)>";

fn started() -> Console {
    let mut console = Console::init();
    console.start();
    console
}

fn base(console: &Console) -> String {
    format!("https://{}", console.https.expect("console started"))
}

/// Signs `username` in for the first time with its one-time password.
fn first_sign_in(page: &browser::Browser, console: &Console, username: &str, one_time: &str) {
    page.first_sign_in(&base(console), username, one_time, PASSWORD);
}

#[test]
fn an_analyst_signs_in_opens_a_ticket_and_notes_it_and_the_timeline_follows_live() {
    let console = started();
    let one_time = console.add_account("dana", "Dana Scully", &["analyst"]);
    let colleague = {
        let one_time = console.add_account("fox", "Fox Mulder", &["analyst"]);
        Api::first_login(&console, "fox", &one_time, PASSWORD)
    };
    let page = browser::shared();

    first_sign_in(&page, &console, "dana", &one_time);

    // A new ticket from the form.
    page.goto(&format!("{}/tickets/new", base(&console)));
    page.fill("#new-title", "Printer on floor 3 jams");
    page.fill("#new-caller", "Walter Skinner");
    page.fill("#new-contact", "ext 4411");
    page.click("button[type=submit]");
    let number = page.wait_until(
        "the new ticket's page",
        "const m = location.pathname.match(/^\\/tickets\\/(\\d+)$/); return m && Number(m[1])",
    );
    let number = number.as_i64().expect("ticket number");
    page.find("#timeline");

    // A note typed in the page appears in its timeline.
    page.fill("#note", "Asked the caller to power-cycle the printer.");
    page.click(".note-form button[type=submit]");
    page.wait_until(
        "the analyst's own note in the timeline",
        "return document.getElementById('timeline').textContent.includes('power-cycle')",
    );

    // A colleague's note, added through the API, arrives without a reload.
    page.wait_until(
        "the live timeline to connect",
        "return document.getElementById('live-state')?.classList.contains('live')",
    );
    let marker = page.eval("window.__same_page = true; return true");
    assert_eq!(marker, json!(true));
    let reply = colleague.post(
        &format!("/api/tickets/{number}/notes"),
        &json!({ "text": "Toner replaced by facilities." }),
    );
    assert_eq!(reply.status, 201, "{reply:?}");
    page.wait_until(
        "the colleague's note pushed into the open timeline",
        "return document.getElementById('timeline').textContent.includes('Toner replaced')",
    );
    assert_eq!(
        page.eval("return window.__same_page === true"),
        json!(true),
        "the page reloaded instead of receiving the note live"
    );

    // The printable export holds both notes.
    page.goto(&format!("{}/tickets/{number}/export", base(&console)));
    let text = page.eval("return document.body.textContent");
    let text = text.as_str().expect("page text");
    assert!(
        text.contains("power-cycle") && text.contains("Toner replaced"),
        "{text}"
    );
    assert!(text.contains("Walter Skinner"), "{text}");
}

#[test]
fn a_hostile_host_name_shows_as_text() {
    let console = started();
    let agent = Agent::enroll(&console.enroll_token(&[])).expect("enrolls");
    let state = load_state(&agent.state());
    let mut client = RawClient::connect(&state, console.quic.expect("bound")).expect("handshake");
    client.send(&hello_frame_with_hostname(&state.device, HOSTILE_HOST));
    wait_for("the device online", Duration::from_secs(10), || {
        console
            .device(&agent.device)
            .filter(|device| device["status"] == "online")
    });

    let one_time = console.add_account("vera", "Vera", &["viewer"]);
    let page = browser::shared();
    first_sign_in(&page, &console, "vera", &one_time);

    page.eval("window.__xss = 0; window.alert = () => { window.__xss += 1; }; return true");
    page.goto(&format!("{}/devices", base(&console)));
    let shown = page.wait_until(
        "the device row",
        &format!(
            "return document.querySelector('main').textContent.includes({}) && 'shown'",
            serde_json::to_string(HOSTILE_HOST).expect("string")
        ),
    );
    assert_eq!(shown, json!("shown"));
    let images = page.eval("return document.querySelectorAll('main img').length");
    assert_eq!(images, json!(0), "the host name became markup");
    drop(client);
}

#[test]
fn the_live_timeline_refuses_a_websocket_from_another_origin() {
    let console = started();
    let one_time = console.add_account("sam", "Sam", &["analyst"]);
    let mut api = Api::first_login(&console, "sam", &one_time, PASSWORD);
    let reply = api.post(
        "/api/tickets",
        &json!({ "title": "VPN", "caller": { "name": "Jo", "contact": "ext 1" }, "priority": 3 }),
    );
    assert_eq!(reply.status, 201, "{reply:?}");
    // HTTPS only, remembered by the browser (HSTS).
    assert_eq!(
        reply.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    let number = reply.body["number"].as_i64().expect("number");
    let path = format!("/api/tickets/{number}/live");
    let upgrade = [
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let own_origin = base(&console);
    for (name, value) in upgrade {
        api.extra.push((name.to_owned(), value.to_owned()));
    }

    // The console's own origin with the session cookie upgrades, so the refusal below is
    // about the origin and nothing else.
    api.extra.push(("Origin".into(), own_origin));
    assert_eq!(api.get(&path).status, 101);
    // A ticket that does not exist has no timeline to follow.
    assert_eq!(api.get("/api/tickets/99999/live").status, 404);

    api.extra.pop();
    api.extra
        .push(("Origin".into(), "https://evil.example".into()));
    let refused = api.get(&path);
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(refused.error().contains("origin"), "{refused:?}");

    // A handshake without any Origin is not a browser page of this console either.
    api.extra.pop();
    assert_eq!(api.get(&path).status, 403);
}
