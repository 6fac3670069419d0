//! Keysight E36311A / E36312A / E36313A triple-output supplies speaking SCPI over a raw
//! TCP socket (port 5025 on the real instrument).
//!
//! [`Instrument`] is the whole instrument as a plain state machine: one LF-terminated
//! line in, at most one reply line out. The socket side ([`spawn`], `session`) only frames
//! lines and applies faults. Time enters through the `now` argument: each channel's
//! operating point (CV/CC into its load) and its protections are re-evaluated before and
//! after every message unit, which is when a client could observe them, so OVP and OCP
//! trips happen on time without a background task.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tracing::debug;

use crate::rng::XorShift;
use crate::scpi::{
    self, error_message, format_error, format_nr3, is_channel_list, parse_bool, parse_channel_list,
    parse_numeric, parse_unit, split_units, Numeric, TreePath,
};
use crate::server::{self, Conn, Fault, SimHandle};

/// The instrument's SCPI socket port.
pub const DEFAULT_PORT: u16 = 5025;
/// Load every channel drives until [`PsuControl::set_load_ohms`] changes it.
pub const DEFAULT_LOAD_OHMS: f64 = 10.0;
/// Settings may exceed the rating by this factor (beyond it: -222).
pub const PROGRAMMABLE_MARGIN: f64 = 1.03;
/// The OVP level may be set up to this factor of the rated voltage, its default.
pub const OVP_MARGIN: f64 = 1.10;
/// OCP delay after `*RST`.
pub const DEFAULT_OCP_DELAY: Duration = Duration::from_millis(20);
/// Longest OCP delay accepted, in seconds.
pub const MAX_OCP_DELAY_S: f64 = 10.0;
/// `SYST:ERR?` queue length; the last slot becomes -350 on overflow.
pub const ERROR_QUEUE_CAPACITY: usize = 20;
/// Longest accepted input line; longer lines are dropped with -363.
pub const MAX_LINE: usize = 4096;
/// What `SYST:VERS?` answers.
pub const SCPI_VERSION: &str = "1999.0";

/// One output's rating. `max_voltage` is negative for a negative output (CH3 of the
/// E36311A), whose settings then run from 0 down to `PROGRAMMABLE_MARGIN * max_voltage`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChannelRating {
    pub max_voltage: f64,
    pub max_current: f64,
}

const fn rating(max_voltage: f64, max_current: f64) -> ChannelRating {
    ChannelRating {
        max_voltage,
        max_current,
    }
}

const E36311A: [ChannelRating; 3] = [rating(6.0, 5.0), rating(25.0, 1.0), rating(-25.0, 1.0)];
const E36312A: [ChannelRating; 3] = [rating(6.0, 5.0), rating(25.0, 1.0), rating(25.0, 1.0)];
const E36313A: [ChannelRating; 3] = [rating(6.0, 10.0), rating(25.0, 2.0), rating(25.0, 2.0)];

/// The simulated models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Model {
    E36311A,
    E36312A,
    #[default]
    E36313A,
}

impl Model {
    pub const ALL: [Model; 3] = [Model::E36311A, Model::E36312A, Model::E36313A];

    /// The model field of `*IDN?`.
    pub fn idn_model(&self) -> &'static str {
        match self {
            Model::E36311A => "E36311A",
            Model::E36312A => "E36312A",
            Model::E36313A => "E36313A",
        }
    }

    /// Ratings of CH1, CH2, CH3.
    pub fn ratings(&self) -> &'static [ChannelRating] {
        match self {
            Model::E36311A => &E36311A,
            Model::E36312A => &E36312A,
            Model::E36313A => &E36313A,
        }
    }

    pub fn channel_count(&self) -> usize {
        self.ratings().len()
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.idn_model())
    }
}

/// Why a model name was not understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseModelError(String);

impl fmt::Display for ParseModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown model {:?}: expected e36311a, e36312a or e36313a",
            self.0
        )
    }
}

impl std::error::Error for ParseModelError {}

impl FromStr for Model {
    type Err = ParseModelError;

    /// `e36313a`, `E36313A`, ... (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Model::ALL
            .into_iter()
            .find(|m| m.idn_model().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParseModelError(s.to_string()))
    }
}

/// How a supply simulator starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PsuOptions {
    pub model: Model,
    /// Serial number field of `*IDN?`.
    pub serial: String,
    /// Firmware field of `*IDN?`.
    pub firmware: String,
    /// Seed of the measurement noise (and of junk bytes), for reproducible runs.
    pub seed: u64,
}

impl Default for PsuOptions {
    fn default() -> Self {
        PsuOptions {
            model: Model::E36313A,
            serial: "MY59000001".to_string(),
            firmware: "1.0.4-1.0.4-1.00".to_string(),
            seed: 1,
        }
    }
}

/// A channel's regulation state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Output off (or tripped).
    Off,
    ConstantVoltage,
    ConstantCurrent,
}

/// One channel's state as [`PsuControl::channel`] reports it. `voltage` and `current`
/// are the noise-free values `MEAS:VOLT?`/`MEAS:CURR?` scatter around.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ChannelSnapshot {
    pub voltage_set: f64,
    pub current_set: f64,
    pub output: bool,
    pub voltage: f64,
    pub current: f64,
    pub mode: Mode,
    pub ovp_level: f64,
    pub ovp_tripped: bool,
    pub ocp_enabled: bool,
    pub ocp_delay: Duration,
    pub ocp_tripped: bool,
    pub load_ohms: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quantity {
    Voltage,
    Current,
    OvpLevel,
    OcpDelay,
}

impl Quantity {
    /// The base unit suffix SCPI accepts after a number of this kind.
    fn unit(self) -> &'static str {
        match self {
            Quantity::Voltage | Quantity::OvpLevel => "V",
            Quantity::Current => "A",
            Quantity::OcpDelay => "S",
        }
    }
}

#[derive(Clone, Debug)]
struct Channel {
    rating: ChannelRating,
    voltage_set: f64,
    current_set: f64,
    output: bool,
    ovp_level: f64,
    ovp_tripped: bool,
    ocp_enabled: bool,
    ocp_delay: f64,
    ocp_tripped: bool,
    load_ohms: f64,
    /// Since when the channel has been in CC, for the OCP delay.
    cc_since: Option<Instant>,
}

