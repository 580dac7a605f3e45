//! Jittered exponential backoff for reconnecting.

use std::time::Duration;

/// Reconnect delays that double from `initial` up to `max`, each drawn between half and all
/// of the current step so that a fleet that lost its console at the same moment does not
/// come back at the same moment.
#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            attempt: 0,
        }
    }

    /// The delay before the next attempt. `jitter` is a random number in `[0, 1)` supplied by
    /// the caller; values outside are clamped.
    pub fn next_delay(&mut self, jitter: f64) -> Duration {
        let step = self
            .initial
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        step.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }

    /// Starts again from `initial`, after a connection that worked.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_and_stop_at_the_cap() {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let steps: Vec<u128> = (0..10)
            .map(|_| backoff.next_delay(1.0).as_millis())
            .collect();
        assert_eq!(
            steps,
            [
                500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000
            ]
        );
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_step() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        for _ in 0..40 {
            let low = backoff.clone().next_delay(0.0);
            let high = backoff.next_delay(1.0);
            assert!(high <= Duration::from_secs(30));
            assert_eq!(low * 2, high);
        }
    }

    #[test]
    fn reset_starts_over() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        for _ in 0..8 {
            backoff.next_delay(1.0);
        }
        backoff.reset();
        assert_eq!(backoff.next_delay(1.0), Duration::from_secs(1));
    }
}
