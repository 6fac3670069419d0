//! Making room when the server is full. Every open connection has an [`Entry`] saying
//! when it last sent a request and whether it may be closed for a newcomer; when every
//! slot is taken, the connection idle the longest is told to go.
//!
//! "Idle" is: no request for the longest time, at least `evict_idle_after`. Never closed
//! for room: a connection that authenticated with the server's token, one with a live
//! subscription (it receives events: it is in use without sending anything), and one
//! whose request is still being answered.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
pub struct Registry {
    epoch: Instant,
    next_id: AtomicU64,
    entries: Mutex<HashMap<u64, Arc<Entry>>>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
        }
    }
}

/// One open connection, as the registry sees it.
#[derive(Debug)]
pub struct Entry {
    epoch: Instant,
    /// Milliseconds after the registry's epoch.
    last_request_ms: AtomicU64,
    pub token_holder: AtomicBool,
    pub subscribed: AtomicBool,
    pub busy: AtomicBool,
    /// Cancelled when the connection is to make room.
    pub evicted: CancellationToken,
}

impl Entry {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    pub fn touch(&self) {
        self.last_request_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let since = self.last_request_ms.load(Ordering::Relaxed);
        Duration::from_millis(self.now_ms().saturating_sub(since))
    }

    fn may_go(&self) -> bool {
        !self.token_holder.load(Ordering::Relaxed)
            && !self.subscribed.load(Ordering::Relaxed)
            && !self.busy.load(Ordering::Relaxed)
            && !self.evicted.is_cancelled()
    }
}

/// A connection's place in the registry; leaving it (drop) removes the entry.
pub struct Membership {
    registry: Arc<Registry>,
    id: u64,
    pub entry: Arc<Entry>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.registry
            .entries
            .lock()
            .expect("registry lock")
            .remove(&self.id);
    }
}

impl Registry {
    pub fn join(self: &Arc<Self>) -> Membership {
        let entry = Arc::new(Entry {
            epoch: self.epoch,
            last_request_ms: AtomicU64::new(0),
            token_holder: AtomicBool::new(false),
            subscribed: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            evicted: CancellationToken::new(),
        });
        entry.touch();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.entries
            .lock()
            .expect("registry lock")
            .insert(id, entry.clone());
        Membership {
            registry: self.clone(),
            id,
            entry,
        }
    }

    /// Tell the connection idle the longest (at least `min_idle`) to close; returns how
    /// long it was idle, or `None` when no connection may go.
    pub fn evict_longest_idle(&self, min_idle: Duration) -> Option<Duration> {
        let entries = self.entries.lock().expect("registry lock");
        let (entry, idle) = entries
            .values()
            .filter(|e| e.may_go())
            .map(|e| (e, e.idle()))
            .filter(|(_, idle)| *idle >= min_idle)
            .max_by_key(|(_, idle)| *idle)?;
        entry.evicted.cancel();
        Some(idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_idle_that_may_go_is_chosen_once() {
        let registry = Arc::new(Registry::default());
        let old = registry.join();
        let held = registry.join();
        held.entry.token_holder.store(true, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(5));
        let fresh = registry.join();
        assert!(registry
            .evict_longest_idle(Duration::from_secs(60))
            .is_none());
        assert!(registry.evict_longest_idle(Duration::ZERO).is_some());
        assert!(old.entry.evicted.is_cancelled());
        assert!(!held.entry.evicted.is_cancelled());
        assert!(registry.evict_longest_idle(Duration::ZERO).is_some());
        assert!(fresh.entry.evicted.is_cancelled());
        assert!(registry.evict_longest_idle(Duration::ZERO).is_none());
        drop(old);
        assert_eq!(registry.entries.lock().unwrap().len(), 2);
    }
}
