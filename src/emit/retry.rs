//! Exponential backoff without jitter (deterministic; there are few
//! Alertmanagers and one Epicenter per partition, so no thundering herd).
//!
//! Never does: sleep; the caller sleeps for what [`Backoff::next`] returns.

use std::time::Duration;

/// Delays `initial, 2·initial, 4·initial, …` capped at `max`.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            next: initial,
            max: max.max(initial),
        }
    }

    /// The delay before the next attempt.
    pub(crate) fn next(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let delays: Vec<u128> = (0..4).map(|_| b.next().as_millis()).collect();
        assert_eq!(delays, [100, 200, 350, 350]);
    }
}
