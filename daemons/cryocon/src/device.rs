//! The controller as a labwire [`Device`]: connect (identify only: starting or
//! restarting the daemon never sends a setting), poll into the status, execute the
//! validated [`Command`]s and report their read-backs in the daemon's unit.
//!
//! The controller reads each input in its own display unit; the daemon never changes
//! it. It reads the units with every poll and converts, both ways: status values into
//! `--unit`, command temperatures into the unit of the loop's source input.

use crate::commands::{Command, Context, SetpointLimits, COMMANDS};
use crate::driver::Cryocon;
use crate::model::Model;
use crate::poll::Poll;
use crate::reply::Identity;
use crate::status::{tidy, write_status};
use crate::units::{convert, convert_difference, ReportUnit};
use labwire_daemon::{CommandSpec, Device, Error, Kwargs, StatusBuilder};
use labwire_protocol::{format_number, ErrorCode, Message};
use std::time::Duration;
use tokio::net::TcpStream;

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
}

pub struct Controller {
    config: Config,
    driver: Option<Cryocon<TcpStream>>,
    identity: Option<Identity>,
    /// The last poll: validation converts temperatures with its units and limits.
    last_poll: Option<Poll>,
}

fn kwarg(key: &str, value: impl Into<String>) -> (String, String) {
    (key.to_string(), value.into())
}

fn loop_kwarg(number: u8) -> (String, String) {
    kwarg("loop", number.to_string())
}

impl Controller {
    pub fn new(config: Config) -> Self {
        Controller {
            config,
            driver: None,
            identity: None,
            last_poll: None,
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

impl Device for Controller {
    type Command = Command;

    fn kind(&self) -> &'static str {
        "cryocon"
    }

    fn commands(&self) -> &'static [CommandSpec] {
        COMMANDS
    }

    fn parse_command(&self, request: &Message) -> Result<Command, Error> {
        self.context().parse(request)
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
        let poll = self.read().await?;
        let identity = self
            .identity
            .clone()
            .ok_or_else(|| Error::not_connected("controller not identified"))?;
        write_status(status, &poll, &identity, self.config.unit);
        Ok(())
    }

    async fn execute(&mut self, command: Command) -> Result<Kwargs, Error> {
        self.execute_command(command).await
    }
}
