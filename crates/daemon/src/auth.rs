//! Token checks and the brake on guessing: every wrong token is answered late, later
//! the more a connection has guessed, and wrong tokens server-wide are spaced out, so
//! neither one connection nor many can try tokens quickly. Only the guessing connection
//! waits; others are served meanwhile.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Wrong tokens a connection may try before each further one is slowed.
const FREE_FAILURES: u32 = 3;
/// Added to the delay for each wrong token past the free ones.
const STEP: Duration = Duration::from_millis(250);
const MAX_CONNECTION_DELAY: Duration = Duration::from_secs(5);
/// Wrong tokens, from all connections together, answered at most one per this.
const SERVER_SPACING: Duration = Duration::from_millis(20);

/// Compare secrets in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The server-wide queue of wrong-token answers.
#[derive(Debug)]
pub struct AuthThrottle {
    next_answer: Mutex<Instant>,
}

impl Default for AuthThrottle {
    fn default() -> Self {
        AuthThrottle {
            next_answer: Mutex::new(Instant::now()),
        }
    }
}

impl AuthThrottle {
    /// When to answer a connection's `failures`-th wrong token (counted from 1).
    pub fn answer_at(&self, failures: u32) -> Instant {
        let now = Instant::now();
        let own = STEP
            .saturating_mul(failures.saturating_sub(FREE_FAILURES))
            .min(MAX_CONNECTION_DELAY);
        let mut next = self.next_answer.lock().expect("auth throttle lock");
        let slot = (*next).max(now);
        *next = slot + SERVER_SPACING;
        slot.max(now + own)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn guesses_from_many_connections_queue_one_after_the_other() {
        let start = Instant::now();
        let throttle = AuthThrottle::default();
        let firsts: Vec<_> = (0..50).map(|_| throttle.answer_at(1)).collect();
        assert!(firsts[49] >= start + SERVER_SPACING * 49);
    }

    #[test]
    fn one_connection_waits_longer_for_each_guess_past_the_free_ones() {
        let throttle = AuthThrottle::default();
        for failures in 1..=FREE_FAILURES + 5 {
            let before = Instant::now();
            let own = STEP * failures.saturating_sub(FREE_FAILURES);
            assert!(throttle.answer_at(failures) >= before + own);
        }
    }
}
