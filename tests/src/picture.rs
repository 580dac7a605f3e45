//! A test X client: shows a known picture in a borderless window at the top-left corner of
//! a display, so a capture can be compared with it pixel for pixel, and changes the screen
//! size through RandR. The window lasts as long as the [`Picture`] (the connection) does.

use x11rb::connection::Connection;
use x11rb::protocol::randr::{ConnectionExt as _, ModeInfo, Rotation, SetConfig};
use x11rb::protocol::xproto::{
    ChangeWindowAttributesAux, ConfigureWindowAux, ConnectionExt as _, CreateGCAux,
    CreateWindowAux, ImageFormat, StackMode, WindowClass,
};
use x11rb::rust_connection::RustConnection;

/// A deterministic picture with text-like edges, gradients and odd colours: R,G,B bytes,
/// row-major. `seed` changes every pixel.
pub fn pattern(width: u32, height: u32, seed: u32) -> Vec<u8> {
    let mut rgb = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            let mut h = u64::from(x) | u64::from(y) << 20 | u64::from(seed) << 40;
            h = (h ^ h >> 31).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            h ^= h >> 29;
            rgb.extend_from_slice(&[
                (x * 255 / width.max(1)) as u8 ^ (h as u8 & 0x0f),
                (y * 255 / height.max(1)) as u8,
                (h >> 8) as u8,
            ]);
        }
    }
    rgb
}

/// A window showing a picture; closed when dropped.
#[derive(Debug)]
pub struct Picture {
    /// Held, not used: the window lasts as long as its connection.
    _conn: RustConnection,
}

impl Picture {
    /// Shows `rgb` (`width`×`height`) at (0, 0) on `display`, above every other window, and
    /// returns once the server has drawn it.
    pub fn show(display: &str, width: u16, height: u16, rgb: &[u8]) -> Picture {
        let (conn, screen_index, pixmap) = Picture::pixmap(display, width, height, rgb);
        Picture::window(conn, screen_index, pixmap, width, height)
    }

    /// A pixmap on `display` holding `rgb`, and the connection that owns it.
    fn pixmap(display: &str, width: u16, height: u16, rgb: &[u8]) -> (RustConnection, usize, u32) {
        let (conn, screen_index) =
            x11rb::connect(Some(display)).expect("connecting to the X server");
        let screen = &conn.setup().roots[screen_index];
        let (root, depth) = (screen.root, screen.root_depth);

        // The picture goes into a pixmap that is the window's background, so the server
        // repaints it by itself whenever the window is exposed.
        let pixmap = conn.generate_id().expect("the test X server answers");
        conn.create_pixmap(depth, pixmap, root, width, height)
            .expect("the test X server answers");
        let gc = conn.generate_id().expect("the test X server answers");
        conn.create_gc(gc, pixmap, &CreateGCAux::new())
            .expect("the test X server answers");
        let bgrx: Vec<u8> = rgb
            .chunks_exact(3)
            .flat_map(|p| [p[2], p[1], p[0], 0])
            .collect();
        let stride = usize::from(width) * 4;
        // A band of rows per request keeps each under the server's request size limit.
        let band = (200_000 / stride).max(1);
        for (index, rows) in bgrx.chunks(stride * band).enumerate() {
            let y = (index * band) as i16;
            let h = (rows.len() / stride) as u16;
            conn.put_image(
                ImageFormat::Z_PIXMAP,
                pixmap,
                gc,
                width,
                h,
                0,
                y,
                0,
                depth,
                rows,
            )
            .expect("the test X server answers");
        }

        (conn, screen_index, pixmap)
    }

    /// Makes `rgb` the desktop's wallpaper (the root window's background), below every
    /// window, as a desktop's own background is; returns once the server has drawn it.
    pub fn wallpaper(display: &str, width: u16, height: u16, rgb: &[u8]) -> Picture {
        let (conn, screen_index, pixmap) = Picture::pixmap(display, width, height, rgb);
        let root = conn.setup().roots[screen_index].root;
        conn.change_window_attributes(
            root,
            &ChangeWindowAttributesAux::new().background_pixmap(pixmap),
        )
        .expect("the test X server answers");
        conn.clear_area(false, root, 0, 0, 0, 0)
            .expect("the test X server answers");
        conn.get_input_focus()
            .expect("the test X server answers")
            .reply()
            .expect("the test X server answers");
        Picture { _conn: conn }
    }

