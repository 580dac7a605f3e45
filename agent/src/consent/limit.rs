//! Limits on prompting: one prompt on a device at a time, and a few per analyst per minute.
//!
//! A prompt interrupts the caller, and a flood of them is a way to wear a caller down until
//! they click Allow to make it stop; so an analyst (or a stolen analyst account) gets a small
//! budget, and a request over it is refused without showing anything.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{ConsentAnswer, ConsentPrompt, ConsentRequest, PromptTarget};

/// The window the per-analyst budget counts in.
const WINDOW: Duration = Duration::from_secs(60);

/// Wraps a prompt with the limits. The default budget is 3 prompts per analyst per minute.
// FIXME: analysts are told apart by the display name in the request, as that is all it
// carries; the console's analyst id would be sounder once the request envelope has it.
#[derive(Debug)]
pub struct Limited<P> {
    inner: P,
    per_minute: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    open: bool,
    /// When each analyst's recent prompts were shown, oldest first.
    shown: HashMap<String, VecDeque<Instant>>,
}

impl<P: ConsentPrompt> Limited<P> {
    pub fn new(inner: P) -> Limited<P> {
        Limited::with_budget(inner, 3)
    }

    /// Allows `per_minute` prompts per analyst in any minute.
    pub fn with_budget(inner: P, per_minute: usize) -> Limited<P> {
        Limited {
            inner,
            per_minute,
            state: Mutex::new(State::default()),
        }
    }

    /// Takes a slot for `analyst` at `now`, or says why not.
    fn admit(&self, analyst: &str, now: Instant) -> Result<(), String> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if state.open {
            return Err("another consent prompt is already open on this device".into());
        }
        let shown = state.shown.entry(analyst.to_owned()).or_default();
        while shown
            .front()
            .is_some_and(|at| now.duration_since(*at) >= WINDOW)
        {
            shown.pop_front();
        }
        if shown.len() >= self.per_minute {
            return Err(format!(
                "too many consent prompts from {analyst}: {} in the last minute",
                shown.len()
            ));
        }
        shown.push_back(now);
        state.open = true;
        Ok(())
    }

    fn release(&self) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        state.open = false;
    }
}

/// The device's one prompt slot, taken by `admit` and given back on drop.
struct OpenSlot<'a, P: ConsentPrompt>(&'a Limited<P>);

impl<P: ConsentPrompt> Drop for OpenSlot<'_, P> {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl<P: ConsentPrompt> ConsentPrompt for Limited<P> {
    fn ask(&self, target: &PromptTarget, request: &ConsentRequest) -> ConsentAnswer {
        if let Err(reason) = self.admit(&request.analyst, Instant::now()) {
            tracing::debug!(analyst = %request.analyst, %reason, "consent prompt refused");
            return ConsentAnswer::CannotShow(reason);
        }
        // Released on the way out even if the prompt panics, so one failure does not block
        // every later prompt.
        let _open = OpenSlot(self);
        self.inner.ask(target, request)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Answers Deny after `delay`, counting how often it was shown.
    #[derive(Debug, Default)]
    struct Counting {
        shown: AtomicUsize,
        delay: Duration,
    }

    impl ConsentPrompt for Counting {
        fn ask(&self, _target: &PromptTarget, _request: &ConsentRequest) -> ConsentAnswer {
            self.shown.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(self.delay);
            ConsentAnswer::Deny
        }
    }

    impl ConsentPrompt for Arc<Counting> {
        fn ask(&self, target: &PromptTarget, request: &ConsentRequest) -> ConsentAnswer {
            self.as_ref().ask(target, request)
        }
    }

    fn target() -> PromptTarget {
        PromptTarget {
            user: "alice".into(),
            display: ":0".into(),
        }
    }

    fn request(analyst: &str) -> ConsentRequest {
        ConsentRequest {
            analyst: analyst.into(),
            ticket_number: 7,
            ticket_title: "printer".into(),
            what: "view your screen".into(),
            timeout: Duration::from_secs(30),
        }
    }

    #[test]
    fn an_analyst_over_the_budget_is_refused_without_a_prompt() {
        let inner = Arc::new(Counting::default());
        let limited = Limited::with_budget(inner.clone(), 2);
        assert_eq!(limited.ask(&target(), &request("sam")), ConsentAnswer::Deny);
        assert_eq!(limited.ask(&target(), &request("sam")), ConsentAnswer::Deny);
        match limited.ask(&target(), &request("sam")) {
            ConsentAnswer::CannotShow(reason) => assert!(reason.contains("sam"), "{reason}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(inner.shown.load(Ordering::SeqCst), 2);

        // Another analyst has a budget of their own.
        assert_eq!(limited.ask(&target(), &request("kim")), ConsentAnswer::Deny);
    }

    #[test]
    fn the_budget_refills_after_a_minute() {
        let limited = Limited::with_budget(Counting::default(), 1);
        let start = Instant::now();
        assert_eq!(limited.admit("sam", start), Ok(()));
        limited.release();
        assert!(
            limited
                .admit("sam", start + Duration::from_secs(59))
                .is_err()
        );
        assert_eq!(limited.admit("sam", start + WINDOW), Ok(()));
    }

    #[test]
    fn one_prompt_at_a_time() {
        let inner = Arc::new(Counting {
            shown: AtomicUsize::new(0),
            delay: Duration::from_millis(500),
        });
        let limited = Arc::new(Limited::new(inner.clone()));
        let first = {
            let limited = limited.clone();
            std::thread::spawn(move || limited.ask(&target(), &request("sam")))
        };
        while inner.shown.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        match limited.ask(&target(), &request("kim")) {
            ConsentAnswer::CannotShow(reason) => assert!(reason.contains("already open")),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(first.join().expect("first prompt"), ConsentAnswer::Deny);
        assert_eq!(limited.ask(&target(), &request("kim")), ConsentAnswer::Deny);
    }
}
