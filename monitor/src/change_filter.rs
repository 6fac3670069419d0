//! Which polled values are worth storing in the history: pure bookkeeping beside the
//! poller, no I/O.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::store::Value;

/// Which of one client's polled values are worth storing: a value is stored when it
/// differs from the last stored one, and at least every `store_interval` when it does not.
/// Pure bookkeeping, no I/O; each client has its own (so the polls of different clients
/// never wait for one lock, and a lookup touches only that client's memory).
#[derive(Debug, Clone)]
pub struct ChangeFilter {
    pub store_interval: Duration,
    last: HashMap<String, (Value, SystemTime)>,
}

impl ChangeFilter {
    pub fn new(store_interval: Duration) -> Self {
        ChangeFilter {
            store_interval,
            last: HashMap::new(),
        }
    }

    /// Decide for one polled value, and remember it when the answer is yes. A clock that
    /// went backwards counts as "due", so a clock step cannot silence a variable.
    pub fn should_store(&mut self, key: &str, value: &Value, now: SystemTime) -> bool {
        match self.last.get_mut(key) {
            Some((last_value, last_time)) => {
                let due = now
                    .duration_since(*last_time)
                    .map_or(true, |age| age >= self.store_interval);
                if due || last_value != value {
                    *last_value = value.clone();
                    *last_time = now;
                    true
                } else {
                    false
                }
            }
            None => {
                self.last.insert(key.to_owned(), (value.clone(), now));
                true
            }
        }
    }

    /// Forget everything (the client disconnected), so its first values after a
    /// reconnect are stored.
    pub fn forget(&mut self) {
        self.last.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> SystemTime {
        labwire_time::from_millis(1_700_000_000_000 + ms)
    }

    #[test]
    fn change_filter_stores_changes_and_a_heartbeat() {
        let mut filter = ChangeFilter::new(Duration::from_secs(60));
        let v = |x: f64| Value::Number(x);
        assert!(filter.should_store("v", &v(1.0), at(0)));
        assert!(!filter.should_store("v", &v(1.0), at(1_000)));
        assert!(!filter.should_store("v", &v(1.0), at(59_999)));
        assert!(filter.should_store("v", &v(1.0), at(60_000)));
        assert!(!filter.should_store("v", &v(1.0), at(60_001)));
        assert!(filter.should_store("v", &v(1.5), at(61_000)));
        // The interval counts from the last stored value, the change at 61 s.
        assert!(!filter.should_store("v", &v(1.5), at(120_000)));
        assert!(filter.should_store("v", &v(1.5), at(121_000)));
        assert!(filter.should_store("v", &Value::Missing, at(121_500)));
        assert!(!filter.should_store("v", &Value::Missing, at(122_000)));
        assert!(filter.should_store("v", &Value::Text("CV".into()), at(122_500)));
    }

    #[test]
    fn change_filter_keeps_variables_apart_and_forgets() {
        let mut filter = ChangeFilter::new(Duration::from_secs(60));
        let one = Value::Number(1.0);
        assert!(filter.should_store("a", &one, at(0)));
        assert!(filter.should_store("b", &one, at(0)));
        assert!(!filter.should_store("a", &one, at(10)));
        filter.forget();
        assert!(filter.should_store("a", &one, at(20)));
        assert!(!filter.should_store("a", &one, at(30)));
        // A clock stepping back must not silence a variable.
        assert!(filter.should_store("a", &one, at(-5_000)));
    }
}
