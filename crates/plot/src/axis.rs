//! Tick positions and their labels: UTC time, linear and log10 axes.
//!
//! Ticks are chosen here rather than by plotters so that time ticks fall on whole UTC
//! minutes/hours/days and log ticks on decades, with labels that fit the pixels given.

use labwire_time::Utc;

const MINUTE: f64 = 60.0;
const HOUR: f64 = 3600.0;
const DAY: f64 = 86_400.0;

/// Steps a time axis may use. Those below a day divide a day, so ticks taken as
/// multiples of the step since the epoch fall on round UTC times.
const TIME_STEPS: [f64; 21] = [
    1.0,
    2.0,
    5.0,
    10.0,
    15.0,
    30.0,
    MINUTE,
    2.0 * MINUTE,
    5.0 * MINUTE,
    10.0 * MINUTE,
    15.0 * MINUTE,
    30.0 * MINUTE,
    HOUR,
    2.0 * HOUR,
    3.0 * HOUR,
    6.0 * HOUR,
    12.0 * HOUR,
    DAY,
    2.0 * DAY,
    7.0 * DAY,
    14.0 * DAY,
];

/// Rough width of one label character at the 12 px label size, and the free space
/// wanted between two labels; measuring every candidate with the font is not worth it.
const CHAR_PX: f64 = 7.5;
const LABEL_GAP_PX: f64 = 24.0;

