//! How often one analyst may put a session prompt in front of the caller: a prompt that
//! comes back each time it is denied is a way to wear a caller down until they click Allow,
//! so past [`MAX_PROMPTS`] in [`WINDOW_MS`] the request is refused without a prompt.

use std::collections::HashMap;

/// Requests one analyst may make in a window.
pub(crate) const MAX_PROMPTS: usize = 3;
/// The window, in milliseconds.
pub(crate) const WINDOW_MS: i64 = 60_000;
/// Most analysts tracked at once; the oldest windows are dropped first past it.
const MAX_ANALYSTS: usize = 256;

/// The times of each analyst's recent requests.
#[derive(Debug, Default)]
pub(crate) struct PromptLimit {
    recent: HashMap<String, Vec<i64>>,
}

impl PromptLimit {
    /// Counts a request by `analyst` at `now_ms`, or says why it is refused.
    pub(crate) fn admit(&mut self, analyst: &str, now_ms: i64) -> Result<(), String> {
        self.recent.retain(|_, times| {
            times.retain(|at| now_ms - *at < WINDOW_MS);
            !times.is_empty()
        });
        if self.recent.len() >= MAX_ANALYSTS && !self.recent.contains_key(analyst) {
            return Err("too many analysts are asking for sessions on this device".to_owned());
        }
        let times = self.recent.entry(analyst.to_owned()).or_default();
        if times.len() >= MAX_PROMPTS {
            return Err(format!(
                "{analyst} asked for {MAX_PROMPTS} sessions in the last minute; the caller is \
                 not asked again until a minute has passed"
            ));
        }
        times.push(now_ms);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fourth_request_in_a_minute_is_refused_and_allowed_again_later() {
        let mut limit = PromptLimit::default();
        let now = 1_000_000;
        for i in 0..MAX_PROMPTS as i64 {
            assert_eq!(limit.admit("Sam", now + i), Ok(()));
        }
        let refused = limit.admit("Sam", now + 10).unwrap_err();
        assert!(refused.contains("last minute"), "{refused}");
        assert_eq!(limit.admit("Dana", now + 10), Ok(()), "another analyst");
        assert_eq!(limit.admit("Sam", now + WINDOW_MS), Ok(()));
    }
}
