//! Rollup tiers: per variable, the min / max / mean / count of its numeric samples per
//! ten seconds, minute, ten minutes and hour, kept as the samples arrive (RRD-style), so
//! that a plot of a year reads 8,760 rows instead of 31 million, and no plot of any range
//! reads more than about ten rows per pixel column (the 10 s tier covers the ranges just
//! too short for minutes, where raw samples would be 60 per column).
//!
//! The writer holds each variable's open bucket of every tier in memory ([`OpenBuckets`])
//! and writes a bucket once, when a later sample of that variable falls past its end; a
//! sample older than the open bucket (late) is merged into the stored row. Nothing reads
//! raw rows back in batches: when the writer first meets a variable (at start, or after a
//! failed batch), it rebuilds that variable's open buckets from the raw samples after its
//! last stored bucket ([`resume_from`]), which is at most one bucket's worth of samples,
//! so a restart or a crash loses nothing and counts nothing twice.
//!
//! Text samples are not rolled up; an unreadable one is counted in `missing`.

/// One rollup tier: its table and its bucket width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    /// As in the configuration (`rollup_<name>_days`) and the table (`rollup_<name>`).
    pub name: &'static str,
    pub table: &'static str,
    pub width_ms: i64,
}

/// The tiers, finest first; every width divides the next.
pub const TIERS: [Tier; 4] = [
    Tier {
        name: "10s",
        table: "rollup_10s",
        width_ms: 10_000,
    },
    Tier {
        name: "1m",
        table: "rollup_1m",
        width_ms: 60_000,
    },
    Tier {
        name: "10m",
        table: "rollup_10m",
        width_ms: 600_000,
    },
    Tier {
        name: "1h",
        table: "rollup_1h",
        width_ms: 3_600_000,
    },
];

/// The start of the bucket of `width` that holds `t` (both milliseconds).
pub fn bucket_start(t: i64, width: i64) -> i64 {
    t.div_euclid(width) * width
}

/// What a bucket (or one raw sample, or one history step) holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Its start (ms); for one raw sample, the sample's time.
    pub start: i64,
    /// Numeric samples.
    pub count: u64,
    /// Samples that could not be read.
    pub missing: u64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
}

impl Bucket {
    pub fn empty(start: i64) -> Bucket {
        Bucket {
            start,
            count: 0,
            missing: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
        }
    }

    /// One sample: `Some` number, or `None` for an unreadable value.
    pub fn sample(t: i64, value: Option<f64>) -> Bucket {
        let mut bucket = Bucket::empty(t);
        bucket.add(value);
        bucket
    }

    pub fn add(&mut self, value: Option<f64>) {
        match value {
            // A stored infinity or NaN cannot come from the wire; keep the sums finite.
            Some(x) if x.is_finite() => {
                self.count += 1;
                self.min = self.min.min(x);
                self.max = self.max.max(x);
                self.sum += x;
            }
            _ => self.missing += 1,
        }
    }

    /// Fold another bucket (or sample) into this one.
    pub fn merge(&mut self, other: &Bucket) {
        self.count += other.count;
        self.missing += other.missing;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    /// `min`, `max` and `mean`, or `None` when the bucket holds no number.
    pub fn stats(&self) -> Option<(f64, f64, f64)> {
        (self.count > 0).then(|| (self.min, self.max, self.sum / self.count as f64))
    }
}

/// A bucket the writer has to store: new (`merge == false`), or a late sample to fold into
/// a stored row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Closed {
    pub tier: usize,
    pub bucket: Bucket,
    pub merge: bool,
}

/// One variable's open bucket in every tier.
#[derive(Debug, Clone, Default)]
pub struct OpenBuckets {
    open: [Option<Bucket>; TIERS.len()],
}

impl OpenBuckets {
    /// Add a sample at `t`; buckets it closes (or a late sample's merge) go to `closed`.
    pub fn add(&mut self, t: i64, value: Option<f64>, closed: impl FnMut(Closed)) {
        self.add_since(&[i64::MIN; TIERS.len()], t, value, closed);
    }