impl Channel {
    fn new(rating: ChannelRating) -> Self {
        let mut channel = Channel {
            rating,
            voltage_set: 0.0,
            current_set: 0.0,
            output: false,
            ovp_level: 0.0,
            ovp_tripped: false,
            ocp_enabled: false,
            ocp_delay: 0.0,
            ocp_tripped: false,
            load_ohms: DEFAULT_LOAD_OHMS,
            cc_since: None,
        };
        channel.reset();
        channel
    }

    /// The `*RST` state; the load is physics, not a setting, so it stays.
    fn reset(&mut self) {
        self.voltage_set = 0.0;
        self.current_set = 0.0;
        self.output = false;
        self.ovp_level = self.limits(Quantity::OvpLevel).2;
        self.ovp_tripped = false;
        self.ocp_enabled = false;
        self.ocp_delay = DEFAULT_OCP_DELAY.as_secs_f64();
        self.ocp_tripped = false;
        self.cc_since = None;
    }

    fn polarity(&self) -> f64 {
        if self.rating.max_voltage < 0.0 {
            -1.0
        } else {
            1.0
        }
    }

    /// (MIN, MAX, DEF) of a setting; on a negative output MAX is the most negative.
    fn limits(&self, quantity: Quantity) -> (f64, f64, f64) {
        let volts = self.rating.max_voltage;
        match quantity {
            Quantity::Voltage => (0.0, volts * PROGRAMMABLE_MARGIN, 0.0),
            Quantity::Current => (0.0, self.rating.max_current * PROGRAMMABLE_MARGIN, 0.0),
            Quantity::OvpLevel => (0.0, volts * OVP_MARGIN, volts * OVP_MARGIN),
            Quantity::OcpDelay => (0.0, MAX_OCP_DELAY_S, DEFAULT_OCP_DELAY.as_secs_f64()),
        }
    }

    fn get(&self, quantity: Quantity) -> f64 {
        match quantity {
            Quantity::Voltage => self.voltage_set,
            Quantity::Current => self.current_set,
            Quantity::OvpLevel => self.ovp_level,
            Quantity::OcpDelay => self.ocp_delay,
        }
    }

    fn set(&mut self, quantity: Quantity, value: f64) {
        match quantity {
            Quantity::Voltage => self.voltage_set = value,
            Quantity::Current => self.current_set = value,
            Quantity::OvpLevel => self.ovp_level = value,
            Quantity::OcpDelay => self.ocp_delay = value,
        }
    }

    /// The value a numeric parameter asks for, or -222 when it is outside the limits.
    fn resolve(&self, quantity: Quantity, arg: Numeric) -> Result<f64, i32> {
        let (min, max, def) = self.limits(quantity);
        match arg {
            Numeric::Min => Ok(min),
            Numeric::Max => Ok(max),
            Numeric::Def => Ok(def),
            Numeric::Value(value) => {
                let (low, high) = (min.min(max), min.max(max));
                // Tolerate float noise in what the client computed (6.18 may arrive
                // as 6.1800000000000001).
                let slack = 1e-9 * high.abs().max(low.abs()).max(1.0);
                if value.is_finite() && value >= low - slack && value <= high + slack {
                    Ok(value.clamp(low, high))
                } else {
                    Err(scpi::DATA_OUT_OF_RANGE)
                }
            }
        }
    }

    fn tripped(&self) -> bool {
        self.ovp_tripped || self.ocp_tripped
    }

    /// Output voltage and current into the load. The current carries the voltage's
    /// sign, so a negative output reports negative amps.
    fn operating_point(&self) -> (f64, f64, Mode) {
        if !self.output {
            return (0.0, 0.0, Mode::Off);
        }
        let sign = self.polarity();
        let volts = self.voltage_set.abs();
        let ohms = self.load_ohms;
        let wanted = if ohms > 0.0 {
            volts / ohms
        } else {
            f64::INFINITY
        };
        if wanted > self.current_set {
            let limited = if ohms > 0.0 {
                self.current_set * ohms
            } else {
                0.0
            };
            (
                sign * limited,
                sign * self.current_set,
                Mode::ConstantCurrent,
            )
        } else {
            (sign * volts, sign * wanted, Mode::ConstantVoltage)
        }
    }

    /// Applies the protections at time `now`.
    fn settle(&mut self, now: Instant) {
        if !self.output {
            self.cc_since = None;
            return;
        }
        let (volts, _, mode) = self.operating_point();
        if volts.abs() > self.ovp_level.abs() + 1e-9 {
            debug!(volts, level = self.ovp_level, "OVP trip");
            self.output = false;
            self.ovp_tripped = true;
            self.cc_since = None;
            return;
        }
        if mode != Mode::ConstantCurrent {
            self.cc_since = None;
            return;
        }
        let since = *self.cc_since.get_or_insert(now);
        if self.ocp_enabled && now.saturating_duration_since(since).as_secs_f64() >= self.ocp_delay
        {
            debug!(delay = self.ocp_delay, "OCP trip");
            self.output = false;
            self.ocp_tripped = true;
            self.cc_since = None;
        }
    }

