//! Plotted variables kept in memory between plot requests. A page redraws its plots every
//! few seconds to minutes, always over "the last N hours": reading a day at 1 Hz from
//! SQLite each time costs far more than drawing it. So each variable's numeric samples are
//! kept after the first read, and a later request reads only what is new since (plus the
//! last [`OVERLAP`], which the store's writer may have committed late).
//!
//! Bounded: at most [`BUDGET`] points in all; past that the least recently used variables
//! are dropped whole. Only the plot route uses it; history exports read the store directly.
//!
//! A range wide enough for a rollup tier to give a bucket per pixel column (over about
//! 2 hours in 800 columns) is answered from the tier instead ([`Reader::envelope`]): a
//! few thousand rows, read fresh each time and not kept.
//!
//! What is kept belongs to one database file: when the store opens a new one (the file was
//! deleted or replaced, `StoreStats::reopened`), [`SeriesCache::follow`] drops it all, so
//! plots never show points of a database that is gone.

use crate::store::{from_millis, to_millis, Reader, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Points kept in all (16 bytes each): a day at 1 Hz for 23 variables.
pub const BUDGET: usize = 2_000_000;
/// Samples newer than the end of the last read minus this are read again: the store
/// commits in batches, so a sample can land in the database after a read that covered
/// its time.
pub const OVERLAP: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Entry {
    /// The samples with `start <= t <= end` (milliseconds), oldest first; an unreadable
    /// value is NaN, text values are left out.
    start: i64,
    end: i64,
    points: Vec<(i64, f64)>,
    used: u64,
}

pub struct SeriesCache {
    budget: usize,
    limit: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<(String, String), Entry>,
    total: usize,
    clock: u64,
    /// The store's `reopened` count the entries were read under.
    generation: u64,
}

enum Plan {
    /// Everything asked for is kept already.
    Hit,
    /// Read `[from, to]` and keep it as the variable's entry.
    Full,
    /// Read `[from, to]` and put it in place of the entry's points from `from` on.
    Tail(i64, i64),
}

impl SeriesCache {
    /// A cache of at most `budget` points; a single read returns at most `limit` samples.
    pub fn new(budget: usize, limit: usize) -> SeriesCache {
        SeriesCache {
            budget,
            limit,
            inner: Mutex::default(),
        }
    }

    /// The store's database is now its `generation`th (`StoreStats::reopened`): when that
    /// changed, forget everything read from the previous one. Answers whether it did.
    pub fn follow(&self, generation: u64) -> bool {
        let mut inner = self.inner.lock().expect("series cache");
        if inner.generation == generation {
            return false;
        }
        inner.entries.clear();
        inner.total = 0;
        inner.generation = generation;
        true
    }

    /// `(unix seconds, value)` of `client.key` with `from <= t <= to`, oldest first, to be
    /// drawn `columns` pixel columns wide: every sample, or a rollup tier's min and max
    /// per bucket where its buckets are no wider than a column. Blocking (it may read the
    /// store).
    pub fn points(
        &self,
        reader: &Reader,
        client: &str,
        key: &str,
        (from, to): (SystemTime, SystemTime),
        columns: u32,
    ) -> Result<Vec<(f64, f64)>, StoreError> {
        if let Some(points) = reader.envelope(client, key, from, to, columns)? {
            return Ok(seconds(&points));
        }
        let (from_ms, to_ms) = (to_millis(from), to_millis(to));
        // What has happened can be kept; the future cannot.
        let known_until = to_ms.min(to_millis(SystemTime::now()));
        let name = (client.to_string(), key.to_string());
        let (plan, generation) = {
            let inner = self.inner.lock().expect("series cache");
            let plan = match inner.entries.get(&name) {
                Some(e) if e.start <= from_ms && e.end >= from_ms => {
                    let tail = e.start.max(e.end - OVERLAP.as_millis() as i64);
                    if to_ms < tail {
                        Plan::Hit
                    } else {
                        // Up to the entry's end at least, so nothing kept goes missing.
                        Plan::Tail(tail, to_ms.max(e.end))
                    }
                }
                _ => Plan::Full,
            };
            (plan, inner.generation)
        };
        let fresh = match plan {
            Plan::Hit => Vec::new(),
            Plan::Full => self.read(reader, client, key, from_ms, to_ms)?,
            Plan::Tail(tail, end) => self.read(reader, client, key, tail, end)?,
        };
        let truncated = fresh.len() >= self.limit;

        let mut inner = self.inner.lock().expect("series cache");
        if inner.generation != generation {
            // A new database since the plan: what was read may be the old one's; answer
            // from a fresh read, keep nothing.
            drop(inner);
            let all = match plan {
                Plan::Full => fresh,
                _ => self.read(reader, client, key, from_ms, to_ms)?,
            };
            return Ok(slice(&all, from_ms, to_ms));
        }
        inner.clock += 1;
        let clock = inner.clock;
        let answer = match plan {
            Plan::Hit | Plan::Tail(..) => {
                let tail = match plan {
                    Plan::Tail(tail, _) => tail,
                    _ => i64::MAX,
                };
                // Another request may have changed the entry since the plan was made; if it
                // no longer covers the start, read everything without keeping it.
                let Some(entry) = inner
                    .entries
                    .get_mut(&name)
                    .filter(|e| e.start <= from_ms && !truncated)
                else {
                    drop(inner);
                    let all = self.read(reader, client, key, from_ms, to_ms)?;
                    return Ok(slice(&all, from_ms, to_ms));
                };
                let before = entry.points.len();
                let keep = entry.points.partition_point(|p| p.0 < tail);
                entry.points.truncate(keep);
                entry.points.extend_from_slice(&fresh);
                entry.end = entry.end.max(known_until);
                entry.used = clock;
                let after = entry.points.len();
                let answer = slice(&entry.points, from_ms, to_ms);
                inner.total = inner.total - before + after;
                answer
            }
            Plan::Full => {
                let answer = slice(&fresh, from_ms, to_ms);
                if !truncated && fresh.len() <= self.budget {
                    let added = fresh.len();
                    let entry = Entry {
                        start: from_ms,
                        end: known_until,
                        used: clock,
                        points: fresh,
                    };
                    if let Some(old) = inner.entries.insert(name, entry) {
                        inner.total -= old.points.len();
                    }
                    inner.total += added;
                }
                answer
            }
        };
        while inner.total > self.budget {
            let Some(oldest) = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            let removed = inner.entries.remove(&oldest).expect("just found");
            inner.total -= removed.points.len();
        }
        Ok(answer)
    }

    fn read(
        &self,
        reader: &Reader,
        client: &str,
        key: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, f64)>, StoreError> {
        reader.numbers(client, key, from_millis(from), from_millis(to), self.limit)
    }

    /// Points held right now.
    pub fn len(&self) -> usize {
        self.inner.lock().expect("series cache").total
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn slice(points: &[(i64, f64)], from: i64, to: i64) -> Vec<(f64, f64)> {
    let start = points.partition_point(|p| p.0 < from);
    let end = points.partition_point(|p| p.0 <= to);
    seconds(&points[start..end.max(start)])
}

fn seconds(points: &[(i64, f64)]) -> Vec<(f64, f64)> {
    points
        .iter()
        .map(|&(t, y)| (t as f64 / 1000.0, y))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{open_reader, Store, StoreOptions, Value};
    use labwire_testkit::TempDir;
    use std::time::UNIX_EPOCH;

    fn at(ms: i64) -> SystemTime {
        from_millis(ms)
    }

    const T0: i64 = 1_767_225_600_000;

    fn store(dir: &TempDir) -> Store {
        Store::open(dir.path().join("h.sqlite"), StoreOptions::default()).unwrap()
    }

    fn add(store: &Store, key: &str, range: std::ops::Range<i64>) {
        for s in range {
            store.record_value("c", key, at(T0 + s * 1000), Value::Number(s as f64));
        }
        store.flush().unwrap();
    }

    #[test]
    fn later_requests_read_only_what_is_new() {
        let dir = TempDir::new("series-cache");
        let store = store(&dir);
        add(&store, "x", 0..100);
        store.record_value("c", "x", at(T0 + 100_500), Value::Missing);
        store.record_value("c", "x", at(T0 + 100_700), Value::Text("n/a".into()));
        store.flush().unwrap();
        let reader = open_reader(store.path()).unwrap();
        let cache = SeriesCache::new(1000, 10_000);
        let first = cache
            .points(&reader, "c", "x", (at(T0), at(T0 + 200_000)), 800)
            .unwrap();
        assert_eq!(first.len(), 101, "numbers and the gap, not the text");
        assert!(first[100].1.is_nan());
        assert_eq!(first[0], (T0 as f64 / 1000.0, 0.0));

        // New samples after the first read, one of them inside the overlap window.
        add(&store, "x", 150..160);
        let part = cache
            .points(&reader, "c", "x", (at(T0 + 50_000), at(T0 + 200_000)), 800)
            .unwrap();
        assert_eq!(part.len(), 50 + 1 + 10);
        assert_eq!(part[0].1, 50.0);
        assert_eq!(part.last().unwrap().1, 159.0);
        assert_eq!(cache.len(), 111);

        // A range that starts before the kept one reads everything again.
        let earlier = cache
            .points(&reader, "c", "x", (at(T0 - 10_000), at(T0 + 5_000)), 800)
            .unwrap();
        assert_eq!(earlier.len(), 6);
    }

    #[test]
    fn the_budget_drops_the_least_recently_used() {
        let dir = TempDir::new("series-budget");
        let store = store(&dir);
        add(&store, "a", 0..40);
        add(&store, "b", 0..40);
        add(&store, "c", 0..40);
        let reader = open_reader(store.path()).unwrap();
        let cache = SeriesCache::new(100, 10_000);
        let range = (
            at(T0),
            UNIX_EPOCH + Duration::from_millis(T0 as u64 + 60_000),
        );
        for key in ["a", "b", "a", "c"] {
            let points = cache
                .points(&reader, "c", key, (range.0, range.1), 800)
                .unwrap();
            assert_eq!(points.len(), 40, "{key}");
        }
        assert_eq!(cache.len(), 80, "b went, a and c stay");
        let inner = cache.inner.lock().unwrap();
        assert!(inner.entries.contains_key(&("c".into(), "a".into())));
        assert!(!inner.entries.contains_key(&("c".into(), "b".into())));
    }

    /// The store reopened its database (the file was deleted): the points kept from the
    /// old one must go, or plots would keep drawing them.
    #[test]
    fn a_new_database_clears_the_cache() {
        let dir = TempDir::new("series-reopened");
        let store = store(&dir);
        add(&store, "x", 0..30);
        let reader = open_reader(store.path()).unwrap();
        let cache = SeriesCache::new(1000, 10_000);
        let range = (at(T0), at(T0 + 60_000));
        assert_eq!(
            cache
                .points(&reader, "c", "x", (range.0, range.1), 800)
                .unwrap()
                .len(),
            30
        );
        assert_eq!(cache.len(), 30);
        assert!(!cache.follow(0), "same database, nothing dropped");
        assert_eq!(cache.len(), 30);
        assert!(cache.follow(1));
        assert!(cache.is_empty());
        assert!(!cache.follow(1));
        // Kept again under the new generation.
        cache
            .points(&reader, "c", "x", (range.0, range.1), 800)
            .unwrap();
        assert_eq!(cache.len(), 30);
    }
}
