//! The labwire `Device` of the fermentation chamber: reads the probes (on a blocking
//! thread), runs the [`crate::control`] every poll, raises the alarms, answers the
//! commands, and keeps mode, setpoint, band and profile in the state file.
//!
//! Safety rules kept here: taking hold of the relays reads them and leaves them as they
//! are; losing the beer probe, mode `off`, a relay line that reads back wrong, and
//! stopping (`disconnect`) switch both relays off.

use crate::control::{wish, Controller, Timing};
use crate::probe::{ProbeFault, ProbeReader};
use crate::relays::{Drive, RelayLines};
use labwire_daemon::args::check_range;
use labwire_daemon::device_alarms::ACK_ALARM;
use labwire_daemon::profile::parse_start_time;
use labwire_daemon::{
    AlarmSelector, Args, CommandSpec, Device, DeviceAlarms, Error, Kwargs, Profile, ProfileRun,
    StateFile, StatusBuilder,
};
use labwire_protocol::Message;
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tracing::warn;

/// The widest hysteresis band accepted (°C): wider is no control at all.
pub const MAX_BAND: f64 = 10.0;

pub const ALARMS: &[&str] = &[
    "setpoint_timeout",
    "probe_fault",
    "high_limit",
    "low_limit",
    "relay_mismatch",
];

const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "set_mode",
        synopsis: "mode=off|constant|profile",
    },
    CommandSpec {
        name: "set_setpoint",
        synopsis: "value=<C> (the constant mode's beer temperature)",
    },
    CommandSpec {
        name: "set_band",
        synopsis: "value=<C> (hysteresis: heat below setpoint-band, cool above setpoint+band)",
    },
    CommandSpec {
        name: "profile_load",
        synopsis: "points=<time>:<C>,... (times 0s, 12h, 3d; refused while a run is on)",
    },
    CommandSpec {
        name: "profile_start",
        synopsis: "[at=<YYYY-MM-DDTHH:MM:SSZ>] (default now; mode profile follows it)",
    },
    CommandSpec {
        name: "profile_stop",
        synopsis: "(back to idle; the profile stays loaded)",
    },
    CommandSpec {
        name: "profile_status",
        synopsis: "(the run and the loaded points)",
    },
    ACK_ALARM,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Off,
    Constant,
    Profile,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Constant => "constant",
            Mode::Profile => "profile",
        }
    }
}

/// The settings from the command line.
#[derive(Clone, Debug)]
pub struct Config {
    pub beer_probe: String,
    pub chamber_probe: Option<String>,
    pub setpoints: RangeInclusive<f64>,
    pub timing: Timing,
    pub settle_timeout: Duration,
    /// Beer temperatures that raise `high_limit` / `low_limit` (°C).
    pub high_limit: f64,
    pub low_limit: f64,
    /// The band until `set_band` saves another.
    pub band: f64,
}

/// Monotonic time for the control, wall time for profiles; tests inject their own.
pub trait Clock: Send + 'static {
    fn monotonic(&self) -> Duration;
    fn wall(&self) -> SystemTime;
}

#[derive(Debug)]
pub struct SystemClock(Instant);

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock(Instant::now())
    }
}

impl Clock for SystemClock {
    fn monotonic(&self) -> Duration {
        self.0.elapsed()
    }
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// What the state file keeps. Never the relays: they are read from the lines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Saved {
    mode: Mode,
    setpoint: f64,
    band: f64,
    #[serde(default)]
    profile: ProfileRun,
}

pub enum Command {
    SetMode(Mode),
    SetSetpoint(f64),
    SetBand(f64),
    ProfileLoad(Profile),
    ProfileStart(Option<SystemTime>),
    ProfileStop,
    ProfileStatus,
    AckAlarm(AlarmSelector),
}

pub struct Ferment {
    config: Config,
    lines: Box<dyn RelayLines>,
    probes: Arc<dyn ProbeReader>,
    clock: Box<dyn Clock>,
    state: StateFile,
    saved: Saved,
    /// Present while the lines are held.
    controller: Option<Controller>,
    alarms: DeviceAlarms,
    /// Since when the beer has been outside the band (or the target last changed).
    unsettled_since: Option<Duration>,
}

impl Ferment {
    /// The device, with mode, setpoint, band and profile from the state file. Nothing
    /// touches the relays before [`Device::connect`], and that only reads them.
    pub fn new(
        config: Config,
        lines: Box<dyn RelayLines>,
        probes: Arc<dyn ProbeReader>,
        clock: Box<dyn Clock>,
        state: StateFile,
    ) -> Result<Self, String> {
        let saved = match state.load::<Saved>()? {
            Some(saved) => saved,
            None => Saved {
                mode: Mode::Off,
                setpoint: 20.0_f64.clamp(*config.setpoints.start(), *config.setpoints.end()),
                band: config.band,
                profile: ProfileRun::new(),
            },
        };
        let file = state.path().display().to_string();
        check_range("setpoint", saved.setpoint, &config.setpoints, "C")
            .and_then(|()| check_band(saved.band))
            .and_then(|()| match saved.profile.profile() {
                Some(profile) => {
                    profile.check(|value| check_range("setpoint", value, &config.setpoints, "C"))
                }
                None => Ok(()),
            })
            .map_err(|err| format!("state file {file}: {}", err.message))?;
        Ok(Ferment {
            config,
            lines,
            probes,
            clock,
            state,
            saved,
            controller: None,
            alarms: DeviceAlarms::new(ALARMS),
            unsettled_since: None,
        })
    }

