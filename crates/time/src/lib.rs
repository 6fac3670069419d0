//! Time for labwire, in one place: Unix milliseconds (the unit of every stored `t`),
//! Unix seconds (what JSON, CSV and plot axes carry), and UTC calendar fields with their
//! RFC 3339 text (`2026-11-22T03:50:07Z`). The calendar conversion is written out here
//! rather than pulling in a date crate; labwire only ever shows UTC.
//!
//! ```
//! use labwire_time::{from_millis, rfc3339_millis, to_millis};
//!
//! let t = from_millis(1_795_318_867_123);
//! assert_eq!(to_millis(t), 1_795_318_867_123);
//! assert_eq!(rfc3339_millis(t), "2026-11-22T03:41:07.123Z");
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod parse;
pub use parse::parse_utc;

/// Milliseconds since the Unix epoch (negative before it), saturating at the ends of i64.
pub fn to_millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// The time `ms` milliseconds after (or, negative, before) the Unix epoch.
pub fn from_millis(ms: i64) -> SystemTime {
    let magnitude = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

/// The system clock in Unix milliseconds.
pub fn now_ms() -> i64 {
    to_millis(SystemTime::now())
}

/// Seconds since the Unix epoch to the millisecond, as JSON, CSV and plot axes carry times.
pub fn unix_seconds(time: SystemTime) -> f64 {
    to_millis(time) as f64 / 1000.0
}

/// A UTC calendar time, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Utc {
    /// From seconds since 1970-01-01 UTC, rounded to the nearest second: plot ticks land
    /// on whole seconds give or take float noise.
    pub fn from_unix(t: f64) -> Self {
        Utc::from_unix_secs(t.round() as i64)
    }

    /// The second `time` falls in (rounded down, also before the epoch).
    pub fn from_system_time(time: SystemTime) -> Self {
        Utc::from_unix_secs(to_millis(time).div_euclid(1000))
    }

    fn from_unix_secs(secs: i64) -> Self {
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let in_day = secs.rem_euclid(86_400);
        Utc {
            year,
            month,
            day,
            hour: (in_day / 3600) as u32,
            minute: (in_day / 60 % 60) as u32,
            second: (in_day % 60) as u32,
        }
    }

    /// `2026-11-22`
    pub fn iso_date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `2026-11-22T03:50:07Z`
    pub fn iso_timestamp(&self) -> String {
        format!("{}Z", self.iso_seconds())
    }

    fn iso_seconds(&self) -> String {
        format!(
            "{}T{:02}:{:02}:{:02}",
            self.iso_date(),
            self.hour,
            self.minute,
            self.second
        )
    }
}

/// `2026-11-22T03:50:07Z`: RFC 3339 in UTC, to the second (rounded down).
pub fn rfc3339(time: SystemTime) -> String {
    Utc::from_system_time(time).iso_timestamp()
}

/// `2026-11-22T03:50:07.123Z`: RFC 3339 in UTC, to the millisecond.
pub fn rfc3339_millis(time: SystemTime) -> String {
    let millis = to_millis(time).rem_euclid(1000);
    format!("{}.{millis:03}Z", Utc::from_system_time(time).iso_seconds())
}

/// `2026-11-22T03:50:07.5Z`: every nanosecond there is (trailing zeros dropped, none at
/// all on a whole second), so that a time written to a file reads back equal.
pub fn rfc3339_exact(time: SystemTime) -> String {
    let nanos = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    let seconds = Utc::from_system_time(time).iso_seconds();
    if nanos == 0 {
        format!("{seconds}Z")
    } else {
        let fraction = format!("{nanos:09}");
        format!("{seconds}.{}Z", fraction.trim_end_matches('0'))
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar:
/// Howard Hinnant's `civil_from_days`, which is exact for every i64 day used here.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-03-14 00:00:00 UTC
    const MAR14: f64 = 1_710_374_400.0;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn times_round_trip_through_milliseconds() {
        for ms in [0, 1, 1_700_000_000_123, -1, -86_400_000] {
            assert_eq!(to_millis(from_millis(ms)), ms);
        }
        assert_eq!(to_millis(UNIX_EPOCH + Duration::from_micros(1_999)), 1);
        assert_eq!(unix_seconds(from_millis(1_500)), 1.5);
        assert!(now_ms() > 1_700_000_000_000);
    }

    #[test]
    fn civil_dates_match_a_day_by_day_count() {
        let mut days = 0i64;
        for year in 1970..2101i64 {
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
            let february = if leap { 29 } else { 28 };
            let lengths = [31, february, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
            for (m, &len) in lengths.iter().enumerate() {
                for d in 1..=len {
                    assert_eq!(civil_from_days(days), (year, m as u32 + 1, d), "day {days}");
                    days += 1;
                }
            }
        }
    }

    #[test]
    fn utc_fields_and_negative_times() {
        let t = Utc::from_unix(MAR14 + 10.0 * 3600.0 + 30.0 * 60.0 + 5.0);
        assert_eq!((t.year, t.month, t.day), (2024, 3, 14));
        assert_eq!((t.hour, t.minute, t.second), (10, 30, 5));
        let before_epoch = Utc::from_unix(-1.0);
        assert_eq!(before_epoch.iso_date(), "1969-12-31");
        assert_eq!((before_epoch.hour, before_epoch.second), (23, 59));
        assert_eq!(Utc::from_unix(951_782_400.0).iso_date(), "2000-02-29");
    }

    #[test]
    fn rfc3339_text() {
        assert_eq!(rfc3339(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(at(1_795_318_867)), "2026-11-22T03:41:07Z");
        // Seconds round down, so the text never names a second that has not begun.
        assert_eq!(rfc3339(from_millis(1_999)), "1970-01-01T00:00:01Z");
        assert_eq!(
            rfc3339_millis(from_millis(1_999)),
            "1970-01-01T00:00:01.999Z"
        );
        assert_eq!(rfc3339_millis(from_millis(-1)), "1969-12-31T23:59:59.999Z");
    }
}
