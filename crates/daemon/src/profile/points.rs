//! A setpoint profile: points of (time from the start, setpoint), read from the
//! `points="0s:20,2h:-100,..."` argument, and the setpoint they give at any moment.

use crate::device::Error;
use labwire_protocol::{format_number, parse_number};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// At most this many points in one profile.
pub const MAX_POINTS: usize = 1000;

/// The latest point a profile may have: ten years from its start.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 86_400);

/// Time units of a point, largest first (the order [`Profile::to_text`] tries them in).
const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3600), ('m', 60), ('s', 1)];

/// One point: the setpoint `at` this long after the start.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub at: Duration,
    pub setpoint: f64,
}

/// Points starting at 0, in non-decreasing time, with finite setpoints; at least one and
/// at most [`MAX_POINTS`]. Between points the setpoint is interpolated linearly; after
/// the last one it holds the last setpoint. Two points at the same time make a step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredProfile")]
pub struct Profile {
    points: Vec<Point>,
}

/// What a state file holds, checked again when read back (the file may have been edited).
#[derive(Deserialize)]
struct StoredProfile {
    points: Vec<Point>,
}

impl TryFrom<StoredProfile> for Profile {
    type Error = Error;

    fn try_from(stored: StoredProfile) -> Result<Self, Error> {
        Profile::new(stored.points)
    }
}

impl Profile {
    /// A profile from points already in numbers (the invariants above are checked).
    pub fn new(points: Vec<Point>) -> Result<Profile, Error> {
        check_count(points.len())?;
        for (index, point) in points.iter().enumerate() {
            let previous = index.checked_sub(1).map(|i| points[i].at);
            check_time(point.at, previous)
                .and_then(|()| check_setpoint(point.setpoint))
                .map_err(|err| Error::new(err.code, format!("point {index}: {}", err.message)))?;
        }
        Ok(Profile { points })
    }

    /// Read `<time>:<setpoint>,...` (see the module doc for the time forms). Every
    /// setpoint also goes through `validate`, the daemon's own limits. An error names the
    /// offending point by its index (from 0, like `profile_step`) and its text.
    pub fn parse(
        text: &str,
        mut validate: impl FnMut(f64) -> Result<(), Error>,
    ) -> Result<Profile, Error> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::bad_argument(
                "points is empty: expected <time>:<setpoint>,... starting at 0s",
            ));
        }
        check_count(text.split(',').count())?;
        let mut points: Vec<Point> = Vec::new();
        for (index, item) in text.split(',').enumerate() {
            let item = item.trim();
            let point =
                parse_point(item, points.last().map(|p| p.at), &mut validate).map_err(|err| {
                    Error::new(err.code, format!("point {index} {item:?}: {}", err.message))
                })?;
            points.push(point);
        }
        Ok(Profile { points })
    }

    /// Run every setpoint through `validate` again, e.g. for a profile read back from the
    /// state file when the daemon's limits may have changed since it was loaded.
    pub fn check(&self, mut validate: impl FnMut(f64) -> Result<(), Error>) -> Result<(), Error> {
        for (index, point) in self.points.iter().enumerate() {
            validate(point.setpoint).map_err(|err| {
                let text = format!(
                    "{}:{}",
                    format_time(point.at),
                    format_number(point.setpoint)
                );
                Error::new(err.code, format!("point {index} {text:?}: {}", err.message))
            })?;
        }
        Ok(())
    }

    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// The time of the last point, after which the setpoint holds.
    pub fn duration(&self) -> Duration {
        self.last().at
    }

    /// The index of the point whose segment `elapsed` is in: the last point at or before
    /// `elapsed`. From the last point's time on, that is the last index.
    pub fn step_at(&self, elapsed: Duration) -> usize {
        self.points
            .partition_point(|point| point.at <= elapsed)
            .saturating_sub(1)
    }

    /// The setpoint `elapsed` after the start, interpolated between the points around it.
    pub fn setpoint_at(&self, elapsed: Duration) -> f64 {
        let step = self.step_at(elapsed);
        let (from, Some(to)) = (self.points[step], self.points.get(step + 1)) else {
            return self.last().setpoint;
        };
        // from.at <= elapsed < to.at, so the segment has a length.
        let fraction = (elapsed - from.at).as_secs_f64() / (to.at - from.at).as_secs_f64();
        from.setpoint + (to.setpoint - from.setpoint) * fraction
    }

    /// The profile as a `points=` argument, in the largest unit that states each time
    /// exactly (`0s:20,90m:-100,3d:-100`). [`Profile::parse`] reads it back equal.
    pub fn to_text(&self) -> String {
        let items: Vec<String> = self
            .points
            .iter()
            .map(|point| {
                format!(
                    "{}:{}",
                    format_time(point.at),
                    format_number(point.setpoint)
                )
            })
            .collect();
        items.join(",")
    }

    fn last(&self) -> &Point {
        self.points
            .last()
            .expect("a profile has at least one point")
    }
}