/// No axis ever gets more ticks than this, whatever the range: a bound for odd input.
const MAX_TICKS: usize = 500;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// One axis: its range in drawing coordinates (log10 of the value on a log axis),
/// labelled ticks, and unlabelled minor ticks.
#[derive(Debug, Clone)]
pub(crate) struct Axis {
    pub lo: f64,
    pub hi: f64,
    pub major: Vec<f64>,
    pub minor: Vec<f64>,
    labels: Labels,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Labels {
    Time(TimeFormat),
    Number(NumberFormat),
    /// The axis holds log10 of the values; labels show the values.
    Pow10(NumberFormat),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum TimeFormat {
    /// `HH:MM:SS`
    Seconds,
    /// `HH:MM`
    Minutes,
    /// `Mar 14 06:00`
    DateTime,
    /// `Mar 14`
    Date,
    /// `2024-03-14`, once a range spans months and the year matters.
    IsoDate,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum NumberFormat {
    Fixed(usize),
    Scientific(usize),
    /// Three significant digits, plain between 0.001 and 99,999, else `2e-7`.
    Short,
}

impl Axis {
    pub fn label(&self, v: f64) -> String {
        match self.labels {
            Labels::Time(format) => format_time(v, format),
            Labels::Number(format) => format_number(v, format),
            Labels::Pow10(format) => format_number(10f64.powf(v), format),
        }
    }
}

/// Ticks for x values in unix seconds across `pixels`, labelled in UTC.
pub(crate) fn time_axis(lo: f64, hi: f64, pixels: f64) -> Axis {
    let span = hi - lo;
    let fits = |step: f64| span / step * label_px(time_format(span, step)) <= pixels;
    let step = TIME_STEPS
        .iter()
        .copied()
        .find(|&step| fits(step))
        .unwrap_or_else(|| {
            // Months and years: whole days from the 1-2-5 ladder.
            let per_label = label_px(time_format(span, DAY));
            let days = span / DAY / (pixels / per_label).max(1.0);
            nice_ceil(days).max(1.0) * DAY
        });
    Axis {
        lo,
        hi,
        major: multiples(lo, hi, step),
        minor: Vec::new(),
        labels: Labels::Time(time_format(span, step)),
    }
}

/// Time of day alone up to a day; beyond, the date is needed to tell ticks apart.
fn time_format(span: f64, step: f64) -> TimeFormat {
    if span <= DAY {
        if step < MINUTE {
            TimeFormat::Seconds
        } else {
            TimeFormat::Minutes
        }
    } else if span > 60.0 * DAY {
        TimeFormat::IsoDate
    } else if step % DAY == 0.0 {
        TimeFormat::Date
    } else {
        TimeFormat::DateTime
    }
}

fn label_px(format: TimeFormat) -> f64 {
    let chars = match format {
        TimeFormat::Seconds => 8.0,
        TimeFormat::Minutes => 5.0,
        TimeFormat::DateTime => 12.0,
        TimeFormat::Date => 6.0,
        TimeFormat::IsoDate => 10.0,
    };
    chars * CHAR_PX + LABEL_GAP_PX
}

/// Ticks at 1-2-5 steps, at least `spacing` pixels apart.
pub(crate) fn linear_axis(lo: f64, hi: f64, pixels: f64, spacing: f64) -> Axis {
    let step = nice_step(hi - lo, max_ticks(pixels, spacing));
    Axis {
        lo,
        hi,
        major: multiples(lo, hi, step),
        minor: Vec::new(),
        labels: Labels::Number(number_format(lo, hi, step)),
    }
}

/// Ticks for an axis holding log10 of the values, `lo..hi` in that log space.
pub(crate) fn log_axis(lo: f64, hi: f64, pixels: f64, spacing: f64) -> Axis {
    let max = max_ticks(pixels, spacing);
    let in_range = |t: f64| t >= lo - 1e-9 && t <= hi + 1e-9;
    let (first, last) = (lo.ceil(), hi.floor());
    let decades = last - first + 1.0;

    if decades >= 2.0 && decades <= MAX_TICKS as f64 {
        let stride = (decades / max).ceil().max(1.0);
        let (major, skipped): (Vec<f64>, Vec<f64>) = (0..decades as usize)
            .map(|i| first + i as f64)
            .partition(|e| e.rem_euclid(stride) == 0.0);
        let minor = if stride == 1.0 {
            mantissa_ticks(lo, hi, &[2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
        } else {
            skipped
        };
        return Axis {
            lo,
            hi,
            major,
            minor,
            labels: Labels::Pow10(NumberFormat::Short),
        };
    }

    // Less than two decades: 1, 2 and 5 of each decade, when that gives a few ticks.
    let major = mantissa_ticks(lo, hi, &[1.0, 2.0, 5.0]);
    if major.len() >= 2 && major.len() as f64 <= max {
        return Axis {
            lo,
            hi,
            major,
            minor: mantissa_ticks(lo, hi, &[3.0, 4.0, 6.0, 7.0, 8.0, 9.0]),
            labels: Labels::Pow10(NumberFormat::Short),
        };
    }

    // A narrow band (a factor of a few): evenly spaced values placed on the log axis.
    let (a, b) = (10f64.powf(lo), 10f64.powf(hi));
    let step = nice_step(b - a, max);
    Axis {
        lo,
        hi,
        major: multiples(a, b, step)
            .into_iter()
            .filter(|&v| v > 0.0)
            .map(f64::log10)
            .filter(|&t| in_range(t))
            .collect(),
        minor: Vec::new(),
        labels: Labels::Pow10(number_format(a, b, step)),
    }
}

fn mantissa_ticks(lo: f64, hi: f64, mantissas: &[f64]) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut decade = lo.floor();
    while decade <= hi.ceil() && ticks.len() < MAX_TICKS {
        for m in mantissas {
            let t = decade + m.log10();
            if t >= lo && t <= hi {
                ticks.push(t);
            }
        }
        decade += 1.0;
    }
    ticks
}

fn max_ticks(pixels: f64, spacing: f64) -> f64 {
    (pixels / spacing).floor().max(2.0)
}

/// The smallest 1-2-5 step that cuts `span` into at most `ticks` intervals.
fn nice_step(span: f64, ticks: f64) -> f64 {
    nice_ceil(span / ticks)
}

fn nice_ceil(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&step| step >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// Every multiple of `step` in `lo..=hi`, computed from an integer count so that zero
/// and round times come out exact rather than accumulated.
fn multiples(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    if !(step > 0.0 && lo.is_finite() && hi.is_finite()) {
        return Vec::new();
    }
    let first = (lo / step - 1e-9).ceil();
    let last = (hi / step + 1e-9).floor();
    // A subnormal step can still overflow the quotients.
    if !(first.is_finite() && last.is_finite()) || last < first {
        return Vec::new();
    }
    let count = (last - first + 1.0).min(MAX_TICKS as f64) as usize;
    (0..count).map(|i| (first + i as f64) * step).collect()
}

fn number_format(lo: f64, hi: f64, step: f64) -> NumberFormat {
    let big = lo.abs().max(hi.abs());
    let step_exp = step.log10().floor();
    if big >= 1e6 || (big > 0.0 && big < 1e-3) {
        let big_exp = big.log10().floor();
        NumberFormat::Scientific((big_exp - step_exp).clamp(0.0, 6.0) as usize)
    } else {
        NumberFormat::Fixed((-step_exp).clamp(0.0, 12.0) as usize)
    }
}

fn format_number(v: f64, format: NumberFormat) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    match format {
        NumberFormat::Fixed(decimals) => {
            let s = format!("{v:.decimals$}");
            // A value rounding to zero must not print as "-0.0".
            if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
                s[1..].to_string()
            } else {
                s
            }
        }
        NumberFormat::Scientific(digits) => format!("{v:.digits$e}"),
        NumberFormat::Short => {
            let rounded: f64 = format!("{v:.2e}").parse().unwrap_or(v);
            if (1e-3..1e5).contains(&rounded.abs()) {
                format!("{rounded}")
            } else {
                format!("{rounded:e}")
            }
        }
    }
}

fn format_time(t: f64, format: TimeFormat) -> String {
    let u = Utc::from_unix(t);
    let month = MONTHS[(u.month - 1) as usize];
    match format {
        TimeFormat::Seconds => format!("{:02}:{:02}:{:02}", u.hour, u.minute, u.second),
        TimeFormat::Minutes => format!("{:02}:{:02}", u.hour, u.minute),
        TimeFormat::DateTime => format!("{month} {} {:02}:{:02}", u.day, u.hour, u.minute),
        TimeFormat::Date => format!("{month} {}", u.day),
        TimeFormat::IsoDate => u.iso_date(),
    }
}

/// The UTC date(s) a time range covers, for the axis title: time-of-day ticks alone
/// would not say which day a plot shows.
pub(crate) fn utc_date_span(lo: f64, hi: f64) -> String {
    let (a, b) = (Utc::from_unix(lo).iso_date(), Utc::from_unix(hi).iso_date());
    if a == b {
        a
    } else {
        format!("{a} \u{2013} {b}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-03-14 00:00:00 UTC
    const MAR14: f64 = 1_710_374_400.0;

    fn labels(axis: &Axis) -> Vec<String> {
        axis.major.iter().map(|&v| axis.label(v)).collect()
    }

    #[test]
    fn one_hour_is_labelled_in_minutes() {
        let axis = time_axis(MAR14 + 10.0 * HOUR, MAR14 + 11.0 * HOUR, 700.0);
        let l = labels(&axis);
        assert_eq!(l.first().unwrap(), "10:00");
        assert_eq!(l.last().unwrap(), "11:00");
        assert!(l.len() >= 4 && l.len() <= 13, "{l:?}");
        assert!(l.iter().all(|s| s.len() == 5), "{l:?}");
    }

    #[test]
    fn a_day_is_labelled_on_whole_hours() {
        let lo = MAR14 + 37.0 * MINUTE;
        let axis = time_axis(lo, lo + DAY, 700.0);
        let l = labels(&axis);
        assert!(l.len() >= 4 && l.len() <= 12, "{l:?}");
        assert!(
            l.iter().all(|s| s.ends_with(":00") && s.len() == 5),
            "{l:?}"
        );
    }

    #[test]
    fn a_minute_is_labelled_in_seconds() {
        let axis = time_axis(MAR14 + 7.0, MAR14 + 67.0, 700.0);
        let l = labels(&axis);
        assert_eq!(l.first().unwrap(), "00:00:10");
        assert!(l.iter().all(|s| s.len() == 8), "{l:?}");
    }

    #[test]
    fn beyond_a_day_labels_carry_the_date() {
        let week = time_axis(MAR14, MAR14 + 7.0 * DAY, 700.0);
        assert_eq!(labels(&week)[..2], ["Mar 14", "Mar 15"]);

        let two_days = time_axis(MAR14, MAR14 + 2.0 * DAY, 700.0);
        let l = labels(&two_days);
        assert_eq!(l[0], "Mar 14 00:00");
        assert!(l.iter().any(|s| s.starts_with("Mar 15")), "{l:?}");
        assert!(l.len() >= 3, "{l:?}");
    }

    #[test]
    fn labels_fit_narrow_plots() {
        let narrow = time_axis(MAR14, MAR14 + DAY, 100.0);
        assert!(narrow.major.len() <= 2, "{:?}", labels(&narrow));
        let years = time_axis(0.0, 50.0 * 365.0 * DAY, 700.0);
        let l = labels(&years);
        assert!(l.len() >= 3 && l.len() <= 10, "{l:?}");
        assert_eq!(l[0], "1970-01-01");
    }

    #[test]
    fn date_span_names_both_ends() {
        assert_eq!(utc_date_span(MAR14, MAR14 + HOUR), "2024-03-14");
        assert_eq!(
            utc_date_span(MAR14 - HOUR, MAR14 + HOUR),
            "2024-03-13 \u{2013} 2024-03-14"
        );
    }

    #[test]
    fn linear_ticks_are_round() {
        let axis = linear_axis(-0.13, 4.87, 200.0, 40.0);
        assert_eq!(labels(&axis), ["0", "1", "2", "3", "4"]);
        let small = linear_axis(1.0e-6, 5.0e-6, 200.0, 40.0);
        assert_eq!(labels(&small)[..2], ["1e-6", "2e-6"]);
        let big = linear_axis(0.0, 3.0e7, 200.0, 40.0);
        assert_eq!(labels(&big).last().unwrap(), "3e7");
    }

    #[test]
    fn log_ticks_on_decades() {
        // 1e-9 .. 1e3 mbar: a pump-down.
        let axis = log_axis(-9.0, 3.0, 200.0, 30.0);
        assert_eq!(labels(&axis), ["1e-9", "1e-6", "0.001", "1", "1000"]);
        assert_eq!(axis.minor.len(), 8, "the decades left unlabelled");

        let few = log_axis(-3.2, -0.8, 200.0, 30.0);
        assert_eq!(labels(&few), ["0.001", "0.01", "0.1"]);
        assert_eq!(few.minor.len(), 8 * 2 + 3, "2..9 of each decade in range");
    }

    #[test]
    fn log_ticks_within_a_decade() {
        let axis = log_axis(2.0f64.log10(), 60.0f64.log10(), 200.0, 30.0);
        assert_eq!(labels(&axis), ["2", "5", "10", "20", "50"]);
        // 3.1 .. 4.4: no 1-2-5 value inside, so evenly spaced values.
        let narrow = log_axis(3.1f64.log10(), 4.4f64.log10(), 200.0, 30.0);
        let l = labels(&narrow);
        assert!(l.len() >= 2, "{l:?}");
        assert!(l.contains(&"4.0".to_string()), "{l:?}");
    }

    #[test]
    fn short_numbers() {
        let f = |v| format_number(v, NumberFormat::Short);
        assert_eq!(f(0.001), "0.001");
        assert_eq!(f(10f64.powf(-3.0)), "0.001");
        assert_eq!(f(2e-7), "2e-7");
        assert_eq!(f(10000.0), "10000");
        assert_eq!(f(1e5), "1e5");
        assert_eq!(format_number(-1e-9, NumberFormat::Fixed(1)), "0.0");
    }
}
