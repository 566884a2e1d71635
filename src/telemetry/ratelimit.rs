//! A log rate limiter: repeated warnings are logged at most once per interval
//! per call site, and the number suppressed is reported with the next one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Rate limiter state for one call site. Cheap to check; lock-free.
#[derive(Debug)]
pub struct RateLimit {
    interval: Duration,
    /// Milliseconds since `origin` of the last emitted log, plus one (0 = never).
    last: AtomicU64,
    suppressed: AtomicU64,
    origin: std::sync::OnceLock<Instant>,
}

impl RateLimit {
    /// A limiter that lets one log through per `interval`.
    pub const fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            origin: std::sync::OnceLock::new(),
        }
    }

    /// Returns `Some(suppressed_since_last)` when this call may log.
    pub fn check(&self) -> Option<u64> {
        let origin = *self.origin.get_or_init(Instant::now);
        let now = Instant::now().saturating_duration_since(origin).as_millis() as u64 + 1;
        let last = self.last.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < self.interval.as_millis() as u64 {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if self
            .last
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(self.suppressed.swap(0, Ordering::Relaxed))
    }
}

/// Logs at most once per 10 s per call site; adds a `suppressed` field.
///
/// ```ignore
/// rate_limited!(warn, source = "kafka", %error, "record sent to the dead-letter topic");
/// ```
#[macro_export]
macro_rules! rate_limited {
    ($level:ident, $($arg:tt)+) => {{
        static LIMIT: $crate::telemetry::ratelimit::RateLimit =
            $crate::telemetry::ratelimit::RateLimit::new(::std::time::Duration::from_secs(10));
        if let Some(suppressed) = LIMIT.check() {
            ::tracing::$level!(suppressed, $($arg)+);
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_call_within_interval_is_suppressed_and_counted() {
        let limit = RateLimit::new(Duration::from_secs(3600));
        assert_eq!(limit.check(), Some(0));
        assert_eq!(limit.check(), None);
        assert_eq!(limit.check(), None);
        assert_eq!(limit.suppressed.load(Ordering::Relaxed), 2);
    }
}
