//! Bounds on what the monitor stores and passes on, so that no script and no daemon can
//! grow its database or memory without limit: the length of one log message or status
//! value, the number of variables per client, and log lines per second per source.

use std::time::Instant;

/// Longest log message kept (bytes); longer ones are cut at a character boundary.
pub const MAX_LOG_MESSAGE: usize = 4096;
/// Longest status value kept (bytes).
pub const MAX_VALUE: usize = 1024;
/// Distinct status variables kept per client; further keys are ignored.
pub const MAX_VARIABLES: usize = 1000;
/// Distinct variables kept for a client that is itself a monitor (`<client>.<key>` of
/// all its clients): as many as two hundred clients at the cap of each.
pub const MAX_MONITOR_VARIABLES: usize = 200 * MAX_VARIABLES;
/// `log` lines a script connection may send: per second, and in one burst.
pub const SCRIPT_LOG_RATE: Rate = Rate {
    per_second: 20.0,
    burst: 100.0,
};
/// Log lines passed on from one daemon: per second, and in one burst.
pub const DAEMON_LOG_RATE: Rate = Rate {
    per_second: 20.0,
    burst: 100.0,
};

/// `text` cut to at most `max` bytes at a character boundary; whether it was cut.
pub fn truncate(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

/// A token bucket: `burst` lines at once, then `per_second` on average.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: Rate,
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    pub fn new(rate: Rate, now: Instant) -> Self {
        TokenBucket {
            rate,
            tokens: rate.burst,
            refilled: now,
        }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Full again, so it behaves exactly like a new one (and may be forgotten).
    pub fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.rate.burst
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled);
        self.refilled = now;
        let gained = elapsed.as_secs_f64() * self.rate.per_second;
        self.tokens = (self.tokens + gained).min(self.rate.burst);
    }
}

impl Rate {
    pub fn describe(&self) -> String {
        format!("{} lines/s, bursts of {}", self.per_second, self.burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("short", 10), ("short", false));
        assert_eq!(truncate("abcdef", 3), ("abc", true));
        // 'é' is two bytes: cutting inside it backs off to before it.
        assert_eq!(truncate("aé", 2), ("a", true));
    }

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let start = Instant::now();
        let rate = Rate {
            per_second: 10.0,
            burst: 5.0,
        };
        let mut bucket = TokenBucket::new(rate, start);
        assert_eq!((0..20).filter(|_| bucket.take(start)).count(), 5);
        let later = start + std::time::Duration::from_millis(250);
        assert_eq!((0..20).filter(|_| bucket.take(later)).count(), 2);
        assert!(bucket.is_full(later + std::time::Duration::from_secs(10)));
    }
}