fn parse_point(
    item: &str,
    previous: Option<Duration>,
    validate: &mut impl FnMut(f64) -> Result<(), Error>,
) -> Result<Point, Error> {
    let Some((time, setpoint)) = item.split_once(':') else {
        return Err(Error::bad_argument("expected <time>:<setpoint>"));
    };
    let at = parse_time(time.trim())?;
    check_time(at, previous)?;
    let setpoint_text = setpoint.trim();
    let setpoint = parse_number(setpoint_text).ok_or_else(|| {
        Error::bad_argument(format!("setpoint {setpoint_text:?} is not a finite number"))
    })?;
    validate(setpoint)?;
    Ok(Point { at, setpoint })
}

/// `30s`, `90m`, `1.5h`, `10d`: a wire number and a unit.
fn parse_time(text: &str) -> Result<Duration, Error> {
    let needs_unit = || {
        Error::bad_argument(format!(
            "time {text:?} needs a number and a unit: s, m, h or d (e.g. 90m)"
        ))
    };
    let unit = text.chars().last().ok_or_else(needs_unit)?;
    let (_, unit_seconds) = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .ok_or_else(needs_unit)?;
    let number = &text[..text.len() - 1];
    let value = parse_number(number).ok_or_else(needs_unit)?;
    if value < 0.0 {
        return Err(Error::out_of_range(format!(
            "time {text:?} is negative: times count from the start"
        )));
    }
    let seconds = value * *unit_seconds as f64;
    if seconds > MAX_DURATION.as_secs_f64() {
        return Err(Error::out_of_range(format!(
            "time {text:?} is beyond the longest profile, {}d",
            MAX_DURATION.as_secs() / 86_400
        )));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn format_time(at: Duration) -> String {
    if at.subsec_nanos() == 0 && at.as_secs() != 0 {
        let seconds = at.as_secs();
        for (name, unit_seconds) in UNITS {
            if seconds.is_multiple_of(unit_seconds) {
                return format!("{}{name}", seconds / unit_seconds);
            }
        }
    }
    format!("{}s", format_number(at.as_secs_f64()))
}

fn check_count(count: usize) -> Result<(), Error> {
    match count {
        0 => Err(Error::bad_argument("a profile needs at least one point")),
        n if n > MAX_POINTS => Err(Error::out_of_range(format!(
            "{n} points: a profile has at most {MAX_POINTS}"
        ))),
        _ => Ok(()),
    }
}

/// The first point is at the start; each later one no earlier than the one before.
fn check_time(at: Duration, previous: Option<Duration>) -> Result<(), Error> {
    match previous {
        None if !at.is_zero() => Err(Error::bad_argument(format!(
            "the first point must be at 0s (the start), not {}",
            format_time(at)
        ))),
        Some(previous) if at < previous => Err(Error::bad_argument(format!(
            "{} is before the previous point's {}: times must not decrease",
            format_time(at),
            format_time(previous)
        ))),
        _ if at > MAX_DURATION => Err(Error::out_of_range(format!(
            "{} is beyond the longest profile",
            format_time(at)
        ))),
        _ => Ok(()),
    }
}

fn check_setpoint(setpoint: f64) -> Result<(), Error> {
    if setpoint.is_finite() {
        Ok(())
    } else {
        Err(Error::bad_argument("the setpoint is not a finite number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labwire_protocol::ErrorCode;

    fn any(_: f64) -> Result<(), Error> {
        Ok(())
    }

    fn parse(text: &str) -> Result<Profile, Error> {
        Profile::parse(text, any)
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn times_take_units_and_decimals() {
        let profile = parse("0s:20, 30s:21,90m:22,1.5h:23,72h:24,10d:25,10.5d:26").unwrap();
        let times: Vec<f64> = profile
            .points()
            .iter()
            .map(|p| p.at.as_secs_f64())
            .collect();
        assert_eq!(
            times,
            [0.0, 30.0, 5400.0, 5400.0, 259_200.0, 864_000.0, 907_200.0]
        );
        assert_eq!(profile.points()[6].setpoint, 26.0);
        assert_eq!(profile.duration(), secs(907_200.0));
        assert_eq!(parse("0m:-1e2").unwrap().points()[0].setpoint, -100.0);
    }

    #[test]
    fn setpoint_is_interpolated_and_held_after_the_end() {
        let profile = parse("0s:20,100s:-80,100s:-100,200s:-100,300s:0").unwrap();
        assert_eq!(profile.setpoint_at(secs(0.0)), 20.0);
        assert_eq!(profile.setpoint_at(secs(25.0)), -5.0);
        assert_eq!(profile.setpoint_at(secs(50.0)), -30.0);
        // Two points at 100 s: a step, the later one wins from 100 s on.
        assert_eq!(profile.setpoint_at(secs(100.0)), -100.0);
        assert_eq!(profile.setpoint_at(secs(150.0)), -100.0);
        assert_eq!(profile.setpoint_at(secs(250.0)), -50.0);
        assert_eq!(profile.setpoint_at(secs(300.0)), 0.0);
        assert_eq!(profile.setpoint_at(secs(1e6)), 0.0);
        assert_eq!(
            [0.0, 99.9, 100.0, 199.0, 200.0, 299.0, 300.0, 1e6].map(|s| profile.step_at(secs(s))),
            [0, 0, 2, 2, 3, 3, 4, 4]
        );
    }

    #[test]
    fn a_single_point_is_a_constant() {
        let profile = parse("0s:4.5").unwrap();
        assert_eq!(profile.duration(), Duration::ZERO);
        assert_eq!(profile.setpoint_at(Duration::ZERO), 4.5);
        assert_eq!(profile.setpoint_at(secs(10.0)), 4.5);
        assert_eq!(profile.step_at(secs(10.0)), 0);
    }

    #[test]
    fn text_reads_back_equal() {
        for text in [
            "0s:20,90m:-100,3d:-100,3d:5,80h:5.25",
            "0s:1e-6,0.5s:2,61s:3,1.25h:4",
        ] {
            let profile = parse(text).unwrap();
            assert_eq!(parse(&profile.to_text()).unwrap(), profile, "{text}");
        }
        assert_eq!(
            parse("0h:20,1.5h:-1,120m:3").unwrap().to_text(),
            "0s:20,90m:-1,2h:3"
        );
    }

    #[test]
    fn every_parse_error_names_the_point() {
        use ErrorCode::{BadArgument, OutOfRange};
        let cases: &[(&str, ErrorCode, &str)] = &[
            ("", BadArgument, "points is empty"),
            ("  ", BadArgument, "points is empty"),
            (
                "0s",
                BadArgument,
                "point 0 \"0s\": expected <time>:<setpoint>",
            ),
            (
                "0s:20,",
                BadArgument,
                "point 1 \"\": expected <time>:<setpoint>",
            ),
            ("0s:20,,1h:3", BadArgument, "point 1 \"\""),
            (
                "0:20",
                BadArgument,
                "point 0 \"0:20\": time \"0\" needs a number and a unit",
            ),
            (
                "0s:20,1x:3",
                BadArgument,
                "point 1 \"1x:3\": time \"1x\" needs",
            ),
            (
                "0s:20,h:3",
                BadArgument,
                "point 1 \"h:3\": time \"h\" needs",
            ),
            ("0s:20,1 h:3", BadArgument, "time \"1 h\" needs"),
            ("0s:20,infh:3", BadArgument, "time \"infh\" needs"),
            (
                "0s:20,-1h:3",
                OutOfRange,
                "point 1 \"-1h:3\": time \"-1h\" is negative",
            ),
            (
                "0s:20,3651d:3",
                OutOfRange,
                "point 1 \"3651d:3\": time \"3651d\" is beyond",
            ),
            ("0s:20,1e300d:3", OutOfRange, "is beyond"),
            (
                "5s:20",
                BadArgument,
                "point 0 \"5s:20\": the first point must be at 0s (the start), not 5s",
            ),
            (
                "0s:20,2h:3,1h:4",
                BadArgument,
                "point 2 \"1h:4\": 1h is before the previous point's 2h",
            ),
            (
                "0s:abc",
                BadArgument,
                "point 0 \"0s:abc\": setpoint \"abc\" is not a finite number",
            ),
            (
                "0s:20,1h:nan",
                BadArgument,
                "point 1 \"1h:nan\": setpoint \"nan\"",
            ),
            (
                "0s:20,1h:inf",
                BadArgument,
                "setpoint \"inf\" is not a finite number",
            ),
            ("0s:20,1h:1e999", BadArgument, "setpoint \"1e999\""),
            ("0s:20,1h:", BadArgument, "setpoint \"\""),
            ("0s:20,1h:3:4", BadArgument, "setpoint \"3:4\""),
        ];
        for (text, code, message) in cases {
            let err = parse(text).expect_err(text);
            assert_eq!(err.code, *code, "{text}: {}", err.message);
            assert!(err.message.contains(message), "{text}: {}", err.message);
        }
    }

    #[test]
    fn too_many_points_are_refused_before_reading_them() {
        let points = |n: usize| -> String {
            (0..n)
                .map(|i| format!("{i}m:1"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(
            parse(&points(MAX_POINTS)).unwrap().points().len(),
            MAX_POINTS
        );
        let err = parse(&points(MAX_POINTS + 1)).unwrap_err();
        assert_eq!(err.code, ErrorCode::OutOfRange);
        assert_eq!(err.message, "1001 points: a profile has at most 1000");
    }

    #[test]
    fn the_daemon_validator_sees_every_setpoint() {
        let limit = |value: f64| {
            if value < -200.0 {
                Err(Error::out_of_range(format!(
                    "setpoint {value} is below -200 K"
                )))
            } else {
                Ok(())
            }
        };
        let err = Profile::parse("0s:20,1h:-100,2h:-250", limit).unwrap_err();
        assert_eq!(err.code, ErrorCode::OutOfRange);
        assert_eq!(
            err.message,
            "point 2 \"2h:-250\": setpoint -250 is below -200 K"
        );

        let stored = Profile::parse("0s:20,90m:-220", |_| Ok(())).unwrap();
        let err = stored.check(limit).unwrap_err();
        assert_eq!(err.code, ErrorCode::OutOfRange);
        assert_eq!(
            err.message,
            "point 1 \"90m:-220\": setpoint -220 is below -200 K"
        );
        assert_eq!(
            Profile::parse("0s:20", |_| Ok(())).unwrap().check(limit),
            Ok(())
        );

        let mut seen = Vec::new();
        Profile::parse("0s:1,1s:2,2s:3", |v| {
            seen.push(v);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [1.0, 2.0, 3.0]);
    }

    #[test]
    fn points_in_numbers_are_checked_too() {
        let point = |s: u64, setpoint: f64| Point {
            at: Duration::from_secs(s),
            setpoint,
        };
        assert!(Profile::new(vec![point(0, 1.0), point(5, 2.0)]).is_ok());
        let cases = [
            (vec![], "at least one point"),
            (
                vec![point(1, 1.0)],
                "point 0: the first point must be at 0s",
            ),
            (
                vec![point(0, 1.0), point(9, 1.0), point(5, 1.0)],
                "point 2: 5s is before",
            ),
            (
                vec![point(0, f64::NAN)],
                "point 0: the setpoint is not a finite number",
            ),
            (
                vec![point(0, 1.0), point(MAX_DURATION.as_secs() + 1, 1.0)],
                "point 1:",
            ),
        ];
        for (points, message) in cases {
            let err = Profile::new(points).unwrap_err();
            assert!(err.message.contains(message), "{}", err.message);
        }
    }
}