    /// The setpoint the control follows now: `None` when there is none (mode off, or a
    /// profile not running).
    fn target(&self, wall: SystemTime) -> Option<f64> {
        match self.saved.mode {
            Mode::Off => None,
            Mode::Constant => Some(self.saved.setpoint),
            Mode::Profile => self.saved.profile.setpoint(wall),
        }
    }

    /// Switch both relays off now (if held).
    fn switch_off(&mut self) -> Result<(), Error> {
        let now = self.clock.monotonic();
        match self.controller.as_mut() {
            Some(controller) => controller.switch_off(now, self.lines.as_mut()),
            None => Ok(()),
        }
    }

    /// Both probes, read on a blocking thread (each read takes the driver ~750 ms).
    fn read_probes(&self) -> impl std::future::Future<Output = ProbeReadings> + Send + 'static {
        let probes = self.probes.clone();
        let beer = self.config.beer_probe.clone();
        let chamber = self.config.chamber_probe.clone();
        let reading = tokio::task::spawn_blocking(move || {
            (probes.read(&beer), chamber.map(|id| probes.read(&id)))
        });
        async move {
            reading
                .await
                .unwrap_or_else(|err| (Err(ProbeFault::Io(err.to_string())), None))
        }
    }

    async fn save(&mut self, next: Saved) -> Result<(), Error> {
        self.state.save(&next).await?;
        if next.setpoint != self.saved.setpoint || next.mode != self.saved.mode {
            self.unsettled_since = None;
        }
        self.saved = next;
        Ok(())
    }
}

/// The beer probe's reading, and the chamber probe's if there is one.
type ProbeReadings = (Result<f64, ProbeFault>, Option<Result<f64, ProbeFault>>);

fn check_band(band: f64) -> Result<(), Error> {
    if band > 0.0 && band <= MAX_BAND {
        Ok(())
    } else {
        Err(Error::out_of_range(format!(
            "band={band} is outside (0, {MAX_BAND}] C"
        )))
    }
}

fn fault_message(probe: &str, fault: &ProbeFault) -> String {
    format!("{probe} probe: {fault}")
}

impl Device for Ferment {
    type Command = Command;

