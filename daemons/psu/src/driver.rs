//! The Keysight E36300 series' SCPI over an instrument link (raw socket or VXI-11):
//! LF-terminated lines, `;` chains, channel lists, and the error queue read after every
//! setting.
//!
//! The whole state of all three channels, their CV/CC registers included, is read with
//! one chained query line, so a poll costs one round trip whatever the number of
//! channels. Settings go out on a line of
//! their own, never chained with queries: a command error makes a SCPI parser discard
//! the rest of its line, and a query lost that way would look like a dead instrument.

use labwire_daemon::transport::InstrumentLink;
use labwire_daemon::Error;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The instrument's SCPI socket port, for an address that names none.
pub const SOCKET_PORT: u16 = 5025;

/// Every E36300 model has three outputs.
pub const CHANNELS: usize = 3;

/// The error queue holds about 20 entries; more reads than this means the answers are
/// not what they claim to be.
const MAX_ERROR_READS: usize = 32;

/// SCPI writes 9.9E+37 for overflow and 9.91E+37 for "not a number".
const SCPI_SENTINEL: f64 = 9.9e37;

/// The models this driver knows the ratings of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    E36311A,
    E36312A,
    E36313A,
}

impl Model {
    pub const ALL: [Model; 3] = [Model::E36311A, Model::E36312A, Model::E36313A];

    pub fn name(self) -> &'static str {
        match self {
            Model::E36311A => "E36311A",
            Model::E36312A => "E36312A",
            Model::E36313A => "E36313A",
        }
    }

    /// The rating of output `ch` (1-based; every model has [`CHANNELS`]).
    pub fn rating(self, ch: usize) -> Rating {
        let positive = |volts, amps| Rating {
            voltage_min: 0.0,
            voltage_max: volts,
            current_max: amps,
        };
        match (self, ch) {
            (Model::E36313A, 1) => positive(6.0, 10.0),
            (Model::E36313A, _) => positive(25.0, 2.0),
            (Model::E36312A | Model::E36311A, 1) => positive(6.0, 5.0),
            (Model::E36311A, 3) => Rating {
                voltage_min: -25.0,
                voltage_max: 0.0,
                current_max: 1.0,
            },
            (Model::E36312A | Model::E36311A, _) => positive(25.0, 1.0),
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Model {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let wanted = text.trim();
        Model::ALL
            .into_iter()
            .find(|model| model.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| {
                format!(
                    "unsupported model {wanted:?}: labwire-psu drives E36311A, E36312A and E36313A"
                )
            })
    }
}

/// What one output can do. A negative output (E36311A CH3) has `voltage_min < 0` and
/// `voltage_max == 0`; currents are positive magnitudes on every output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rating {
    pub voltage_min: f64,
    pub voltage_max: f64,
    pub current_max: f64,
}

impl Rating {
    pub fn is_negative(&self) -> bool {
        self.voltage_min < 0.0
    }

    /// The largest voltage magnitude the output is rated for.
    pub fn voltage_span(&self) -> f64 {
        self.voltage_min.abs().max(self.voltage_max.abs())
    }
}

/// The `*IDN?` answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub manufacturer: String,
    pub model: Model,
    pub serial: String,
    pub firmware: String,
}

impl Identity {
    pub fn parse(idn: &str) -> Result<Identity, Error> {
        let fields: Vec<&str> = idn.trim().split(',').map(str::trim).collect();
        let [manufacturer, model, serial, firmware] = fields.as_slice() else {
            return Err(Error::device_error(format!(
                "unexpected *IDN? answer {idn:?} (expected maker,model,serial,firmware)"
            )));
        };
        let model = model.parse::<Model>().map_err(|why| {
            Error::device_error(format!("{why} (the instrument identified as {idn:?})"))
        })?;
        Ok(Identity {
            manufacturer: manufacturer.to_string(),
            model,
            serial: serial.to_string(),
            firmware: firmware.to_string(),
        })
    }
}