    fn snapshot(&self) -> ChannelSnapshot {
        let (voltage, current, mode) = self.operating_point();
        ChannelSnapshot {
            voltage_set: self.voltage_set,
            current_set: self.current_set,
            output: self.output,
            voltage,
            current,
            mode,
            ovp_level: self.ovp_level,
            ovp_tripped: self.ovp_tripped,
            ocp_enabled: self.ocp_enabled,
            ocp_delay: Duration::from_secs_f64(self.ocp_delay),
            ocp_tripped: self.ocp_tripped,
            load_ohms: self.load_ohms,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    Idn,
    Rst,
    Cls,
    Opc,
    OpcQ,
    EsrQ,
    Ese,
    EseQ,
    StbQ,
    Sre,
    SreQ,
    Wai,
    TstQ,
    SystErrQ,
    SystVersQ,
    InstSel,
    InstSelQ,
    InstNsel,
    InstNselQ,
    Appl,
    ApplQ,
    Set(Quantity),
    SetQ(Quantity),
    VoltProtTripQ,
    CurrProtStat,
    CurrProtStatQ,
    CurrProtTripQ,
    Outp,
    OutpQ,
    OutpProtCle,
    MeasVoltQ,
    MeasCurrQ,
}

/// Common commands: name, query?, command.
const COMMON: &[(&str, bool, Cmd)] = &[
    ("IDN", true, Cmd::Idn),
    ("RST", false, Cmd::Rst),
    ("CLS", false, Cmd::Cls),
    ("OPC", false, Cmd::Opc),
    ("OPC", true, Cmd::OpcQ),
    ("ESR", true, Cmd::EsrQ),
    ("ESE", false, Cmd::Ese),
    ("ESE", true, Cmd::EseQ),
    ("STB", true, Cmd::StbQ),
    ("SRE", false, Cmd::Sre),
    ("SRE", true, Cmd::SreQ),
    ("WAI", false, Cmd::Wai),
    ("TST", true, Cmd::TstQ),
];

/// The command tree in manual notation: pattern, query?, command. First match wins.
const TREE: &[(&str, bool, Cmd)] = &[
    ("SYSTem:ERRor[:NEXT]", true, Cmd::SystErrQ),
    ("SYSTem:VERSion", true, Cmd::SystVersQ),
    ("INSTrument[:SELect]", false, Cmd::InstSel),
    ("INSTrument[:SELect]", true, Cmd::InstSelQ),
    ("INSTrument:NSELect", false, Cmd::InstNsel),
    ("INSTrument:NSELect", true, Cmd::InstNselQ),
    ("APPLy", false, Cmd::Appl),
    ("APPLy", true, Cmd::ApplQ),
    (
        "[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]",
        false,
        Cmd::Set(Quantity::Voltage),
    ),
    (
        "[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]",
        true,
        Cmd::SetQ(Quantity::Voltage),
    ),
    (
        "[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]",
        false,
        Cmd::Set(Quantity::Current),
    ),
    (
        "[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]",
        true,
        Cmd::SetQ(Quantity::Current),
    ),
    (
        "[SOURce:]VOLTage:PROTection[:LEVel]",
        false,
        Cmd::Set(Quantity::OvpLevel),
    ),
    (
        "[SOURce:]VOLTage:PROTection[:LEVel]",
        true,
        Cmd::SetQ(Quantity::OvpLevel),
    ),
    (
        "[SOURce:]VOLTage:PROTection:TRIPped",
        true,
        Cmd::VoltProtTripQ,
    ),
    (
        "[SOURce:]CURRent:PROTection:STATe",
        false,
        Cmd::CurrProtStat,
    ),
    (
        "[SOURce:]CURRent:PROTection:STATe",
        true,
        Cmd::CurrProtStatQ,
    ),
    (
        "[SOURce:]CURRent:PROTection:DELay[:TIME]",
        false,
        Cmd::Set(Quantity::OcpDelay),
    ),
    (
        "[SOURce:]CURRent:PROTection:DELay[:TIME]",
        true,
        Cmd::SetQ(Quantity::OcpDelay),
    ),
    (
        "[SOURce:]CURRent:PROTection:TRIPped",
        true,
        Cmd::CurrProtTripQ,
    ),
    ("OUTPut[:STATe]", false, Cmd::Outp),
    ("OUTPut[:STATe]", true, Cmd::OutpQ),
    ("OUTPut:PROTection:CLEar", false, Cmd::OutpProtCle),
    ("MEASure[:SCALar]:VOLTage[:DC]", true, Cmd::MeasVoltQ),
    ("MEASure[:SCALar]:CURRent[:DC]", true, Cmd::MeasCurrQ),
];

fn lookup(common: bool, query: bool, keywords: &[String]) -> Option<Cmd> {
    if common {
        let name = keywords.first()?;
        return COMMON
            .iter()
            .find(|(n, q, _)| *q == query && n.eq_ignore_ascii_case(name))
            .map(|(_, _, cmd)| *cmd);
    }
    TREE.iter()
        .find(|(pattern, q, _)| *q == query && scpi::pattern_matches(pattern, keywords))
        .map(|(_, _, cmd)| *cmd)
}

/// Command errors (-1xx) mean the parser lost track of the line, so the rest of it is
/// discarded; execution errors (-2xx) only cost their own unit.
fn aborts_line(code: i32) -> bool {
    (-199..=-100).contains(&code)
}

/// Event status register bit that an error number sets.
fn esr_bit(code: i32) -> u8 {
    match code {
        -199..=-100 => 0x20,
        -299..=-200 => 0x10,
        -399..=-300 => 0x08,
        -499..=-400 => 0x04,
        c if c > 0 => 0x08,
        _ => 0,
    }
}

/// `[<chanlist>]`.
fn optional_list<'a>(params: &[&'a str]) -> Result<Option<&'a str>, i32> {
    match params {
        [] => Ok(None),
        [list] if is_channel_list(list) => Ok(Some(list)),
        [_] => Err(scpi::DATA_TYPE_ERROR),
        _ => Err(scpi::PARAMETER_NOT_ALLOWED),
    }
}

/// `<value>[,<chanlist>]`.
fn value_and_list<'a>(params: &[&'a str]) -> Result<(&'a str, Option<&'a str>), i32> {
    match params {
        [] => Err(scpi::MISSING_PARAMETER),
        [only] if is_channel_list(only) => Err(scpi::MISSING_PARAMETER),
        [value] => Ok((value, None)),
        [value, list] if is_channel_list(list) => Ok((value, Some(list))),
        [_, _] => Err(scpi::DATA_TYPE_ERROR),
        _ => Err(scpi::PARAMETER_NOT_ALLOWED),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bound {
    Min,
    Max,
}

/// `[MIN|MAX][,<chanlist>]` of a setting query.
fn bound_and_list<'a>(params: &[&'a str]) -> Result<(Option<Bound>, Option<&'a str>), i32> {
    let bound = |text: &str| match parse_numeric(text, "") {
        Ok(Numeric::Min) => Ok(Bound::Min),
        Ok(Numeric::Max) => Ok(Bound::Max),
        _ => Err(scpi::ILLEGAL_PARAMETER_VALUE),
    };
    match params {
        [] => Ok((None, None)),
        [list] if is_channel_list(list) => Ok((None, Some(list))),
        [which] => Ok((Some(bound(which)?), None)),
        [which, list] if is_channel_list(list) => Ok((Some(bound(which)?), Some(list))),
        [_, _] => Err(scpi::DATA_TYPE_ERROR),
        _ => Err(scpi::PARAMETER_NOT_ALLOWED),
    }
}

