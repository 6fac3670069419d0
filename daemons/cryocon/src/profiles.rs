//! Setpoint profiles, one per loop, run by the daemon with the shared engine
//! ([`labwire_daemon::profile`]): loading, starting, stopping, what is saved in the state
//! file, and which setpoint each loop should be driven to at a given moment.
//!
//! Profile temperatures are in the daemon's unit, each checked like a `set_setpoint`
//! value when loaded. Runs are wall-clock based (start time in the state file), so after
//! a restart a run simply is where it should be by then; restoring them sends nothing.
//! The setpoint is driven from the poll only: while running, when the profile's value
//! differs from the controller's by more than [`DRIVE_EPSILON`], and once more when a
//! run ends on its last point.

use crate::commands::Context;
use labwire_daemon::profile::{parse_start_time, RunState};
use labwire_daemon::{Args, CommandSpec, Error, Kwargs, Profile, ProfileRun, StateFile};
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// Loops of the largest model; runs are kept for each.
pub const MAX_LOOPS: usize = 4;

/// Smallest setpoint change (daemon unit) worth sending while a profile runs.
pub const DRIVE_EPSILON: f64 = 0.001;

pub const PROFILE_COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "profile_load",
        synopsis: "loop=<1-4> points=\"<time>:<temperature>,...\" (times 30s, 90m, 72h, 10d from the start; first 0s)",
    },
    CommandSpec {
        name: "profile_start",
        synopsis: "loop=<1-4> [at=<ISO 8601 UTC time>] (default now; a past time starts part-way)",
    },
    CommandSpec {
        name: "profile_stop",
        synopsis: "loop=<1-4> (the setpoint stays where it is)",
    },
    CommandSpec {
        name: "profile_status",
        synopsis: "loop=<1-4> (the run and its points)",
    },
];

#[derive(Clone, Debug, PartialEq)]
pub enum ProfileCommand {
    Load { number: u8, profile: Profile },
    Start { number: u8, at: Option<SystemTime> },
    Stop { number: u8 },
    Status { number: u8 },
}

impl ProfileCommand {
    pub fn is_profile_command(name: &str) -> bool {
        PROFILE_COMMANDS.iter().any(|spec| spec.name == name)
    }

    pub fn parse(ctx: &Context, request: &labwire_protocol::Message) -> Result<Self, Error> {
        let mut args = Args::new(request);
        let number = ctx.loop_number(&mut args)?;
        let command = match request.name.as_str() {
            "profile_load" => {
                let text = args.text("points")?;
                args.finish()?;
                let profile = Profile::parse(text, |value| {
                    ctx.setpoint("points", number, value).map(drop)
                })?;
                return Ok(ProfileCommand::Load { number, profile });
            }
            "profile_start" => ProfileCommand::Start {
                number,
                at: args.optional("at").map(parse_start_time).transpose()?,
            },
            "profile_stop" => ProfileCommand::Stop { number },
            _ => ProfileCommand::Status { number },
        };
        args.finish()?;
        Ok(command)
    }
}

/// What the state file holds: the run of each loop (index 0 is loop 1).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SavedProfiles {
    pub profiles: Vec<ProfileRun>,
}

pub struct Profiles {
    runs: Vec<ProfileRun>,
    /// Whether a done run's last point has been sent (so it is sent once, not fought
    /// over with a setpoint set by hand afterwards).
    finished: Vec<bool>,
    state: Option<StateFile>,
}

impl Profiles {
    /// No profiles, nothing saved.
    pub fn new() -> Self {
        Profiles {
            runs: vec![ProfileRun::new(); MAX_LOOPS],
            finished: vec![false; MAX_LOOPS],
            state: None,
        }
    }

    /// The runs saved in `state`, each point checked by `validate` (the command line's
    /// limits may have changed since); an error names the file. A run that ended while
    /// the daemon was down is not sent again.
    pub fn restore(
        state: StateFile,
        now: SystemTime,
        validate: impl Fn(f64) -> Result<(), Error>,
    ) -> Result<Self, String> {
        let saved = state.load::<SavedProfiles>()?.unwrap_or_default();
        if saved.profiles.len() > MAX_LOOPS {
            return Err(format!(
                "state file {}: {} profiles, at most {MAX_LOOPS}",
                state.path().display(),
                saved.profiles.len()
            ));
        }
        let mut runs = saved.profiles;
        runs.resize(MAX_LOOPS, ProfileRun::new());
        for (index, run) in runs.iter().enumerate() {
            if let Some(profile) = run.profile() {
                profile.check(&validate).map_err(|err| {
                    format!(
                        "state file {}: loop {} profile: {}",
                        state.path().display(),
                        index + 1,
                        err.message
                    )
                })?;
            }
        }
        let finished = runs
            .iter()
            .map(|run| run.state(now) == RunState::Done)
            .collect();
        Ok(Profiles {
            runs,
            finished,
            state: Some(state),
        })
    }

    fn run(&self, number: u8) -> &ProfileRun {
        &self.runs[usize::from(number) - 1]
    }

    /// True while loop `number`'s setpoint belongs to a profile (waiting or running).
    pub fn is_active(&self, number: u8, now: SystemTime) -> bool {
        matches!(
            self.run(number).state(now),
            RunState::Waiting | RunState::Running
        )
    }

    pub fn state(&self, number: u8, now: SystemTime) -> RunState {
        self.run(number).state(now)
    }

    /// The step of loop `number`'s run now, while running.
    pub fn step(&self, number: u8, now: SystemTime) -> Option<usize> {
        let status = self.run(number).status(now);
        (status.state == RunState::Running)
            .then_some(status.step)
            .flatten()
    }