/// How an output regulates right now, as the instrument reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Off,
    ConstantVoltage,
    ConstantCurrent,
    /// Neither voltage nor current held (e.g. an external source drives the output).
    Unregulated,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::ConstantVoltage => "cv",
            Mode::ConstantCurrent => "cc",
            Mode::Unregulated => "unregulated",
        }
    }

    /// The CV/CC bits of `STAT:QUES:INST:ISUM<n>:COND?`: bit 0 CC, bit 1 CV, both
    /// unregulated, neither off. Other bits of the register say nothing about it.
    pub fn from_condition(register: u32) -> Mode {
        match register & 0b11 {
            0 => Mode::Off,
            1 => Mode::ConstantCurrent,
            2 => Mode::ConstantVoltage,
            _ => Mode::Unregulated,
        }
    }
}

/// One output as the instrument reported it. A value the instrument sent as a SCPI
/// overflow or not-a-number sentinel is `None`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChannelState {
    pub voltage: Option<f64>,
    pub current: Option<f64>,
    pub voltage_set: Option<f64>,
    pub current_set: Option<f64>,
    pub output: bool,
    pub ovp_level: Option<f64>,
    pub ovp_tripped: bool,
    pub ocp_enabled: bool,
    pub ocp_tripped: bool,
    /// From the instrument's own register, not guessed from the readings.
    pub mode: Mode,
}

/// One chained query line: the readings and settings of every output, in the order
/// [`parse_state`] expects, then each output's CV/CC register (which takes no channel
/// list: one query per output). `;:` goes back to the root of the command tree, which
/// SCPI requires between commands of different subsystems.
pub const STATE_QUERY: &str = "MEAS:VOLT? (@1:3);:MEAS:CURR? (@1:3);:VOLT? (@1:3);:CURR? (@1:3);\
:OUTP? (@1:3);:VOLT:PROT? (@1:3);:VOLT:PROT:TRIP? (@1:3);:CURR:PROT:STAT? (@1:3);\
:CURR:PROT:TRIP? (@1:3);:STAT:QUES:INST:ISUM1:COND?;:STAT:QUES:INST:ISUM2:COND?;\
:STAT:QUES:INST:ISUM3:COND?";

/// Answers with one value per output.
const LIST_FIELDS: usize = 9;
/// Answers of one output each, one per output.
const STATE_FIELDS: usize = LIST_FIELDS + CHANNELS;

/// Read the answer to [`STATE_QUERY`]: `;`-separated answers, each a comma list with one
/// value per output.
pub fn parse_state(reply: &str) -> Result<[ChannelState; CHANNELS], Error> {
    let garbled =
        |why: String| Error::device_error(format!("garbled state answer ({why}): {reply:?}"));
    let answers: Vec<&str> = reply.trim().split(';').collect();
    if answers.len() != STATE_FIELDS {
        return Err(garbled(format!(
            "{} answers instead of {STATE_FIELDS}",
            answers.len()
        )));
    }
    let (lists, registers) = answers.split_at(LIST_FIELDS);
    let mut values = [[0.0; CHANNELS]; LIST_FIELDS];
    for (slot, answer) in values.iter_mut().zip(lists) {
        let items: Vec<&str> = answer.split(',').collect();
        if items.len() != CHANNELS {
            return Err(garbled(format!("{answer:?} is not one value per output")));
        }
        for (value, item) in slot.iter_mut().zip(&items) {
            *value =
                scpi_number(item).ok_or_else(|| garbled(format!("{item:?} is not a number")))?;
        }
    }
    let [volts, amps, volts_set, amps_set, outputs, ovp, ovp_trip, ocp, ocp_trip] = values;
    let flag = |value: f64| -> Result<bool, Error> {
        match value {
            0.0 => Ok(false),
            1.0 => Ok(true),
            other => Err(garbled(format!("{other} is not 0 or 1"))),
        }
    };
    let reading = |value: f64| (value.abs() < SCPI_SENTINEL).then_some(value);
    let mut modes = [Mode::Off; CHANNELS];
    for (mode, register) in modes.iter_mut().zip(registers) {
        let value = scpi_number(register)
            .filter(|value| value.fract() == 0.0 && (0.0..=65535.0).contains(value))
            .ok_or_else(|| garbled(format!("{register:?} is not a register value")))?;
        *mode = Mode::from_condition(value as u32);
    }
    let mut channels = [None; CHANNELS];
    for (i, channel) in channels.iter_mut().enumerate() {
        *channel = Some(ChannelState {
            voltage: reading(volts[i]),
            current: reading(amps[i]),
            voltage_set: reading(volts_set[i]),
            current_set: reading(amps_set[i]),
            output: flag(outputs[i])?,
            ovp_level: reading(ovp[i]),
            ovp_tripped: flag(ovp_trip[i])?,
            ocp_enabled: flag(ocp[i])?,
            ocp_tripped: flag(ocp_trip[i])?,
            mode: modes[i],
        });
    }
    Ok(channels.map(|channel| channel.expect("every output filled above")))
}

