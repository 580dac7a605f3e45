//! Input-to-pixel latency of a control session on loopback: from a key event in the
//! analyst's browser until the caller's screen showing its effect is drawn in the viewer's
//! canvas. Everything is real: Xvfb with openbox and an xterm running `cat`, the agent with
//! its consent prompt clicked Allow, the console, and headless Chromium.
//!
//! Each sample alternates a letter and Backspace, so the xterm echoes and erases one
//! character. The page stamps the key event and the moment the frame that changes the
//! xterm's pixels is drawn (the viewer's own `stats.drawnAt`); that difference is the figure.
//!
//! The baseline, measured in the same run, is the screen path alone: the same key injected
//! on the X server directly (with the agent's own XTEST sink, not through the browser, the
//! console and the agent's input path), timed from the benchmark until the canvas changes;
//! the Hotline path is also timed that way, so the two compare.
//!
//! Run: `cargo bench -p hotline-tests --bench input_latency -- [--samples 200]`.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark reports on standard output"
)]

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use hotline_agent::consent::x11::{ARM_DELAY, PROMPT_TITLE, prompt_layout};
use hotline_agent::screen::input::x11::X11Input;
use hotline_agent::screen::input::{InputSink, Monitor};
use hotline_protocol::input::{InputEvent, KeyCode};
use hotline_tests::agent::Agent;
use hotline_tests::api::Api;
use hotline_tests::browser::Browser;
use hotline_tests::console::Console;
use hotline_tests::xvfb::Xvfb;
use serde_json::json;

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 800;
const PASSWORD: &str = "correct horse battery staple";
/// The xterm's place and size on the screen, and the canvas region hashed to see it change.
const XTERM_GEOMETRY: &str = "40x4+0+0";
const REGION: (u32, u32) = (320, 90);

fn samples() -> usize {
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        if word == "--samples" {
            return words.next().and_then(|n| n.parse().ok()).unwrap_or(200);
        }
    }
    200
}

fn main() -> Result<()> {
    let samples = samples();
    let xvfb = Xvfb::start(WIDTH, HEIGHT).with_window_manager();
    let (_console, _agent, page, mut xterm) = control_session(&xvfb)?;

    // Warm up both paths, then measure them in alternation so both see the same machine.
    let mut sink = X11Input::open(&xvfb.display, whole_screen())?;
    let mut hotline_page = Vec::with_capacity(samples);
    let mut hotline_outside = Vec::with_capacity(samples);
    let mut baseline = Vec::with_capacity(samples);
    for i in 0..samples + 10 {
        let code = if i % 2 == 0 { "KeyA" } else { "Backspace" };
        let (in_page, outside) = through_hotline(&page, code)?;
        let direct = on_the_x_server(&page, &mut sink, code)?;
        if i >= 10 {
            hotline_page.push(in_page);
            hotline_outside.push(outside);
            baseline.push(direct);
        }
    }
    xterm.kill().ok();
    xterm.wait().ok();

    report(samples, &hotline_page, &hotline_outside, &baseline);
    Ok(())
}

fn whole_screen() -> Monitor {
    Monitor {
        x: 0,
        y: 0,
        width: WIDTH,
        height: HEIGHT,
    }
}

/// A console, an agent with root signed in on `xvfb`, an xterm running `cat` with the
/// keyboard focus, and an analyst's control session on it, allowed by the caller.
fn control_session(xvfb: &Xvfb) -> Result<(Console, Agent, Browser, std::process::Child)> {
    let mut console = Console::init();
    console.start();
    let mut agent = Agent::enroll(&console.enroll_token(&[])).map_err(anyhow::Error::msg)?;
    agent.sign_in("root", &xvfb.display);
    agent.env.push(("DISPLAY".into(), xvfb.display.clone()));
    agent.start();
    console.wait_status(&agent.device, "online", Duration::from_secs(15));

    let mut xterm = xvfb.command("xterm");
    xterm
        .env("LC_ALL", "C.UTF-8")
        .args(["-T", "latency-xterm", "-geometry", XTERM_GEOMETRY])
        .args(["-e", "cat"]);
    let xterm = xterm.spawn().context("starting xterm")?;
    let window = xvfb.wait_for_window("latency-xterm", Duration::from_secs(30));
    xvfb.click_in(&window, 20, 20);

    let one_time = console.add_account("dana", "Dana Scully", &["analyst"]);
    let api = Api::first_login(&console, "dana", &one_time, PASSWORD);
    let reply = api.post(
        "/api/tickets",
        &json!({ "title": "Slow screen", "caller": { "name": "Walter", "contact": "ext 7" },
                 "priority": 2, "devices": [agent.device] }),
    );
    ensure!(reply.status == 201, "opening a ticket: {reply:?}");
    let ticket = reply.body["number"].as_i64().context("ticket number")?;

    let page = Browser::start();
    let base = format!("https://{}", console.https.context("console started")?);
    sign_in(&page, &base);
    page.goto(&format!(
        "{base}/tickets/{ticket}/screen?device={}&mode=control",
        agent.device
    ));
    let prompt = xvfb.wait_for_window(PROMPT_TITLE, Duration::from_secs(30));
    std::thread::sleep(ARM_DELAY * 2);
    let (x, y) = prompt_layout().allow.centre();
    xvfb.click_in(&prompt, x, y);
    page.wait_until(
        "the session running with a frame drawn",
        "const s = window.__hotlineScreen; return s && s.stats.frames > 0 \
         && document.getElementById('session-status').dataset.state === 'running'",
    );
    // The bar may have taken the focus as it appeared; give it back to the xterm.
    xvfb.click_in(&window, 20, 20);
    Ok((console, agent, page, xterm))
}