    /// The setpoint loop `number` should be driven to now (daemon unit), given the
    /// controller's `current` setpoint; `None`: leave it alone.
    pub fn target(&mut self, number: u8, now: SystemTime, current: Option<f64>) -> Option<f64> {
        let index = usize::from(number) - 1;
        let status = self.runs[index].status(now);
        let wanted = status.setpoint?;
        match status.state {
            RunState::Running => self.finished[index] = false,
            RunState::Done if !self.finished[index] => {}
            _ => return None,
        }
        let differs = current.is_none_or(|current| (wanted - current).abs() > DRIVE_EPSILON);
        if !differs && status.state == RunState::Done {
            // Already there: nothing left to send for this run.
            self.finished[index] = true;
        }
        differs.then_some(wanted)
    }

    /// The target of loop `number` reached the controller.
    pub fn sent(&mut self, number: u8, now: SystemTime) {
        let index = usize::from(number) - 1;
        if self.runs[index].state(now) == RunState::Done {
            self.finished[index] = true;
        }
    }

    /// Executes a profile command, saving the runs first: a change that cannot be
    /// saved is refused, not lost at the next restart.
    pub async fn execute(
        &mut self,
        command: ProfileCommand,
        now: SystemTime,
    ) -> Result<Kwargs, Error> {
        let loop_kwarg = |number: u8| ("loop".to_string(), number.to_string());
        let (number, mut runs) = (command_loop(&command), self.runs.clone());
        let run = &mut runs[usize::from(number) - 1];
        match command {
            ProfileCommand::Load { profile, .. } => {
                let points = profile.points().len();
                run.load(profile, now)?;
                self.commit(runs, number).await?;
                Ok(vec![
                    loop_kwarg(number),
                    ("points".into(), points.to_string()),
                ])
            }
            ProfileCommand::Start { at, .. } => {
                run.start(at, now)?;
                self.commit(runs, number).await?;
                let mut reply = vec![loop_kwarg(number)];
                reply.extend(self.run(number).status_kwargs(now));
                Ok(reply)
            }
            ProfileCommand::Stop { .. } => {
                run.stop();
                self.commit(runs, number).await?;
                Ok(vec![loop_kwarg(number), ("profile".into(), "idle".into())])
            }
            ProfileCommand::Status { .. } => {
                let mut reply = vec![loop_kwarg(number)];
                reply.extend(self.run(number).status_kwargs(now));
                Ok(reply)
            }
        }
    }

    async fn commit(&mut self, runs: Vec<ProfileRun>, number: u8) -> Result<(), Error> {
        if let Some(state) = &self.state {
            state
                .save(&SavedProfiles {
                    profiles: runs.clone(),
                })
                .await?;
        }
        self.runs = runs;
        self.finished[usize::from(number) - 1] = false;
        Ok(())
    }

    /// `loopN_profile`, `_profile_step`, `_profile_elapsed`, `_profile_setpoint`,
    /// `_profile_end` for loops 1..=`loops`.
    pub fn write_status(
        &self,
        loops: u8,
        now: SystemTime,
        status: &mut labwire_daemon::StatusBuilder,
    ) {
        for number in 1..=loops {
            self.run(number)
                .write_status(&format!("loop{number}"), now, status);
        }
    }
}

impl Default for Profiles {
    fn default() -> Self {
        Self::new()
    }
}

fn command_loop(command: &ProfileCommand) -> u8 {
    match command {
        ProfileCommand::Load { number, .. }
        | ProfileCommand::Start { number, .. }
        | ProfileCommand::Stop { number }
        | ProfileCommand::Status { number } => *number,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + seconds)
    }

    async fn running(points: &str) -> Profiles {
        let mut profiles = Profiles::new();
        let profile = Profile::parse(points, |_| Ok(())).unwrap();
        let load = ProfileCommand::Load { number: 1, profile };
        profiles.execute(load, at(0)).await.unwrap();
        let start = ProfileCommand::Start {
            number: 1,
            at: Some(at(0)),
        };
        profiles.execute(start, at(0)).await.unwrap();
        profiles
    }

    #[tokio::test]
    async fn a_run_is_driven_while_it_differs_and_its_last_point_once() {
        let mut p = running("0s:300,100s:200").await;
        assert_eq!(p.target(1, at(50), Some(300.0)), Some(250.0));
        assert_eq!(p.target(1, at(50), Some(250.0005)), None, "within epsilon");
        assert_eq!(p.target(1, at(50), None), Some(250.0), "unknown: send");
        assert!(p.is_active(1, at(50)));
        assert_eq!(p.step(1, at(50)), Some(0));
        // Done: the last point is sent once; a setpoint set by hand later is left alone.
        assert_eq!(p.target(1, at(150), Some(250.0)), Some(200.0));
        p.sent(1, at(150));
        assert_eq!(p.target(1, at(160), Some(180.0)), None);
        assert!(!p.is_active(1, at(160)));
        // Already at the last point when the run ends: nothing to send, then or later.
        let mut q = running("0s:300,100s:200").await;
        assert_eq!(q.target(1, at(150), Some(200.0)), None);
        assert_eq!(q.target(1, at(160), Some(180.0)), None);
        // Waiting and idle loops are never driven.
        assert_eq!(p.target(2, at(50), Some(1.0)), None);
        let later = ProfileCommand::Start {
            number: 1,
            at: Some(at(1000)),
        };
        p.execute(later, at(200)).await.unwrap();
        assert_eq!(p.target(1, at(500), Some(1.0)), None);
        assert!(p.is_active(1, at(500)), "waiting");
    }
}
