//! The controller as a labwire [`Device`]: connect (identify only: starting or
//! restarting the daemon never sends a setting), poll into the status, execute the
//! validated [`Command`]s and report their read-backs in the daemon's unit.
//!
//! The controller reads each input in its own display unit; the daemon never changes
//! it. It reads the units with every poll and converts, both ways: status values into
//! `--unit`, command temperatures into the unit of the loop's source input.
//!
//! Each poll also drives the running profiles ([`Profiles`]: the setpoint is sent from
//! here only, so it keeps the controller's pacing) and sets the causes of the device
//! alarms ([`Alarms`]). Profile commands and `ack_alarm` need no link to the controller.

use crate::alarms::{AlarmSettings, Alarms};
use crate::commands::{Command, Context, SetpointLimits, COMMANDS};
use crate::driver::Cryocon;
use crate::model::Model;
use crate::poll::Poll;
use crate::profiles::{ProfileCommand, Profiles, MAX_LOOPS, PROFILE_COMMANDS};
use crate::reply::Identity;
use crate::status::{tidy, write_status};
use crate::units::{convert, convert_difference, ReportUnit};
use labwire_daemon::args::check_range;
use labwire_daemon::device_alarms::ACK_ALARM;
use labwire_daemon::{AlarmSelector, CommandSpec, Device, Error, Kwargs, StateFile, StatusBuilder};
use labwire_protocol::{format_number, ErrorCode, Message};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};
use tokio::net::TcpStream;

/// The wall clock profiles and alarms run on; tests pass an accelerated one.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(SystemTime::now)
}

/// A validated request.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    Controller(Command),
    Profile(ProfileCommand),
    AckAlarm(AlarmSelector),
}

fn all_commands() -> &'static [CommandSpec] {
    static ALL: OnceLock<Vec<CommandSpec>> = OnceLock::new();
    ALL.get_or_init(|| {
        COMMANDS
            .iter()
            .chain(PROFILE_COMMANDS)
            .copied()
            .chain([ACK_ALARM])
            .collect()
    })
}

/// How to reach the controller and how the daemon reports.
#[derive(Clone, Debug)]
pub struct Config {
    /// `host:port`.
    pub address: String,
    /// Deadline for each answer of the controller.
    pub timeout: Duration,
    pub unit: ReportUnit,
    /// When set, loops and inputs are known before the first connection and a
    /// controller that identifies as another model is refused.
    pub expected_model: Option<Model>,
    pub limits: SetpointLimits,
    pub alarms: AlarmSettings,
}

pub struct Controller {
    config: Config,
    driver: Option<Cryocon<TcpStream>>,
    identity: Option<Identity>,
    /// The last poll: validation converts temperatures with its units and limits.
    last_poll: Option<Poll>,
    profiles: Profiles,
    alarms: Alarms,
    /// The profile step each loop was last driven in, to notice a new point.
    profile_steps: [Option<usize>; MAX_LOOPS],
    /// Why a loop's profile setpoint was last not sent: logged once, not every poll.
    profile_problems: [Option<String>; MAX_LOOPS],
    clock: Clock,
}

fn kwarg(key: &str, value: impl Into<String>) -> (String, String) {
    (key.to_string(), value.into())
}

fn loop_kwarg(number: u8) -> (String, String) {
    kwarg("loop", number.to_string())
}

impl Controller {
    /// A controller whose profiles are not saved, on the system clock.
    pub fn new(config: Config) -> Self {
        Self::with_profiles(config, Profiles::new(), system_clock())
    }

    /// A controller whose profiles are kept in `state` and resumed from it. A saved
    /// profile outside the command line's setpoint limits is an error naming the file.
    pub fn with_state(config: Config, state: StateFile, clock: Clock) -> Result<Self, String> {
        let limits = config.limits;
        let unit = config.unit.name();
        let profiles = Profiles::restore(state, clock(), |value| {
            let range =
                limits.min.unwrap_or(f64::NEG_INFINITY)..=limits.max.unwrap_or(f64::INFINITY);
            check_range("setpoint", value, &range, unit)
        })?;
        Ok(Self::with_profiles(config, profiles, clock))
    }