/// A SCPI numeric answer (`+5.00000000E+00`, `1`, `+0`).
pub fn scpi_number(text: &str) -> Option<f64> {
    labwire_protocol::parse_number(text.trim())
}

/// One `SYST:ERR?` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentError {
    pub code: i32,
    pub message: String,
}

impl InstrumentError {
    pub fn parse(reply: &str) -> Result<InstrumentError, Error> {
        let garbled = || Error::device_error(format!("garbled SYST:ERR? answer {reply:?}"));
        let (code, message) = reply.trim().split_once(',').ok_or_else(garbled)?;
        let code: i32 = code.trim().parse().map_err(|_| garbled())?;
        let message = message.trim();
        // A SCPI string doubles the quotes inside it.
        let message = match message.strip_prefix('"').and_then(|m| m.strip_suffix('"')) {
            Some(quoted) => quoted.replace("\"\"", "\""),
            None => message.to_string(),
        };
        Ok(InstrumentError { code, message })
    }
}

impl fmt::Display for InstrumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:+},\"{}\"",
            self.code,
            self.message.replace('"', "\"\"")
        )
    }
}

/// A number as a SCPI parameter. Rust's `Display` for f64 never uses an exponent and
/// round-trips exactly, which every SCPI parser accepts.
fn scpi_value(value: f64) -> String {
    format!("{value}")
}

fn on_off(on: bool) -> &'static str {
    if on {
        "ON"
    } else {
        "OFF"
    }
}

/// An E36300 supply behind a link (a raw socket or VXI-11: the driver does not care).
/// Every read is bounded by the link's timeout.
pub struct E36300 {
    link: InstrumentLink,
    identity: Identity,
}

impl E36300 {
    /// Connect to `address` (`host:port`, or any VISA / `vxi11://` form `--device`
    /// accepts), identify the instrument and drain its error queue.
    pub async fn connect(address: &str, timeout: Duration) -> Result<Self, Error> {
        let link = InstrumentLink::connect_to(address, SOCKET_PORT, timeout).await?;
        E36300::open(link).await
    }

