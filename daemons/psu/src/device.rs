//! The supply as a labwire [`Device`]: what it reports and which commands it takes.
//!
//! Every argument is checked against the identified model's rating and the tighter
//! per-output limits of the command line before anything is sent, so a refused command
//! never reaches the instrument.
//!
//! Output names are the daemon's, not the instrument's: `set_name` saves them in the
//! state file ([`Psu::with_state`]) and the next start shows them again. A name given
//! with `--channel-name` wins over the saved one for its output at start; restoring
//! names never sends anything to the supply.

use crate::driver::{ChannelState, Identity, Model, Rating, CHANNELS, E36300};
use labwire_daemon::args::check_range;
use labwire_daemon::{Args, CommandSpec, Device, Error, Kwargs, StateFile, StatusBuilder};
use labwire_protocol::{format_bool, format_number, ErrorCode, Message};
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;
use std::time::Duration;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "set_voltage",
        synopsis: "ch=<1-3> value=<V> (voltage setpoint; negative on the E36311A's CH3)",
    },
    CommandSpec {
        name: "set_current",
        synopsis: "ch=<1-3> value=<A> (current limit)",
    },
    CommandSpec {
        name: "output",
        synopsis: "ch=<1-3> state=<on|off>",
    },
    CommandSpec {
        name: "all_off",
        synopsis: "(switch every output off)",
    },
    CommandSpec {
        name: "set_ovp",
        synopsis:
            "ch=<1-3> value=<V> (over-voltage protection level; negative on the E36311A's CH3)",
    },
    CommandSpec {
        name: "set_ocp",
        synopsis: "ch=<1-3> state=<on|off> (over-current protection)",
    },
    CommandSpec {
        name: "clear_protection",
        synopsis: "ch=<1-3> (clear a tripped protection; the output stays off)",
    },
    CommandSpec {
        name: "set_name",
        synopsis: "ch=<1-3> name=<text> (label shown as chN_name; no hardware involved)",
    },
];

/// The over-voltage protection of an output can be programmed up to this multiple of its
/// rated voltage (as on the instrument), so it can sit above any allowed setpoint.
pub const OVP_HEADROOM: f64 = 1.1;

/// Longest accepted output name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Limits from the command line, tighter than the rating. Voltage limits are magnitudes,
/// so `3=10` on the E36311A's negative output allows -10 V..0 V.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Limits {
    pub max_voltage: [Option<f64>; CHANNELS],
    pub max_current: [Option<f64>; CHANNELS],
}

/// How to reach the supply and what to expect of it.
#[derive(Clone, Debug)]
pub struct Config {
    /// `host:port`.
    pub address: String,
    /// Deadline for each answer of the instrument.
    pub timeout: Duration,
    /// When set, the ratings are known before the first connection and an instrument
    /// that identifies as another model is refused.
    pub expected_model: Option<Model>,
    pub limits: Limits,
    /// Labels from the command line; an output without one shows its saved name, else
    /// `chN`.
    pub names: [Option<String>; CHANNELS],
}

pub fn default_names() -> [String; CHANNELS] {
    std::array::from_fn(|i| format!("ch{}", i + 1))
}

/// `name` trimmed, if it is a valid output name (from the command line, `set_name` or
/// the state file).
pub fn check_name(name: &str) -> Result<&str, String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("a name has 1 to {MAX_NAME_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("a name must not contain control characters".into());
    }
    Ok(name)
}

/// What the psu keeps in its state file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedState {
    pub names: [String; CHANNELS],
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    SetVoltage { ch: usize, value: f64 },
    SetCurrent { ch: usize, value: f64 },
    Output { ch: usize, on: bool },
    AllOff,
    SetOvp { ch: usize, value: f64 },
    SetOcp { ch: usize, on: bool },
    ClearProtection { ch: usize },
    SetName { ch: usize, name: String },
}

/// How long closing a link politely may take before it is simply dropped.
const CLOSE_WAIT: Duration = Duration::from_millis(500);

