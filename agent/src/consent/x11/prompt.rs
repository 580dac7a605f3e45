//! The consent prompt's rules and looks, apart from X: which click or key answers what, when
//! Allow is armed, and how the window is drawn.
//!
//! Two rules keep an answer from being given by accident. Focus starts on Deny and Enter
//! presses the focused button (once armed), so a caller typing into another window when the
//! prompt pops up cannot allow. Allow is disarmed until the window has been fully visible for
//! [`ARM_DELAY`], so a click aimed at something else, or a window that covered the prompt and
//! vanished just before a click, cannot land on it either.

use std::time::{Duration, Instant};

use super::canvas::{Canvas, Fonts, Rect, Rgb, elide, wrap};
use super::window::{UiEvent, keysym};
use crate::consent::ConsentRequest;

/// How long the prompt must have been fully visible before Allow takes a click or a key.
pub const ARM_DELAY: Duration = Duration::from_millis(700);

/// The prompt window's title, which tests and support staff search for.
pub const PROMPT_TITLE: &str = "Hotline: remote support request";

const WIDTH: i32 = 520;
const HEIGHT: i32 = 270;
const PADDING: i32 = 24;
const BUTTON_WIDTH: i32 = 112;
const BUTTON_HEIGHT: i32 = 38;

const BACKGROUND: Rgb = Rgb(250, 250, 250);
const INK: Rgb = Rgb(36, 31, 49);
const MUTED: Rgb = Rgb(94, 92, 100);
const ALLOW: Rgb = Rgb(26, 95, 180);
const ALLOW_DISARMED: Rgb = Rgb(168, 193, 232);
const DENY: Rgb = Rgb(222, 221, 218);
const FOCUS: Rgb = Rgb(53, 132, 228);

/// Where the prompt's parts are, in window pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptLayout {
    pub width: i32,
    pub height: i32,
    pub allow: Rect,
    pub deny: Rect,
}

/// The prompt's layout; it does not depend on the request (long text wraps, then elides).
pub fn prompt_layout() -> PromptLayout {
    let y = HEIGHT - PADDING - BUTTON_HEIGHT;
    let allow = Rect::new(
        WIDTH - PADDING - BUTTON_WIDTH,
        y,
        BUTTON_WIDTH,
        BUTTON_HEIGHT,
    );
    let deny = Rect::new(allow.x - 12 - BUTTON_WIDTH, y, BUTTON_WIDTH, BUTTON_HEIGHT);
    PromptLayout {
        width: WIDTH,
        height: HEIGHT,
        allow,
        deny,
    }
}

/// One of the two answers a caller can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    Allow,
    Deny,
}

/// The prompt's state between events.
#[derive(Debug)]
pub(crate) struct PromptState {
    layout: PromptLayout,
    /// Since when the window has been fully visible; `None` while it is not.
    visible_since: Option<Instant>,
    focus: Choice,
    /// The button the primary button went down on, if it was live then.
    pressed: Option<Choice>,
}

impl PromptState {
    pub(crate) fn new() -> PromptState {
        PromptState {
            layout: prompt_layout(),
            visible_since: None,
            focus: Choice::Deny,
            pressed: None,
        }
    }

    /// Whether Allow takes clicks and keys at `now`.
    pub(crate) fn armed(&self, now: Instant) -> bool {
        self.visible_since
            .is_some_and(|since| now.duration_since(since) >= ARM_DELAY)
    }

    /// When Allow arms, if it is waiting to.
    pub(crate) fn arms_at(&self) -> Option<Instant> {
        self.visible_since.map(|since| since + ARM_DELAY)
    }

    /// Handles one event; returns the caller's answer once there is one.
    pub(crate) fn handle(&mut self, event: UiEvent, now: Instant) -> Option<Choice> {
        match event {
            UiEvent::Visible(true) => {
                self.visible_since.get_or_insert(now);
                None
            }
            UiEvent::Visible(false) => {
                self.visible_since = None;
                self.pressed = None;
                None
            }
            UiEvent::Press { x, y } => {
                self.pressed = self.live_button(x, y, now);
                None
            }
            UiEvent::Release { x, y } => {
                let pressed = self.pressed.take()?;
                (self.live_button(x, y, now) == Some(pressed)).then_some(pressed)
            }
            UiEvent::Key { keysym } => self.key(keysym, now),
            UiEvent::Close => Some(Choice::Deny),
            UiEvent::Expose => None,
        }
    }

    fn key(&mut self, keysym: u32, now: Instant) -> Option<Choice> {
        match keysym {
            keysym::ESCAPE => Some(Choice::Deny),
            keysym::TAB | keysym::ISO_LEFT_TAB | keysym::LEFT | keysym::RIGHT => {
                self.focus = match self.focus {
                    Choice::Allow => Choice::Deny,
                    Choice::Deny => Choice::Allow,
                };
                None
            }
            // Enter and Space wait for arming whichever button has the focus: keys typed for
            // another window as the prompt appears should not answer it either way.
            keysym::RETURN | keysym::KP_ENTER | keysym::SPACE => {
                self.armed(now).then_some(self.focus)
            }
            _ => None,
        }
    }

    /// The button under `x`, `y` if it takes a click at `now`.
    fn live_button(&self, x: i32, y: i32, now: Instant) -> Option<Choice> {
        if self.layout.deny.contains(x, y) {
            Some(Choice::Deny)
        } else if self.layout.allow.contains(x, y) && self.armed(now) {
            Some(Choice::Allow)
        } else {
            None
        }
    }

