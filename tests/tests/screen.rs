//! Screen capture on a real X server (Xvfb): a known picture comes back pixel-exact at
//! 1920x1080 and 1366x768, a resolution change is followed, the shared memory is nobody
//! else's to read and does not outlive a SIGKILL, and a display that cannot be captured
//! says why. The remote sessions built on it are in `screen/session.rs` and, for the
//! analyst's input from the browser, `screen/control.rs`.

use std::process::{Command, Stdio};
use std::time::Duration;

use hotline_agent::screen::capture::x11::X11Source;
use hotline_agent::screen::capture::{Area, CaptureError, ScreenSource};
use hotline_tests::picture::{Picture, add_monitor, pattern, set_screen_size};
use hotline_tests::xvfb::{self, Xvfb};
use hotline_tests::{bin_dir, signal, wait_for};

#[path = "screen/session.rs"]
mod session;

#[path = "screen/control.rs"]
mod control;

fn capture_screen(display: &str) -> hotline_agent::screen::Frame {
    let mut source = X11Source::connect(Some(display)).expect("connecting for capture");
    source.capture(&Area::Screen).expect("capturing the screen")
}

#[test]
fn a_known_picture_is_captured_pixel_exact_at_1920x1080() {
    let display = &xvfb::shared().display;
    let picture = pattern(1920, 1080, 1);
    let _shown = Picture::show(display, 1920, 1080, &picture);
    let frame = capture_screen(display);
    assert_eq!((frame.width(), frame.height()), (1920, 1080));
    assert!(
        frame.to_rgb() == picture,
        "the capture differs from the picture shown"
    );
}

#[test]
fn a_known_picture_is_captured_pixel_exact_at_1366x768() {
    let xvfb = Xvfb::start(1366, 768);
    let picture = pattern(1366, 768, 2);
    let _shown = Picture::show(&xvfb.display, 1366, 768, &picture);
    let frame = capture_screen(&xvfb.display);
    assert_eq!((frame.width(), frame.height()), (1366, 768));
    assert!(
        frame.to_rgb() == picture,
        "the capture differs from the picture shown"
    );
}

#[test]
fn each_frame_is_the_screen_at_its_own_request() {
    // scrap 0.5 returned the previous request's image; two different pictures in a row
    // must come back as themselves.
    let xvfb = Xvfb::start(640, 480);
    let mut source = X11Source::connect(Some(&xvfb.display)).unwrap();
    for seed in [3, 4, 5] {
        let picture = pattern(640, 480, seed);
        let _shown = Picture::show(&xvfb.display, 640, 480, &picture);
        let frame = source.capture(&Area::Screen).unwrap();
        assert!(
            frame.to_rgb() == picture,
            "frame for picture {seed} is not that picture"
        );
    }
}

#[test]
fn a_resolution_change_mid_capture_is_followed() {
    let xvfb = Xvfb::start(1366, 768);
    let mut source = X11Source::connect(Some(&xvfb.display)).unwrap();
    let first = pattern(1366, 768, 6);
    let shown = Picture::show(&xvfb.display, 1366, 768, &first);
    assert!(source.capture(&Area::Screen).unwrap().to_rgb() == first);
    drop(shown);

    // An odd size, its width not a multiple of 16: the shared buffer is made anew.
    set_screen_size(&xvfb.display, 1001, 701);
    let second = pattern(1001, 701, 7);
    let _shown = Picture::show(&xvfb.display, 1001, 701, &second);
    let frame = source.capture(&Area::Screen).unwrap();
    assert_eq!((frame.width(), frame.height()), (1001, 701));
    assert!(
        frame.to_rgb() == second,
        "the capture after the change is not the new picture"
    );

    let monitors = source.monitors().unwrap();
    assert_eq!(monitors.len(), 1, "{monitors:?}");
    assert_eq!((monitors[0].width, monitors[0].height), (1001, 701));
    let name = monitors[0].name.clone();
    let frame = source.capture(&Area::Monitor(name)).unwrap();
    assert!(frame.to_rgb() == second);
}

/// The shared-memory segments `ipcs -m -p` and `ipcs -m` list: (shmid, perms, creator pid).
fn sysv_segments() -> Vec<(String, u32, u32)> {
    let run = |args: &[&str]| {
        let out = Command::new("ipcs").args(args).output().expect("ipcs runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Rows of `ipcs -m`: key shmid owner perms bytes nattch; of `ipcs -m -p`: shmid owner
    // cpid lpid.
    let perms: Vec<(String, u32)> = run(&["-m"])
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let perms = u32::from_str_radix(fields.get(3)?, 8).ok()?;
            fields[0]
                .starts_with("0x")
                .then(|| (fields[1].to_owned(), perms))
        })
        .collect();
    run(&["-m", "-p"])
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let cpid: u32 = fields.get(2)?.parse().ok()?;
            let (_, mode) = perms.iter().find(|(id, _)| id == fields[0])?;
            Some((fields[0].to_owned(), *mode, cpid))
        })
        .collect()
}

fn maps_memfd(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .map(|maps| maps.contains("memfd:hotline-screen"))
        .unwrap_or(false)
}

fn holds_memfd(pid: u32) -> bool {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    entries.flatten().any(|entry| {
        std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().contains("memfd:hotline-screen"))
    })
}

