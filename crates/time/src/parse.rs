//! Reading a UTC time a person or a file wrote (`2026-12-24T08:00:00Z`): the inverse of
//! [`crate::rfc3339`] and [`crate::rfc3339_exact`], strict about the form so that a typo
//! is an error rather than another time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECONDS_PER_DAY: u64 = 86_400;
const MIN_YEAR: i64 = 1970;
const MAX_YEAR: i64 = 9999;

/// Read `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00)`, the years 1970 to 9999. Only UTC is
/// accepted: an offset would make a time a user typed depend on where the program runs.
/// The error says what is wrong with `text`, quoting it.
pub fn parse_utc(text: &str) -> Result<SystemTime, String> {
    let expected = "expected a UTC time like 2026-12-24T08:00:00Z";
    let (body, offset) = if let Some(body) = text.strip_suffix('Z') {
        (body, "Z")
    } else if text.len() > 6 && text.is_char_boundary(text.len() - 6) {
        text.split_at(text.len() - 6)
    } else {
        return Err(format!("{text:?}: {expected}"));
    };
    if offset != "Z" && offset != "+00:00" {
        let looks_like_offset = offset.starts_with(['+', '-']) && offset.as_bytes()[3] == b':';
        return Err(if looks_like_offset {
            format!("{text:?}: only UTC times are accepted (end with Z or +00:00)")
        } else {
            format!("{text:?}: {expected} (the time zone, Z or +00:00, is required)")
        });
    }
    let (whole, fraction) = match body.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (body, None),
    };
    let fields = split_fields(whole).ok_or_else(|| format!("{text:?}: {expected}"))?;
    let [year, month, day, hour, minute, second] = fields;
    if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
        return Err(format!(
            "{text:?}: the year must be {MIN_YEAR} to {MAX_YEAR}"
        ));
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(format!("{text:?}: there is no such date"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(format!("{text:?}: there is no such time of day"));
    }
    let nanos = match fraction {
        None => 0,
        Some(digits) => parse_fraction(digits)
            .ok_or_else(|| format!("{text:?}: the fraction of a second must be 1 to 9 digits"))?,
    };
    let days = days_from_civil(year, month, day) as u64;
    let seconds = days * SECONDS_PER_DAY + (hour * 3600 + minute * 60 + second) as u64;
    Ok(UNIX_EPOCH + Duration::new(seconds, nanos))
}

/// `YYYY-MM-DDTHH:MM:SS` into its six numbers; every field has its exact width.
fn split_fields(text: &str) -> Option<[i64; 6]> {
    let bytes = text.as_bytes();
    let layout = b"dddd-dd-ddTdd:dd:dd";
    if bytes.len() != layout.len() {
        return None;
    }
    for (&byte, &shape) in bytes.iter().zip(layout) {
        let fits = match shape {
            b'd' => byte.is_ascii_digit(),
            separator => byte == separator,
        };
        if !fits {
            return None;
        }
    }
    let number = |range: std::ops::Range<usize>| text[range].parse::<i64>().ok();
    Some([
        number(0..4)?,
        number(5..7)?,
        number(8..10)?,
        number(11..13)?,
        number(14..16)?,
        number(17..19)?,
    ])
}

fn parse_fraction(digits: &str) -> Option<u32> {
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u32 = digits.parse().ok()?;
    Some(value * 10u32.pow(9 - digits.len() as u32))
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{civil_from_days, rfc3339, rfc3339_exact};

    fn at(seconds: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(seconds, nanos)
    }

    #[test]
    fn utc_forms_are_read() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Ok(at(0, 0)));
        assert_eq!(parse_utc("2026-12-24T08:00:00Z"), Ok(at(1_798_099_200, 0)));
        assert_eq!(
            parse_utc("2026-12-24T08:00:00+00:00"),
            Ok(at(1_798_099_200, 0))
        );
        assert_eq!(
            parse_utc("2026-12-24T08:00:00.5Z"),
            Ok(at(1_798_099_200, 500_000_000))
        );
        assert_eq!(
            parse_utc("2026-12-24T08:00:00.123456789+00:00"),
            Ok(at(1_798_099_200, 123_456_789))
        );
        assert_eq!(parse_utc("2000-02-29T23:59:59Z"), Ok(at(951_868_799, 0)));
    }

    #[test]
    fn other_forms_are_refused_with_a_reason() {
        let cases = [
            ("", "expected a UTC time"),
            ("2026-12-24T08:00:00", "time zone"),
            ("2026-12-24T08:00:00+01:00", "only UTC"),
            ("2026-12-24T08:00:00-05:00", "only UTC"),
            ("2026-12-24 08:00:00Z", "expected a UTC time"),
            ("2026-12-24T08:00Z", "expected a UTC time"),
            ("26-12-24T08:00:00Z", "expected a UTC time"),
            ("2026-13-01T00:00:00Z", "no such date"),
            ("2026-02-29T00:00:00Z", "no such date"),
            ("2026-04-31T00:00:00Z", "no such date"),
            ("2026-12-00T00:00:00Z", "no such date"),
            ("2026-12-24T24:00:00Z", "no such time"),
            ("2026-12-24T08:60:00Z", "no such time"),
            ("2026-12-24T08:00:60Z", "no such time"),
            ("1969-12-31T23:59:59Z", "year"),
            ("2026-12-24T08:00:00.Z", "fraction"),
            ("2026-12-24T08:00:00.1234567890Z", "fraction"),
            ("2026-12-24T08:00:00.5xZ", "fraction"),
            ("2026-12-24T08:00:00ZZ", "expected a UTC time"),
            ("2026-12-24T08:00:00zz", "time zone"),
            ("ääääääää", "expected a UTC time"),
        ];
        for (text, reason) in cases {
            let err = parse_utc(text).expect_err(text);
            assert!(err.contains(reason), "{text}: {err}");
        }
    }

    #[test]
    fn formatting_reads_back() {
        for seconds in [0, 951_868_799, 1_798_099_200, 253_402_300_799] {
            for nanos in [0, 1, 500_000_000, 123_456_789] {
                let time = at(seconds, nanos);
                assert_eq!(parse_utc(&rfc3339_exact(time)), Ok(time));
            }
        }
        assert_eq!(
            rfc3339(at(1_798_099_200, 500_000_000)),
            "2026-12-24T08:00:00Z"
        );
        assert_eq!(
            rfc3339_exact(at(1_798_099_200, 500_000_000)),
            "2026-12-24T08:00:00.5Z"
        );
    }

    #[test]
    fn every_day_of_a_leap_cycle_round_trips() {
        for days in 0..(4 * 366) {
            let (year, month, day) = civil_from_days(days);
            let (month, day) = (i64::from(month), i64::from(day));
            assert_eq!(days_from_civil(year, month, day), days);
            assert!(day >= 1 && day <= days_in_month(year, month));
        }
    }
}