fn sign_in(page: &Browser, base: &str) {
    page.goto(&format!("{base}/login"));
    page.fill("#username", "dana");
    page.fill("#password", PASSWORD);
    page.click("button[type=submit]");
    page.wait_until("signed in", "return location.pathname === '/tickets'");
}

/// The page's script that hashes the xterm's region of the canvas.
fn region_hash() -> String {
    format!(
        "const region = () => {{ const c = window.__hotlineScreen.canvas; \
         const d = c.getContext('2d').getImageData(0, 0, {w}, {h}).data; let x = 0; \
         for (let i = 0; i < d.length; i += 1) x = (Math.imul(x, 31) + d[i]) | 0; return x; }};",
        w = REGION.0,
        h = REGION.1
    )
}

/// A script that resolves with the time `stats.drawnAt - start` of the first frame after
/// which the region differs from `before`, or -1 after five seconds.
fn wait_for_change() -> String {
    format!(
        "{region} const stats = window.__hotlineScreen.stats; \
         const wait = (before, start) => new Promise((resolve) => {{ \
           let seen = -1; \
           const look = () => {{ \
             if (stats.frames !== seen) {{ seen = stats.frames; \
               if (region() !== before) return resolve(stats.drawnAt - start); }} \
             if (performance.now() - start > 5000) return resolve(-1); \
             setTimeout(look, 1); }}; \
           look(); }});",
        region = region_hash()
    )
}

/// One key through the browser: returns the page's own figure and the benchmark's.
fn through_hotline(page: &Browser, code: &str) -> Result<(Duration, Duration)> {
    let script = format!(
        "{wait} const before = region(); const canvas = window.__hotlineScreen.canvas; \
         const start = performance.now(); \
         for (const type of ['keydown', 'keyup']) \
           canvas.dispatchEvent(new KeyboardEvent(type, {{ code: '{code}', bubbles: true }})); \
         return wait(before, start);",
        wait = wait_for_change()
    );
    let started = Instant::now();
    let in_page = page.eval(&script).as_f64().unwrap_or(-1.0);
    let outside = started.elapsed();
    ensure!(
        in_page >= 0.0,
        "the screen did not change after {code} from the browser"
    );
    Ok((Duration::from_secs_f64(in_page / 1000.0), outside))
}

/// One key on the X server directly: the time until the canvas shows it.
fn on_the_x_server(page: &Browser, sink: &mut X11Input, code: &str) -> Result<Duration> {
    let before = page.eval(&format!("{} return region();", region_hash()));
    let key = |pressed| InputEvent::Key {
        code: KeyCode::new(code).expect("a key code"),
        pressed,
    };
    let script = format!(
        "{wait} return wait({before}, performance.now()).then((t) => t);",
        wait = wait_for_change()
    );
    let started = Instant::now();
    sink.apply(&key(true))?;
    sink.apply(&key(false))?;
    let waited = page.eval(&script).as_f64().unwrap_or(-1.0);
    let took = started.elapsed();
    ensure!(
        waited > -1.0,
        "the screen did not change after {code} on the X server"
    );
    Ok(took)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

fn report(samples: usize, in_page: &[Duration], outside: &[Duration], baseline: &[Duration]) {
    let sorted = |values: &[Duration]| {
        let mut values = values.to_vec();
        values.sort();
        values
    };
    let (in_page, outside, baseline) = (sorted(in_page), sorted(outside), sorted(baseline));
    println!();
    println!("| {samples} keys | p50 ms | p99 ms |");
    println!("|---|---:|---:|");
    println!(
        "| browser key → pixels drawn (in the page) | {:.1} | {:.1} |",
        percentile(&in_page, 0.5),
        percentile(&in_page, 0.99)
    );
    println!(
        "| browser key → pixels drawn (timed by the bench) | {:.1} | {:.1} |",
        percentile(&outside, 0.5),
        percentile(&outside, 0.99)
    );
    println!(
        "| key on the X server → pixels drawn (baseline, timed by the bench) | {:.1} | {:.1} |",
        percentile(&baseline, 0.5),
        percentile(&baseline, 0.99)
    );
    println!(
        "| ratio, browser path over baseline | {:.2} | {:.2} |",
        percentile(&outside, 0.5) / percentile(&baseline, 0.5),
        percentile(&outside, 0.99) / percentile(&baseline, 0.99)
    );
}
