//! The mnemonics the simulated TPG 36x understands, parsed from one message (line end and
//! spaces already removed). A refusal carries the `ERR` bit the controller sets.

use std::time::Duration;

use super::unit::Unit;

/// Bits of the `ERR` word, printed as four binary digits (`0000` = no error).
pub const ERR_SYNTAX: u8 = 0b0001;
pub const ERR_PARAMETER: u8 = 0b0010;
/// Asked for a channel the controller does not have.
pub const ERR_NO_HARDWARE: u8 = 0b0100;

/// What a later `ENQ` answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// `PR1`/`PR2`: one channel, index from 0.
    Pressure(usize),
    /// `PRX`: every channel.
    Pressures,
    Unit,
    GaugeTypes,
    ErrorWord,
    Firmware,
    Identity,
    Sensors,
}

/// A `SEN` argument: 0 leaves the sensor as it is, 1 switches it off, 2 on.
pub type Switch = Option<bool>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Read(Request),
    SetUnit(Unit),
    SetSensors(Vec<Switch>),
    Continuous(Duration),
}

/// Parses one message for a controller with `channels` gauge channels.
pub fn parse_message(message: &[u8], channels: usize) -> Result<Command, u8> {
    let text = std::str::from_utf8(message).map_err(|_| ERR_SYNTAX)?;
    let (mnemonic, args) = match text.split_once(',') {
        Some((mnemonic, args)) => (mnemonic, Some(args)),
        None => (text, None),
    };
    let read = |request| match args {
        None => Ok(Command::Read(request)),
        Some(_) => Err(ERR_PARAMETER),
    };
    let code = |args: &str| args.parse::<u8>().map_err(|_| ERR_PARAMETER);
    match mnemonic {
        "PR1" => read(Request::Pressure(0)),
        "PR2" if channels >= 2 => read(Request::Pressure(1)),
        "PR2" => Err(ERR_NO_HARDWARE),
        "PRX" => read(Request::Pressures),
        "TID" => read(Request::GaugeTypes),
        "ERR" => read(Request::ErrorWord),
        "PNR" => read(Request::Firmware),
        "AYT" => read(Request::Identity),
        "UNI" => match args {
            None => Ok(Command::Read(Request::Unit)),
            Some(args) => Unit::from_code(code(args)?)
                .map(Command::SetUnit)
                .ok_or(ERR_PARAMETER),
        },
        "SEN" => match args {
            None => Ok(Command::Read(Request::Sensors)),
            Some(args) => {
                let switches = args
                    .split(',')
                    .map(|arg| match code(arg)? {
                        0 => Ok(None),
                        1 => Ok(Some(false)),
                        2 => Ok(Some(true)),
                        _ => Err(ERR_PARAMETER),
                    })
                    .collect::<Result<Vec<Switch>, u8>>()?;
                if switches.len() > channels {
                    return Err(ERR_PARAMETER);
                }
                Ok(Command::SetSensors(switches))
            }
        },
        "COM" => {
            let interval = match args.map(code).transpose()? {
                Some(0) => Duration::from_millis(100),
                // 1 s is the TPG's default when no interval is given.
                None | Some(1) => Duration::from_secs(1),
                Some(2) => Duration::from_secs(60),
                Some(_) => return Err(ERR_PARAMETER),
            };
            Ok(Command::Continuous(interval))
        }
        _ => Err(ERR_SYNTAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_mnemonics() {
        let parse = |m: &[u8]| parse_message(m, 2);
        assert_eq!(parse(b"PR1"), Ok(Command::Read(Request::Pressure(0))));
        assert_eq!(parse(b"PR2"), Ok(Command::Read(Request::Pressure(1))));
        assert_eq!(parse(b"PRX"), Ok(Command::Read(Request::Pressures)));
        assert_eq!(parse(b"UNI"), Ok(Command::Read(Request::Unit)));
        assert_eq!(parse(b"UNI,4"), Ok(Command::SetUnit(Unit::Hpa)));
        assert_eq!(parse(b"UNI,5"), Ok(Command::SetUnit(Unit::Volt)));
        assert_eq!(parse(b"SEN"), Ok(Command::Read(Request::Sensors)));
        assert_eq!(
            parse(b"SEN,1,0"),
            Ok(Command::SetSensors(vec![Some(false), None]))
        );
        assert_eq!(parse(b"SEN,2"), Ok(Command::SetSensors(vec![Some(true)])));
        assert_eq!(
            parse(b"COM"),
            Ok(Command::Continuous(Duration::from_secs(1)))
        );
        assert_eq!(
            parse(b"COM,0"),
            Ok(Command::Continuous(Duration::from_millis(100)))
        );
        assert_eq!(
            parse(b"COM,2"),
            Ok(Command::Continuous(Duration::from_secs(60)))
        );
    }

    #[test]
    fn rejects_unknown_mnemonics_and_bad_arguments() {
        let parse = |m: &[u8]| parse_message(m, 1);
        assert_eq!(parse(b"XYZ"), Err(ERR_SYNTAX));
        assert_eq!(parse(b"pr1"), Err(ERR_SYNTAX));
        assert_eq!(
            parse(b"PR2"),
            Err(ERR_NO_HARDWARE),
            "a TPG 361 has no channel 2"
        );
        assert_eq!(parse(b"\xff\xfe"), Err(ERR_SYNTAX));
        assert_eq!(parse(b"UNI,6"), Err(ERR_PARAMETER));
        assert_eq!(parse(b"UNI,x"), Err(ERR_PARAMETER));
        assert_eq!(parse(b"COM,3"), Err(ERR_PARAMETER));
        assert_eq!(parse(b"PR1,1"), Err(ERR_PARAMETER));
        assert_eq!(parse(b"PRX,1"), Err(ERR_PARAMETER));
        assert_eq!(parse(b"SEN,3"), Err(ERR_PARAMETER));
        assert_eq!(parse(b"SEN,1,1"), Err(ERR_PARAMETER), "one channel only");
    }
}
