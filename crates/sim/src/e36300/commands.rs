//! The command table: every header the supply answers, in the manual's notation, with the
//! handler that runs it. Adding a command is one row here and one method in the module of
//! its subsystem.

use std::time::Instant;

use super::channel::Quantity;
use super::Instrument;
use crate::scpi;

/// What a message unit yields: its reply, nothing, or the SCPI error it raised.
pub(super) type Outcome = Result<Option<String>, i32>;

/// Runs one message unit with its parameters at time `now`.
pub(super) type Handler = fn(&mut Instrument, &[&str], Instant) -> Outcome;

/// Runs a unit whose header has a numeric suffix (`ISUM2`), given that number.
pub(super) type NumberedHandler = fn(&mut Instrument, usize, &[&str], Instant) -> Outcome;

/// The handler a header resolved to.
pub(super) enum Found {
    Plain(Handler),
    Numbered(NumberedHandler, usize),
}

impl Found {
    pub(super) fn run(self, psu: &mut Instrument, params: &[&str], now: Instant) -> Outcome {
        match self {
            Found::Plain(handler) => handler(psu, params, now),
            Found::Numbered(handler, number) => handler(psu, number, params, now),
        }
    }
}

/// Common commands: name, query?, handler.
const COMMON: &[(&str, bool, Handler)] = &[
    ("IDN", true, Instrument::identify_query),
    ("RST", false, Instrument::reset),
    ("CLS", false, Instrument::clear_status),
    ("OPC", false, Instrument::operation_complete),
    ("OPC", true, Instrument::operation_complete_query),
    ("ESR", true, Instrument::event_status_query),
    ("ESE", false, Instrument::event_status_enable),
    ("ESE", true, Instrument::event_status_enable_query),
    ("STB", true, Instrument::status_byte_query),
    ("SRE", false, Instrument::service_request_enable),
    ("SRE", true, Instrument::service_request_enable_query),
    ("WAI", false, Instrument::wait),
    ("TST", true, Instrument::self_test_query),
    ("OPT", true, Instrument::options_query),
    ("SAV", false, Instrument::save),
    ("RCL", false, Instrument::recall),
    ("TRG", false, Instrument::trigger),
];

/// The command tree in manual notation: pattern, query?, handler. First match wins.
const TREE: &[(&str, bool, Handler)] = &[
    ("SYSTem:ERRor[:NEXT]", true, Instrument::system_error_query),
    ("SYSTem:VERSion", true, Instrument::system_version_query),
    ("SYSTem:REMote", false, Instrument::system_remote),
    ("SYSTem:LOCal", false, Instrument::system_local),
    ("SYSTem:RWLock", false, Instrument::system_remote_with_lock),
    ("INSTrument[:SELect]", false, Instrument::select),
    ("INSTrument[:SELect]", true, Instrument::select_query),
    ("INSTrument:NSELect", false, Instrument::select_number),
    ("INSTrument:NSELect", true, Instrument::select_number_query),
    ("APPLy", false, Instrument::apply),
    ("APPLy", true, Instrument::apply_query),
    (
        "[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]",
        false,
        |psu: &mut Instrument, params: &[&str], _| psu.set_setting(Quantity::Voltage, params),
    ),
    (
        "[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]",
        true,
        |psu: &mut Instrument, params: &[&str], _| psu.setting_query(Quantity::Voltage, params),
    ),
    (
        "[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]",
        false,
        |psu: &mut Instrument, params: &[&str], _| psu.set_setting(Quantity::Current, params),
    ),
    (
        "[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]",
        true,
        |psu: &mut Instrument, params: &[&str], _| psu.setting_query(Quantity::Current, params),
    ),
    (
        "[SOURce:]VOLTage:PROTection[:LEVel]",
        false,
        |psu: &mut Instrument, params: &[&str], _| psu.set_setting(Quantity::OvpLevel, params),
    ),
    (
        "[SOURce:]VOLTage:PROTection[:LEVel]",
        true,
        |psu: &mut Instrument, params: &[&str], _| psu.setting_query(Quantity::OvpLevel, params),
    ),
    (
        "[SOURce:]VOLTage:PROTection:TRIPped",
        true,
        Instrument::voltage_protection_tripped_query,
    ),
    (
        "[SOURce:]CURRent:PROTection:STATe",
        false,
        Instrument::current_protection_state,
    ),
    (
        "[SOURce:]CURRent:PROTection:STATe",
        true,
        Instrument::current_protection_state_query,
    ),
    (
        "[SOURce:]CURRent:PROTection:DELay[:TIME]",
        false,
        |psu: &mut Instrument, params: &[&str], _| psu.set_setting(Quantity::OcpDelay, params),
    ),
    (
        "[SOURce:]CURRent:PROTection:DELay[:TIME]",
        true,
        |psu: &mut Instrument, params: &[&str], _| psu.setting_query(Quantity::OcpDelay, params),
    ),
    (
        "[SOURce:]CURRent:PROTection:TRIPped",
        true,
        Instrument::current_protection_tripped_query,
    ),
    ("OUTPut[:STATe]", false, Instrument::output),
    ("OUTPut[:STATe]", true, Instrument::output_query),
    (
        "OUTPut:PROTection:CLEar",
        false,
        Instrument::output_protection_clear,
    ),
    (
        "MEASure[:SCALar]:VOLTage[:DC]",
        true,
        |psu: &mut Instrument, params: &[&str], _| psu.measure_query(Quantity::Voltage, params),
    ),
    (
        "MEASure[:SCALar]:CURRent[:DC]",
        true,
        |psu: &mut Instrument, params: &[&str], _| psu.measure_query(Quantity::Current, params),
    ),
];

/// Headers with one numeric suffix, written without it: pattern, query?, handler. A
/// header without the suffix means 1, as SCPI has it.
const NUMBERED: &[(&str, bool, NumberedHandler)] = &[(
    "STATus:QUEStionable:INSTrument:ISUMmary:CONDition",
    true,
    Instrument::instrument_summary_condition_query,
)];

/// The handler of a header (`common` for `*XXX`), already resolved against the tree path.
pub(super) fn lookup(common: bool, query: bool, keywords: &[String]) -> Option<Found> {
    if common {
        let name = keywords.first()?;
        return COMMON
            .iter()
            .find(|(n, q, _)| *q == query && n.eq_ignore_ascii_case(name))
            .map(|(_, _, handler)| Found::Plain(*handler));
    }
    if let Some((_, _, handler)) = TREE
        .iter()
        .find(|(pattern, q, _)| *q == query && scpi::pattern_matches(pattern, keywords))
    {
        return Some(Found::Plain(*handler));
    }
    let (number, bare) = strip_suffix(keywords)?;
    NUMBERED
        .iter()
        .find(|(pattern, q, _)| *q == query && scpi::pattern_matches(pattern, &bare))
        .map(|(_, _, handler)| Found::Numbered(*handler, number))
}

/// The keywords with the one numeric suffix taken off, and that number (1 without one);
/// `None` for two suffixes or one that is not a number.
fn strip_suffix(keywords: &[String]) -> Option<(usize, Vec<String>)> {
    let mut number = None;
    let mut bare = Vec::with_capacity(keywords.len());
    for keyword in keywords {
        let stem = keyword.trim_end_matches(|c: char| c.is_ascii_digit());
        if stem.len() < keyword.len() {
            if number.is_some() || stem.is_empty() {
                return None;
            }
            number = Some(keyword[stem.len()..].parse().ok()?);
        }
        bare.push(stem.to_string());
    }
    Some((number.unwrap_or(1), bare))
}