#[test]
fn the_screen_memory_is_private_and_gone_after_sigkill() {
    let xvfb = Xvfb::start(800, 600);
    let _shown = Picture::show(&xvfb.display, 800, 600, &pattern(800, 600, 8));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("screen.png");
    let mut child = Command::new(bin_dir().join("hotline-agent"))
        .args([
            "screen",
            "capture",
            "--display",
            &xvfb.display,
            "--frames",
            "100000",
        ])
        .args(["--interval-ms", "20", "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("hotline-agent runs");
    let pid = child.id();
    wait_for("the first captured frame", Duration::from_secs(20), || {
        out.exists().then_some(())
    });

    // While it captures: the buffer is a memfd shared only with the X server; no SysV
    // segment of the agent exists, let alone one others could read.
    assert!(
        maps_memfd(pid),
        "the agent does not capture through a memfd"
    );
    let server = xvfb.server_pid();
    assert!(
        maps_memfd(server) || holds_memfd(server),
        "the X server does not have the agent's memfd"
    );
    let segments = sysv_segments();
    let ours: Vec<_> = segments
        .iter()
        .filter(|(_, _, cpid)| *cpid == pid)
        .collect();
    assert!(ours.is_empty(), "the agent created SysV segments: {ours:?}");
    let readable: Vec<_> = ours
        .iter()
        .filter(|(_, mode, _)| mode & 0o077 != 0)
        .collect();
    assert!(
        readable.is_empty(),
        "segments readable by others: {readable:?}"
    );

    // SIGKILL runs no destructor: the memory must still go, with the process and its
    // connection.
    signal(pid, "KILL");
    child.wait().unwrap();
    wait_for(
        "the X server to let go of the memfd",
        Duration::from_secs(10),
        || (!holds_memfd(server) && !maps_memfd(server)).then_some(()),
    );
    let left: Vec<_> = sysv_segments()
        .into_iter()
        .filter(|(_, _, cpid)| *cpid == pid)
        .collect();
    assert!(left.is_empty(), "segments left after SIGKILL: {left:?}");
}

#[test]
fn a_display_without_a_server_reports_the_reason() {
    let error = X11Source::connect(Some(":4999")).unwrap_err();
    assert!(matches!(error, CaptureError::NoServer { .. }), "{error}");
    assert!(
        error.to_string().contains("no X server at display :4999"),
        "{error}"
    );

    // The command says so too, and fails.
    let out = Command::new(bin_dir().join("hotline-agent"))
        .args([
            "screen",
            "capture",
            "--display",
            ":4999",
            "--out",
            "/dev/null",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no X server at display :4999"), "{stderr}");
}

#[test]
fn a_wayland_session_without_x_reports_the_reason() {
    let out = Command::new(bin_dir().join("hotline-agent"))
        .args(["screen", "capture", "--out", "/dev/null"])
        .env_remove("DISPLAY")
        .env("WAYLAND_DISPLAY", "wayland-0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Wayland session"), "{stderr}");
}

#[test]
fn an_all_black_screen_is_refused_not_sent() {
    // A fresh Xvfb with nothing drawn is black: what a failed capture looks like.
    let xvfb = Xvfb::start(320, 240);
    let mut source = X11Source::connect(Some(&xvfb.display)).unwrap();
    let error = source.capture(&Area::Screen).unwrap_err();
    assert!(matches!(error, CaptureError::AllBlack(_)), "{error}");
}

#[test]
fn a_display_that_goes_away_is_reported() {
    let xvfb = Xvfb::start(320, 240);
    let _shown = Picture::show(&xvfb.display, 320, 240, &pattern(320, 240, 9));
    let mut source = X11Source::connect(Some(&xvfb.display)).unwrap();
    source.capture(&Area::Screen).unwrap();
    drop(_shown);
    drop(xvfb);
    let error = source.capture(&Area::Screen).unwrap_err();
    assert!(matches!(error, CaptureError::DisplayGone(_)), "{error}");
}

#[test]
fn several_monitors_are_listed_and_each_captured_alone() {
    let xvfb = Xvfb::start(1600, 600);
    add_monitor(&xvfb.display, "LEFT-1", (0, 0, 1000, 600));
    add_monitor(&xvfb.display, "RIGHT-1", (1000, 0, 600, 600));
    let picture = pattern(1600, 600, 10);
    let _shown = Picture::show(&xvfb.display, 1600, 600, &picture);

    let mut source = X11Source::connect(Some(&xvfb.display)).unwrap();
    let monitors = source.monitors().unwrap();
    let layout: Vec<_> = monitors
        .iter()
        .map(|m| (m.name.as_str(), m.x, m.y, m.width, m.height))
        .collect();
    assert!(layout.contains(&("LEFT-1", 0, 0, 1000, 600)), "{layout:?}");
    assert!(
        layout.contains(&("RIGHT-1", 1000, 0, 600, 600)),
        "{layout:?}"
    );

    let right = source.capture(&Area::Monitor("RIGHT-1".into())).unwrap();
    assert_eq!((right.width(), right.height()), (600, 600));
    let expected: Vec<u8> = picture
        .chunks_exact(1600 * 3)
        .flat_map(|row| row[1000 * 3..].iter().copied())
        .collect();
    assert!(
        right.to_rgb() == expected,
        "the right monitor's capture is not its part"
    );

    let error = source.capture(&Area::Monitor("NOPE".into())).unwrap_err();
    assert!(
        error.to_string().contains("no monitor named \"NOPE\""),
        "{error}"
    );
}
