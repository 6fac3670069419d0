//! Reading the controller's replies field by field. A reply line holds one field per
//! query, `;`-separated; fields may be space-padded (`HI `, `MAN  `) and numbers may
//! carry a unit suffix (`123.45K`, `40.0%`). A refused query answers `NAK` (or `NACK`).
//! Nothing here panics on any input: every odd field is a [`ParseError`].

use std::fmt;

use crate::model::Model;
use crate::units::TempUnit;

/// Why a reply could not be understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The reply had the wrong number of `;`-separated fields.
    FieldCount { expected: usize, got: usize },
    /// The controller refused a query (`NAK`).
    Refused { query: String },
    /// A field did not hold what its query returns.
    BadField {
        query: String,
        field: String,
        expected: &'static str,
    },
    /// `*IDN?` did not come from a Cryo-con.
    NotCryocon { idn: String },
    /// A Cryo-con this driver does not know.
    UnknownModel { model: String },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::FieldCount { expected, got } => {
                write!(f, "expected {expected} reply fields, got {got}")
            }
            ParseError::Refused { query } => write!(f, "the controller refused {query}"),
            ParseError::BadField {
                query,
                field,
                expected,
            } => write!(f, "{query} answered {field:?}, expected {expected}"),
            ParseError::NotCryocon { idn } => {
                write!(f, "not a Cryo-con controller: *IDN? answered {idn:?}")
            }
            ParseError::UnknownModel { model } => write!(
                f,
                "unsupported Cryo-con model {model:?}: this driver knows the {}",
                Model::KNOWN
            ),
        }
    }
}

impl std::error::Error for ParseError {}

/// True for the controller's refusal of a query.
pub fn is_refusal(field: &str) -> bool {
    let field = field.trim();
    field.eq_ignore_ascii_case("NAK") || field.eq_ignore_ascii_case("NACK")
}

/// Splits a reply into its trimmed fields.
pub fn split_fields(reply: &str) -> Vec<&str> {
    reply.split(';').map(str::trim).collect()
}

fn bad(query: &str, field: &str, expected: &'static str) -> ParseError {
    ParseError::BadField {
        query: query.to_string(),
        field: field.to_string(),
        expected,
    }
}

/// A number as the controller printed it, with its resolution (one unit of its last
/// digit), so a read-back can be compared at the precision it was given.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Number {
    pub value: f64,
    pub resolution: f64,
    /// The unit suffix, when there was one (`K`, `C`, `F`, `S`).
    pub unit: Option<TempUnit>,
}

/// Parses `12.5`, ` -100.000C`, `40.0%`, `1.5e2`. Non-finite values are refused.
pub fn parse_number(query: &str, field: &str) -> Result<Number, ParseError> {
    let text = field.trim();
    let body = text.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '%');
    let suffix = &text[body.len()..];
    let unit = match suffix {
        "" | "%" => None,
        s => Some(TempUnit::from_letter(s).ok_or_else(|| bad(query, field, "a number"))?),
    };
    let body = body.trim_end();
    let numeric = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
        && body.bytes().any(|b| b.is_ascii_digit());
    let value = numeric
        .then(|| body.parse::<f64>().ok())
        .flatten()
        .filter(|v| v.is_finite())
        .ok_or_else(|| bad(query, field, "a number"))?;
    let mantissa = body.split(['e', 'E']).next().unwrap_or(body);
    let decimals = mantissa.split_once('.').map_or(0, |(_, frac)| frac.len());
    let exponent: i32 = body
        .split_once(['e', 'E'])
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    let resolution = 10f64.powi(exponent.saturating_sub(decimals.min(300) as i32));
    Ok(Number {
        value,
        resolution,
        unit,
    })
}

/// Why an input has no reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoReading {
    /// `-------`: sensor open, shorted or missing.
    SensorFault,
    /// `.......`: outside the sensor's calibration curve.
    OutOfCurve,
    /// Any other placeholder (some firmware prints `_______`, or a disabled input).
    Unavailable,
}

/// A temperature field: a value, or why there is none.
pub fn parse_temperature(query: &str, field: &str) -> Result<Result<f64, NoReading>, ParseError> {
    let text = field.trim();
    if text.is_empty() {
        return Ok(Err(NoReading::Unavailable));
    }
    if text.bytes().all(|b| b == b'-') && text.len() > 2 {
        return Ok(Err(NoReading::SensorFault));
    }
    if text.bytes().all(|b| b == b'.') {
        return Ok(Err(NoReading::OutOfCurve));
    }
    if text.bytes().all(|b| matches!(b, b'-' | b'.' | b'_')) {
        return Ok(Err(NoReading::Unavailable));
    }
    parse_number(query, field).map(|n| Ok(n.value))
}

/// `ON` / `OFF` (padded or not).
pub fn parse_on_off(query: &str, field: &str) -> Result<bool, ParseError> {
    match field.trim().to_ascii_uppercase().as_str() {
        "ON" => Ok(true),
        "OFF" => Ok(false),
        _ => Err(bad(query, field, "ON or OFF")),
    }
}

/// An input letter as `SOURce?` gives it: `CHA` or `A`.
pub fn parse_input(query: &str, field: &str, model: Model) -> Result<char, ParseError> {
    let text = field.trim().to_ascii_uppercase();
    let letter = text.strip_prefix("CH").unwrap_or(&text);
    let mut chars = letter.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if model.has_input(c) => Ok(c),
        _ => Err(bad(query, field, "an input of this model")),
    }
}