fn no_params(params: &[&str]) -> Result<(), i32> {
    if params.is_empty() {
        Ok(())
    } else {
        Err(scpi::PARAMETER_NOT_ALLOWED)
    }
}

fn flag(on: bool) -> String {
    if on { "1" } else { "0" }.to_string()
}

/// An 8-bit register value (`*ESE 32`).
fn parse_register(params: &[&str]) -> Result<u8, i32> {
    let [value] = params else {
        return Err(if params.is_empty() {
            scpi::MISSING_PARAMETER
        } else {
            scpi::PARAMETER_NOT_ALLOWED
        });
    };
    match parse_numeric(value, "")? {
        Numeric::Value(v) if (0.0..=255.0).contains(&v.round()) => Ok(v.round() as u8),
        Numeric::Value(_) => Err(scpi::DATA_OUT_OF_RANGE),
        _ => Err(scpi::DATA_TYPE_ERROR),
    }
}

/// The whole simulated instrument, minus the socket.
#[derive(Debug)]
pub struct Instrument {
    model: Model,
    serial: String,
    firmware: String,
    channels: Vec<Channel>,
    /// Index of the channel commands without a channel list act on.
    selected: usize,
    errors: VecDeque<(i32, String)>,
    esr: u8,
    ese: u8,
    sre: u8,
    noise: bool,
    rng: XorShift,
}

impl Instrument {
    pub fn new(options: &PsuOptions) -> Self {
        Instrument {
            model: options.model,
            serial: options.serial.clone(),
            firmware: options.firmware.clone(),
            channels: options
                .model
                .ratings()
                .iter()
                .map(|r| Channel::new(*r))
                .collect(),
            selected: 0,
            errors: VecDeque::with_capacity(ERROR_QUEUE_CAPACITY),
            esr: 0,
            ese: 0,
            sre: 0,
            noise: true,
            rng: XorShift::new(options.seed),
        }
    }

    /// Queues an error as the instrument would (setting its event status bit). A full
    /// queue turns its last entry into -350 and drops further errors.
    pub fn push_error(&mut self, code: i32, message: &str) {
        self.esr |= esr_bit(code);
        if self.errors.len() < ERROR_QUEUE_CAPACITY {
            self.errors.push_back((code, message.to_string()));
        } else if let Some(last) = self.errors.back_mut() {
            if last.0 != scpi::QUEUE_OVERFLOW {
                *last = (
                    scpi::QUEUE_OVERFLOW,
                    error_message(scpi::QUEUE_OVERFLOW).to_string(),
                );
            }
        }
    }

    fn queue(&mut self, code: i32) {
        self.push_error(code, error_message(code));
    }

    fn settle(&mut self, now: Instant) {
        for channel in &mut self.channels {
            channel.settle(now);
        }
    }

    /// Executes one input line (without its LF) at time `now`, returning the reply line
    /// (without LF) if the line held any successful query.
    pub fn execute_line(&mut self, line: &str, now: Instant) -> Option<String> {
        self.settle(now);
        let units = match split_units(line) {
            Ok(units) => units,
            Err(code) => {
                self.queue(code);
                return None;
            }
        };
        let mut path = TreePath::default();
        let mut replies = Vec::new();
        for text in units {
            let unit = match parse_unit(text) {
                Ok(Some(unit)) => unit,
                Ok(None) => continue,
                Err(code) => {
                    self.queue(code);
                    break;
                }
            };
            let resolved = path.resolve(&unit.header);
            let Some(cmd) = lookup(unit.header.common, unit.header.query, &resolved) else {
                debug!(unit = text, "undefined header");
                self.queue(scpi::UNDEFINED_HEADER);
                break;
            };
            if !unit.header.common {
                path.descend(resolved);
            }
            let result = self.execute(cmd, &unit.params, now);
            self.settle(now);
            match result {
                Ok(Some(reply)) => replies.push(reply),
                Ok(None) => {}
                Err(code) => {
                    debug!(unit = text, code, "error");
                    self.queue(code);
                    if aborts_line(code) {
                        break;
                    }
                }
            }
        }
        (!replies.is_empty()).then(|| replies.join(";"))
    }

    /// Channel indices (0-based) a unit acts on: its list, or the selected channel.
    fn targets(&self, list: Option<&str>) -> Result<Vec<usize>, i32> {
        let Some(list) = list else {
            return Ok(vec![self.selected]);
        };
        parse_channel_list(list)?
            .into_iter()
            .map(|n| {
                if n <= self.channels.len() {
                    Ok(n - 1)
                } else {
                    Err(scpi::DATA_OUT_OF_RANGE)
                }
            })
            .collect()
    }

    /// `CH1`, `ch2`, ... as used by `INST:SEL` and `APPL`.
    fn channel_keyword(&self, text: &str) -> Result<usize, i32> {
        let text = text.trim();
        let number = text
            .get(..2)
            .filter(|prefix| prefix.eq_ignore_ascii_case("CH"))
            .and_then(|_| text[2..].parse::<usize>().ok())
            .filter(|n| (1..=self.channels.len()).contains(n));
        match number {
            Some(n) => Ok(n - 1),
            None if is_channel_list(text) || text.starts_with(|c: char| c.is_ascii_digit()) => {
                Err(scpi::DATA_TYPE_ERROR)
            }
            None => Err(scpi::ILLEGAL_PARAMETER_VALUE),
        }
    }

