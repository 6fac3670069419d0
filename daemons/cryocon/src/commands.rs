//! The daemon's commands: their synopses and their validation. Everything a request can
//! get wrong is found here, before the controller sees a byte: the loop and input exist
//! on the model, numbers are finite and inside the controller's limits and the command
//! line's tighter `--min-setpoint`/`--max-setpoint`.
//!
//! What validation needs to know about the controller comes from a [`Context`]: the
//! model (identified, or `--model` before the first connection) for loops, inputs and
//! ranges; the last poll for anything in temperature units (the unit the loop's source
//! input reads in, and its `MAXSet`). Without them a command is answered
//! `not_connected`, never guessed.

use crate::driver::{MAX_GAIN, MAX_RATE};
use crate::model::Model;
use crate::poll::{LoopStatus, Poll};
use crate::reply::LoopType;
use crate::units::{convert, convert_difference, ReportUnit, TempUnit};
use labwire_daemon::args::check_range;
use labwire_daemon::{Args, CommandSpec, Error};
use labwire_protocol::Message;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "set_setpoint",
        synopsis: "loop=<1-4> value=<temperature in the daemon's unit>",
    },
    CommandSpec {
        name: "set_source",
        synopsis: "loop=<1-4> input=<a-d> (the input the loop controls)",
    },
    CommandSpec {
        name: "set_type",
        synopsis: "loop=<1-4> type=<off|pid|man|table|rampp|rampt>",
    },
    CommandSpec {
        name: "set_range",
        synopsis: "loop=<1-4> range=<hi|mid|low (loop 1), hi|low (loop 2), 10v|5v (loops 3-4)>",
    },
    CommandSpec {
        name: "set_pid",
        synopsis: "loop=<1-4> p=<0-1000> i=<0-1000> d=<0-1000>",
    },
    CommandSpec {
        name: "set_ramp",
        synopsis: "loop=<1-4> rate=<0-100, the daemon's unit per minute>",
    },
    CommandSpec {
        name: "set_manual",
        synopsis: "loop=<1-4> power=<0-100 %> (output of a loop of type man)",
    },
    CommandSpec {
        name: "control",
        synopsis: "state=<on|off> (engage every loop, or stop them all)",
    },
];

const LOOP_TYPES: &[(&str, LoopType)] = &[
    ("off", LoopType::Off),
    ("pid", LoopType::Pid),
    ("man", LoopType::Man),
    ("table", LoopType::Table),
    ("rampp", LoopType::RampP),
    ("rampt", LoopType::RampT),
];

/// A temperature converted for the controller: `value` in the daemon's unit, `device` in
/// the unit the loop's source input reads in (what `SETPt` takes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Temperature {
    pub value: f64,
    pub device: f64,
    pub device_unit: TempUnit,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    SetSetpoint {
        number: u8,
        setpoint: Temperature,
    },
    SetSource {
        number: u8,
        input: char,
    },
    SetType {
        number: u8,
        loop_type: LoopType,
    },
    SetRange {
        number: u8,
        range: String,
    },
    SetPid {
        number: u8,
        p: f64,
        i: f64,
        d: f64,
    },
    /// `rate` in the daemon's unit per minute, `device` in the source's.
    SetRamp {
        number: u8,
        rate: f64,
        device: f64,
    },
    SetManual {
        number: u8,
        power: f64,
    },
    Control {
        on: bool,
    },
}

/// `--min-setpoint`/`--max-setpoint`, in the daemon's unit.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SetpointLimits {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// What validation knows about the controller.
pub struct Context<'a> {
    /// The identified model, else `--model`.
    pub model: Option<Model>,
    pub poll: Option<&'a Poll>,
    pub unit: ReportUnit,
    pub limits: SetpointLimits,
}