    /// [`OpenBuckets::add`] to the tiers whose `since` (ms) is at or before `t`: rebuilding
    /// from raw samples, a tier takes only those after its last stored bucket.
    pub fn add_since(
        &mut self,
        since: &[i64; TIERS.len()],
        t: i64,
        value: Option<f64>,
        mut closed: impl FnMut(Closed),
    ) {
        for (tier, slot) in self.open.iter_mut().enumerate() {
            if t < since[tier] {
                continue;
            }
            let start = bucket_start(t, TIERS[tier].width_ms);
            match slot {
                Some(bucket) if bucket.start == start => bucket.add(value),
                Some(bucket) if bucket.start > start => {
                    let mut late = Bucket::empty(start);
                    late.add(value);
                    closed(Closed {
                        tier,
                        bucket: late,
                        merge: true,
                    });
                }
                _ => {
                    let mut fresh = Bucket::empty(start);
                    fresh.add(value);
                    if let Some(done) = slot.replace(fresh) {
                        closed(Closed {
                            tier,
                            bucket: done,
                            merge: false,
                        });
                    }
                }
            }
        }
    }

    #[cfg(test)]
    pub fn open(&self, tier: usize) -> Option<&Bucket> {
        self.open[tier].as_ref()
    }
}

/// Where rebuilding a variable's open buckets from raw samples starts, per tier: after
/// that tier's last stored bucket, or, where it has none (a new variable, or a file from
/// before rollups), at the start of the coarsest bucket that holds the variable's last raw
/// sample, so a migrated file's years are not reread. `last_stored[tier]` is that tier's
/// last bucket start; `last_raw` the last sample's time. The raw samples to read are
/// those from the smallest of the answers on.
pub fn resume_from(
    last_stored: &[Option<i64>; TIERS.len()],
    last_raw: Option<i64>,
) -> [i64; TIERS.len()] {
    let coarsest = TIERS[TIERS.len() - 1].width_ms;
    let fallback = last_raw.map_or(i64::MAX, |t| bucket_start(t, coarsest));
    std::array::from_fn(|tier| {
        last_stored[tier].map_or(fallback, |start| start + TIERS[tier].width_ms)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_close_when_a_later_sample_arrives() {
        let mut open = OpenBuckets::default();
        let mut closed = Vec::new();
        for s in 0..125 {
            open.add(s * 1000, Some(s as f64), |c| closed.push(c));
        }
        open.add(125_500, None, |c| closed.push(c));
        let minutes: Vec<_> = closed.iter().filter(|c| c.tier == 1).collect();
        assert_eq!(minutes.len(), 2);
        assert_eq!(minutes[0].bucket.start, 0);
        assert_eq!(minutes[0].bucket.stats(), Some((0.0, 59.0, 29.5)));
        assert_eq!(minutes[1].bucket.count, 60);
        assert!(!minutes[0].merge);
        let third = open.open(1).unwrap();
        assert_eq!((third.start, third.count, third.missing), (120_000, 5, 1));
        assert_eq!(open.open(3).unwrap().count, 125);

        // Rebuilding: the minute tier skips what it has stored already.
        let mut rebuilt = OpenBuckets::default();
        let mut stored = Vec::new();
        for s in 0..125 {
            rebuilt.add_since(&[120_000, 120_000, 0, 0], s * 1000, Some(s as f64), |c| {
                stored.push(c)
            });
        }
        assert!(stored.is_empty());
        assert_eq!(rebuilt.open(1).unwrap().count, 5);
        assert_eq!(rebuilt.open(3).unwrap().count, 125);

        // A late sample is merged into its stored bucket, the open one is untouched.
        closed.clear();
        open.add(30_000, Some(-1.0), |c| closed.push(c));
        assert_eq!(closed.len(), 2, "late for the 10 s and the minute tiers");
        assert!(closed[1].merge && closed[1].bucket.start == 0 && closed[1].tier == 1);
        assert_eq!(open.open(3).unwrap().count, 126);
    }

    #[test]
    fn resuming_starts_after_the_last_stored_bucket() {
        assert_eq!(resume_from(&[None; 4], None), [i64::MAX; 4]);
        assert_eq!(
            resume_from(&[None; 4], Some(7_300_000)),
            [7_200_000; 4],
            "no rollups yet: only the last hour is reread"
        );
        assert_eq!(
            resume_from(
                &[Some(7_190_000), Some(7_140_000), Some(6_600_000), Some(0)],
                Some(7_250_000)
            ),
            [7_200_000, 7_200_000, 7_200_000, 3_600_000]
        );
        assert_eq!(bucket_start(-1, 60_000), -60_000);
    }
}