pub struct Psu {
    config: Config,
    names: [String; CHANNELS],
    /// Where `set_name` saves the names; `None`: they last until the daemon stops.
    state: Option<StateFile>,
    driver: Option<E36300>,
    /// The model whose ratings apply: the one last identified, or the expected one.
    model: Option<Model>,
    identity: Option<Identity>,
}

fn state_word(on: bool) -> String {
    if on { "on" } else { "off" }.to_string()
}

impl Psu {
    /// A supply whose names are not saved.
    pub fn new(config: Config) -> Self {
        Self::starting_with(config, default_names(), None)
    }

    /// A supply whose names are saved in `state`, starting with the names saved there
    /// (those given in `config` win). A saved name that is not valid is an error naming
    /// the file.
    pub fn with_state(config: Config, state: StateFile) -> Result<Self, String> {
        let names = match state.load::<SavedState>()? {
            Some(saved) => {
                for name in &saved.names {
                    match check_name(name) {
                        Ok(trimmed) if trimmed == name => Ok(()),
                        Ok(_) => Err("surrounding blanks".to_string()),
                        Err(problem) => Err(problem),
                    }
                    .map_err(|problem| {
                        format!(
                            "state file {}: name {name:?}: {problem}",
                            state.path().display()
                        )
                    })?;
                }
                saved.names
            }
            None => default_names(),
        };
        Ok(Self::starting_with(config, names, Some(state)))
    }

    fn starting_with(config: Config, saved: [String; CHANNELS], state: Option<StateFile>) -> Self {
        let names =
            std::array::from_fn(|i| config.names[i].clone().unwrap_or_else(|| saved[i].clone()));
        Psu {
            names,
            state,
            model: config.expected_model,
            driver: None,
            identity: None,
            config,
        }
    }

    fn driver(&mut self) -> Result<&mut E36300, Error> {
        self.driver
            .as_mut()
            .ok_or_else(|| Error::not_connected("supply not connected"))
    }

    /// The rating of `ch`, which needs to know the model.
    fn rating(&self, ch: usize) -> Result<Rating, Error> {
        let model = self.model.ok_or_else(|| {
            Error::not_connected(
                "the supply has not identified itself yet, so its ratings are unknown",
            )
        })?;
        Ok(model.rating(ch))
    }

    /// The setpoints `set_voltage` accepts for `ch`: the rating, narrowed by `--max-voltage`.
    pub fn voltage_range(&self, ch: usize) -> Result<RangeInclusive<f64>, Error> {
        let rating = self.rating(ch)?;
        let span = match self.config.limits.max_voltage[ch - 1] {
            Some(limit) => limit.min(rating.voltage_span()),
            None => rating.voltage_span(),
        };
        Ok(if rating.is_negative() {
            -span..=0.0
        } else {
            0.0..=span
        })
    }

    /// The current limits `set_current` accepts for `ch`.
    pub fn current_range(&self, ch: usize) -> Result<RangeInclusive<f64>, Error> {
        let rating = self.rating(ch)?;
        let max = match self.config.limits.max_current[ch - 1] {
            Some(limit) => limit.min(rating.current_max),
            None => rating.current_max,
        };
        Ok(0.0..=max)
    }

    /// The protection levels `set_ovp` accepts for `ch`, signed like its voltage. A
    /// command-line voltage limit does not narrow it: a protection above the allowed
    /// setpoints still protects, and lowering it is always safe.
    pub fn ovp_range(&self, ch: usize) -> Result<RangeInclusive<f64>, Error> {
        let rating = self.rating(ch)?;
        let span = rating.voltage_span() * OVP_HEADROOM;
        Ok(if rating.is_negative() {
            -span..=0.0
        } else {
            0.0..=span
        })
    }

    fn channel(args: &mut Args) -> Result<usize, Error> {
        Ok(args.integer_in("ch", 1..=CHANNELS as i64)? as usize)
    }