    fn with_profiles(config: Config, profiles: Profiles, clock: Clock) -> Self {
        Controller {
            alarms: Alarms::new(config.alarms),
            config,
            driver: None,
            identity: None,
            last_poll: None,
            profiles,
            profile_steps: [None; MAX_LOOPS],
            profile_problems: Default::default(),
            clock,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The identified model, else the expected one.
    pub fn model(&self) -> Option<Model> {
        self.identity
            .as_ref()
            .map(|identity| identity.model)
            .or(self.config.expected_model)
    }

    pub fn last_poll(&self) -> Option<&Poll> {
        self.last_poll.as_ref()
    }

    /// What command validation knows now.
    pub fn context(&self) -> Context<'_> {
        Context {
            model: self.model(),
            poll: self.last_poll.as_ref(),
            unit: self.config.unit,
            limits: self.config.limits,
        }
    }

    pub fn driver(&mut self) -> Result<&mut Cryocon<TcpStream>, Error> {
        self.driver
            .as_mut()
            .ok_or_else(|| Error::not_connected("controller not connected"))
    }

    /// Reads everything; a reply that makes no sense means the link is out of step, so
    /// it is treated as a lost link (a fresh connection is the surest way back).
    pub async fn read(&mut self) -> Result<Poll, Error> {
        let poll = self.driver()?.poll().await.map_err(|err| {
            if err.code == ErrorCode::DeviceError {
                Error::not_connected(format!("{}; reconnecting", err.message))
            } else {
                err
            }
        })?;
        self.last_poll = Some(poll.clone());
        Ok(poll)
    }

    /// A temperature the controller read back (source unit) in the daemon's unit.
    fn reported(&self, value: f64, number: u8) -> String {
        let from = self
            .last_poll
            .as_ref()
            .and_then(|p| p.loop_status(number))
            .map(|l| l.unit);
        from.and_then(|from| convert(value, from, self.config.unit.temp_unit()))
            .map(|value| format_number(tidy(value)))
            .unwrap_or_default()
    }

    pub async fn set_setpoint(&mut self, number: u8, device_value: f64) -> Result<String, Error> {
        let now = self.driver()?.set_setpoint(number, device_value).await?;
        Ok(self.reported(now, number))
    }

    /// Executes a controller command; the kwargs are its read-backs.
    pub async fn execute_command(&mut self, command: Command) -> Result<Kwargs, Error> {
        let unit = self.config.unit.temp_unit();
        match command {
            Command::SetSetpoint { number, setpoint } => {
                let value = self.set_setpoint(number, setpoint.device).await?;
                self.alarms.setpoint_changed(number, (self.clock)());
                Ok(vec![loop_kwarg(number), kwarg("value", value)])
            }
            Command::SetSource { number, input } => {
                let now = self.driver()?.set_source(number, input).await?;
                Ok(vec![
                    loop_kwarg(number),
                    kwarg("input", now.to_ascii_lowercase().to_string()),
                ])
            }
            Command::SetType { number, loop_type } => {
                let now = self.driver()?.set_type(number, loop_type).await?;
                Ok(vec![
                    loop_kwarg(number),
                    kwarg("type", now.word().to_ascii_lowercase()),
                ])
            }
            Command::SetRange { number, range } => {
                let now = self.driver()?.set_range(number, &range).await?;
                Ok(vec![
                    loop_kwarg(number),
                    kwarg("range", now.to_ascii_lowercase()),
                ])
            }
            Command::SetPid { number, p, i, d } => {
                let (p, i, d) = self.driver()?.set_pid(number, p, i, d).await?;
                Ok(vec![
                    loop_kwarg(number),
                    kwarg("p", format_number(p)),
                    kwarg("i", format_number(i)),
                    kwarg("d", format_number(d)),
                ])
            }
            Command::SetRamp { number, device, .. } => {
                let now = self.driver()?.set_ramp_rate(number, device).await?;
                let from = self
                    .last_poll
                    .as_ref()
                    .and_then(|p| p.loop_status(number))
                    .map(|l| l.unit);
                let rate = from
                    .and_then(|from| convert_difference(now, from, unit))
                    .map(|rate| format_number(tidy(rate)))
                    .unwrap_or_default();
                Ok(vec![loop_kwarg(number), kwarg("rate", rate)])
            }
            Command::SetManual { number, power } => {
                let now = self.driver()?.set_manual_power(number, power).await?;
                Ok(vec![loop_kwarg(number), kwarg("power", format_number(now))])
            }
            Command::Control { on } => {
                let now = self.driver()?.set_control(on).await?;
                Ok(vec![kwarg("state", if now { "on" } else { "off" })])
            }
        }
    }
}

impl Controller {
    /// Drives every running profile to where it should be now, from the fresh `poll`
    /// (whose setpoints are updated with the read-backs).
    async fn drive_profiles(&mut self, poll: &mut Poll, now: SystemTime) -> Result<(), Error> {
        let unit = self.config.unit.temp_unit();
        for index in 0..poll.loops.len() {
            let number = poll.loops[index].number;
            let step = self.profiles.step(number, now);
            if step.is_some() && step != self.profile_steps[index] {
                self.alarms.setpoint_changed(number, now);
            }
            self.profile_steps[index] = step;
            let current = poll.loops[index].setpoint_in(unit);
            let Some(target) = self.profiles.target(number, now, current) else {
                continue;
            };
            // Checked again: the loop's source, unit or MAXSet may have changed since
            // the profile was loaded.
            let sent = match self.context().setpoint("profile", number, target) {
                Ok(setpoint) => self.driver()?.set_setpoint(number, setpoint.device).await,
                // A point the loop no longer takes is the profile's problem, not the link's.
                Err(err) => Err(Error::bad_argument(err.message)),
            };
            match sent {
                Ok(now_set) => {
                    poll.loops[index].setpoint = now_set;
                    self.profiles.sent(number, now);
                    self.profile_problems[index] = None;
                }
                Err(err) if err.breaks_link() => return Err(err),
                Err(err) => {
                    if self.profile_problems[index].as_deref() != Some(err.message.as_str()) {
                        tracing::warn!("loop {number} profile setpoint not sent: {}", err.message);
                        self.profile_problems[index] = Some(err.message);
                    }
                }
            }
        }
        self.last_poll = Some(poll.clone());
        Ok(())
    }
}

impl Device for Controller {
    type Command = Request;