impl Context<'_> {
    pub fn model(&self) -> Result<Model, Error> {
        self.model.ok_or_else(|| {
            Error::not_connected(
                "the controller has not identified itself yet, so its loops and inputs are \
                 unknown (--model 24c|22c makes them known before the first connection)",
            )
        })
    }

    /// `loop=`, a loop of the model.
    pub fn loop_number(&self, args: &mut Args) -> Result<u8, Error> {
        let number = args.integer_in("loop", 1..=4)? as u8;
        let model = self.model()?;
        if !model.has_loop(number) {
            return Err(Error::out_of_range(format!(
                "loop={number}: the {model} has loops 1-{}",
                model.loop_count()
            )));
        }
        Ok(number)
    }

    /// The loop as last polled (temperatures need its unit and `MAXSet`).
    pub fn polled_loop(&self, number: u8) -> Result<&LoopStatus, Error> {
        self.poll
            .and_then(|poll| poll.loop_status(number))
            .ok_or_else(|| {
                Error::not_connected(format!(
                    "loop {number} has not been read from the controller yet"
                ))
            })
    }

    /// A setpoint for loop `number` in the daemon's unit, checked against the command
    /// line's limits and the controller's (absolute zero, `MAXSet`), converted to the
    /// unit of the loop's source. Profiles check every point with it too.
    pub fn setpoint(&self, key: &str, number: u8, value: f64) -> Result<Temperature, Error> {
        let unit = self.unit.name();
        if !value.is_finite() {
            return Err(Error::bad_argument(format!(
                "{key}= must be a finite number"
            )));
        }
        let limits =
            self.limits.min.unwrap_or(f64::NEG_INFINITY)..=self.limits.max.unwrap_or(f64::INFINITY);
        check_range(key, value, &limits, unit)?;
        let status = self.polled_loop(number)?;
        let device = convert(value, self.unit.temp_unit(), status.unit).ok_or_else(|| {
            Error::bad_argument(format!(
                "loop {number}'s source input {} reads in sensor units: a temperature \
                 cannot be converted to them",
                status.source
            ))
        })?;
        status.check_setpoint(device).map_err(|err| {
            Error::new(err.code, format!("{key}={value} {unit}: {}", err.message))
        })?;
        Ok(Temperature {
            value,
            device,
            device_unit: status.unit,
        })
    }

    pub fn parse(&self, request: &Message) -> Result<Command, Error> {
        let mut args = Args::new(request);
        let command = match request.name.as_str() {
            "set_setpoint" => {
                let number = self.loop_number(&mut args)?;
                let value = args.number("value")?;
                args.finish()?;
                let setpoint = self.setpoint("value", number, value)?;
                return Ok(Command::SetSetpoint { number, setpoint });
            }
            "set_source" => {
                let number = self.loop_number(&mut args)?;
                let text = args.text("input")?;
                let model = self.model()?;
                let input = single_letter(text)
                    .filter(|c| model.has_input(*c))
                    .ok_or_else(|| {
                        let inputs: String = model.inputs().iter().collect();
                        Error::bad_argument(format!(
                            "input={text:?}: the {model} has inputs {}",
                            inputs.to_ascii_lowercase()
                        ))
                    })?;
                Command::SetSource { number, input }
            }
            "set_type" => Command::SetType {
                number: self.loop_number(&mut args)?,
                loop_type: args.choice("type", LOOP_TYPES)?,
            },
            "set_range" => {
                let number = self.loop_number(&mut args)?;
                let text = args.text("range")?;
                let ranges = self.model()?.ranges(number);
                let range = ranges
                    .iter()
                    .find(|r| r.eq_ignore_ascii_case(text.trim()))
                    .ok_or_else(|| {
                        Error::bad_argument(format!(
                            "range={text:?}: loop {number} has ranges {}",
                            ranges.join(", ").to_ascii_lowercase()
                        ))
                    })?;
                Command::SetRange {
                    number,
                    range: range.to_string(),
                }
            }
            "set_pid" => Command::SetPid {
                number: self.loop_number(&mut args)?,
                p: args.number_in("p", 0.0..=MAX_GAIN, "")?,
                i: args.number_in("i", 0.0..=MAX_GAIN, "")?,
                d: args.number_in("d", 0.0..=MAX_GAIN, "")?,
            },
            "set_ramp" => {
                let number = self.loop_number(&mut args)?;
                let unit = format!("{}/min", self.unit.name());
                let rate = args.number_in("rate", 0.0..=MAX_RATE, &unit)?;
                args.finish()?;
                let status = self.polled_loop(number)?;
                let device = convert_difference(rate, self.unit.temp_unit(), status.unit)
                    .ok_or_else(|| {
                        Error::bad_argument(format!(
                            "loop {number}'s source input reads in sensor units: a rate in \
                             {unit} cannot be converted to them"
                        ))
                    })?;
                check_range(
                    "rate",
                    device,
                    &(0.0..=MAX_RATE),
                    &format!("{}/min in the loop's unit", status.unit),
                )?;
                return Ok(Command::SetRamp {
                    number,
                    rate,
                    device,
                });
            }
            "set_manual" => Command::SetManual {
                number: self.loop_number(&mut args)?,
                power: args.number_in("power", 0.0..=100.0, "%")?,
            },
            "control" => Command::Control {
                on: args.switch("state")?,
            },
            other => {
                return Err(Error::bad_argument(format!(
                    "not a cryocon command: {other}"
                )))
            }
        };
        args.finish()?;
        Ok(command)
    }
}