    fn measure(&mut self, channel: usize) -> (f64, f64) {
        let (volts, amps, _) = self.channels[channel].operating_point();
        if !self.channels[channel].output || !self.noise {
            return (volts, amps);
        }
        // A few counts of the last digit, as a real readback wanders.
        let v_noise = (0.5e-3 + 1e-5 * volts.abs()) * self.rng.noise();
        let i_noise = (50e-6 + 1e-4 * amps.abs()) * self.rng.noise();
        (volts + v_noise, amps + i_noise)
    }

    fn join<T>(items: impl IntoIterator<Item = T>, render: impl Fn(T) -> String) -> String {
        items.into_iter().map(render).collect::<Vec<_>>().join(",")
    }

    fn execute(&mut self, cmd: Cmd, params: &[&str], now: Instant) -> Result<Option<String>, i32> {
        let reply = match cmd {
            Cmd::Idn => {
                no_params(params)?;
                format!(
                    "Keysight Technologies,{},{},{}",
                    self.model.idn_model(),
                    self.serial,
                    self.firmware
                )
            }
            Cmd::Rst => {
                no_params(params)?;
                self.channels.iter_mut().for_each(Channel::reset);
                self.selected = 0;
                return Ok(None);
            }
            Cmd::Cls => {
                no_params(params)?;
                self.errors.clear();
                self.esr = 0;
                return Ok(None);
            }
            Cmd::Opc => {
                no_params(params)?;
                // Every command completes before the next is parsed.
                self.esr |= 0x01;
                return Ok(None);
            }
            Cmd::OpcQ => {
                no_params(params)?;
                "1".to_string()
            }
            Cmd::EsrQ => {
                no_params(params)?;
                format!("{:+}", std::mem::take(&mut self.esr))
            }
            Cmd::Ese => {
                self.ese = parse_register(params)?;
                return Ok(None);
            }
            Cmd::EseQ => {
                no_params(params)?;
                format!("{:+}", self.ese)
            }
            Cmd::Sre => {
                self.sre = parse_register(params)?;
                return Ok(None);
            }
            Cmd::SreQ => {
                no_params(params)?;
                format!("{:+}", self.sre)
            }
            Cmd::StbQ => {
                no_params(params)?;
                let mut stb = 0u8;
                if !self.errors.is_empty() {
                    stb |= 0x04;
                }
                if self.esr & self.ese != 0 {
                    stb |= 0x20;
                }
                if stb & self.sre & !0x40 != 0 {
                    stb |= 0x40;
                }
                format!("{stb:+}")
            }
            Cmd::Wai => {
                no_params(params)?;
                return Ok(None);
            }
            Cmd::TstQ => {
                no_params(params)?;
                "+0".to_string()
            }
            Cmd::SystErrQ => {
                no_params(params)?;
                match self.errors.pop_front() {
                    Some((code, message)) => format_error(code, &message),
                    None => format_error(0, error_message(0)),
                }
            }
            Cmd::SystVersQ => {
                no_params(params)?;
                SCPI_VERSION.to_string()
            }
            Cmd::InstSel => {
                let [which] = params else {
                    return Err(if params.is_empty() {
                        scpi::MISSING_PARAMETER
                    } else {
                        scpi::PARAMETER_NOT_ALLOWED
                    });
                };
                self.selected = self.channel_keyword(which)?;
                return Ok(None);
            }
            Cmd::InstSelQ => {
                no_params(params)?;
                format!("CH{}", self.selected + 1)
            }
            Cmd::InstNsel => {
                let [which] = params else {
                    return Err(if params.is_empty() {
                        scpi::MISSING_PARAMETER
                    } else {
                        scpi::PARAMETER_NOT_ALLOWED
                    });
                };
                let count = self.channels.len();
                self.selected = match parse_numeric(which, "")? {
                    Numeric::Min | Numeric::Def => 0,
                    Numeric::Max => count - 1,
                    Numeric::Value(v) if v.round() >= 1.0 && v.round() <= count as f64 => {
                        v.round() as usize - 1
                    }
                    Numeric::Value(_) => return Err(scpi::DATA_OUT_OF_RANGE),
                };
                return Ok(None);
            }
            Cmd::InstNselQ => {
                no_params(params)?;
                (self.selected + 1).to_string()
            }
            Cmd::Appl => {
                let (which, volts, amps) = match params {
                    [] | [_] => return Err(scpi::MISSING_PARAMETER),
                    [which, volts] => (which, volts, None),
                    [which, volts, amps] => (which, volts, Some(amps)),
                    _ => return Err(scpi::PARAMETER_NOT_ALLOWED),
                };
                let index = self.channel_keyword(which)?;
                let volts_arg = parse_numeric(volts, Quantity::Voltage.unit())?;
                let amps_arg = amps
                    .map(|a| parse_numeric(a, Quantity::Current.unit()))
                    .transpose()?;
                let channel = &mut self.channels[index];
                // Both values are checked before either is applied.
                let volts = channel.resolve(Quantity::Voltage, volts_arg)?;
                let amps = amps_arg
                    .map(|a| channel.resolve(Quantity::Current, a))
                    .transpose()?;
                channel.voltage_set = volts;
                if let Some(amps) = amps {
                    channel.current_set = amps;
                }
                return Ok(None);
            }
            Cmd::ApplQ => {
                let index = match params {
                    [] => self.selected,
                    [which] => self.channel_keyword(which)?,
                    _ => return Err(scpi::PARAMETER_NOT_ALLOWED),
                };
                let channel = &self.channels[index];
                format!(
                    "\"{},{}\"",
                    format_nr3(channel.voltage_set),
                    format_nr3(channel.current_set)
                )
            }
            Cmd::Set(quantity) => {
                let (value, list) = value_and_list(params)?;
                let arg = parse_numeric(value, quantity.unit())?;
                let targets = self.targets(list)?;
                let values = targets
                    .iter()
                    .map(|&i| self.channels[i].resolve(quantity, arg))
                    .collect::<Result<Vec<_>, _>>()?;
                for (i, value) in targets.into_iter().zip(values) {
                    self.channels[i].set(quantity, value);
                }
                return Ok(None);
            }
            Cmd::SetQ(quantity) => {
                let (bound, list) = bound_and_list(params)?;
                let targets = self.targets(list)?;
                Self::join(targets, |i| {
                    let channel = &self.channels[i];
                    let (min, max, _) = channel.limits(quantity);
                    format_nr3(match bound {
                        None => channel.get(quantity),
                        Some(Bound::Min) => min,
                        Some(Bound::Max) => max,
                    })
                })
            }
            Cmd::VoltProtTripQ => {
                let targets = self.targets(optional_list(params)?)?;
                Self::join(targets, |i| flag(self.channels[i].ovp_tripped))
            }
            Cmd::CurrProtTripQ => {
                let targets = self.targets(optional_list(params)?)?;
                Self::join(targets, |i| flag(self.channels[i].ocp_tripped))
            }
            Cmd::CurrProtStat => {
                let (value, list) = value_and_list(params)?;
                let on = parse_bool(value)?;
                for i in self.targets(list)? {
                    self.channels[i].ocp_enabled = on;
                }
                return Ok(None);
            }
            Cmd::CurrProtStatQ => {
                let targets = self.targets(optional_list(params)?)?;
                Self::join(targets, |i| flag(self.channels[i].ocp_enabled))
            }
            Cmd::Outp => {
                let (value, list) = value_and_list(params)?;
                let on = parse_bool(value)?;
                let mut conflict = false;
                for i in self.targets(list)? {
                    let channel = &mut self.channels[i];
                    if on && channel.tripped() {
                        // A tripped output stays off until OUTP:PROT:CLE.
                        conflict = true;
                        continue;
                    }
                    if channel.output != on {
                        channel.output = on;
                        channel.cc_since = None;
                    }
                }
                self.settle(now);
                if conflict {
                    return Err(scpi::SETTINGS_CONFLICT);
                }
                return Ok(None);
            }
            Cmd::OutpQ => {
                let targets = self.targets(optional_list(params)?)?;
                Self::join(targets, |i| flag(self.channels[i].output))
            }
            Cmd::OutpProtCle => {
                for i in self.targets(optional_list(params)?)? {
                    self.channels[i].ovp_tripped = false;
                    self.channels[i].ocp_tripped = false;
                }
                return Ok(None);
            }
            Cmd::MeasVoltQ | Cmd::MeasCurrQ => {
                let targets = self.targets(optional_list(params)?)?;
                let values: Vec<f64> = targets
                    .into_iter()
                    .map(|i| {
                        let (volts, amps) = self.measure(i);
                        if cmd == Cmd::MeasVoltQ {
                            volts
                        } else {
                            amps
                        }
                    })
                    .collect();
                Self::join(values, format_nr3)
            }
        };
        Ok(Some(reply))
    }
}

