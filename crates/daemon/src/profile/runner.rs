//! A profile's run: loaded, started now or at a wall-clock time, stopped. Everything is
//! derived from the start time and the clock passed in, so a run read back from the state
//! file after a restart is simply wherever it should be by then.

use super::iso_time;
use super::points::Profile;
use crate::device::{Error, Kwargs};
use crate::status::StatusBuilder;
use labwire_protocol::format_number;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// Where a run is, as reported in `<prefix>_profile`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    /// No profile loaded, or loaded and not started (or stopped).
    Idle,
    /// Started at a time still to come.
    Waiting,
    /// Between its start and its last point: the setpoint follows the profile.
    Running,
    /// Past its last point: the setpoint holds the last point's.
    Done,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Idle => "idle",
            RunState::Waiting => "waiting",
            RunState::Running => "running",
            RunState::Done => "done",
        }
    }
}

/// A run seen at one moment. `None` where the value does not apply (reported empty).
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileStatus {
    pub state: RunState,
    /// The point whose segment the run is in (from 0); running or done only.
    pub step: Option<usize>,
    /// Seconds into the profile (millisecond resolution), at most its duration; running
    /// or done only.
    pub elapsed_s: Option<f64>,
    /// The setpoint the profile asks for now; running or done only.
    pub setpoint: Option<f64>,
    /// When the last point is (or was) reached; waiting, running or done.
    pub end: Option<SystemTime>,
}

/// The profile of one control loop and its run; what a daemon keeps in its state file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProfileRun {
    profile: Option<Profile>,
    #[serde(default, with = "iso_time::serde_optional")]
    start: Option<SystemTime>,
}

impl ProfileRun {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn profile(&self) -> Option<&Profile> {
        self.profile.as_ref()
    }

    /// When the run started or will start; `None` when idle.
    pub fn start_time(&self) -> Option<SystemTime> {
        self.start
    }

    /// Replace the loaded profile. Refused while a run is waiting or running, so a
    /// mistyped load never ends a run of days: `stop` it first.
    pub fn load(&mut self, profile: Profile, now: SystemTime) -> Result<(), Error> {
        self.check_not_active(now, "profile_load")?;
        self.profile = Some(profile);
        self.start = None;
        Ok(())
    }

    /// Start the loaded profile at `at` (`None`: now). A time in the past starts the run
    /// part-way through, where it would be had it started then. Starting again restarts.
    pub fn start(&mut self, at: Option<SystemTime>, now: SystemTime) -> Result<(), Error> {
        if self.profile.is_none() {
            return Err(Error::bad_argument("no profile loaded: profile_load first"));
        }
        self.start = Some(at.unwrap_or(now));
        Ok(())
    }

    /// Back to idle; the profile stays loaded. The setpoint stays where it is (the daemon
    /// does not write it any more).
    pub fn stop(&mut self) {
        self.start = None;
    }

    pub fn state(&self, now: SystemTime) -> RunState {
        self.status(now).state
    }

    /// The setpoint to drive now: `Some` while running or done.
    pub fn setpoint(&self, now: SystemTime) -> Option<f64> {
        self.status(now).setpoint
    }

    pub fn status(&self, now: SystemTime) -> ProfileStatus {
        let idle = ProfileStatus {
            state: RunState::Idle,
            step: None,
            elapsed_s: None,
            setpoint: None,
            end: None,
        };
        let (Some(profile), Some(start)) = (&self.profile, self.start) else {
            return idle;
        };
        let end = start.checked_add(profile.duration());
        let Ok(elapsed) = now.duration_since(start) else {
            return ProfileStatus {
                state: RunState::Waiting,
                end,
                ..idle
            };
        };
        let done = elapsed >= profile.duration();
        let elapsed = elapsed.min(profile.duration());
        ProfileStatus {
            state: if done {
                RunState::Done
            } else {
                RunState::Running
            },
            step: Some(profile.step_at(elapsed)),
            elapsed_s: Some(whole_millis(elapsed)),
            setpoint: Some(profile.setpoint_at(elapsed)),
            end,
        }
    }