fn single_letter(text: &str) -> Option<char> {
    let mut chars = text.trim().chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Some(c.to_ascii_uppercase()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poll::parse_poll_reply;
    use labwire_protocol::{parse_line, ErrorCode};

    const LOOP1: &str = "CHA;-100.000C;PID  ;HI ;5.00;ON ;10.0;1.0;0.0;0.0; 40.0; 39.9%;--Htr OK--;100.0;126.850C;50";
    const LOOP2: &str =
        "B;77.5;MAN  ;LOW;10.00;OFF;10.0;1.0;0.0;12.5;12.5;0.0%;Htr Open;100.0;400.000K";

    fn poll_22c() -> Poll {
        let reply = format!("-150.1234; -------;C;K;--;SF;ON ;{LOOP1};{LOOP2}");
        parse_poll_reply(&reply, Model::Cryocon22C).unwrap()
    }

    fn parse(ctx: &Context, line: &str) -> Result<Command, Error> {
        ctx.parse(&parse_line(line).unwrap())
    }

    #[test]
    fn setpoints_are_converted_to_the_source_unit_and_limited() {
        let poll = poll_22c();
        let ctx = Context {
            model: Some(Model::Cryocon22C),
            poll: Some(&poll),
            unit: ReportUnit::Kelvin,
            limits: SetpointLimits {
                min: Some(20.0),
                max: Some(350.0),
            },
        };
        let Command::SetSetpoint { setpoint, .. } =
            parse(&ctx, "set_setpoint loop=1 value=173.15").unwrap()
        else {
            panic!()
        };
        assert!((setpoint.device + 100.0).abs() < 1e-9);
        assert_eq!(setpoint.device_unit, TempUnit::Celsius);
        for (line, code) in [
            ("set_setpoint loop=1 value=10", ErrorCode::OutOfRange),
            ("set_setpoint loop=1 value=351", ErrorCode::OutOfRange),
            // Loop 1's MAXSet is 126.85 C = 400 K; the command line allows up to 350 K.
            ("set_setpoint loop=3 value=100", ErrorCode::OutOfRange),
            ("set_setpoint loop=1 value=nan", ErrorCode::BadArgument),
            ("set_source loop=1 input=c", ErrorCode::BadArgument),
            ("set_range loop=2 range=mid", ErrorCode::BadArgument),
            ("set_pid loop=1 p=1 i=1 d=1001", ErrorCode::OutOfRange),
            ("set_ramp loop=1 rate=101", ErrorCode::OutOfRange),
            ("set_manual loop=1 power=-1", ErrorCode::OutOfRange),
            ("set_type loop=1 type=scale", ErrorCode::BadArgument),
            ("control state=maybe", ErrorCode::BadArgument),
        ] {
            assert_eq!(parse(&ctx, line).unwrap_err().code, code, "{line}");
        }
        let loose = Context {
            limits: SetpointLimits::default(),
            ..ctx
        };
        assert_eq!(
            parse(&loose, "set_setpoint loop=1 value=401")
                .unwrap_err()
                .code,
            ErrorCode::OutOfRange,
            "above MAXSet"
        );
        assert!(parse(&loose, "set_setpoint loop=1 value=399").is_ok());
    }

    #[test]
    fn without_a_model_or_a_poll_commands_wait_for_the_controller() {
        let ctx = Context {
            model: None,
            poll: None,
            unit: ReportUnit::Celsius,
            limits: SetpointLimits::default(),
        };
        assert_eq!(
            parse(&ctx, "set_type loop=1 type=pid").unwrap_err().code,
            ErrorCode::NotConnected
        );
        assert_eq!(
            parse(&ctx, "set_type loop=5 type=pid").unwrap_err().code,
            ErrorCode::OutOfRange
        );
        assert!(parse(&ctx, "control state=on").is_ok());
        let known = Context {
            model: Some(Model::Cryocon24C),
            ..ctx
        };
        assert!(parse(&known, "set_type loop=4 type=rampp").is_ok());
        assert_eq!(
            parse(&known, "set_setpoint loop=1 value=-100")
                .unwrap_err()
                .code,
            ErrorCode::NotConnected
        );
    }
}