/// Test-side control of a running supply simulator; clones share the same instrument.
/// Channels are numbered from 1, as on the front panel and in channel lists.
#[derive(Clone)]
pub struct PsuControl {
    instrument: Arc<Mutex<Instrument>>,
}

impl fmt::Debug for PsuControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PsuControl")
            .field("model", &self.model())
            .finish_non_exhaustive()
    }
}

fn lock(instrument: &Mutex<Instrument>) -> MutexGuard<'_, Instrument> {
    // No code panics while holding the lock; if one ever did, the state is still usable.
    instrument.lock().unwrap_or_else(PoisonError::into_inner)
}

impl PsuControl {
    /// Runs `f` on channel `channel` (1-based) after settling protections to now.
    fn with_channel<T>(&self, channel: usize, f: impl FnOnce(&mut Channel) -> T) -> T {
        let mut instrument = lock(&self.instrument);
        let count = instrument.channels.len();
        assert!(
            (1..=count).contains(&channel),
            "channel {channel} does not exist on a {} (1..={count})",
            instrument.model
        );
        instrument.settle(Instant::now());
        let result = f(&mut instrument.channels[channel - 1]);
        instrument.settle(Instant::now());
        result
    }

    /// Connects a load to a channel; `f64::INFINITY` is an open circuit, 0 a short.
    ///
    /// # Panics
    /// If the channel does not exist or `ohms` is negative or NaN.
    pub fn set_load_ohms(&self, channel: usize, ohms: f64) {
        assert!(ohms >= 0.0, "load must be >= 0 ohms, got {ohms}");
        self.with_channel(channel, |c| c.load_ohms = ohms);
    }

    pub fn load_ohms(&self, channel: usize) -> f64 {
        self.with_channel(channel, |c| c.load_ohms)
    }

    /// Queues an instrument error, as a hardware fault would; `SYST:ERR?` then reports
    /// `<code>,"<message>"`.
    pub fn push_error(&self, code: i32, message: &str) {
        lock(&self.instrument).push_error(code, message);
    }

    /// The error queue, oldest first, without reading it out.
    pub fn errors(&self) -> Vec<(i32, String)> {
        lock(&self.instrument).errors.iter().cloned().collect()
    }

    /// Everything about one channel at this instant.
    pub fn channel(&self, channel: usize) -> ChannelSnapshot {
        self.with_channel(channel, |c| c.snapshot())
    }

    pub fn voltage_set(&self, channel: usize) -> f64 {
        self.channel(channel).voltage_set
    }

    pub fn current_set(&self, channel: usize) -> f64 {
        self.channel(channel).current_set
    }

    pub fn output(&self, channel: usize) -> bool {
        self.channel(channel).output
    }

    /// Noise-free output voltage (0 when off).
    pub fn measured_voltage(&self, channel: usize) -> f64 {
        self.channel(channel).voltage
    }

    /// Noise-free output current (0 when off).
    pub fn measured_current(&self, channel: usize) -> f64 {
        self.channel(channel).current
    }

    pub fn mode(&self, channel: usize) -> Mode {
        self.channel(channel).mode
    }

    pub fn ovp_tripped(&self, channel: usize) -> bool {
        self.channel(channel).ovp_tripped
    }

    pub fn ocp_tripped(&self, channel: usize) -> bool {
        self.channel(channel).ocp_tripped
    }

    /// Channel (1-based) that commands without a channel list act on.
    pub fn selected_channel(&self) -> usize {
        lock(&self.instrument).selected + 1
    }

