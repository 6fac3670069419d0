//! Per-pixel-column min/max reduction, so a day at 1 Hz draws as fast as a minute.

/// Reduce `points` (sorted by x) to what `columns` pixel columns across `x_range` can show.
///
/// - Only points with `x_range.0 <= x <= x_range.1` are kept.
/// - When the range holds no more than `2 * columns` points they are returned as they are;
///   otherwise each column keeps its lowest and highest sample (the real points, in x
///   order), so a single-sample spike among 86,400 is still drawn.
/// - A point whose y is not finite (NaN for "could not be read", or an infinity) is a gap:
///   the output keeps it as one point with y = NaN at the gap's x, so a line drawn through
///   the output breaks there instead of bridging or dropping to zero. A column that holds
///   a gap keeps the extremes before its first gap and after it separately.
/// - Output size: at most `2 * columns` points, plus 3 more per column that holds a gap
///   (so never more than `5 * columns`).
///
/// An empty or non-finite range, or `columns == 0`, gives an empty vector.
pub fn decimate(points: &[(f64, f64)], x_range: (f64, f64), columns: u32) -> Vec<(f64, f64)> {
    decimate_map(points, x_range, columns, |y| y)
}

/// [`decimate`] on `(x, map(y))`. The log scale maps non-positive values to NaN before
/// choosing extremes: a column's zero must not hide its smallest positive value.
pub(crate) fn decimate_map(
    points: &[(f64, f64)],
    x_range: (f64, f64),
    columns: u32,
    map: impl Fn(f64) -> f64,
) -> Vec<(f64, f64)> {
    let (x0, x1) = x_range;
    if !(x0.is_finite() && x1.is_finite() && x1 > x0) || columns == 0 {
        return Vec::new();
    }
    // Sorted input lets a 7-day history be cut to a 15-minute window without a scan.
    let start = points.partition_point(|p| p.0 < x0);
    let len = points[start..].partition_point(|p| p.0 <= x1);
    let window = &points[start..start + len];
    let mapped = |&(x, y): &(f64, f64)| {
        let y = map(y);
        (x, if y.is_finite() { y } else { f64::NAN })
    };

    let columns = columns as usize;
    if window.len() <= 2 * columns {
        return window
            .iter()
            .filter(|p| p.0.is_finite())
            .map(mapped)
            .collect();
    }

    let (span, count) = (x1 - x0, columns as f64);
    let mut out = Vec::with_capacity(2 * columns + 8);
    let mut column = Column::default();
    let mut current = usize::MAX;
    for point in window {
        if !point.0.is_finite() {
            continue;
        }
        let (x, y) = mapped(point);
        // Multiply before dividing so that column edges on whole seconds land exactly;
        // `as` saturates, and x == x1 would be one column past the end.
        let index = (((x - x0) * count / span) as usize).min(columns - 1);
        if index != current {
            column.flush(&mut out);
            current = index;
        }
        if y.is_nan() {
            column.gap(x);
        } else {
            column.value(x, y);
        }
    }
    column.flush(&mut out);
    out
}

/// The lowest and highest sample seen, each with its own x.
#[derive(Clone, Copy)]
struct Extremes {
    low: (f64, f64),
    high: (f64, f64),
}

impl Extremes {
    fn add(slot: &mut Option<Self>, x: f64, y: f64) {
        match slot {
            None => {
                *slot = Some(Self {
                    low: (x, y),
                    high: (x, y),
                })
            }
            Some(e) => {
                if y < e.low.1 {
                    e.low = (x, y);
                }
                if y > e.high.1 {
                    e.high = (x, y);
                }
            }
        }
    }

    fn emit(self, out: &mut Vec<(f64, f64)>) {
        let (first, second) = if self.low.0 <= self.high.0 {
            (self.low, self.high)
        } else {
            (self.high, self.low)
        };
        out.push(first);
        if second != first {
            out.push(second);
        }
    }
}

/// One pixel column: extremes before its first gap, the gap, and everything after it.
/// Segments between a column's second and later gaps join the tail: inside one pixel
/// column they draw the same vertical stroke, and it keeps the output bounded.
#[derive(Default)]
struct Column {
    lead: Option<Extremes>,
    gap: Option<f64>,
    tail: Option<Extremes>,
}

impl Column {
    fn value(&mut self, x: f64, y: f64) {
        let slot = if self.gap.is_none() {
            &mut self.lead
        } else {
            &mut self.tail
        };
        Extremes::add(slot, x, y);
    }

    fn gap(&mut self, x: f64) {
        self.gap.get_or_insert(x);
    }