    fn window(
        conn: RustConnection,
        screen_index: usize,
        pixmap: u32,
        width: u16,
        height: u16,
    ) -> Picture {
        let screen = &conn.setup().roots[screen_index];
        let (root, depth) = (screen.root, screen.root_depth);
        let window = conn.generate_id().expect("the test X server answers");
        let aux = CreateWindowAux::new()
            .background_pixmap(pixmap)
            .override_redirect(1);
        conn.create_window(
            depth,
            window,
            root,
            0,
            0,
            width,
            height,
            0,
            WindowClass::INPUT_OUTPUT,
            screen.root_visual,
            &aux,
        )
        .expect("the test X server answers");
        conn.map_window(window).expect("the test X server answers");
        conn.configure_window(
            window,
            &ConfigureWindowAux::new().stack_mode(StackMode::ABOVE),
        )
        .expect("the test X server answers");
        conn.clear_area(false, window, 0, 0, 0, 0)
            .expect("the test X server answers");
        // A round trip: every request above has been handled, the window is drawn.
        conn.get_input_focus()
            .expect("the test X server answers")
            .reply()
            .expect("the test X server answers");
        Picture { _conn: conn }
    }
}

/// Sets the screen of `display` to `width`×`height` through RandR, as `xrandr --newmode`,
/// `--addmode` and `--output … --mode` do: a mode of that size on the first output, the
/// output's CRTC switched to it, and the screen resized to match. Returns once done.
pub fn set_screen_size(display: &str, width: u16, height: u16) {
    let (conn, screen) = x11rb::connect(Some(display)).expect("connecting to the X server");
    let root = conn.setup().roots[screen].root;
    conn.randr_query_version(1, 5)
        .expect("the test X server answers")
        .reply()
        .expect("the test X server answers");
    let resources = conn
        .randr_get_screen_resources(root)
        .expect("the test X server answers")
        .reply()
        .expect("the test X server answers");
    let (output, crtc) = (resources.outputs[0], resources.crtcs[0]);

    let name = format!("{width}x{height}_hotline");
    let info = ModeInfo {
        width,
        height,
        dot_clock: u32::from(width) * u32::from(height) * 60,
        hsync_start: width,
        hsync_end: width,
        htotal: width,
        vsync_start: height,
        vsync_end: height,
        vtotal: height,
        name_len: name.len() as u16,
        ..ModeInfo::default()
    };
    let mode = conn
        .randr_create_mode(root, info, name.as_bytes())
        .expect("the test X server answers")
        .reply()
        .expect("the test X server answers")
        .mode;
    conn.randr_add_output_mode(output, mode)
        .expect("the test X server answers")
        .check()
        .expect("the test X server answers");

    // Growing needs the bigger screen first; shrinking needs the smaller mode first.
    let current = conn
        .get_geometry(root)
        .expect("the test X server answers")
        .reply()
        .expect("the test X server answers");
    let grow = width > current.width || height > current.height;
    let mm = |pixels: u16| u32::from(pixels) * 254 / 960;
    let resize = || {
        conn.randr_set_screen_size(root, width, height, mm(width), mm(height))
            .expect("the test X server answers")
            .check()
            .expect("the server changes the screen size");
    };
    if grow {
        resize();
    }
    let reply = conn
        .randr_set_crtc_config(
            crtc,
            x11rb::CURRENT_TIME,
            resources.config_timestamp,
            0,
            0,
            mode,
            Rotation::ROTATE0,
            &[output],
        )
        .expect("the test X server answers")
        .reply()
        .expect("the test X server answers");
    assert_eq!(
        reply.status,
        SetConfig::SUCCESS,
        "switching the CRTC to {name}"
    );
    if !grow {
        resize();
    }
}

/// Declares a RandR monitor `name` covering (`x`, `y`, `width`, `height`) with no output
/// behind it, as `xrandr --setmonitor NAME W/MMxH/MM+X+Y none` does: how a test gets a
/// screen of several monitors from one Xvfb.
pub fn add_monitor(display: &str, name: &str, (x, y, width, height): (i16, i16, u16, u16)) {
    let (conn, screen) = x11rb::connect(Some(display)).expect("connecting to the X server");
    let root = conn.setup().roots[screen].root;
    conn.randr_query_version(1, 5)
        .expect("the test X server answers")
        .reply()
        .expect("the test X server answers");
    let atom = conn
        .intern_atom(false, name.as_bytes())
        .expect("the test X server answers")
        .reply()
        .expect("the test X server answers")
        .atom;
    let info = x11rb::protocol::randr::MonitorInfo {
        name: atom,
        primary: false,
        automatic: false,
        x,
        y,
        width,
        height,
        width_in_millimeters: u32::from(width) * 254 / 960,
        height_in_millimeters: u32::from(height) * 254 / 960,
        outputs: Vec::new(),
    };
    conn.randr_set_monitor(root, info)
        .expect("the test X server answers")
        .check()
        .expect("the server adds the monitor");
}
