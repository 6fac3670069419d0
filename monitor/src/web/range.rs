//! The time range of plot and history requests: `from` and `to`, each either
//!
//! - a UTC time (`2026-12-24T08:00:00Z`, fractions of a second allowed, `Z` or `+00:00`), or
//! - seconds since the Unix epoch (a positive number, fractions allowed: `1767225600.5`), or
//! - seconds relative to now (zero or negative: `-3600` is an hour ago, `0` is now), or
//! - `now`.
//!
//! Left out, `to` is now and `from` is [`DEFAULT_SPAN`] before `to`.

use labwire_protocol::parse_number;
use labwire_time::parse_utc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The range when `from` is left out: the last hour.
pub const DEFAULT_SPAN: Duration = Duration::from_secs(3600);
/// The longest range a request may ask for.
pub const LONGEST: Duration = Duration::from_secs(400 * 86_400);

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub from: SystemTime,
    pub to: SystemTime,
}

impl Range {
    /// Read `from`/`to` as given in a query (`None` when left out), relative to `now`.
    pub fn parse(from: Option<&str>, to: Option<&str>, now: SystemTime) -> Result<Range, String> {
        Range::parse_spanning(from, to, now, DEFAULT_SPAN)
    }

    /// As [`Range::parse`], with `from` left out meaning `span` before `to` (the logbook's
    /// lists look back as far as a range may: [`LONGEST`]).
    pub fn parse_spanning(
        from: Option<&str>,
        to: Option<&str>,
        now: SystemTime,
        span: Duration,
    ) -> Result<Range, String> {
        let to = match to {
            Some(text) => instant("to", text, now)?,
            None => now,
        };
        let from = match from {
            Some(text) => instant("from", text, now)?,
            None => to.checked_sub(span).unwrap_or(UNIX_EPOCH),
        };
        let span = to
            .duration_since(from)
            .map_err(|_| "from must be before to".to_string())?;
        if span.is_zero() {
            return Err("from must be before to".into());
        }
        if span > LONGEST {
            return Err(format!(
                "the range is longer than {} days",
                LONGEST.as_secs() / 86_400
            ));
        }
        Ok(Range { from, to })
    }

    pub fn seconds(&self) -> (f64, f64) {
        (super::unix_seconds(self.from), super::unix_seconds(self.to))
    }
}

/// One instant as [the module](self) reads it; `name` is the parameter, for the error.
pub fn instant(name: &str, text: &str, now: SystemTime) -> Result<SystemTime, String> {
    let text = text.trim();
    if text == "now" {
        return Ok(now);
    }
    // Four digits and a dash start a date: then say what is wrong with the date.
    let bytes = text.as_bytes();
    if bytes.len() > 4 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-' {
        return parse_utc(text).map_err(|why| format!("{name}={why}"));
    }
    let bad = || {
        format!(
            "{name}={text:?}: expected a UTC time (2026-12-24T08:00:00Z), Unix seconds, \
             seconds relative to now (-3600), or now"
        )
    };
    let seconds = parse_number(text)
        .filter(|s| s.is_finite())
        .ok_or_else(bad)?;
    let offset = Duration::try_from_secs_f64(seconds.abs()).map_err(|_| bad())?;
    let at = if seconds > 0.0 {
        UNIX_EPOCH.checked_add(offset)
    } else {
        now.checked_sub(offset)
    };
    at.ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn relative_absolute_and_defaults() {
        let now = at(1_800_000_000);
        let r = Range::parse(None, None, now).unwrap();
        assert_eq!((r.from, r.to), (at(1_800_000_000 - 3600), now));
        let r = Range::parse(Some("-900"), Some("0"), now).unwrap();
        assert_eq!((r.from, r.to), (at(1_800_000_000 - 900), now));
        let r = Range::parse(Some("1799990000"), Some("now"), now).unwrap();
        assert_eq!(r.from, at(1_799_990_000));
        let r = Range::parse(Some("1799990000.5"), Some("1799990001"), now).unwrap();
        assert_eq!(
            r.to.duration_since(r.from).unwrap(),
            Duration::from_millis(500)
        );
        let r = Range::parse(Some("123e-5"), Some("1"), now).unwrap();
        assert_eq!(r.to, at(1));
        let r = Range::parse_spanning(None, None, now, LONGEST).unwrap();
        assert_eq!(r.to.duration_since(r.from).unwrap(), LONGEST);
        let r = Range::parse(None, Some("-86400"), now).unwrap();
        assert_eq!(r.to, at(1_800_000_000 - 86_400));
        assert_eq!(r.from, at(1_800_000_000 - 86_400 - 3600));
        // 1799990000 is 2027-01-15T05:13:20Z.
        let r = Range::parse(
            Some("2027-01-15T05:13:20Z"),
            Some("2027-01-15T05:13:20.5+00:00"),
            now,
        )
        .unwrap();
        assert_eq!(r.from, at(1_799_990_000));
        assert_eq!(
            r.to.duration_since(r.from).unwrap(),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn bad_ranges_are_explained() {
        let now = at(1_800_000_000);
        for (from, to, why) in [
            (Some("x"), None, "expected a UTC time"),
            (Some("2027-02-30T00:00:00Z"), None, "no such date"),
            (Some("2027-01-15T05:13:20"), None, "time zone"),
            (Some("2027-01-15T05:13:20+01:00"), None, "only UTC"),
            (Some("-10"), Some("-20"), "before"),
            (Some("-10"), Some("-10"), "before"),
            (Some("1"), None, "longer than"),
            (Some("inf"), None, "expected"),
            (Some("1e300"), None, "expected"),
        ] {
            let err = Range::parse(from, to, now).unwrap_err();
            assert!(err.contains(why), "{from:?} {to:?}: {err}");
        }
    }
}
