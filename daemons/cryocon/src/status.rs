//! A poll as status variables: temperatures in the daemon's unit, an empty value for
//! anything without a reading (a sensor fault, an input in sensor units), never a number
//! made up.

use crate::poll::{LoopStatus, Poll};
use crate::reply::Identity;
use crate::units::ReportUnit;
use labwire_daemon::StatusBuilder;

/// A converted value rounded to a millionth: the controller prints fewer decimals, so
/// nothing is lost, and -100 C read back as 173.15 K shows as -100, not -99.99999999999997.
pub fn tidy(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
}

fn optional(status: &mut StatusBuilder, key: String, value: Option<f64>) {
    match value {
        Some(value) => status.number(key, tidy(value)),
        None => status.missing(key),
    };
}

/// Writes `poll` and the identity into `status`.
pub fn write_status(
    status: &mut StatusBuilder,
    poll: &Poll,
    identity: &Identity,
    unit: ReportUnit,
) {
    status.text("unit", unit.name());
    let to = unit.temp_unit();
    for input in &poll.inputs {
        let letter = input.input.to_ascii_lowercase();
        optional(status, format!("temp_{letter}"), input.temperature_in(to));
        status.text(format!("alarm_state_{letter}"), input.alarm.clone());
    }
    for status_of_loop in &poll.loops {
        write_loop(status, status_of_loop, unit);
    }
    status
        .flag("control", poll.control)
        .text("idn_model", identity.model_name.clone())
        .text("idn_serial", identity.serial.clone())
        .text("idn_firmware", identity.firmware.clone());
}

fn write_loop(status: &mut StatusBuilder, lp: &LoopStatus, unit: ReportUnit) {
    let key = |what: &str| format!("loop{}_{what}", lp.number);
    let to = unit.temp_unit();
    optional(status, key("setpoint"), lp.setpoint_in(to));
    status
        .text(key("source"), lp.source.to_ascii_lowercase().to_string())
        .text(key("type"), lp.loop_type.word().to_ascii_lowercase())
        .text(key("range"), lp.range.to_ascii_lowercase())
        .number(key("heater"), lp.heater_pct)
        .text(key("ramp"), if lp.ramping { "on" } else { "off" });
    optional(status, key("rate"), lp.rate_in(to));
    status
        .number(key("pgain"), lp.pgain)
        .number(key("igain"), lp.igain)
        .number(key("dgain"), lp.dgain)
        .text(key("heater_status"), lp.heater_status.trim().to_string());
}
