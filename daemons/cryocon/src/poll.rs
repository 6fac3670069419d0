//! One poll of everything: which chained queries to send, packed into as few lines as
//! the controller's 250-character limit allows, and how to read their replies back.
//! [`poll_requests`] and [`parse_poll_reply`] are built from the same query list, so they
//! cannot disagree about which field is which.

use labwire_daemon::Error;

use crate::model::Model;
use crate::reply::{
    is_refusal, parse_input, parse_loop_type, parse_number, parse_on_off, parse_temperature,
    split_fields, LoopType, NoReading, ParseError,
};
use crate::units::{convert, convert_difference, TempUnit};

/// Request lines stay shorter than this (the manual: "under 250 characters").
pub const MAX_LINE: usize = 249;

/// One input as polled.
#[derive(Clone, Debug, PartialEq)]
pub struct InputStatus {
    pub input: char,
    /// In `unit`; `None` on a sensor fault or outside the calibration curve.
    pub temperature: Option<f64>,
    /// Why `temperature` is `None`.
    pub no_reading: Option<NoReading>,
    pub unit: TempUnit,
    /// The controller's alarm word: `--`, `SF`, `HI` or `LO`.
    pub alarm: String,
}

/// One control loop as polled. Temperatures are in `unit`, the unit of the loop's source.
#[derive(Clone, Debug, PartialEq)]
pub struct LoopStatus {
    pub number: u8,
    pub source: char,
    pub setpoint: f64,
    /// The setpoint's suffix, or else the source input's unit.
    pub unit: TempUnit,
    pub loop_type: LoopType,
    /// `HI`, `MID`, `LOW`, `10V`, ...
    pub range: String,
    /// Ramp rate, `unit` per minute.
    pub rate: f64,
    pub ramping: bool,
    pub pgain: f64,
    pub igain: f64,
    pub dgain: f64,
    /// Manual output, %.
    pub manual_pct: f64,
    /// Commanded output, % of full scale.
    pub output_pct: f64,
    /// Heater read-back, % of full scale.
    pub heater_pct: f64,
    /// The controller's heater status text, e.g. `--Htr OK--`.
    pub heater_status: String,
    pub max_power_pct: f64,
    pub max_setpoint: f64,
    /// Heater load in ohm (loop 1 only).
    pub load_ohms: Option<u32>,
}

impl InputStatus {
    /// The reading in `unit`; `None` without a reading or when it is in sensor units.
    pub fn temperature_in(&self, unit: TempUnit) -> Option<f64> {
        convert(self.temperature?, self.unit, unit)
    }
}

impl LoopStatus {
    /// The setpoint in `unit` (`None` when the loop works in sensor units).
    pub fn setpoint_in(&self, unit: TempUnit) -> Option<f64> {
        convert(self.setpoint, self.unit, unit)
    }

    /// The highest setpoint the controller takes, in `unit`.
    pub fn max_setpoint_in(&self, unit: TempUnit) -> Option<f64> {
        convert(self.max_setpoint, self.unit, unit)
    }

    /// The ramp rate in `unit` per minute.
    pub fn rate_in(&self, unit: TempUnit) -> Option<f64> {
        convert_difference(self.rate, self.unit, unit)
    }

    /// Whether the controller would take `value` (in the loop's unit) as a setpoint:
    /// finite, not below absolute zero, not above `MAXSet`.
    pub fn check_setpoint(&self, value: f64) -> Result<(), Error> {
        if !value.is_finite() {
            return Err(Error::bad_argument("setpoint must be a finite number"));
        }
        let unit = self.unit.letter();
        if self.unit.to_kelvin(value).is_some_and(|k| k < 0.0) {
            return Err(Error::out_of_range(format!(
                "setpoint {value} {unit} is below absolute zero"
            )));
        }
        if value > self.max_setpoint {
            return Err(Error::out_of_range(format!(
                "setpoint {value} {unit} is above loop {}'s MAXSet {} {unit}",
                self.number, self.max_setpoint
            )));
        }
        Ok(())
    }