    /// Identify the instrument on `link` (refusing models it does not know) and drain the
    /// error queue, so errors left by an earlier client are not blamed on our settings.
    pub async fn open(link: impl Into<InstrumentLink>) -> Result<Self, Error> {
        let mut link = link.into();
        let idn = link.query("*IDN?\n").await?;
        let identity = Identity::parse(&idn)?;
        let mut supply = E36300 { link, identity };
        for stale in supply.read_errors().await? {
            tracing::warn!("the supply's error queue held {stale} from before we connected");
        }
        Ok(supply)
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Close the link politely (over VXI-11 the instrument frees the link at once).
    pub async fn close(self) -> Result<(), Error> {
        self.link.close().await
    }

    pub fn model(&self) -> Model {
        self.identity.model
    }

    /// Send one query line and read its one answer line.
    pub async fn query(&mut self, query: &str) -> Result<String, Error> {
        let reply = self.link.query(&format!("{query}\n")).await;
        if matches!(&reply, Err(err) if err.code == labwire_protocol::ErrorCode::DeviceError) {
            // A reply that was not text: whatever else arrived with it is junk as well.
            self.link.clear_input();
        }
        reply
    }

    /// Read the error queue until it reports `+0`.
    pub async fn read_errors(&mut self) -> Result<Vec<InstrumentError>, Error> {
        let mut errors = Vec::new();
        for _ in 0..MAX_ERROR_READS {
            let reply = self.query("SYST:ERR?").await?;
            let entry = InstrumentError::parse(&reply).inspect_err(|_| self.link.clear_input())?;
            if entry.code == 0 {
                return Ok(errors);
            }
            errors.push(entry);
        }
        Err(Error::device_error(format!(
            "the error queue did not empty after {MAX_ERROR_READS} reads"
        )))
    }

    /// Send a setting, then read the error queue; any entry fails the setting with the
    /// instrument's own words.
    pub async fn setting(&mut self, command: &str) -> Result<(), Error> {
        self.link.send(format!("{command}\n").as_bytes()).await?;
        let errors = self.read_errors().await?;
        if errors.is_empty() {
            return Ok(());
        }
        let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
        Err(Error::device_error(format!(
            "the supply reported {} after {command}",
            listed.join(", ")
        )))
    }

    /// Everything about every output, in one round trip.
    pub async fn read_state(&mut self) -> Result<[ChannelState; CHANNELS], Error> {
        let reply = self.query(STATE_QUERY).await?;
        parse_state(&reply).inspect_err(|_| self.link.clear_input())
    }

    /// A one-value query for output `ch`, e.g. `VOLT?`.
    async fn query_number(&mut self, header: &str, ch: usize) -> Result<f64, Error> {
        let query = format!("{header} (@{ch})");
        let reply = self.query(&query).await?;
        scpi_number(&reply)
            .filter(|value| value.abs() < SCPI_SENTINEL)
            .ok_or_else(|| {
                self.link.clear_input();
                Error::device_error(format!("garbled answer to {query}: {reply:?}"))
            })
    }

    /// Program the voltage of `ch`; returns the setpoint the instrument now holds.
    pub async fn set_voltage(&mut self, ch: usize, volts: f64) -> Result<f64, Error> {
        self.setting(&format!("VOLT {},(@{ch})", scpi_value(volts)))
            .await?;
        self.query_number("VOLT?", ch).await
    }

    /// Program the current limit of `ch`; returns the limit the instrument now holds.
    pub async fn set_current(&mut self, ch: usize, amps: f64) -> Result<f64, Error> {
        self.setting(&format!("CURR {},(@{ch})", scpi_value(amps)))
            .await?;
        self.query_number("CURR?", ch).await
    }

    /// Switch output `ch`; returns whether it is on now (a tripped protection keeps it
    /// off until cleared).
    pub async fn set_output(&mut self, ch: usize, on: bool) -> Result<bool, Error> {
        self.setting(&format!("OUTP {},(@{ch})", on_off(on)))
            .await?;
        Ok(self.query_number("OUTP?", ch).await? != 0.0)
    }

    pub async fn all_off(&mut self) -> Result<(), Error> {
        self.setting("OUTP OFF,(@1:3)").await
    }

    /// Program the over-voltage protection level of `ch`; returns the level now held.
    pub async fn set_ovp(&mut self, ch: usize, volts: f64) -> Result<f64, Error> {
        self.setting(&format!("VOLT:PROT {},(@{ch})", scpi_value(volts)))
            .await?;
        self.query_number("VOLT:PROT?", ch).await
    }

    pub async fn set_ocp(&mut self, ch: usize, on: bool) -> Result<bool, Error> {
        self.setting(&format!("CURR:PROT:STAT {},(@{ch})", on_off(on)))
            .await?;
        Ok(self.query_number("CURR:PROT:STAT?", ch).await? != 0.0)
    }

    /// Clear a tripped over-voltage or over-current protection of `ch`. The output stays
    /// off; switching it on again is the user's decision.
    pub async fn clear_protection(&mut self, ch: usize) -> Result<(), Error> {
        self.setting(&format!("OUTP:PROT:CLE (@{ch})")).await
    }

    /// Which protections of `ch` are tripped: (over-voltage, over-current).
    pub async fn tripped(&mut self, ch: usize) -> Result<(bool, bool), Error> {
        let ovp = self.query_number("VOLT:PROT:TRIP?", ch).await? != 0.0;
        let ocp = self.query_number("CURR:PROT:TRIP?", ch).await? != 0.0;
        Ok((ovp, ocp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labwire_daemon::transport::Link;
    use labwire_protocol::ErrorCode;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};

    #[test]
    fn models_and_ratings() {
        assert_eq!("e36313a".parse::<Model>(), Ok(Model::E36313A));
        assert_eq!(" E36311A ".parse::<Model>(), Ok(Model::E36311A));
        let err = "E36103B".parse::<Model>().unwrap_err();
        assert!(err.contains("E36103B"), "{err}");
        assert_eq!(Model::E36313A.rating(1).current_max, 10.0);
        assert_eq!(Model::E36312A.rating(1).current_max, 5.0);
        assert_eq!(Model::E36312A.rating(3).voltage_max, 25.0);
        let negative = Model::E36311A.rating(3);
        assert!(negative.is_negative());
        assert_eq!((negative.voltage_min, negative.voltage_max), (-25.0, 0.0));
        assert_eq!(negative.voltage_span(), 25.0);
        assert!(!Model::E36311A.rating(2).is_negative());
    }

    #[test]
    fn identity() {
        let id =
            Identity::parse("Keysight Technologies,E36312A,MY5900123,2.1.3-1.0.4-1.12\n").unwrap();
        assert_eq!(id.model, Model::E36312A);
        assert_eq!(id.serial, "MY5900123");
        assert_eq!(id.firmware, "2.1.3-1.0.4-1.12");
        let err = Identity::parse("Keysight Technologies,E36103B,X,1").unwrap_err();
        assert_eq!(err.code, ErrorCode::DeviceError);
        assert!(err.message.contains("\"E36103B\""), "{}", err.message);
        assert!(Identity::parse("garbage").is_err());
    }

    #[test]
    fn state_answer() {
        let reply = "+5.00000000E+00,+1.20000000E+01,+0.00000000E+00;\
                     +5.00000000E-01,+2.00000000E+00,+0.00000000E+00;\
                     +5.0E+00,+2.0E+01,+0.0E+00;+1.0E+00,+2.0E+00,+1.0E+00;1,1,0;\
                     +6.6E+00,+2.75E+01,+9.91E+37;0,0,1;0,1,0;0,0,0;+2;+1;+0";
        let [ch1, ch2, ch3] = parse_state(reply).unwrap();
        assert_eq!(ch1.voltage, Some(5.0));
        assert_eq!(ch1.current, Some(0.5));
        assert_eq!(ch1.mode, Mode::ConstantVoltage);
        assert_eq!(ch2.mode, Mode::ConstantCurrent);
        assert!(ch2.ocp_enabled && !ch2.ocp_tripped);
        assert_eq!(ch3.mode, Mode::Off);
        assert_eq!(ch3.ovp_level, None, "NaN sentinel is not a value");
        assert!(ch3.ovp_tripped);
        for bad in [
            "",
            "1,2,3",
            &reply.replace("1,1,0", "1,1"),
            &reply.replace("1,1,0", "1,2,0"),
            &reply.replace("+5.0E+00,", "nan,"),
            &format!("{reply};0,0,0"),
            &reply.replace(";+2;", ";2.5;"),
            &reply.replace(";+2;", ";-1;"),
            &reply.replace(";+2;", ";1,1;"),
            &reply.replace(";+1;+0", ";+1"),
        ] {
            assert_eq!(
                parse_state(bad).unwrap_err().code,
                ErrorCode::DeviceError,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn regulation_bits() {
        // The E3631A's table, kept by the E36300: bit 0 CC, bit 1 CV.
        assert_eq!(Mode::from_condition(0), Mode::Off);
        assert_eq!(Mode::from_condition(1), Mode::ConstantCurrent);
        assert_eq!(Mode::from_condition(2), Mode::ConstantVoltage);
        assert_eq!(Mode::from_condition(3), Mode::Unregulated);
        // Other bits (protection, ...) leave the regulation alone.
        assert_eq!(Mode::from_condition(0x202), Mode::ConstantVoltage);
        assert_eq!(Mode::Unregulated.name(), "unregulated");
    }

    #[test]
    fn instrument_errors() {
        let err = InstrumentError::parse("-222,\"Data out of range\"").unwrap();
        assert_eq!(err.code, -222);
        assert_eq!(err.message, "Data out of range");
        assert_eq!(err.to_string(), "-222,\"Data out of range\"");
        assert_eq!(InstrumentError::parse("+0,\"No error\"").unwrap().code, 0);
        let quoted = InstrumentError::parse("+301,\"Say \"\"hi\"\"\"").unwrap();
        assert_eq!(quoted.message, "Say \"hi\"");
        assert_eq!(quoted.to_string(), "+301,\"Say \"\"hi\"\"\"");
        assert!(InstrumentError::parse("No error").is_err());
        assert!(InstrumentError::parse("x,\"y\"").is_err());
    }

    /// A scripted instrument on an in-memory pipe: each expected request line and the
    /// lines to answer it with.
    async fn script(far: DuplexStream, exchanges: Vec<(&'static str, Vec<&'static str>)>) {
        let (read, mut write) = tokio::io::split(far);
        let mut lines = BufReader::new(read).lines();
        for (expected, answers) in exchanges {
            let got = lines.next_line().await.unwrap().unwrap();
            assert_eq!(got, expected);
            for answer in answers {
                write
                    .write_all(format!("{answer}\n").as_bytes())
                    .await
                    .unwrap();
            }
        }
        // Nothing more may be sent until the driver hangs up.
        assert_eq!(lines.next_line().await.unwrap(), None);
    }

    const IDN: &str = "Keysight Technologies,E36313A,MY1,1.0";

    #[tokio::test]
    async fn settings_read_the_error_queue() {
        let (near, far) = tokio::io::duplex(4096);
        let instrument = tokio::spawn(script(
            far,
            vec![
                ("*IDN?", vec![IDN]),
                ("SYST:ERR?", vec!["-100,\"Command error\""]),
                ("SYST:ERR?", vec!["+0,\"No error\""]),
                ("VOLT 5.5,(@2)", vec![]),
                ("SYST:ERR?", vec!["+0,\"No error\""]),
                ("VOLT? (@2)", vec!["+5.50000000E+00"]),
                ("CURR 30,(@1)", vec![]),
                ("SYST:ERR?", vec!["-222,\"Data out of range\""]),
                ("SYST:ERR?", vec!["-221,\"Settings conflict\""]),
                ("SYST:ERR?", vec!["+0,\"No error\""]),
            ],
        ));
        let mut supply = E36300::open(Link::new(near, Duration::from_millis(500)))
            .await
            .unwrap();
        assert_eq!(supply.model(), Model::E36313A);
        assert_eq!(supply.set_voltage(2, 5.5).await.unwrap(), 5.5);
        let err = supply.set_current(1, 30.0).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::DeviceError);
        assert_eq!(
            err.message,
            "the supply reported -222,\"Data out of range\", -221,\"Settings conflict\" after CURR 30,(@1)"
        );
        drop(supply);
        instrument.await.unwrap();
    }

    #[tokio::test]
    async fn a_silent_instrument_times_out() {
        let (near, far) = tokio::io::duplex(4096);
        let instrument = tokio::spawn(script(far, vec![("*IDN?", vec![])]));
        let started = tokio::time::Instant::now();
        let err = E36300::open(Link::new(near, Duration::from_millis(100)))
            .await
            .err()
            .unwrap();
        assert_eq!(err.code, ErrorCode::Timeout);
        assert!(started.elapsed() < Duration::from_secs(2));
        instrument.await.unwrap();
    }
}