    pub fn model(&self) -> Model {
        lock(&self.instrument).model
    }

    /// Turns measurement noise on (the default) or off, for exact readbacks.
    pub fn set_noise(&self, enabled: bool) {
        lock(&self.instrument).noise = enabled;
    }
}

/// Starts an E363xx simulator on `listen` (port 0 picks a free port).
pub async fn spawn(listen: SocketAddr, options: PsuOptions) -> io::Result<SimHandle<PsuControl>> {
    let instrument = Arc::new(Mutex::new(Instrument::new(&options)));
    let control = PsuControl {
        instrument: instrument.clone(),
    };
    server::serve(
        options.model.idn_model(),
        listen,
        control,
        options.seed,
        b"\n",
        move |conn| session(conn, instrument.clone()),
    )
    .await
}

async fn session(mut conn: Conn, instrument: Arc<Mutex<Instrument>>) -> io::Result<()> {
    let mut line: Vec<u8> = Vec::with_capacity(256);
    // After an over-long line, everything up to its LF is thrown away.
    let mut discarding = false;
    let mut buf = [0u8; 4096];
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        if conn.fault() == Fault::Silent {
            line.clear();
            continue;
        }
        for &byte in &buf[..n] {
            if byte != b'\n' {
                if discarding {
                    continue;
                }
                if line.len() >= MAX_LINE {
                    lock(&instrument).queue(scpi::INPUT_BUFFER_OVERRUN);
                    line.clear();
                    discarding = true;
                } else {
                    line.push(byte);
                }
                continue;
            }
            if std::mem::take(&mut discarding) {
                continue;
            }
            // Tolerate CR LF from clients that send it.
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let reply = {
                let mut instrument = lock(&instrument);
                match std::str::from_utf8(&line) {
                    Ok(text) => {
                        debug!(line = text, "request");
                        instrument.execute_line(text, Instant::now())
                    }
                    Err(_) => {
                        instrument.queue(scpi::SYNTAX_ERROR);
                        None
                    }
                }
            };
            line.clear();
            if let Some(mut reply) = reply {
                reply.push('\n');
                conn.answer(reply.as_bytes()).await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn psu(model: Model) -> Instrument {
        let mut instrument = Instrument::new(&PsuOptions {
            model,
            ..PsuOptions::default()
        });
        instrument.noise = false;
        instrument
    }

    fn run(instrument: &mut Instrument, line: &str) -> Option<String> {
        instrument.execute_line(line, Instant::now())
    }

    fn next_error(instrument: &mut Instrument) -> String {
        run(instrument, "SYST:ERR?").unwrap()
    }

    #[test]
    fn model_names_parse_case_insensitively() {
        assert_eq!("e36313a".parse::<Model>(), Ok(Model::E36313A));
        assert_eq!("E36311A".parse::<Model>(), Ok(Model::E36311A));
        assert!("e3631a".parse::<Model>().is_err());
        for model in Model::ALL {
            assert_eq!(model.to_string().parse::<Model>(), Ok(model));
            assert_eq!(model.channel_count(), 3);
        }
        assert_eq!(Model::E36311A.ratings()[2].max_voltage, -25.0);
        assert_eq!(Model::E36313A.ratings()[0].max_current, 10.0);
    }

    #[test]
    fn relative_headers_follow_the_tree_path() {
        let mut p = psu(Model::E36313A);
        run(&mut p, "VOLT 5,(@1);CURR 1,(@1);OUTP ON,(@1)");
        assert_eq!(next_error(&mut p), "+0,\"No error\"");
        // MEAS:CURR? after MEAS:VOLT? is relative: it becomes MEAS:MEAS:CURR?.
        assert_eq!(
            run(&mut p, "MEAS:VOLT? (@1);MEAS:CURR? (@1)").as_deref(),
            Some("+5.00000000E+00")
        );
        assert_eq!(next_error(&mut p), "-113,\"Undefined header\"");
        assert_eq!(
            run(&mut p, "MEAS:VOLT? (@1);CURR? (@1);:OUTP? (@1)").as_deref(),
            Some("+5.00000000E+00;+5.00000000E-01;1")
        );
        assert_eq!(next_error(&mut p), "+0,\"No error\"");
    }

    #[test]
    fn command_errors_discard_the_rest_but_execution_errors_do_not() {
        let mut p = psu(Model::E36313A);
        run(&mut p, "VOLT 99,(@1);VOLT 2,(@2)");
        assert_eq!(p.channels[1].voltage_set, 2.0);
        assert_eq!(next_error(&mut p), "-222,\"Data out of range\"");
        run(&mut p, "VOLT abc,(@1);VOLT 3,(@2)");
        assert_eq!(p.channels[1].voltage_set, 2.0);
        assert_eq!(next_error(&mut p), "-104,\"Data type error\"");
    }

    #[test]
    fn parameter_shape_errors() {
        let mut p = psu(Model::E36313A);
        for (line, code) in [
            ("VOLT", "-109"),
            ("VOLT (@1)", "-109"),
            ("VOLT 1,2", "-104"),
            ("VOLT 1,(@1),3", "-108"),
            ("*RST 1", "-108"),
            ("VOLT 1,(@4)", "-222"),
            ("VOLT 1,(@1", "-102"),
            ("VOLT 5 Q,(@1)", "-131"),
            ("INST:SEL CH4", "-224"),
            ("INST:NSEL 0", "-222"),
            ("APPL CH1", "-109"),
            ("VOLT? 3,(@1)", "-224"),
        ] {
            assert_eq!(run(&mut p, line), None, "{line}");
            let error = next_error(&mut p);
            assert!(error.starts_with(code), "{line}: {error}");
        }
        assert_eq!(next_error(&mut p), "+0,\"No error\"");
    }

    #[test]
    fn error_queue_overflow_keeps_19_and_marks_the_last() {
        let mut p = psu(Model::E36313A);
        for _ in 0..25 {
            run(&mut p, "FOO");
        }
        assert_eq!(p.errors.len(), ERROR_QUEUE_CAPACITY);
        for _ in 0..ERROR_QUEUE_CAPACITY - 1 {
            assert_eq!(next_error(&mut p), "-113,\"Undefined header\"");
        }
        assert_eq!(next_error(&mut p), "-350,\"Queue overflow\"");
        assert_eq!(next_error(&mut p), "+0,\"No error\"");
    }

    #[test]
    fn status_registers() {
        let mut p = psu(Model::E36313A);
        assert_eq!(run(&mut p, "*ESR?").as_deref(), Some("+0"));
        run(&mut p, "FOO");
        assert_eq!(run(&mut p, "*STB?").as_deref(), Some("+4"));
        run(&mut p, "*ESE 32");
        assert_eq!(run(&mut p, "*STB?").as_deref(), Some("+36"));
        assert_eq!(run(&mut p, "*ESR?").as_deref(), Some("+32"));
        assert_eq!(run(&mut p, "*ESR?").as_deref(), Some("+0"));
        run(&mut p, "VOLT 100");
        assert_eq!(run(&mut p, "*ESR?").as_deref(), Some("+16"));
        run(&mut p, "*CLS");
        assert_eq!(run(&mut p, "*STB?").as_deref(), Some("+0"));
        run(&mut p, "*OPC");
        assert_eq!(run(&mut p, "*ESR?;*OPC?").as_deref(), Some("+1;1"));
        assert_eq!(run(&mut p, "*ESE?").as_deref(), Some("+32"));
    }

    #[test]
    fn selected_channel_is_the_default_target() {
        let mut p = psu(Model::E36312A);
        // After INST:SEL the path is INST:, so VOLT needs the leading colon.
        run(&mut p, "INST:SEL CH2;VOLT 12");
        assert_eq!(next_error(&mut p), "-113,\"Undefined header\"");
        run(&mut p, "INST:SEL CH2;:VOLT 12;CURR 0.5");
        assert_eq!(p.channels[1].voltage_set, 12.0);
        assert_eq!(p.channels[1].current_set, 0.5);
        assert_eq!(run(&mut p, "INST?").as_deref(), Some("CH2"));
        run(&mut p, "INST:NSEL 3");
        assert_eq!(run(&mut p, "INST:NSEL?").as_deref(), Some("3"));
        assert_eq!(run(&mut p, "VOLT? MAX").as_deref(), Some("+2.57500000E+01"));
        assert_eq!(
            run(&mut p, "APPL? CH2").as_deref(),
            Some("\"+1.20000000E+01,+5.00000000E-01\"")
        );
        run(&mut p, "APPL CH1,3.3,0.2");
        assert_eq!(
            run(&mut p, "APPL? CH1").as_deref(),
            Some("\"+3.30000000E+00,+2.00000000E-01\"")
        );
        // Either value out of range: nothing changes.
        run(&mut p, "APPL CH1,4,9");
        assert_eq!(p.channels[0].voltage_set, 3.3);
        assert_eq!(next_error(&mut p), "-222,\"Data out of range\"");
    }

    #[test]
    fn constant_voltage_and_constant_current() {
        let mut p = psu(Model::E36313A);
        run(&mut p, "VOLT 5,(@2);CURR 1,(@2);OUTP ON,(@2)");
        assert_eq!(
            p.channels[1].operating_point(),
            (5.0, 0.5, Mode::ConstantVoltage)
        );
        p.channels[1].load_ohms = 2.0;
        assert_eq!(
            p.channels[1].operating_point(),
            (2.0, 1.0, Mode::ConstantCurrent)
        );
        p.channels[1].load_ohms = f64::INFINITY;
        assert_eq!(
            p.channels[1].operating_point(),
            (5.0, 0.0, Mode::ConstantVoltage)
        );
        p.channels[1].load_ohms = 0.0;
        assert_eq!(
            p.channels[1].operating_point(),
            (0.0, 1.0, Mode::ConstantCurrent)
        );
        run(&mut p, "OUTP OFF,(@2)");
        assert_eq!(
            run(&mut p, "MEAS:VOLT? (@2);:MEAS:CURR? (@2)").as_deref(),
            Some("+0.00000000E+00;+0.00000000E+00")
        );
    }

    #[test]
    fn ocp_trips_after_its_delay() {
        let mut p = psu(Model::E36313A);
        let t0 = Instant::now();
        p.execute_line(
            "VOLT 5,(@1);CURR 0.1,(@1);CURR:PROT:DEL 0.5,(@1);STAT ON,(@1);:OUTP ON,(@1)",
            t0,
        );
        assert_eq!(
            p.execute_line("OUTP? (@1)", t0 + Duration::from_millis(400))
                .as_deref(),
            Some("1")
        );
        assert_eq!(
            p.execute_line(
                "OUTP? (@1);CURR:PROT:TRIP? (@1)",
                t0 + Duration::from_millis(500)
            )
            .as_deref(),
            Some("0;1")
        );
        assert_eq!(
            p.execute_line("CURR:PROT:DEL? (@1)", t0).as_deref(),
            Some("+5.00000000E-01")
        );
        assert_eq!(next_error(&mut p), "+0,\"No error\"");
    }

    #[test]
    fn negative_output_of_the_e36311a() {
        let mut p = psu(Model::E36311A);
        run(&mut p, "VOLT -5,(@3);CURR 1,(@3);OUTP ON,(@3)");
        assert_eq!(
            p.channels[2].operating_point(),
            (-5.0, -0.5, Mode::ConstantVoltage)
        );
        run(&mut p, "VOLT -25.75,(@3)");
        assert_eq!(p.channels[2].voltage_set, -25.75);
        run(&mut p, "VOLT 5,(@3)");
        assert_eq!(next_error(&mut p), "-222,\"Data out of range\"");
        run(&mut p, "VOLT -25.8,(@3)");
        assert_eq!(next_error(&mut p), "-222,\"Data out of range\"");
        assert_eq!(p.channels[2].voltage_set, -25.75);
        assert_eq!(
            run(&mut p, "VOLT? MAX,(@2,3)").as_deref(),
            Some("+2.57500000E+01,-2.57500000E+01")
        );
        assert_eq!(next_error(&mut p), "+0,\"No error\"");
    }
}