    fn name(args: &mut Args) -> Result<String, Error> {
        check_name(args.text("name")?)
            .map(str::to_string)
            .map_err(|problem| Error::bad_argument(format!("name=: {problem}")))
    }

    fn write_channel(&self, status: &mut StatusBuilder, ch: usize, state: &ChannelState) {
        let key = |what: &str| format!("ch{ch}_{what}");
        let number = |status: &mut StatusBuilder, what: &str, value: Option<f64>| {
            match value {
                Some(value) => status.number(key(what), value),
                None => status.missing(key(what)),
            };
        };
        status
            .text(key("name"), self.names[ch - 1].clone())
            .flag(key("output"), state.output);
        number(status, "voltage_set", state.voltage_set);
        number(status, "current_set", state.current_set);
        number(status, "voltage", state.voltage);
        number(status, "current", state.current);
        status.text(key("mode"), state.mode.name());
        number(status, "ovp_level", state.ovp_level);
        status
            .flag(key("ovp_tripped"), state.ovp_tripped)
            .flag(key("ocp_enabled"), state.ocp_enabled)
            .flag(key("ocp_tripped"), state.ocp_tripped);
    }

    /// A command-line limit above the rating is harmless (the rating applies) but is
    /// probably a typo or meant for another model.
    fn warn_loose_limits(&self, model: Model) {
        let limits = &self.config.limits;
        for ch in 1..=CHANNELS {
            let rating = model.rating(ch);
            if let Some(volts) = limits.max_voltage[ch - 1].filter(|v| *v > rating.voltage_span()) {
                tracing::warn!(
                    "--max-voltage {ch}={volts} is above the {model}'s {} V rating; the rating applies",
                    rating.voltage_span()
                );
            }
            if let Some(amps) = limits.max_current[ch - 1].filter(|a| *a > rating.current_max) {
                tracing::warn!(
                    "--max-current {ch}={amps} is above the {model}'s {} A rating; the rating applies",
                    rating.current_max
                );
            }
        }
    }

    /// `err` (output `ch` did not come on), with the tripped protection that explains it
    /// if there is one: the instrument itself only says "Settings conflict".
    async fn explain_off(&mut self, ch: usize, err: Error) -> Error {
        let tripped = match self.driver() {
            Ok(driver) => driver.tripped(ch).await,
            Err(_) => return err,
        };
        let which = match tripped {
            Ok((true, _)) => "over-voltage",
            Ok((_, true)) => "over-current",
            Ok(_) => return err,
            // A link failure now matters more than the first refusal.
            Err(link) if link.breaks_link() => return link,
            Err(_) => return err,
        };
        Error::device_error(format!(
            "{}; output {ch} has its {which} protection tripped: clear_protection ch={ch} first",
            err.message
        ))
    }
}

impl Device for Psu {
    type Command = Command;

