//! The session bar on X11: a dock window across the top middle of the screen, above other
//! windows and on every desktop, naming the analyst and the ticket, with "View only" (in
//! control sessions) and "End". It runs on its own thread, reading the owner's commands
//! between X events.

use std::sync::mpsc::{self, TryRecvError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::FontPaths;
use super::canvas::{Canvas, Fonts, Rect, Rgb, elide};
use super::prompt::ARM_DELAY;
use super::window::{Placement, UiEvent, UiWindow, WindowSpec};
use crate::consent::PromptTarget;
use crate::consent::bar::{
    BarCommand, BarError, BarEvent, BarSession, SessionBar, SessionIndicator,
};

/// The bar's window title.
pub const BAR_TITLE: &str = "Hotline: support session";

const WIDTH: i32 = 760;
const HEIGHT: i32 = 44;
const BUTTON_HEIGHT: i32 = 30;
/// How often the bar looks at the owner's commands while no X event arrives.
const COMMAND_POLL: Duration = Duration::from_millis(50);

const BACKGROUND: Rgb = Rgb(48, 48, 48);
const TEXT: Rgb = Rgb(255, 255, 255);
const END: Rgb = Rgb(192, 28, 40);
const VIEW_ONLY: Rgb = Rgb(94, 92, 100);

/// Where the bar's parts are, in window pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarLayout {
    pub width: i32,
    pub height: i32,
    pub end: Rect,
    /// Present in control sessions only.
    pub view_only: Option<Rect>,
}

/// The bar's layout with or without control.
pub fn bar_layout(control: bool) -> BarLayout {
    let y = (HEIGHT - BUTTON_HEIGHT) / 2;
    let end = Rect::new(WIDTH - 8 - 80, y, 80, BUTTON_HEIGHT);
    let view_only = Rect::new(end.x - 8 - 110, y, 110, BUTTON_HEIGHT);
    BarLayout {
        width: WIDTH,
        height: HEIGHT,
        end,
        view_only: control.then_some(view_only),
    }
}

/// Shows session bars on X11 displays.
// FIXME: a fullscreen or override-redirect window can still cover the bar; raising it again
// when it is obscured needs the window manager's cooperation and is not done yet.
// FIXME: a screen lock does not pause the session; seeing it needs logind's LockedHint or
// the MIT-SCREEN-SAVER extension, and a BarEvent for it.
#[derive(Debug, Clone, Default)]
pub struct X11SessionBar {
    fonts: FontPaths,
}

impl X11SessionBar {
    pub fn with_fonts(fonts: FontPaths) -> X11SessionBar {
        X11SessionBar { fonts }
    }
}

impl SessionIndicator for X11SessionBar {
    fn show(&self, target: &PromptTarget, session: &BarSession) -> Result<SessionBar, BarError> {
        let fonts = Fonts::load(&self.fonts).ok_or_else(|| BarError("no font".into()))?;
        let (conn, screen) = crate::x11::open(&target.user, &target.display)
            .map_err(|error| BarError(error.to_string()))?;
        let spec = WindowSpec {
            title: BAR_TITLE,
            class: "hotline-session-bar",
            width: WIDTH as u16,
            height: HEIGHT as u16,
            placement: Placement::TopDock,
        };
        let window = UiWindow::open(conn, screen, &spec).map_err(BarError)?;

        let (commands, command_rx) = mpsc::channel();
        let (event_tx, events) = tokio::sync::mpsc::unbounded_channel();
        let bar = Bar {
            window,
            fonts,
            session: session.clone(),
            pressed: None,
            shown_at: Instant::now(),
        };
        let thread = std::thread::Builder::new()
            .name("session-bar".into())
            .spawn(move || bar.run(&command_rx, &event_tx))
            .map_err(|error| BarError(format!("starting the bar's thread: {error}")))?;
        Ok(SessionBar::new(commands, events, thread))
    }
}

/// The bar's buttons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Button {
    End,
    ViewOnly,
}

struct Bar {
    window: UiWindow,
    fonts: Fonts,
    session: BarSession,
    pressed: Option<Button>,
    shown_at: Instant,
}

impl Bar {
    fn run(mut self, commands: &mpsc::Receiver<BarCommand>, events: &UnboundedSender<BarEvent>) {
        let mut dirty = true;
        loop {
            match commands.try_recv() {
                Ok(BarCommand::SetControl(control)) => {
                    self.session.control = control;
                    dirty = true;
                    continue;
                }
                Ok(BarCommand::Close) | Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {}
            }
            if dirty {
                if let Err(reason) = self.window.present(&self.draw()) {
                    events.send(BarEvent::Lost(reason)).ok();
                    return;
                }
                dirty = false;
            }
            let event = match self.window.next_event(Instant::now() + COMMAND_POLL) {
                Ok(Some(event)) => event,
                Ok(None) => continue,
                Err(reason) => {
                    events.send(BarEvent::Lost(reason)).ok();
                    return;
                }
            };
            dirty |= event == UiEvent::Expose;
            if let Some(choice) = self.handle(event) {
                tracing::info!(
                    ticket = self.session.ticket_number,
                    ?choice,
                    "session bar pressed"
                );
                events.send(choice).ok();
            }
        }
        self.window.close();
    }

    fn handle(&mut self, event: UiEvent) -> Option<BarEvent> {
        match event {
            UiEvent::Press { x, y } => {
                self.pressed = self.button_at(x, y);
                None
            }
            UiEvent::Release { x, y } => {
                let pressed = self.pressed.take()?;
                (self.button_at(x, y) == Some(pressed)).then_some(match pressed {
                    Button::End => BarEvent::End,
                    Button::ViewOnly => BarEvent::ViewOnly,
                })
            }
            _ => None,
        }
    }

    /// The button under `x`, `y`; none in the first moments after the bar appears, so a
    /// click aimed at what was there before does not end a session by accident.
    fn button_at(&self, x: i32, y: i32) -> Option<Button> {
        if self.shown_at.elapsed() < ARM_DELAY {
            return None;
        }
        let layout = bar_layout(self.session.control);
        if layout.end.contains(x, y) {
            Some(Button::End)
        } else if layout.view_only.is_some_and(|rect| rect.contains(x, y)) {
            Some(Button::ViewOnly)
        } else {
            None
        }
    }

    fn draw(&self) -> Canvas {
        let layout = bar_layout(self.session.control);
        let mut canvas = Canvas::new(WIDTH, HEIGHT, BACKGROUND);
        let mode = if self.session.control {
            "is controlling your screen"
        } else {
            "is viewing your screen"
        };
        let text = format!(
            "{} {mode} · ticket #{}: {}",
            self.session.analyst, self.session.ticket_number, self.session.ticket_title
        );
        let left_of_buttons = layout.view_only.unwrap_or(layout.end).x - 12;
        let text = elide(
            &self.fonts.regular,
            14.0,
            &text,
            (left_of_buttons - 12) as f32,
        );
        canvas.text(&self.fonts.regular, 14.0, (12, HEIGHT / 2 + 5), &text, TEXT);
        if let Some(view_only) = layout.view_only {
            canvas.fill(view_only, VIEW_ONLY);
            canvas.centred_text(&self.fonts.bold, 13.0, view_only, "View only", TEXT);
        }
        canvas.fill(layout.end, END);
        canvas.centred_text(&self.fonts.bold, 13.0, layout.end, "End", TEXT);
        canvas
    }
}