    fn flush(&mut self, out: &mut Vec<(f64, f64)>) {
        let column = std::mem::take(self);
        if let Some(lead) = column.lead {
            lead.emit(out);
        }
        if let Some(x) = column.gap {
            out.push((x, f64::NAN));
        }
        if let Some(tail) = column.tail {
            tail.emit(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: usize = 86_400;

    fn day_of_noise() -> Vec<(f64, f64)> {
        // Deterministic wiggle in [0, 1); no RNG dependency needed for shape tests.
        (0..DAY)
            .map(|i| (i as f64, ((i * 7919) % 1000) as f64 / 1000.0))
            .collect()
    }

    #[test]
    fn single_sample_spike_survives_a_day() {
        let mut points = day_of_noise();
        points[43_210].1 = 50.0;
        points[61_001].1 = -50.0;
        let out = decimate(&points, (0.0, DAY as f64), 800);
        assert!(out.contains(&(43_210.0, 50.0)), "high spike lost");
        assert!(out.contains(&(61_001.0, -50.0)), "low spike lost");
    }

    #[test]
    fn output_is_bounded_by_columns_and_in_x_order() {
        let points = day_of_noise();
        for columns in [1, 7, 100, 800, 4000] {
            let out = decimate(&points, (0.0, DAY as f64), columns);
            assert!(
                out.len() <= 2 * columns as usize,
                "{columns}: {}",
                out.len()
            );
            assert!(out.len() >= columns as usize, "{columns}: {}", out.len());
            assert!(
                out.windows(2).all(|w| w[0].0 < w[1].0),
                "{columns}: not sorted"
            );
        }
    }

    #[test]
    fn every_column_keeps_its_true_min_and_max() {
        let points = day_of_noise();
        let columns = 96; // 900 s per column
        let out = decimate(&points, (0.0, DAY as f64), columns);
        for c in 0..columns as usize {
            let (lo, hi) = (c as f64 * 900.0, (c + 1) as f64 * 900.0);
            let expect = points[c * 900..(c + 1) * 900].iter().map(|p| p.1);
            let got: Vec<f64> = out
                .iter()
                .filter(|p| p.0 >= lo && p.0 < hi)
                .map(|p| p.1)
                .collect();
            let max = expect.clone().fold(f64::MIN, f64::max);
            let min = expect.fold(f64::MAX, f64::min);
            assert_eq!(got.iter().copied().fold(f64::MIN, f64::max), max);
            assert_eq!(got.iter().copied().fold(f64::MAX, f64::min), min);
        }
    }

    #[test]
    fn range_cuts_the_input() {
        let points = day_of_noise();
        let out = decimate(&points, (3600.0, 7200.0), 4000);
        assert_eq!(out.len(), 3601, "small windows come back whole");
        assert_eq!(out.first().unwrap().0, 3600.0);
        assert_eq!(out.last().unwrap().0, 7200.0);
    }

    #[test]
    fn empty_inputs_give_nothing() {
        let points = day_of_noise();
        assert!(decimate(&[], (0.0, 1.0), 800).is_empty());
        assert!(decimate(&points, (5.0, 5.0), 800).is_empty());
        assert!(decimate(&points, (10.0, 5.0), 800).is_empty());
        assert!(decimate(&points, (f64::NAN, 5.0), 800).is_empty());
        assert!(decimate(&points, (0.0, 5.0), 0).is_empty());
        assert!(decimate(&points, (1e9, 2e9), 800).is_empty());
    }

    fn gaps_between_values(out: &[(f64, f64)]) -> usize {
        // A gap counts once however many NaN markers in a row stand for it.
        let mut count = 0;
        let mut seen_value = false;
        let mut in_gap = false;
        for p in out {
            if p.1.is_nan() {
                in_gap = seen_value;
            } else {
                if in_gap {
                    count += 1;
                }
                in_gap = false;
                seen_value = true;
            }
        }
        count
    }

    #[test]
    fn gaps_survive_decimation() {
        let mut points = day_of_noise();
        // One unreadable sample, a ten-minute outage, and an infinity.
        points[10_000].1 = f64::NAN;
        for p in &mut points[50_000..50_600] {
            p.1 = f64::NAN;
        }
        points[70_000].1 = f64::INFINITY;
        let out = decimate(&points, (0.0, DAY as f64), 800);
        assert_eq!(gaps_between_values(&out), 3);
        assert!(out.iter().all(|p| p.1.is_finite() || p.1.is_nan()));
        assert!(out.windows(2).all(|w| w[0].0 <= w[1].0));
        // No value is invented inside the outage.
        assert!(!out
            .iter()
            .any(|p| p.0 > 50_000.0 && p.0 < 50_599.0 && !p.1.is_nan()));
        assert!(out.len() <= 2 * 800 + 3 * 3);
    }

    #[test]
    fn many_gaps_in_one_column_stay_bounded() {
        // Every other sample unreadable: each column holds hundreds of gaps.
        let points: Vec<(f64, f64)> = (0..DAY)
            .map(|i| (i as f64, if i % 2 == 0 { f64::NAN } else { i as f64 }))
            .collect();
        let out = decimate(&points, (0.0, DAY as f64), 100);
        assert!(out.len() <= 5 * 100, "{}", out.len());
        assert!(out.iter().any(|p| p.1.is_nan()));
        assert_eq!(out.iter().map(|p| p.1).fold(f64::MIN, f64::max), 86_399.0);
    }

    #[test]
    fn small_windows_mark_gaps_as_nan() {
        let points = [(0.0, 1.0), (1.0, f64::NEG_INFINITY), (2.0, 3.0)];
        let out = decimate(&points, (0.0, 2.0), 800);
        assert_eq!(out.len(), 3);
        assert!(out[1].1.is_nan());
    }

    #[test]
    fn log_mapping_skips_non_positive_before_choosing_extremes() {
        let mut points: Vec<(f64, f64)> = (0..DAY).map(|i| (i as f64, 1.0)).collect();
        points[100].1 = 0.0;
        points[200].1 = 1e-6;
        let log = |y: f64| if y > 0.0 { y.log10() } else { f64::NAN };
        let out = decimate_map(&points, (0.0, DAY as f64), 800, log);
        assert!(out.contains(&(200.0, -6.0)), "smallest positive value lost");
        assert!(
            out.iter().any(|p| p.1.is_nan()),
            "zero should break the line"
        );
    }
}