    /// True when the heater status says the heater is fine (`Htr OK`).
    pub fn heater_ok(&self) -> bool {
        heater_status_ok(&self.heater_status)
    }
}

/// True for the controller's "heater fine" text, with or without its dashes.
pub fn heater_status_ok(text: &str) -> bool {
    text.trim()
        .trim_matches('-')
        .trim()
        .eq_ignore_ascii_case("Htr OK")
}

/// Everything one poll reads.
#[derive(Clone, Debug, PartialEq)]
pub struct Poll {
    pub inputs: Vec<InputStatus>,
    /// `CONTrol?`: loops engaged.
    pub control: bool,
    pub loops: Vec<LoopStatus>,
}

impl Poll {
    pub fn input(&self, input: char) -> Option<&InputStatus> {
        self.inputs.iter().find(|i| i.input == input)
    }

    pub fn loop_status(&self, number: u8) -> Option<&LoopStatus> {
        self.loops.iter().find(|l| l.number == number)
    }
}

/// The per-loop queries, in reply order.
const LOOP_QUERIES: [&str; 15] = [
    "SOUR?", "SETP?", "TYP?", "RANG?", "RAT?", "RAMP?", "PGA?", "IGA?", "DGA?", "PMAN?", "OUTP?",
    "HTRR?", "ERR?", "MAXP?", "MAXS?",
];
const LOAD_QUERY: &str = "LOAD?";

/// A chain of queries sharing one path, and how many reply fields it yields.
struct Group {
    text: String,
    fields: usize,
}

fn input_list(model: Model) -> String {
    let letters: Vec<String> = model.inputs().iter().map(char::to_string).collect();
    letters.join(",")
}

fn groups(model: Model) -> Vec<Group> {
    let n = model.inputs().len();
    let list = input_list(model);
    let mut groups = vec![Group {
        text: format!(":INP? {list};:INP {list}:UNIT?;ALAR?;:CONT?"),
        fields: 3 * n + 1,
    }];
    for number in 1..=model.loop_count() {
        let mut queries: Vec<&str> = LOOP_QUERIES.to_vec();
        if model.has_load(number) {
            queries.push(LOAD_QUERY);
        }
        groups.push(Group {
            text: format!(":LOOP {number}:{}", queries.join(";")),
            fields: queries.len(),
        });
    }
    groups
}

/// The request lines of one poll (without LF), each under [`MAX_LINE`] characters.
pub fn poll_requests(model: Model) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for group in groups(model) {
        match lines.last_mut() {
            Some(line) if line.len() + 1 + group.text.len() <= MAX_LINE => {
                line.push(';');
                line.push_str(&group.text);
            }
            _ => lines.push(group.text),
        }
    }
    lines
}

/// Parses the replies to [`poll_requests`], joined with `;` in order.
pub fn parse_poll_reply(text: &str, model: Model) -> Result<Poll, ParseError> {
    let expected: usize = groups(model).iter().map(|g| g.fields).sum();
    let fields = split_fields(text);
    if fields.len() != expected {
        return Err(ParseError::FieldCount {
            expected,
            got: fields.len(),
        });
    }
    let mut cursor = Fields {
        fields: &fields,
        at: 0,
    };
    let letters = model.inputs();
    let mut readings = Vec::with_capacity(letters.len());
    for &input in letters {
        let query = format!("INP? {input}");
        readings.push(parse_temperature(&query, cursor.next(&query)?)?);
    }
    let mut units = Vec::with_capacity(letters.len());
    for &input in letters {
        let query = format!("INP {input}:UNIT?");
        // Sensor units come back as odd characters on some firmware: not a temperature.
        units.push(TempUnit::from_letter(cursor.next(&query)?).unwrap_or(TempUnit::Sensor));
    }
    let mut inputs = Vec::with_capacity(letters.len());
    for ((&input, reading), unit) in letters.iter().zip(readings).zip(units) {
        let query = format!("INP {input}:ALAR?");
        let alarm = cursor.next(&query)?.to_string();
        inputs.push(InputStatus {
            input,
            temperature: reading.ok(),
            no_reading: reading.err(),
            unit,
            alarm,
        });
    }
    let control = parse_on_off("CONT?", cursor.next("CONT?")?)?;
    let mut loops = Vec::with_capacity(usize::from(model.loop_count()));
    for number in 1..=model.loop_count() {
        loops.push(parse_loop(&mut cursor, number, model, &inputs)?);
    }
    Ok(Poll {
        inputs,
        control,
        loops,
    })
}

