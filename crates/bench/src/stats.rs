//! Latency statistics with fixed memory, however long the run.
//!
//! A log-linear histogram in the style of HdrHistogram: values below 256 ns get their own
//! bucket; above that, every power of two is split into 128 buckets, so a reported
//! percentile is within 1/128 (< 0.8 %) of the true value and the table never grows past
//! about 7 400 counters.

use std::time::Duration;

const SUB_BITS: u32 = 7;
const SUB_BUCKETS: u64 = 1 << SUB_BITS;
/// Shifts run from 0 to 63 - SUB_BITS, each owning the 128 buckets after the previous one.
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB_BUCKETS as usize;

#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            min: u64::MAX,
            max: 0,
        }
    }
}

/// The bucket of `value` and how far its buckets are shifted from exact values.
fn bucket(value: u64) -> (usize, u32) {
    let msb = 63 - (value | 1).leading_zeros();
    let shift = msb.saturating_sub(SUB_BITS);
    let top = value >> shift;
    (shift as usize * SUB_BUCKETS as usize + top as usize, shift)
}

/// The range of values (inclusive) that land in bucket `index`.
fn bucket_range(index: usize) -> (u64, u64) {
    let sub = SUB_BUCKETS as usize;
    let (shift, top) = if index < 2 * sub {
        (0, index as u64)
    } else {
        // Past the exact region, each shift owns the tops 128..=255.
        let shift = (index - sub) / sub;
        (shift as u32, (index - shift * sub) as u64)
    };
    let low = top << shift;
    (low, low + ((1u64 << shift) - 1))
}

impl Histogram {
    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.counts[bucket(nanos).0] += 1;
        self.total += 1;
        self.min = self.min.min(nanos);
        self.max = self.max.max(nanos);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> Duration {
        Duration::from_nanos(if self.total == 0 { 0 } else { self.max })
    }

    /// The value at quantile `q` (0..=1): the smallest recorded value that at least
    /// `q` of all values do not exceed, to within the bucket resolution.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).clamp(1, self.total);
        if rank == self.total {
            return self.max();
        }
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, high) = bucket_range(index);
                let middle = low + (high - low) / 2;
                return Duration::from_nanos(middle.clamp(self.min, self.max));
            }
        }
        self.max()
    }
}

/// Microseconds with one decimal, for reports.
pub fn micros(duration: Duration) -> f64 {
    (duration.as_nanos() as f64 / 100.0).round() / 10.0
}

/// The middle value (the upper of the two middle ones for an even count); NaN for none.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_number_line_without_gaps() {
        let mut expected_low = 0;
        for index in 0..BUCKETS {
            let (low, high) = bucket_range(index);
            assert_eq!(low, expected_low, "bucket {index}");
            assert_eq!(bucket(low).0, index);
            assert_eq!(bucket(high).0, index);
            if high == u64::MAX {
                assert_eq!(index, BUCKETS - 1);
                return;
            }
            expected_low = high + 1;
        }
        panic!("buckets end before u64::MAX");
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut histogram = Histogram::default();
        // 1..=10_000 µs, each once: p50 = 5 000 µs, p99 = 9 900 µs, max = 10 000 µs.
        for micros in 1..=10_000u64 {
            histogram.record(Duration::from_micros(micros));
        }
        assert_eq!(histogram.count(), 10_000);
        let within = |got: Duration, want_us: f64| {
            let got = got.as_nanos() as f64 / 1000.0;
            assert!(
                (got - want_us).abs() <= want_us / 128.0,
                "{got} µs vs {want_us} µs"
            );
        };
        within(histogram.quantile(0.5), 5_000.0);
        within(histogram.quantile(0.99), 9_900.0);
        within(histogram.quantile(0.0), 1.0);
        assert_eq!(histogram.max(), Duration::from_micros(10_000));
        assert_eq!(histogram.quantile(1.0), Duration::from_micros(10_000));
    }

    #[test]
    fn small_values_are_exact_and_outliers_show_in_the_tail_only() {
        let mut histogram = Histogram::default();
        for _ in 0..98 {
            histogram.record(Duration::from_nanos(200));
        }
        histogram.record(Duration::from_millis(50));
        histogram.record(Duration::from_millis(80));
        assert_eq!(histogram.quantile(0.5), Duration::from_nanos(200));
        assert_eq!(histogram.quantile(0.98), Duration::from_nanos(200));
        let p99 = histogram.quantile(0.99);
        assert!(p99 >= Duration::from_micros(49_600) && p99 <= Duration::from_millis(50));
        assert_eq!(histogram.max(), Duration::from_millis(80));
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let mut one = Histogram::default();
        let mut left = Histogram::default();
        let mut right = Histogram::default();
        for (i, micros) in [3u64, 70, 900, 12_000, 5, 450_000].into_iter().enumerate() {
            one.record(Duration::from_micros(micros));
            if i % 2 == 0 {
                left.record(Duration::from_micros(micros));
            } else {
                right.record(Duration::from_micros(micros));
            }
        }
        left.merge(&right);
        assert_eq!(left.count(), one.count());
        assert_eq!(left.counts, one.counts);
        assert_eq!(left.quantile(0.5), one.quantile(0.5));
        assert_eq!(left.max(), one.max());
    }

    #[test]
    fn empty_histogram_reports_zero() {
        let histogram = Histogram::default();
        assert_eq!(histogram.quantile(0.5), Duration::ZERO);
        assert_eq!(histogram.max(), Duration::ZERO);
        assert_eq!(micros(Duration::from_nanos(12_345)), 12.3);
    }
}
