//! The caller's pointer in the analyst's viewer: the agent reads it with XFixes and sends it
//! apart from the frames, and the browser draws it over the scaled canvas where the X server
//! has it, with the X server's own image and hotspot, and follows a change of shape. In a
//! control session the analyst's pointer over the canvas takes the caller's shape.

use std::process::{Child, Stdio};
use std::time::Instant;

use hotline_agent::screen::cursor::x11::X11Cursor;
use hotline_agent::screen::cursor::{CursorSample, CursorSource};
use hotline_tests::browser::{self, Browser};
use hotline_tests::picture::{Picture, add_monitor, pattern};
use hotline_tests::xvfb::Xvfb;
use serde_json::Value;

use super::{APPEARS, HEIGHT, WIDTH, answer_prompt, desk, wait_state};

/// An xterm on the caller's desktop, whose window shows the I-beam; closed on drop.
struct Terminal(Child);

impl Terminal {
    /// Opens it, and returns it with its window's top-left corner on the screen.
    fn open(xvfb: &Xvfb) -> (Terminal, (i32, i32)) {
        let child = xvfb
            .command("xterm")
            .args(["-T", "hotline-pointer", "-geometry", "40x10+800+450"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("xterm runs (scripts/test.sh installs it)");
        let terminal = Terminal(child);
        let window = xvfb.wait_for_window("hotline-pointer", APPEARS);
        (terminal, xvfb.window_origin(&window))
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// The X server's pointer once it is at (`x`, `y`) with another shape than `not`: the
/// sample the viewer is compared with.
fn x_cursor(xvfb: &Xvfb, x: i32, y: i32, not: Option<u32>) -> CursorSample {
    let mut source = X11Cursor::connect(Some(&xvfb.display)).expect("XFixes on Xvfb");
    let start = Instant::now();
    loop {
        let sample = source.sample().expect("the pointer");
        if (sample.x, sample.y) == (x, y) && Some(sample.id.0) != not {
            return sample;
        }
        assert!(
            start.elapsed() < APPEARS,
            "the X pointer never reached ({x},{y}) with a new shape: at ({},{}) with shape {} ({}x{})",
            sample.x,
            sample.y,
            sample.id,
            sample.width,
            sample.height
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Waits until the viewer draws shape `id` at (`x`, `y`), and returns what it reports:
/// the pointer's state, the overlay's and the canvas' boxes, the overlay's pixels and the
/// canvas' CSS cursor.
fn wait_drawn(page: &Browser, id: u32, x: i32, y: i32) -> Value {
    let script = format!(
        "const s = window.__hotlineScreen; const p = s.pointer.state();
         if (!p.visible || p.id !== {id} || p.x !== {x} || p.y !== {y}) return null;
         const o = document.getElementById('caller-pointer');
         const a = s.canvas.getBoundingClientRect(), b = o.getBoundingClientRect();
         const d = Array.from(o.getContext('2d').getImageData(0, 0, o.width, o.height).data);
         return {{ state: p, canvas: [a.left, a.top, a.width, a.height],
                   overlay: [b.left, b.top, b.width, b.height], pixels: d,
                   cursor: s.canvas.style.cursor }};"
    );
    page.wait_until(&format!("the caller's pointer drawn at ({x},{y})"), &script)
}

fn number(value: &Value) -> f64 {
    value.as_f64().expect("a number")
}

/// Checks that `drawn` is `sample`'s image, placed and scaled as the canvas is, when the
/// canvas shows the `width`×`height` area whose top-left corner is at `origin`.
fn assert_matches(
    drawn: &Value,
    sample: &CursorSample,
    (width, height): (u16, u16),
    origin: (i32, i32),
) {
    let shape = sample.shape().expect("the X cursor fits the protocol");
    let state = &drawn["state"];
    assert_eq!(
        [
            &state["width"],
            &state["height"],
            &state["hotX"],
            &state["hotY"]
        ],
        [shape.width, shape.height, shape.hot_x, shape.hot_y]
            .map(Value::from)
            .each_ref(),
        "the viewer's shape is not the X cursor's"
    );

    // Placed with its hotspot on the position, scaled like the canvas (within a pixel).
    let canvas: Vec<f64> = drawn["canvas"]
        .as_array()
        .expect("box")
        .iter()
        .map(number)
        .collect();
    let overlay: Vec<f64> = drawn["overlay"]
        .as_array()
        .expect("box")
        .iter()
        .map(number)
        .collect();
    let (sx, sy) = (canvas[2] / f64::from(width), canvas[3] / f64::from(height));
    let (x, y) = (sample.x - origin.0, sample.y - origin.1);
    let left = canvas[0] + (f64::from(x) - f64::from(shape.hot_x)) * sx;
    let top = canvas[1] + (f64::from(y) - f64::from(shape.hot_y)) * sy;
    assert!(
        (overlay[0] - left).abs() < 1.0 && (overlay[1] - top).abs() < 1.0,
        "pointer drawn at {overlay:?}, expected at ({left},{top}) with scale ({sx},{sy})"
    );
    assert!((overlay[2] - f64::from(shape.width) * sx).abs() < 1.0);
    assert!((overlay[3] - f64::from(shape.height) * sy).abs() < 1.0);

    // The pixels: alpha exact, and the colour exact where opaque (the canvas stores
    // premultiplied colour, so translucent ones may round).
    let pixels: Vec<u8> = drawn["pixels"]
        .as_array()
        .expect("pixels")
        .iter()
        .map(|v| v.as_u64().expect("a byte") as u8)
        .collect();
    assert_eq!(pixels.len(), shape.rgba.len());
    for (index, (got, want)) in pixels.chunks(4).zip(shape.rgba.chunks(4)).enumerate() {
        assert_eq!(got[3], want[3], "alpha of pixel {index}");
        if want[3] == 255 {
            assert_eq!(got, want, "pixel {index}");
        }
    }
}

#[test]
fn the_callers_pointer_is_drawn_where_it_is_and_follows_a_change_of_shape() {
    let xvfb = Xvfb::start(u32::from(WIDTH), u32::from(HEIGHT)).with_window_manager();
    let _shown = Picture::wallpaper(
        &xvfb.display,
        WIDTH,
        HEIGHT,
        &pattern(u32::from(WIDTH), u32::from(HEIGHT), 11),
    );
    let page = browser::shared();
    let desk = desk(&xvfb, true, 30, &page);
    desk.open_viewer(&page, "control");
    wait_state(&page, "requested");
    answer_prompt(&xvfb, true);
    wait_state(&page, "running");
    page.wait_until(
        "the first frame",
        "return window.__hotlineScreen.stats.frames > 0",
    );

    // The window manager's arrow over the wallpaper (the root window), away from the
    // session bar.
    xvfb.xdotool(&["mousemove", "400", "300"]);
    let arrow = x_cursor(&xvfb, 400, 300, None);
    let drawn = wait_drawn(&page, arrow.id.0, 400, 300);
    assert_matches(&drawn, &arrow, (WIDTH, HEIGHT), (0, 0));
    // Control session: the analyst's pointer over the canvas wears the caller's shape.
    let cursor = drawn["cursor"].as_str().unwrap_or_default();
    let hotspot = format!(
        ") {} {}, auto",
        arrow.shape().expect("shape").hot_x,
        arrow.shape().expect("shape").hot_y
    );
    assert!(
        cursor.starts_with("url(\"blob:") && cursor.ends_with(&hotspot),
        "the canvas' cursor is {cursor:?}"
    );

    // Over a terminal, the I-beam: a new shape, drawn at the new place.
    let (_terminal, (left, top)) = Terminal::open(&xvfb);
    let (x, y) = (left + 60, top + 40);
    xvfb.xdotool(&["mousemove", &x.to_string(), &y.to_string()]);
    let beam = x_cursor(&xvfb, x, y, Some(arrow.id.0));
    let drawn = wait_drawn(&page, beam.id.0, x, y);
    assert_matches(&drawn, &beam, (WIDTH, HEIGHT), (0, 0));
    assert_ne!(
        arrow.shape().expect("shape").rgba,
        beam.shape().expect("shape").rgba,
        "the two cursors look different"
    );
}

#[test]
fn on_one_monitor_the_pointer_is_placed_on_it_and_hidden_off_it() {
    let xvfb = Xvfb::start(1600, 600).with_window_manager();
    add_monitor(&xvfb.display, "LEFT-1", (0, 0, 1000, 600));
    add_monitor(&xvfb.display, "RIGHT-1", (1000, 0, 600, 600));
    let _shown = Picture::wallpaper(&xvfb.display, 1600, 600, &pattern(1600, 600, 12));
    let page = browser::shared();
    let desk = desk(&xvfb, true, 30, &page);
    desk.open_viewer(&page, "view");
    wait_state(&page, "requested");
    answer_prompt(&xvfb, true);
    wait_state(&page, "running");

    // The analyst picks the right-hand monitor; the canvas becomes its size.
    page.eval(
        "const s = document.getElementById('monitor');
         s.value = [...s.options].find((o) => o.text.startsWith('RIGHT-1')).value;
         s.dispatchEvent(new Event('change'));",
    );
    page.wait_until(
        "the right monitor on the canvas",
        "const c = window.__hotlineScreen.canvas; return c.width === 600 && c.height === 600",
    );

    // On it, the pointer is drawn relative to its corner.
    xvfb.xdotool(&["mousemove", "1300", "300"]);
    let arrow = x_cursor(&xvfb, 1300, 300, None);
    let drawn = wait_drawn(&page, arrow.id.0, 300, 300);
    assert_matches(&drawn, &arrow, (600, 600), (1000, 0));

    // On the other monitor, it is hidden.
    xvfb.xdotool(&["mousemove", "500", "300"]);
    page.wait_until(
        "the caller's pointer hidden off the chosen monitor",
        "const p = window.__hotlineScreen.pointer.state();
         return !p.visible && document.getElementById('caller-pointer').hidden",
    );
}