    fn kind(&self) -> &'static str {
        "ferment"
    }

    fn commands(&self) -> &'static [CommandSpec] {
        COMMANDS
    }

    fn parse_command(&self, request: &Message) -> Result<Command, Error> {
        if request.name == ACK_ALARM.name {
            return self.alarms.parse_ack(request).map(Command::AckAlarm);
        }
        let mut args = Args::new(request);
        let setpoints = &self.config.setpoints;
        let command = match request.name.as_str() {
            "set_mode" => Command::SetMode(args.choice(
                "mode",
                &[
                    ("off", Mode::Off),
                    ("constant", Mode::Constant),
                    ("profile", Mode::Profile),
                ],
            )?),
            "set_setpoint" => {
                Command::SetSetpoint(args.number_in("value", setpoints.clone(), "C")?)
            }
            "set_band" => {
                let band = args.number("value")?;
                check_band(band)?;
                Command::SetBand(band)
            }
            "profile_load" => {
                Command::ProfileLoad(Profile::parse(args.text("points")?, |value| {
                    check_range("setpoint", value, setpoints, "C")
                })?)
            }
            "profile_start" => {
                Command::ProfileStart(args.optional("at").map(parse_start_time).transpose()?)
            }
            "profile_stop" => Command::ProfileStop,
            "profile_status" => Command::ProfileStatus,
            other => {
                return Err(Error::bad_argument(format!(
                    "not a ferment command: {other}"
                )))
            }
        };
        args.finish()?;
        Ok(command)
    }

    fn needs_hardware(&self, _command: &Command) -> bool {
        // Settings: the control applies them at the next poll.
        false
    }

    async fn connect(&mut self) -> Result<(), Error> {
        let found = self.lines.open()?;
        if found.drive().is_none() {
            warn!("heater and cooler found on together");
        }
        self.controller = Some(Controller::adopt(
            self.config.timing,
            found,
            self.clock.monotonic(),
        ));
        Ok(())
    }

    async fn disconnect(&mut self) {
        if let Err(err) = self.switch_off() {
            warn!("cannot switch the relays off: {}", err.message);
        }
        self.lines.close();
        self.controller = None;
    }

    async fn poll(&mut self, status: &mut StatusBuilder) -> Result<(), Error> {
        let (beer, chamber) = self.read_probes().await;
        let now = self.clock.monotonic();
        let wall = self.clock.wall();
        let target = self.target(wall);
        let lines_found = self.lines.read()?;
        let Some(controller) = self.controller.as_mut() else {
            return Err(Error::not_connected("relay lines not held"));
        };

        let mismatch = lines_found != controller.drive().lines();
        let beer_value = beer.as_ref().ok().copied();
        let wanted = if mismatch {
            Drive::Off
        } else {
            wish(controller.drive(), beer_value, target, self.saved.band)
        };
        let driven_before = controller.drive();
        if mismatch || beer_value.is_none() || target.is_none() {
            controller.switch_off(now, self.lines.as_mut())?;
        } else {
            controller.apply(now, wanted, self.lines.as_mut())?;
        }
        let drive = controller.drive();
        let cooler_wait = controller.cooler_wait(now);

        self.alarms.set_condition(
            "relay_mismatch",
            mismatch,
            format!(
                "lines read heater={} cooler={}, driven heater={} cooler={}",
                u8::from(lines_found.heater),
                u8::from(lines_found.cooler),
                u8::from(driven_before.heater()),
                u8::from(driven_before.cooler())
            ),
        );
        let faults: Vec<String> = [
            beer.as_ref().err().map(|f| fault_message("beer", f)),
            chamber
                .as_ref()
                .and_then(|c| c.as_ref().err())
                .map(|f| fault_message("chamber", f)),
        ]
        .into_iter()
        .flatten()
        .collect();
        self.alarms
            .set_condition("probe_fault", !faults.is_empty(), faults.join("; "));
        self.alarms.set_condition(
            "high_limit",
            beer_value.is_some_and(|t| t > self.config.high_limit),
            format!("beer above {} C", self.config.high_limit),
        );
        self.alarms.set_condition(
            "low_limit",
            beer_value.is_some_and(|t| t < self.config.low_limit),
            format!("beer below {} C", self.config.low_limit),
        );
        let settled = match (beer_value, target) {
            (Some(beer), Some(target)) => (beer - target).abs() <= self.saved.band,
            _ => true,
        };
        let unsettled_since = if settled {
            None
        } else {
            Some(self.unsettled_since.unwrap_or(now))
        };
        self.unsettled_since = unsettled_since;
        let timed_out = unsettled_since
            .is_some_and(|since| now.saturating_sub(since) >= self.config.settle_timeout);
        self.alarms.set_condition(
            "setpoint_timeout",
            timed_out,
            format!(
                "beer not within {} C of the setpoint for {} s",
                self.saved.band,
                self.config.settle_timeout.as_secs()
            ),
        );

        let temperature = |out: &mut StatusBuilder, key: &str, value: Option<f64>| {
            match value {
                Some(value) => out.number(key, value),
                None => out.missing(key),
            };
        };
        temperature(status, "beer_temperature", beer_value);
        temperature(status, "chamber_temperature", chamber.and_then(|c| c.ok()));
        let shown_setpoint = match self.saved.mode {
            Mode::Profile => target,
            _ => Some(self.saved.setpoint),
        };
        temperature(status, "setpoint", shown_setpoint);
        status
            .text("mode", self.saved.mode.as_str())
            .number("band", self.saved.band)
            .flag("heater", drive.heater())
            .flag("cooler", drive.cooler())
            .number("cooler_wait", cooler_wait.as_secs() as f64);
        self.saved.profile.write_status("", wall, status);
        self.alarms.write_status(status);
        Ok(())
    }

    async fn execute(&mut self, command: Command) -> Result<Kwargs, Error> {
        let wall = self.clock.wall();
        let mut next = self.saved.clone();
        let mut reply = Kwargs::new();
        match command {
            Command::AckAlarm(which) => return Ok(self.alarms.execute_ack(which)),
            Command::ProfileStatus => return Ok(self.saved.profile.status_kwargs(wall)),
            Command::SetMode(mode) => {
                if mode == Mode::Profile && next.profile.profile().is_none() {
                    return Err(Error::bad_argument(
                        "mode=profile needs a profile: profile_load points=... first",
                    ));
                }
                next.mode = mode;
            }
            Command::SetSetpoint(value) => next.setpoint = value,
            Command::SetBand(value) => next.band = value,
            Command::ProfileLoad(profile) => next.profile.load(profile, wall)?,
            Command::ProfileStart(at) => {
                next.profile.start(at, wall)?;
                next.mode = Mode::Profile;
                reply.push(("mode".into(), next.mode.as_str().into()));
            }
            Command::ProfileStop => next.profile.stop(),
        }
        self.save(next).await?;
        if self.saved.mode == Mode::Off {
            self.switch_off()?;
        }
        Ok(reply)
    }
}
