//! Alarms raised by a device, the convention every daemon shares (docs/protocol.md,
//! "Alarms raised by a device"): `alarm_<code>=1` while an alarm is latched,
//! `alarm_<code>_message` saying what happened, and `ack_alarm code=<code>|all`.
//!
//! An alarm latches when its cause appears and stays latched until it is acknowledged
//! AND its cause is gone, in either order, so a cause that came and went while nobody
//! looked is still seen. The daemon reports each cause from its poll with
//! [`DeviceAlarms::set_condition`]; the framework's status cache publishes the changes.

use crate::args::Args;
use crate::device::{CommandSpec, Error, Kwargs};
use crate::status::StatusBuilder;
use labwire_protocol::Message;

/// The `ack_alarm` command, for a daemon's `commands()` list. It does not need the
/// hardware link (`needs_hardware` false), so alarms can be acknowledged while offline.
pub const ACK_ALARM: CommandSpec = CommandSpec {
    name: "ack_alarm",
    synopsis: "code=<code>|all (acknowledge a device alarm; it clears once its cause is gone)",
};

/// Which alarms an `ack_alarm` is for, validated before it is executed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlarmSelector {
    All,
    Code(&'static str),
}

/// The device's own alarms, one per code declared at start.
#[derive(Clone, Debug)]
pub struct DeviceAlarms {
    alarms: Vec<Alarm>,
}

#[derive(Clone, Debug)]
struct Alarm {
    code: &'static str,
    cause: bool,
    latched: bool,
    acknowledged: bool,
    /// What happened, as last reported while the cause was present; empty when clear.
    message: String,
}