    /// Draws the whole prompt as it is at `now`, with `left` until the timeout.
    pub(crate) fn draw(
        &self,
        fonts: &Fonts,
        request: &ConsentRequest,
        left: Duration,
        now: Instant,
    ) -> Canvas {
        let mut canvas = Canvas::new(WIDTH, HEIGHT, BACKGROUND);
        let text_width = (WIDTH - 2 * PADDING) as f32;
        let mut baseline = PADDING + 20;

        canvas.text(
            &fonts.bold,
            20.0,
            (PADDING, baseline),
            "Remote support request",
            INK,
        );
        baseline += 34;
        let asks = format!("{} from the help desk asks to", request.analyst);
        let asks = elide(&fonts.regular, 15.0, &asks, text_width);
        canvas.text(&fonts.regular, 15.0, (PADDING, baseline), &asks, INK);
        baseline += 26;
        for line in wrap(&fonts.bold, 17.0, &request.what, text_width, 2) {
            canvas.text(&fonts.bold, 17.0, (PADDING, baseline), &line, INK);
            baseline += 24;
        }
        baseline += 8;
        let ticket = format!(
            "Ticket #{}: {}",
            request.ticket_number, request.ticket_title
        );
        for line in wrap(&fonts.regular, 15.0, &ticket, text_width, 2) {
            canvas.text(&fonts.regular, 15.0, (PADDING, baseline), &line, MUTED);
            baseline += 21;
        }

        let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        let countdown = format!("Denied in {seconds} s");
        let buttons_y = self.layout.allow.y;
        canvas.text(
            &fonts.regular,
            13.0,
            (PADDING, buttons_y + 24),
            &countdown,
            MUTED,
        );
        self.draw_buttons(&mut canvas, fonts, now);
        canvas
    }

    fn draw_buttons(&self, canvas: &mut Canvas, fonts: &Fonts, now: Instant) {
        let PromptLayout { allow, deny, .. } = self.layout;
        canvas.fill(deny, DENY);
        canvas.centred_text(&fonts.bold, 15.0, deny, "Deny", INK);
        let armed = self.armed(now);
        canvas.fill(allow, if armed { ALLOW } else { ALLOW_DISARMED });
        canvas.centred_text(&fonts.bold, 15.0, allow, "Allow", Rgb(255, 255, 255));
        let focused = match self.focus {
            Choice::Allow => allow,
            Choice::Deny => deny,
        };
        canvas.frame(focused, 3, FOCUS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visible_state(at: Instant) -> PromptState {
        let mut state = PromptState::new();
        state.handle(UiEvent::Visible(true), at);
        state
    }

    fn click(state: &mut PromptState, rect: Rect, at: Instant) -> Option<Choice> {
        let (x, y) = rect.centre();
        state.handle(UiEvent::Press { x, y }, at);
        state.handle(UiEvent::Release { x, y }, at)
    }

    #[test]
    fn allow_is_disarmed_until_the_window_has_been_visible_a_while() {
        let start = Instant::now();
        let mut state = visible_state(start);
        let allow = prompt_layout().allow;
        assert_eq!(
            click(&mut state, allow, start + Duration::from_millis(100)),
            None
        );
        assert_eq!(
            click(&mut state, allow, start + ARM_DELAY),
            Some(Choice::Allow)
        );
    }

    #[test]
    fn being_covered_disarms_allow_again() {
        let start = Instant::now();
        let mut state = visible_state(start);
        let later = start + ARM_DELAY * 2;
        state.handle(UiEvent::Visible(false), later);
        state.handle(UiEvent::Visible(true), later);
        let allow = prompt_layout().allow;
        assert_eq!(
            click(&mut state, allow, later + Duration::from_millis(10)),
            None
        );
    }

    #[test]
    fn deny_works_at_once() {
        let start = Instant::now();
        let mut state = PromptState::new();
        assert_eq!(
            click(&mut state, prompt_layout().deny, start),
            Some(Choice::Deny)
        );
    }

    #[test]
    fn enter_presses_deny_unless_the_caller_moved_the_focus() {
        let start = Instant::now();
        let later = start + ARM_DELAY;
        let mut state = visible_state(start);
        let enter = UiEvent::Key {
            keysym: keysym::RETURN,
        };
        assert_eq!(state.handle(enter, later), Some(Choice::Deny));

        let mut state = visible_state(start);
        state.handle(
            UiEvent::Key {
                keysym: keysym::TAB,
            },
            later,
        );
        assert_eq!(state.handle(enter, start), None, "Allow not armed yet");
        assert_eq!(state.handle(enter, later), Some(Choice::Allow));
    }

    #[test]
    fn escape_and_closing_deny() {
        let now = Instant::now();
        let mut state = visible_state(now);
        let escape = UiEvent::Key {
            keysym: keysym::ESCAPE,
        };
        assert_eq!(state.handle(escape, now), Some(Choice::Deny));
        assert_eq!(state.handle(UiEvent::Close, now), Some(Choice::Deny));
    }

    #[test]
    fn a_press_on_deny_released_on_allow_is_nothing() {
        let start = Instant::now();
        let later = start + ARM_DELAY;
        let mut state = visible_state(start);
        let (dx, dy) = prompt_layout().deny.centre();
        let (ax, ay) = prompt_layout().allow.centre();
        state.handle(UiEvent::Press { x: dx, y: dy }, later);
        assert_eq!(state.handle(UiEvent::Release { x: ax, y: ay }, later), None);
    }
}