    /// `<prefix>_profile`, `_profile_step`, `_profile_elapsed` (s), `_profile_setpoint` and
    /// `_profile_end` (ISO 8601 UTC, whole seconds); empty where not applicable. An empty
    /// `prefix` gives `profile`, `profile_step`, ...
    pub fn write_status(&self, prefix: &str, now: SystemTime, out: &mut StatusBuilder) {
        for (name, value) in self.fields(now) {
            if prefix.is_empty() {
                out.text(name, value);
            } else {
                out.text(format!("{prefix}_{name}"), value);
            }
        }
    }

    /// The `ok profile_status` reply: the status variables without prefix (`profile`,
    /// `profile_step`, ...) and `profile_points`, the loaded profile as a `points=` text
    /// (empty when none is loaded).
    pub fn status_kwargs(&self, now: SystemTime) -> Kwargs {
        let points = self
            .profile
            .as_ref()
            .map(Profile::to_text)
            .unwrap_or_default();
        self.fields(now)
            .into_iter()
            .chain([("profile_points", points)])
            .map(|(name, value)| (name.to_string(), value))
            .collect()
    }

    fn fields(&self, now: SystemTime) -> [(&'static str, String); 5] {
        let status = self.status(now);
        [
            ("profile", status.state.as_str().to_string()),
            (
                "profile_step",
                status.step.map(|step| step.to_string()).unwrap_or_default(),
            ),
            ("profile_elapsed", optional_number(status.elapsed_s)),
            ("profile_setpoint", optional_number(status.setpoint)),
            (
                "profile_end",
                status.end.map(format_time).unwrap_or_default(),
            ),
        ]
    }

    fn check_not_active(&self, now: SystemTime, command: &str) -> Result<(), Error> {
        match self.state(now) {
            RunState::Waiting | RunState::Running => Err(Error::bad_argument(format!(
                "a profile is {}: profile_stop it before {command}",
                self.state(now).as_str()
            ))),
            RunState::Idle | RunState::Done => Ok(()),
        }
    }
}

/// Read the `at=` of `profile_start`: an ISO 8601 UTC time such as `2026-12-24T08:00:00Z`
/// (`Z` or `+00:00`, optional fraction of a second).
pub fn parse_start_time(text: &str) -> Result<SystemTime, Error> {
    labwire_time::parse_utc(text).map_err(|reason| Error::bad_argument(format!("at={reason}")))
}

/// A time as the profile status writes it: ISO 8601 UTC, whole seconds.
pub fn format_time(time: SystemTime) -> String {
    labwire_time::rfc3339(time)
}

fn whole_millis(elapsed: Duration) -> f64 {
    elapsed.as_millis() as f64 / 1000.0
}

fn optional_number(value: Option<f64>) -> String {
    value.map(format_number).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use labwire_protocol::ErrorCode;
    use std::time::UNIX_EPOCH;

    /// 2026-12-24T08:00:00Z
    const CHRISTMAS_EVE: u64 = 1_798_099_200;

    fn clock(seconds: f64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(CHRISTMAS_EVE) + Duration::from_secs_f64(seconds)
    }

    fn before(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(CHRISTMAS_EVE - seconds)
    }

    fn profile(text: &str) -> Profile {
        Profile::parse(text, |_| Ok(())).unwrap()
    }

    fn loaded(text: &str) -> ProfileRun {
        let mut run = ProfileRun::new();
        run.load(profile(text), clock(0.0)).unwrap();
        run
    }

    fn vars(run: &ProfileRun, prefix: &str, now: SystemTime) -> Vec<(String, String)> {
        let mut out = StatusBuilder::new();
        run.write_status(prefix, now, &mut out);
        out.vars().to_vec()
    }

    fn values(run: &ProfileRun, now: SystemTime) -> [String; 5] {
        vars(run, "loop1", now)
            .into_iter()
            .map(|(_, v)| v)
            .collect::<Vec<_>>()
            .try_into()
            .unwrap()
    }

    #[test]
    fn idle_reports_nothing_made_up() {
        let run = ProfileRun::new();
        assert_eq!(
            vars(&run, "loop1", clock(0.0)),
            [
                ("loop1_profile", "idle"),
                ("loop1_profile_step", ""),
                ("loop1_profile_elapsed", ""),
                ("loop1_profile_setpoint", ""),
                ("loop1_profile_end", ""),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        let run = loaded("0s:20,1h:-100");
        assert_eq!(run.state(clock(0.0)), RunState::Idle);
        assert_eq!(run.setpoint(clock(0.0)), None);
        let keys: Vec<String> = vars(&run, "", clock(0.0))
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            keys,
            [
                "profile",
                "profile_step",
                "profile_elapsed",
                "profile_setpoint",
                "profile_end"
            ]
        );
    }

    #[test]
    fn a_run_goes_through_its_points_and_holds_the_last() {
        let mut run = loaded("0s:20,1h:-100,3h:-100,4h:0");
        run.start(None, clock(0.0)).unwrap();
        let end = "2026-12-24T12:00:00Z";
        let expected = [
            (0.0, ["running", "0", "0", "20", end]),
            (900.0, ["running", "0", "900", "-10", end]),
            (3600.0, ["running", "1", "3600", "-100", end]),
            (7200.5, ["running", "1", "7200.5", "-100", end]),
            (12_600.0, ["running", "2", "12600", "-50", end]),
            (14_400.0, ["done", "3", "14400", "0", end]),
            (1e6, ["done", "3", "14400", "0", end]),
        ];
        for (seconds, want) in expected {
            assert_eq!(
                values(&run, clock(seconds)),
                want.map(String::from),
                "at {seconds} s"
            );
        }
        assert_eq!(run.setpoint(clock(1e6)), Some(0.0));
    }

    #[test]
    fn the_status_reply_names_the_points() {
        let mut run = loaded("0s:20,90m:-100");
        run.start(None, clock(0.0)).unwrap();
        let kwargs = run.status_kwargs(clock(2700.0));
        let expected = [
            ("profile", "running"),
            ("profile_step", "0"),
            ("profile_elapsed", "2700"),
            ("profile_setpoint", "-40"),
            ("profile_end", "2026-12-24T09:30:00Z"),
            ("profile_points", "0s:20,90m:-100"),
        ];
        assert_eq!(
            kwargs,
            expected.map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(ProfileRun::new().status_kwargs(clock(0.0))[5].1, "");
    }

    #[test]
    fn a_run_waits_for_its_start_time() {
        let mut run = loaded("0s:20,2h:30");
        let at = parse_start_time("2026-12-24T08:00:00Z").unwrap();
        run.start(Some(at), before(86_400)).unwrap();
        let day_before = before(86_400);
        assert_eq!(
            values(&run, day_before),
            ["waiting", "", "", "", "2026-12-24T10:00:00Z"].map(String::from)
        );
        assert_eq!(run.setpoint(before(1)), None);
        assert_eq!(run.state(clock(0.0)), RunState::Running);
        assert_eq!(run.setpoint(clock(3600.0)), Some(25.0));
        assert_eq!(run.state(clock(7200.0)), RunState::Done);
    }

    #[test]
    fn a_start_in_the_past_joins_part_way() {
        let mut run = loaded("0s:0,100s:100");
        run.start(Some(before(30)), clock(0.0)).unwrap();
        let status = run.status(clock(0.0));
        assert_eq!(status.state, RunState::Running);
        assert_eq!(status.elapsed_s, Some(30.0));
        assert_eq!(status.setpoint, Some(30.0));
    }

    #[test]
    fn a_single_point_profile_is_done_at_once() {
        let mut run = loaded("0s:4");
        run.start(None, clock(0.0)).unwrap();
        assert_eq!(
            values(&run, clock(0.0)),
            ["done", "0", "0", "4", "2026-12-24T08:00:00Z"].map(String::from)
        );
    }

    #[test]
    fn stop_load_and_start_rules() {
        let mut run = ProfileRun::new();
        let err = run.start(None, clock(0.0)).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadArgument);
        assert!(err.message.contains("no profile loaded"), "{}", err.message);

        run.load(profile("0s:1,1h:2"), clock(0.0)).unwrap();
        run.start(Some(clock(60.0)), clock(0.0)).unwrap();
        let err = run.load(profile("0s:5"), clock(0.0)).unwrap_err();
        assert_eq!(
            err.message,
            "a profile is waiting: profile_stop it before profile_load"
        );
        let err = run.load(profile("0s:5"), clock(120.0)).unwrap_err();
        assert!(err.message.contains("is running"), "{}", err.message);
        assert_eq!(
            run.profile(),
            Some(&profile("0s:1,1h:2")),
            "a refused load changes nothing"
        );
        assert_eq!(run.start_time(), Some(clock(60.0)));

        // Restart from the beginning.
        run.start(None, clock(1800.0)).unwrap();
        assert_eq!(run.status(clock(1800.0)).setpoint, Some(1.0));

        run.stop();
        assert_eq!(run.state(clock(1900.0)), RunState::Idle);
        assert!(run.profile().is_some(), "stop keeps the profile");
        run.start(None, clock(2000.0)).unwrap();
        assert_eq!(run.state(clock(1e6)), RunState::Done);
        run.load(profile("0s:5"), clock(1e6))
            .expect("a finished run may be replaced");
        assert_eq!(run.state(clock(1e6)), RunState::Idle);
    }

    #[test]
    fn a_run_resumes_after_a_restart_where_it_should_be() {
        let mut run = loaded("0s:20,10d:-100");
        run.start(None, clock(0.25)).unwrap();
        let saved = serde_json::to_string(&run).unwrap();
        assert!(saved.contains("\"2026-12-24T08:00:00.25Z\""), "{saved}");
        // The daemon is gone for a day and a half, then reads its state file back.
        let resumed: ProfileRun = serde_json::from_str(&saved).unwrap();
        assert_eq!(resumed, run);
        let status = resumed.status(clock(0.25 + 129_600.0));
        assert_eq!(status.state, RunState::Running);
        assert_eq!(status.elapsed_s, Some(129_600.0));
        assert_eq!(status.setpoint, Some(20.0 - 120.0 * 0.15));

        for run in [ProfileRun::new(), loaded("0s:1,5m:2,5m:3")] {
            let saved = serde_json::to_string(&run).unwrap();
            assert_eq!(
                serde_json::from_str::<ProfileRun>(&saved).unwrap(),
                run,
                "{saved}"
            );
        }
    }

    #[test]
    fn a_damaged_state_file_is_refused() {
        let cases = [
            r#"{"profile":{"points":[]},"start":null}"#,
            r#"{"profile":{"points":[{"at":{"secs":5,"nanos":0},"setpoint":1.0}]},"start":null}"#,
            r#"{"profile":null,"start":"yesterday"}"#,
        ];
        for text in cases {
            assert!(serde_json::from_str::<ProfileRun>(text).is_err(), "{text}");
        }
        let minimal: ProfileRun = serde_json::from_str(r#"{"profile":null}"#).unwrap();
        assert_eq!(minimal, ProfileRun::new());
    }

    #[test]
    fn start_times_are_checked() {
        assert_eq!(
            parse_start_time("2026-12-24T08:00:00+00:00"),
            Ok(clock(0.0))
        );
        assert_eq!(parse_start_time("2026-12-24T08:00:00.5Z"), Ok(clock(0.5)));
        let err = parse_start_time("2026-12-24T09:00:00+01:00").unwrap_err();
        assert_eq!(err.code, ErrorCode::BadArgument);
        assert_eq!(
            err.message,
            "at=\"2026-12-24T09:00:00+01:00\": only UTC times are accepted (end with Z or +00:00)"
        );
        assert_eq!(format_time(clock(0.75)), "2026-12-24T08:00:00Z");
    }
}