impl DeviceAlarms {
    /// Every alarm the daemon can raise, clear. Codes are status-name characters, not
    /// `all` and not ending in `_message` (that would read as another alarm's message); a
    /// bad or repeated code is a programming error and panics at start-up.
    pub fn new(codes: &[&'static str]) -> Self {
        for (index, code) in codes.iter().enumerate() {
            assert!(
                labwire_protocol::is_valid_name(code)
                    && *code != "all"
                    && !code.ends_with("_message"),
                "bad alarm code {code:?}"
            );
            assert!(!codes[..index].contains(code), "alarm code {code:?} twice");
        }
        DeviceAlarms {
            alarms: codes
                .iter()
                .map(|&code| Alarm {
                    code,
                    cause: false,
                    latched: false,
                    acknowledged: false,
                    message: String::new(),
                })
                .collect(),
        }
    }

    pub fn codes(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.alarms.iter().map(|alarm| alarm.code)
    }

    /// Report whether the cause of alarm `code` is present now (call it on every poll).
    /// A cause appearing latches the alarm with `message`; while it persists the message
    /// follows the latest report; once gone, the last message stays until the alarm clears.
    pub fn set_condition(&mut self, code: &str, active: bool, message: impl Into<String>) {
        let Some(alarm) = self.alarms.iter_mut().find(|alarm| alarm.code == code) else {
            debug_assert!(false, "alarm {code:?} was not declared");
            return;
        };
        alarm.cause = active;
        if active {
            if !alarm.latched {
                alarm.latched = true;
                alarm.acknowledged = false;
            }
            alarm.message = message.into();
        } else if alarm.acknowledged {
            alarm.clear();
        }
    }

    pub fn is_latched(&self, code: &str) -> bool {
        self.find(code).is_some_and(|alarm| alarm.latched)
    }

    /// The codes of the latched alarms, in declaration order.
    pub fn latched(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.alarms
            .iter()
            .filter(|alarm| alarm.latched)
            .map(|alarm| alarm.code)
    }

    /// What a latched alarm says; `None` when it is clear (or unknown).
    pub fn message(&self, code: &str) -> Option<&str> {
        self.find(code)
            .filter(|alarm| alarm.latched)
            .map(|alarm| alarm.message.as_str())
    }

    /// `all` or one declared code; anything else is refused naming the known codes.
    pub fn select(&self, code: &str) -> Result<AlarmSelector, Error> {
        if code.eq_ignore_ascii_case("all") {
            return Ok(AlarmSelector::All);
        }
        self.find(code)
            .map(|alarm| AlarmSelector::Code(alarm.code))
            .ok_or_else(|| {
                let known: Vec<&str> = self.codes().collect();
                Error::bad_argument(format!(
                    "code={code:?}: no such alarm; expected all or one of {}",
                    known.join(", ")
                ))
            })
    }

    /// Validate an `ack_alarm code=<code>|all` request (from `Device::parse_command`).
    pub fn parse_ack(&self, request: &Message) -> Result<AlarmSelector, Error> {
        let mut args = Args::new(request);
        let selector = self.select(args.text("code")?)?;
        args.finish()?;
        Ok(selector)
    }

    /// Acknowledge the selected alarms: each clears now if its cause is gone, or when it
    /// goes. Answers how many latched, unacknowledged alarms were acknowledged.
    pub fn ack(&mut self, which: AlarmSelector) -> usize {
        let mut count = 0;
        for alarm in &mut self.alarms {
            let selected = match which {
                AlarmSelector::All => true,
                AlarmSelector::Code(code) => alarm.code == code,
            };
            if !selected || !alarm.latched || alarm.acknowledged {
                continue;
            }
            count += 1;
            alarm.acknowledged = true;
            if !alarm.cause {
                alarm.clear();
            }
        }
        count
    }

    /// [`DeviceAlarms::ack`] with its `ok ack_alarm n=<acknowledged>` reply.
    pub fn execute_ack(&mut self, which: AlarmSelector) -> Kwargs {
        vec![("n".to_string(), self.ack(which).to_string())]
    }

    /// `alarm_<code>` (0/1) and `alarm_<code>_message` for every declared code.
    pub fn write_status(&self, out: &mut StatusBuilder) {
        for alarm in &self.alarms {
            out.flag(format!("alarm_{}", alarm.code), alarm.latched)
                .text(
                    format!("alarm_{}_message", alarm.code),
                    alarm.message.clone(),
                );
        }
    }

    fn find(&self, code: &str) -> Option<&Alarm> {
        self.alarms.iter().find(|alarm| alarm.code == code)
    }
}

impl Alarm {
    fn clear(&mut self) {
        self.latched = false;
        self.acknowledged = false;
        self.message.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labwire_protocol::{parse_line, ErrorCode};

    const CODES: &[&str] = &["sensor_fault", "high_limit"];

    fn status(alarms: &DeviceAlarms) -> Vec<(String, String)> {
        let mut out = StatusBuilder::new();
        alarms.write_status(&mut out);
        out.vars().to_vec()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_declared_alarm_is_reported_clear_at_start() {
        let alarms = DeviceAlarms::new(CODES);
        assert_eq!(
            status(&alarms),
            pairs(&[
                ("alarm_sensor_fault", "0"),
                ("alarm_sensor_fault_message", ""),
                ("alarm_high_limit", "0"),
                ("alarm_high_limit_message", ""),
            ])
        );
    }

    #[test]
    fn cause_gone_then_ack_clears() {
        let mut alarms = DeviceAlarms::new(CODES);
        alarms.set_condition("sensor_fault", true, "input A open");
        alarms.set_condition("sensor_fault", true, "input A open again");
        assert_eq!(
            &status(&alarms)[..2],
            pairs(&[
                ("alarm_sensor_fault", "1"),
                ("alarm_sensor_fault_message", "input A open again"),
            ])
        );
        alarms.set_condition("sensor_fault", false, "");
        assert!(
            alarms.is_latched("sensor_fault"),
            "latched until acknowledged"
        );
        assert_eq!(alarms.message("sensor_fault"), Some("input A open again"));
        assert_eq!(alarms.ack(AlarmSelector::Code("sensor_fault")), 1);
        assert!(!alarms.is_latched("sensor_fault"));
        assert_eq!(alarms.message("sensor_fault"), None);
        assert_eq!(status(&alarms)[1].1, "");
    }

    #[test]
    fn ack_then_cause_gone_clears() {
        let mut alarms = DeviceAlarms::new(CODES);
        alarms.set_condition("high_limit", true, "A at 310 K above 300 K");
        assert_eq!(alarms.ack(AlarmSelector::Code("high_limit")), 1);
        alarms.set_condition("high_limit", true, "A at 311 K above 300 K");
        assert!(alarms.is_latched("high_limit"), "the cause persists");
        assert_eq!(alarms.ack(AlarmSelector::All), 0, "already acknowledged");
        alarms.set_condition("high_limit", false, "");
        assert!(!alarms.is_latched("high_limit"));
        // A new occurrence needs a new acknowledgement.
        alarms.set_condition("high_limit", true, "A at 305 K above 300 K");
        alarms.set_condition("high_limit", false, "");
        assert!(alarms.is_latched("high_limit"));
        assert_eq!(alarms.message("high_limit"), Some("A at 305 K above 300 K"));
    }

    #[test]
    fn a_cause_that_returns_before_the_ack_stays_one_alarm() {
        let mut alarms = DeviceAlarms::new(CODES);
        alarms.set_condition("sensor_fault", true, "first");
        alarms.set_condition("sensor_fault", false, "");
        alarms.set_condition("sensor_fault", true, "second");
        assert_eq!(alarms.ack(AlarmSelector::All), 1);
        assert!(alarms.is_latched("sensor_fault"), "cause still present");
        alarms.set_condition("sensor_fault", false, "");
        assert_eq!(alarms.latched().count(), 0);
    }

    #[test]
    fn ack_all_touches_only_latched_alarms() {
        let mut alarms = DeviceAlarms::new(CODES);
        alarms.set_condition("sensor_fault", true, "open");
        alarms.set_condition("high_limit", false, "");
        assert_eq!(alarms.latched().collect::<Vec<_>>(), ["sensor_fault"]);
        assert_eq!(alarms.execute_ack(AlarmSelector::All), pairs(&[("n", "1")]));
        assert!(alarms.is_latched("sensor_fault"));
        // high_limit was never latched, so a later cause is a fresh, unacknowledged alarm.
        alarms.set_condition("high_limit", true, "hot");
        alarms.set_condition("high_limit", false, "");
        assert!(alarms.is_latched("high_limit"));
    }

    #[test]
    fn ack_requests_are_validated() {
        let alarms = DeviceAlarms::new(CODES);
        let parse = |line: &str| alarms.parse_ack(&parse_line(line).unwrap());
        assert_eq!(parse("ack_alarm code=all"), Ok(AlarmSelector::All));
        assert_eq!(parse("ack_alarm ALL"), Ok(AlarmSelector::All));
        assert_eq!(
            parse("ack_alarm code=high_limit"),
            Ok(AlarmSelector::Code("high_limit"))
        );
        let err = parse("ack_alarm code=nope").unwrap_err();
        assert_eq!(err.code, ErrorCode::BadArgument);
        assert_eq!(
            err.message,
            "code=\"nope\": no such alarm; expected all or one of sensor_fault, high_limit"
        );
        assert_eq!(
            parse("ack_alarm").unwrap_err().code,
            ErrorCode::MissingArgument
        );
        assert_eq!(
            parse("ack_alarm code=all extra=1").unwrap_err().code,
            ErrorCode::BadArgument
        );
    }

    #[test]
    #[should_panic(expected = "twice")]
    fn a_repeated_code_is_a_programming_error() {
        DeviceAlarms::new(&["a", "a"]);
    }

    #[test]
    #[should_panic(expected = "bad alarm code")]
    fn all_is_not_a_code() {
        DeviceAlarms::new(&["all"]);
    }

    #[test]
    #[should_panic(expected = "bad alarm code")]
    fn a_code_cannot_look_like_a_message() {
        DeviceAlarms::new(&["heater_message"]);
    }
}