    fn kind(&self) -> &'static str {
        "cryocon"
    }

    fn commands(&self) -> &'static [CommandSpec] {
        all_commands()
    }

    fn parse_command(&self, request: &Message) -> Result<Request, Error> {
        let ctx = self.context();
        if request.name == ACK_ALARM.name {
            return self.alarms.latch.parse_ack(request).map(Request::AckAlarm);
        }
        if ProfileCommand::is_profile_command(&request.name) {
            return ProfileCommand::parse(&ctx, request).map(Request::Profile);
        }
        let command = ctx.parse(request)?;
        if let Command::SetSetpoint { number, .. } = command {
            if self.profiles.is_active(number, (self.clock)()) {
                return Err(Error::bad_argument(format!(
                    "loop {number} follows a profile ({}): profile_stop loop={number} first",
                    self.profiles.state(number, (self.clock)()).as_str()
                )));
            }
        }
        Ok(Request::Controller(command))
    }

    fn needs_hardware(&self, request: &Request) -> bool {
        matches!(request, Request::Controller(_))
    }

    async fn connect(&mut self) -> Result<(), Error> {
        let driver = Cryocon::connect(&self.config.address, self.config.timeout).await?;
        let identity = driver.identity().clone();
        if let Some(expected) = self.config.expected_model {
            if identity.model != expected {
                return Err(Error::device_error(format!(
                    "expected a {expected} but the controller at {} is a {}",
                    self.config.address, identity.model
                )));
            }
        }
        if self.identity.as_ref() != Some(&identity) {
            tracing::info!(
                "connected to a Cryo-con {} (serial {}, firmware {})",
                identity.model_name,
                identity.serial,
                identity.firmware
            );
        }
        self.identity = Some(identity);
        self.driver = Some(driver);
        Ok(())
    }

    async fn disconnect(&mut self) {
        self.driver = None;
    }

    async fn poll(&mut self, status: &mut StatusBuilder) -> Result<(), Error> {
        let mut poll = self.read().await?;
        let identity = self
            .identity
            .clone()
            .ok_or_else(|| Error::not_connected("controller not identified"))?;
        let now = (self.clock)();
        self.drive_profiles(&mut poll, now).await?;
        self.alarms.evaluate(&poll, self.config.unit, now);
        write_status(status, &poll, &identity, self.config.unit);
        self.profiles
            .write_status(identity.model.loop_count(), now, status);
        self.alarms.latch.write_status(status);
        Ok(())
    }

    async fn execute(&mut self, request: Request) -> Result<Kwargs, Error> {
        match request {
            Request::Controller(command) => self.execute_command(command).await,
            Request::Profile(command) => self.profiles.execute(command, (self.clock)()).await,
            Request::AckAlarm(which) => Ok(self.alarms.latch.execute_ack(which)),
        }
    }
}