/// A loop's control type (`LOOP n:TYPe`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopType {
    Off,
    Pid,
    Man,
    Table,
    RampP,
    RampT,
    Scale,
}

impl LoopType {
    pub const ALL: [LoopType; 7] = [
        LoopType::Off,
        LoopType::Pid,
        LoopType::Man,
        LoopType::Table,
        LoopType::RampP,
        LoopType::RampT,
        LoopType::Scale,
    ];

    /// The controller's word for it.
    pub fn word(self) -> &'static str {
        match self {
            LoopType::Off => "OFF",
            LoopType::Pid => "PID",
            LoopType::Man => "MAN",
            LoopType::Table => "TABLE",
            LoopType::RampP => "RAMPP",
            LoopType::RampT => "RAMPT",
            LoopType::Scale => "SCALE",
        }
    }

    /// From the controller's word or its lower-case spelling (`pid`, `rampp`).
    pub fn from_word(text: &str) -> Option<LoopType> {
        LoopType::ALL
            .into_iter()
            .find(|t| t.word().eq_ignore_ascii_case(text.trim()))
    }
}

impl fmt::Display for LoopType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

pub fn parse_loop_type(query: &str, field: &str) -> Result<LoopType, ParseError> {
    LoopType::from_word(field).ok_or_else(|| bad(query, field, "a loop type"))
}

/// Who the controller is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub model: Model,
    /// The model field as the controller wrote it.
    pub model_name: String,
    pub serial: String,
    pub firmware: String,
}

/// Parses `Cryo-con,24C,204683,1.01A`; an unknown model is refused by name.
pub fn parse_idn(reply: &str) -> Result<Identity, ParseError> {
    let fields: Vec<&str> = reply.split(',').map(str::trim).collect();
    let [maker, model, serial, firmware] = fields[..] else {
        return Err(ParseError::NotCryocon {
            idn: reply.to_string(),
        });
    };
    let maker = maker.to_ascii_lowercase().replace(['-', ' '], "");
    if maker != "cryocon" {
        return Err(ParseError::NotCryocon {
            idn: reply.to_string(),
        });
    }
    let known = Model::from_idn(model).ok_or_else(|| ParseError::UnknownModel {
        model: model.to_string(),
    })?;
    Ok(Identity {
        model: known,
        model_name: model.to_string(),
        serial: serial.to_string(),
        firmware: firmware.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_with_padding_and_suffixes() {
        let n = parse_number("q", " 123.45K ").unwrap();
        assert_eq!(n.value, 123.45);
        assert!((n.resolution - 0.01).abs() < 1e-15);
        assert_eq!(n.unit, Some(TempUnit::Kelvin));
        assert_eq!(parse_number("q", "-100.000C").unwrap().value, -100.0);
        assert_eq!(parse_number("q", " 40.0%").unwrap().value, 40.0);
        assert_eq!(parse_number("q", "50").unwrap().resolution, 1.0);
        let e = parse_number("q", "1.5e2").unwrap();
        assert_eq!(e.value, 150.0);
        assert!((e.resolution - 10.0).abs() < 1e-9);
        for bad in [
            "", " ", "K", "nan", "inf", "-inf", "1.2.3", "12X", "--", "%", "1e999",
        ] {
            assert!(parse_number("q", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn temperatures_and_placeholders() {
        assert_eq!(parse_temperature("q", " 77.1234").unwrap(), Ok(77.1234));
        assert_eq!(
            parse_temperature("q", "-------").unwrap(),
            Err(NoReading::SensorFault)
        );
        assert_eq!(
            parse_temperature("q", ".......").unwrap(),
            Err(NoReading::OutOfCurve)
        );
        assert_eq!(
            parse_temperature("q", "_______").unwrap(),
            Err(NoReading::Unavailable)
        );
        assert_eq!(
            parse_temperature("q", "").unwrap(),
            Err(NoReading::Unavailable)
        );
        assert!(parse_temperature("q", "hot").is_err());
    }

    #[test]
    fn identities() {
        let id = parse_idn("Cryo-con,24C,204683,1.01A").unwrap();
        assert_eq!(id.model, Model::Cryocon24C);
        assert_eq!(
            (id.serial.as_str(), id.firmware.as_str()),
            ("204683", "1.01A")
        );
        assert_eq!(
            parse_idn(" Cryo-con, 22C ,1,2\r").unwrap().model,
            Model::Cryocon22C
        );
        let err = parse_idn("Cryo-con,32B,1,2").unwrap_err();
        assert!(err.to_string().contains("\"32B\""), "{err}");
        assert!(matches!(
            parse_idn("Keysight,E36312A,1,2"),
            Err(ParseError::NotCryocon { .. })
        ));
        assert!(parse_idn("").is_err());
    }

    #[test]
    fn small_fields() {
        assert_eq!(parse_on_off("q", "ON "), Ok(true));
        assert!(parse_on_off("q", "MAYBE").is_err());
        assert_eq!(parse_input("q", "CHB", Model::Cryocon24C), Ok('B'));
        assert_eq!(parse_input("q", "d", Model::Cryocon24C), Ok('D'));
        assert!(parse_input("q", "CHC", Model::Cryocon22C).is_err());
        assert_eq!(parse_loop_type("q", "MAN  "), Ok(LoopType::Man));
        assert!(is_refusal(" nack"));
    }
}