    fn kind(&self) -> &'static str {
        "psu"
    }

    fn commands(&self) -> &'static [CommandSpec] {
        COMMANDS
    }

    fn parse_command(&self, request: &Message) -> Result<Command, Error> {
        let mut args = Args::new(request);
        let command = match request.name.as_str() {
            "set_voltage" => Command::SetVoltage {
                ch: Self::channel(&mut args)?,
                value: args.number("value")?,
            },
            "set_current" => Command::SetCurrent {
                ch: Self::channel(&mut args)?,
                value: args.number("value")?,
            },
            "output" => Command::Output {
                ch: Self::channel(&mut args)?,
                on: args.switch("state")?,
            },
            "all_off" => Command::AllOff,
            "set_ovp" => Command::SetOvp {
                ch: Self::channel(&mut args)?,
                value: args.number("value")?,
            },
            "set_ocp" => Command::SetOcp {
                ch: Self::channel(&mut args)?,
                on: args.switch("state")?,
            },
            "clear_protection" => Command::ClearProtection {
                ch: Self::channel(&mut args)?,
            },
            "set_name" => Command::SetName {
                ch: Self::channel(&mut args)?,
                name: Self::name(&mut args)?,
            },
            other => return Err(Error::bad_argument(format!("not a psu command: {other}"))),
        };
        args.finish()?;
        match &command {
            Command::SetVoltage { ch, value } => {
                check_range("value", *value, &self.voltage_range(*ch)?, "V")?
            }
            Command::SetCurrent { ch, value } => {
                check_range("value", *value, &self.current_range(*ch)?, "A")?
            }
            Command::SetOvp { ch, value } => {
                check_range("value", *value, &self.ovp_range(*ch)?, "V")?
            }
            _ => {}
        }
        Ok(command)
    }

    fn needs_hardware(&self, command: &Command) -> bool {
        !matches!(command, Command::SetName { .. })
    }

    async fn connect(&mut self) -> Result<(), Error> {
        let driver = E36300::connect(&self.config.address, self.config.timeout).await?;
        let identity = driver.identity().clone();
        if let Some(expected) = self.config.expected_model {
            if identity.model != expected {
                return Err(Error::device_error(format!(
                    "expected an {expected} but the instrument at {} is an {}",
                    self.config.address, identity.model
                )));
            }
        }
        // Said once per instrument, not at every reconnection.
        if self.identity.as_ref() != Some(&identity) {
            tracing::info!(
                "connected to a {} {} (serial {}, firmware {})",
                identity.manufacturer,
                identity.model,
                identity.serial,
                identity.firmware
            );
            self.warn_loose_limits(identity.model);
        }
        self.model = Some(identity.model);
        self.identity = Some(identity);
        self.driver = Some(driver);
        Ok(())
    }

    async fn disconnect(&mut self) {
        if let Some(driver) = self.driver.take() {
            // A VXI-11 link is freed at once on the instrument, which allows few links;
            // a dead one is simply dropped, its TCP connection with it.
            let _ = tokio::time::timeout(CLOSE_WAIT, driver.close()).await;
        }
    }

    async fn poll(&mut self, status: &mut StatusBuilder) -> Result<(), Error> {
        let channels = self.driver()?.read_state().await.map_err(|err| {
            if err.code == ErrorCode::DeviceError {
                // Nonsense where the state should be: a fresh connection is the surest
                // way back in step, and until then the supply is not really reachable.
                Error::not_connected(format!("{}; reconnecting", err.message))
            } else {
                err
            }
        })?;
        for (i, state) in channels.iter().enumerate() {
            self.write_channel(status, i + 1, state);
        }
        match &self.identity {
            Some(identity) => status
                .text("idn_model", identity.model.name())
                .text("idn_serial", identity.serial.clone())
                .text("idn_firmware", identity.firmware.clone()),
            None => status
                .missing("idn_model")
                .missing("idn_serial")
                .missing("idn_firmware"),
        };
        Ok(())
    }

    async fn execute(&mut self, command: Command) -> Result<Kwargs, Error> {
        let ch_kwarg = |ch: usize| ("ch".to_string(), ch.to_string());
        match command {
            Command::SetVoltage { ch, value } => {
                let now = self.driver()?.set_voltage(ch, value).await?;
                Ok(vec![ch_kwarg(ch), ("value".into(), format_number(now))])
            }
            Command::SetCurrent { ch, value } => {
                let now = self.driver()?.set_current(ch, value).await?;
                Ok(vec![ch_kwarg(ch), ("value".into(), format_number(now))])
            }
            Command::Output { ch, on } => {
                let now = match self.driver()?.set_output(ch, on).await {
                    Ok(now) => now,
                    Err(err) if on && err.code == ErrorCode::DeviceError => {
                        return Err(self.explain_off(ch, err).await)
                    }
                    Err(err) => return Err(err),
                };
                if now != on {
                    let err =
                        Error::device_error(format!("output {ch} is still {}", state_word(now)));
                    return Err(if on {
                        self.explain_off(ch, err).await
                    } else {
                        err
                    });
                }
                Ok(vec![ch_kwarg(ch), ("state".into(), state_word(now))])
            }
            Command::AllOff => {
                self.driver()?.all_off().await?;
                Ok(vec![("outputs".into(), "off".into())])
            }
            Command::SetOvp { ch, value } => {
                let now = self.driver()?.set_ovp(ch, value).await?;
                Ok(vec![ch_kwarg(ch), ("value".into(), format_number(now))])
            }
            Command::SetOcp { ch, on } => {
                let now = self.driver()?.set_ocp(ch, on).await?;
                if now != on {
                    return Err(Error::device_error(format!(
                        "over-current protection of output {ch} is still {}",
                        state_word(now)
                    )));
                }
                Ok(vec![ch_kwarg(ch), ("state".into(), state_word(now))])
            }
            Command::ClearProtection { ch } => {
                let driver = self.driver()?;
                driver.clear_protection(ch).await?;
                let (ovp, ocp) = driver.tripped(ch).await?;
                Ok(vec![
                    ch_kwarg(ch),
                    ("ovp_tripped".into(), format_bool(ovp).into()),
                    ("ocp_tripped".into(), format_bool(ocp).into()),
                ])
            }
            Command::SetName { ch, name } => {
                let mut names = self.names.clone();
                names[ch - 1] = name.clone();
                // Saved first: a name that could not be saved is refused, not lost later.
                if let Some(state) = &self.state {
                    state
                        .save(&SavedState {
                            names: names.clone(),
                        })
                        .await?;
                }
                self.names = names;
                Ok(vec![ch_kwarg(ch), ("name".into(), name)])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labwire_protocol::parse_line;

    fn psu(model: Option<Model>, limits: Limits) -> Psu {
        Psu::new(Config {
            address: "127.0.0.1:1".into(),
            timeout: Duration::from_millis(100),
            expected_model: model,
            limits,
            names: Default::default(),
        })
    }

    fn parse(psu: &Psu, line: &str) -> Result<Command, Error> {
        psu.parse_command(&parse_line(line).unwrap())
    }

    fn code(psu: &Psu, line: &str) -> ErrorCode {
        parse(psu, line).unwrap_err().code
    }

    #[test]
    fn commands_parse_keyword_or_positional() {
        let psu = psu(Some(Model::E36313A), Limits::default());
        assert_eq!(
            parse(&psu, "set_voltage ch=2 value=24.5").unwrap(),
            Command::SetVoltage { ch: 2, value: 24.5 }
        );
        assert_eq!(
            parse(&psu, "set_current 1 9.5").unwrap(),
            Command::SetCurrent { ch: 1, value: 9.5 }
        );
        assert_eq!(
            parse(&psu, "output ch=3 state=ON").unwrap(),
            Command::Output { ch: 3, on: true }
        );
        assert_eq!(parse(&psu, "all_off").unwrap(), Command::AllOff);
        assert_eq!(
            parse(&psu, "set_ovp ch=1 value=6.6").unwrap(),
            Command::SetOvp { ch: 1, value: 6.6 }
        );
        assert_eq!(
            parse(&psu, "set_ocp ch=1 state=off").unwrap(),
            Command::SetOcp { ch: 1, on: false }
        );
        // Scripts and web pages may send booleans as 1/0.
        assert_eq!(
            parse(&psu, "output 2 1").unwrap(),
            Command::Output { ch: 2, on: true }
        );
        assert_eq!(
            parse(&psu, "clear_protection 2").unwrap(),
            Command::ClearProtection { ch: 2 }
        );
        assert_eq!(
            parse(&psu, "set_name ch=1 name=\" detector bias \"").unwrap(),
            Command::SetName {
                ch: 1,
                name: "detector bias".into()
            }
        );
    }

    #[test]
    fn bad_arguments_are_refused_with_their_code() {
        let psu = psu(Some(Model::E36313A), Limits::default());
        for (line, expected) in [
            ("set_voltage ch=4 value=1", ErrorCode::OutOfRange),
            ("set_voltage ch=0 value=1", ErrorCode::OutOfRange),
            ("set_voltage ch=x value=1", ErrorCode::BadArgument),
            ("set_voltage value=1", ErrorCode::MissingArgument),
            ("set_voltage ch=1", ErrorCode::MissingArgument),
            ("set_voltage ch=1 value=nan", ErrorCode::BadArgument),
            ("set_voltage ch=1 value=inf", ErrorCode::BadArgument),
            ("set_voltage ch=1 value=6.01", ErrorCode::OutOfRange),
            ("set_voltage ch=2 value=25.5", ErrorCode::OutOfRange),
            ("set_voltage ch=1 value=-1", ErrorCode::OutOfRange),
            ("set_voltage ch=1 value=1 extra", ErrorCode::BadArgument),
            ("set_voltage ch=1 value=1 volts=2", ErrorCode::BadArgument),
            ("set_current ch=1 value=10.5", ErrorCode::OutOfRange),
            ("set_current ch=2 value=2.1", ErrorCode::OutOfRange),
            ("set_current ch=2 value=-0.1", ErrorCode::OutOfRange),
            ("output ch=1 state=maybe", ErrorCode::BadArgument),
            ("output ch=1", ErrorCode::MissingArgument),
            ("all_off now", ErrorCode::BadArgument),
            ("set_ovp ch=1 value=7", ErrorCode::OutOfRange),
            ("set_ovp ch=1 value=-1", ErrorCode::OutOfRange),
            ("set_ocp ch=1 state=2", ErrorCode::BadArgument),
            ("clear_protection", ErrorCode::MissingArgument),
            ("set_name ch=1 name=\"\"", ErrorCode::BadArgument),
            ("set_name ch=1 name=\"a\\tb\"", ErrorCode::BadArgument),
            ("set_name ch=9 name=x", ErrorCode::OutOfRange),
        ] {
            assert_eq!(code(&psu, line), expected, "{line}");
        }
        let long = format!("set_name ch=1 name={}", "x".repeat(MAX_NAME_CHARS + 1));
        assert_eq!(code(&psu, &long), ErrorCode::BadArgument);
    }

    #[test]
    fn ratings_follow_the_model() {
        let e36312a = psu(Some(Model::E36312A), Limits::default());
        assert!(parse(&e36312a, "set_current ch=1 value=5").is_ok());
        assert_eq!(
            code(&e36312a, "set_current ch=1 value=5.5"),
            ErrorCode::OutOfRange
        );
        assert_eq!(
            code(&e36312a, "set_current ch=3 value=1.5"),
            ErrorCode::OutOfRange
        );
        let e36311a = psu(Some(Model::E36311A), Limits::default());
        assert!(parse(&e36311a, "set_voltage ch=3 value=-25").is_ok());
        assert!(parse(&e36311a, "set_voltage ch=3 value=0").is_ok());
        assert_eq!(
            code(&e36311a, "set_voltage ch=3 value=5"),
            ErrorCode::OutOfRange
        );
        assert_eq!(
            code(&e36311a, "set_voltage ch=3 value=-25.1"),
            ErrorCode::OutOfRange
        );
        assert!(parse(&e36311a, "set_voltage ch=2 value=25").is_ok());
        assert!(parse(&e36311a, "set_ovp ch=3 value=-27").is_ok());
        assert_eq!(
            code(&e36311a, "set_ovp ch=3 value=27"),
            ErrorCode::OutOfRange
        );
    }

    #[test]
    fn command_line_limits_narrow_the_rating() {
        let limits = Limits {
            max_voltage: [Some(5.5), None, Some(10.0)],
            max_current: [Some(2.0), Some(50.0), None],
        };
        let e36311a = psu(Some(Model::E36311A), limits);
        assert!(parse(&e36311a, "set_voltage ch=1 value=5.5").is_ok());
        let err = parse(&e36311a, "set_voltage ch=1 value=5.6").unwrap_err();
        assert_eq!(err.code, ErrorCode::OutOfRange);
        assert_eq!(err.message, "value=5.6 is above the limit of 5.5 V");
        assert!(parse(&e36311a, "set_voltage ch=3 value=-10").is_ok());
        assert_eq!(
            code(&e36311a, "set_voltage ch=3 value=-10.5"),
            ErrorCode::OutOfRange
        );
        assert_eq!(
            code(&e36311a, "set_current ch=1 value=2.5"),
            ErrorCode::OutOfRange
        );
        // A limit looser than the rating does not widen it.
        assert_eq!(
            code(&e36311a, "set_current ch=2 value=1.5"),
            ErrorCode::OutOfRange
        );
        // The protection level is not narrowed by the setpoint limit.
        assert!(parse(&e36311a, "set_ovp ch=1 value=6.5").is_ok());
    }

    #[test]
    fn unknown_model_refuses_ranged_settings_only() {
        let psu = psu(None, Limits::default());
        assert_eq!(
            code(&psu, "set_voltage ch=1 value=1"),
            ErrorCode::NotConnected
        );
        // Argument errors are still reported as such.
        assert_eq!(
            code(&psu, "set_voltage ch=1 value=x"),
            ErrorCode::BadArgument
        );
        assert!(parse(&psu, "output ch=1 state=off").is_ok());
        let set_name = parse(&psu, "set_name ch=2 name=x").unwrap();
        assert!(!psu.needs_hardware(&set_name));
        assert!(psu.needs_hardware(&Command::AllOff));
    }

    fn config_naming(names: [Option<String>; CHANNELS]) -> Config {
        Config {
            address: "127.0.0.1:1".into(),
            timeout: Duration::from_millis(100),
            expected_model: None,
            limits: Limits::default(),
            names,
        }
    }

    fn names_of(psu: &Psu) -> Vec<&str> {
        psu.names.iter().map(String::as_str).collect()
    }

    #[tokio::test]
    async fn set_name_is_saved_and_command_line_names_win_at_start() {
        let dir = std::env::temp_dir().join(format!("labwire-psu-names-{}", std::process::id()));
        let path = dir.join("psu.state");
        let _ = std::fs::remove_dir_all(&dir);
        let state = StateFile::open(&path).unwrap();
        let mut psu = Psu::with_state(config_naming(Default::default()), state).unwrap();
        assert_eq!(names_of(&psu), ["ch1", "ch2", "ch3"], "nothing saved yet");
        let command = parse(&psu, "set_name ch=2 name=\"bias rail\"").unwrap();
        psu.execute(command).await.unwrap();

        let restarted = Psu::with_state(
            config_naming(Default::default()),
            StateFile::open(&path).unwrap(),
        )
        .unwrap();
        assert_eq!(names_of(&restarted), ["ch1", "bias rail", "ch3"]);
        let named = config_naming([None, Some("det".into()), None]);
        let restarted = Psu::with_state(named, StateFile::open(&path).unwrap()).unwrap();
        assert_eq!(names_of(&restarted), ["ch1", "det", "ch3"]);

        std::fs::write(&path, r#"{"names": ["ch1", "a\tb", "ch3"]}"#).unwrap();
        let err = Psu::with_state(
            config_naming(Default::default()),
            StateFile::open(&path).unwrap(),
        )
        .err()
        .unwrap();
        assert!(
            err.contains("psu.state") && err.contains("control"),
            "{err}"
        );
        std::fs::write(&path, r#"{"names": ["ch1", "ch2"]}"#).unwrap();
        let state = StateFile::open(&path).unwrap();
        assert!(Psu::with_state(config_naming(Default::default()), state).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