struct Fields<'a> {
    fields: &'a [&'a str],
    at: usize,
}

impl<'a> Fields<'a> {
    /// The next field, refused if the controller answered `NAK` to `query`.
    fn next(&mut self, query: &str) -> Result<&'a str, ParseError> {
        let field = self.fields.get(self.at).copied().unwrap_or("");
        self.at += 1;
        if is_refusal(field) {
            return Err(ParseError::Refused {
                query: query.to_string(),
            });
        }
        Ok(field)
    }
}

fn parse_loop(
    cursor: &mut Fields<'_>,
    number: u8,
    model: Model,
    inputs: &[InputStatus],
) -> Result<LoopStatus, ParseError> {
    let q = |name: &str| format!("LOOP {number}:{name}");
    let number_field = |cursor: &mut Fields<'_>, name: &str| {
        let query = q(name);
        parse_number(&query, cursor.next(&query)?)
    };
    let query = q("SOUR?");
    let source = parse_input(&query, cursor.next(&query)?, model)?;
    let setpoint = number_field(cursor, "SETP?")?;
    let query = q("TYP?");
    let loop_type = parse_loop_type(&query, cursor.next(&query)?)?;
    let range = cursor.next(&q("RANG?"))?.to_ascii_uppercase();
    let rate = number_field(cursor, "RAT?")?.value;
    let query = q("RAMP?");
    let ramping = parse_on_off(&query, cursor.next(&query)?)?;
    let pgain = number_field(cursor, "PGA?")?.value;
    let igain = number_field(cursor, "IGA?")?.value;
    let dgain = number_field(cursor, "DGA?")?.value;
    let manual_pct = number_field(cursor, "PMAN?")?.value;
    let output_pct = number_field(cursor, "OUTP?")?.value;
    let heater_pct = number_field(cursor, "HTRR?")?.value;
    let heater_status = cursor.next(&q("ERR?"))?.to_string();
    let max_power_pct = number_field(cursor, "MAXP?")?.value;
    let max_setpoint = number_field(cursor, "MAXS?")?.value;
    let load_ohms = if model.has_load(number) {
        let query = q("LOAD?");
        let load = parse_number(&query, cursor.next(&query)?)?.value;
        Some(load.round().clamp(0.0, 1e6) as u32)
    } else {
        None
    };
    let source_unit = inputs
        .iter()
        .find(|i| i.input == source)
        .map_or(TempUnit::Kelvin, |i| i.unit);
    Ok(LoopStatus {
        number,
        source,
        setpoint: setpoint.value,
        unit: setpoint.unit.unwrap_or(source_unit),
        loop_type,
        range,
        rate,
        ramping,
        pgain,
        igain,
        dgain,
        manual_pct,
        output_pct,
        heater_pct,
        heater_status,
        max_power_pct,
        max_setpoint,
        load_ohms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOP1: &str = "CHA;-100.000C;PID  ;HI ;5.00;ON ;10.0;1.0;0.0;0.0; 40.0; 39.9%;--Htr OK--;100.0;126.850C;50";
    const LOOP2: &str =
        "B;77.5;MAN  ;LOW;10.00;OFF;10.0;1.0;0.0;12.5;12.5;0.0%;Htr Open;100.0;400.000K";

    fn reply_22c() -> String {
        format!("-150.1234; -------;C;K;--;SF;ON ;{LOOP1};{LOOP2}")
    }

    #[test]
    fn requests_fit_in_few_lines() {
        let c24 = poll_requests(Model::Cryocon24C);
        let c22 = poll_requests(Model::Cryocon22C);
        assert_eq!(c24.len(), 2, "{c24:#?}");
        assert_eq!(c22.len(), 1, "{c22:#?}");
        assert!(c24.iter().chain(&c22).all(|l| l.len() <= MAX_LINE));
        assert!(c24[0].starts_with(":INP? A,B,C,D;"));
    }

    #[test]
    fn a_full_22c_poll() {
        let poll = parse_poll_reply(&reply_22c(), Model::Cryocon22C).unwrap();
        assert_eq!(poll.inputs[0].temperature, Some(-150.1234));
        assert_eq!(poll.inputs[0].unit, TempUnit::Celsius);
        assert_eq!(poll.inputs[1].temperature, None);
        assert_eq!(poll.inputs[1].no_reading, Some(NoReading::SensorFault));
        assert_eq!(poll.inputs[1].alarm, "SF");
        assert!(poll.control);
        let l1 = &poll.loops[0];
        assert_eq!(
            (l1.source, l1.setpoint, l1.unit),
            ('A', -100.0, TempUnit::Celsius)
        );
        assert_eq!((l1.loop_type, l1.range.as_str()), (LoopType::Pid, "HI"));
        assert!(l1.ramping && l1.heater_ok());
        assert_eq!((l1.heater_pct, l1.load_ohms), (39.9, Some(50)));
        let l2 = poll.loop_status(2).unwrap();
        // No suffix: the unit of the source input (B, in K).
        assert_eq!((l2.source, l2.unit), ('B', TempUnit::Kelvin));
        assert!(!l2.heater_ok());
        assert_eq!(l2.load_ohms, None);
    }

    #[test]
    fn odd_replies_are_errors_not_panics() {
        let good = reply_22c();
        let cases = [
            String::new(),
            ";".repeat(40),
            good.replacen("ON ;CHA", "ON ;NAK", 1),
            good.replacen("PID  ", "WARP", 1),
            good.replacen("5.00", "nan", 1),
            good.replacen(" 40.0", "\u{fffd}", 1),
            format!("{good};extra"),
            good.replacen("CHA", "CHC", 1),
        ];
        for case in &cases {
            assert!(
                parse_poll_reply(case, Model::Cryocon22C).is_err(),
                "{case:?}"
            );
        }
        let refused = parse_poll_reply(&cases[2], Model::Cryocon22C).unwrap_err();
        assert_eq!(
            refused,
            ParseError::Refused {
                query: "LOOP 1:SOUR?".into()
            }
        );
        // The 24C expects more fields than a 22C reply has.
        assert!(matches!(
            parse_poll_reply(&good, Model::Cryocon24C),
            Err(ParseError::FieldCount { .. })
        ));
    }

    /// Every one-character corruption of a good reply parses or fails, never panics.
    #[test]
    fn corrupted_replies_never_panic() {
        let good = reply_22c();
        let mut failures = 0;
        for (at, ch) in good.char_indices() {
            for replacement in ["", ";", "x", "-", ".", "\u{e9}", " ", "NAK", "1e999"] {
                let mut text = good.clone();
                text.replace_range(at..at + ch.len_utf8(), replacement);
                failures += usize::from(parse_poll_reply(&text, Model::Cryocon22C).is_err());
            }
            // A truncated last field can still be a number: only no panic is required.
            let _ = parse_poll_reply(&good[..at], Model::Cryocon22C);
        }
        assert!(failures > 0);
    }

    #[test]
    fn heater_texts() {
        assert!(heater_status_ok("--Htr OK--"));
        assert!(heater_status_ok(" Htr OK "));
        assert!(!heater_status_ok("-Overtemp-"));
        assert!(!heater_status_ok("OTDisconn"));
    }
}
