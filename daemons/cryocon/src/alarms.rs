//! The controller's own alarms, on the shared latch ([`DeviceAlarms`]): each poll says
//! which causes are present; `ack_alarm` clears an alarm once its cause is gone.
//!
//! - `setpoint_timeout`: a loop's source input is not within `--settle-band` of the
//!   setpoint `--settle-timeout` after the setpoint was changed by a command or a
//!   profile reached a new point. The wait ends once the input is within the band.
//! - `sensor_fault`: an input used by a loop (type other than off) has no reading
//!   (`-------`, alarm word `SF`); inputs no loop uses may well have no sensor.
//! - `heater_fault`: a loop's heater status is not `Htr OK`.
//! - `high_limit` / `low_limit`: an input reads above `--high-limit` / below
//!   `--low-limit` (daemon unit).

use crate::poll::Poll;
use crate::profiles::MAX_LOOPS;
use crate::reply::{LoopType, NoReading};
use crate::status::tidy;
use crate::units::ReportUnit;
use labwire_daemon::DeviceAlarms;
use labwire_protocol::format_number;
use std::time::{Duration, SystemTime};

pub const CODES: &[&str] = &[
    "setpoint_timeout",
    "sensor_fault",
    "heater_fault",
    "high_limit",
    "low_limit",
];

/// The alarm settings of the command line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AlarmSettings {
    /// Kelvin (equal to a Celsius degree).
    pub settle_band: f64,
    pub settle_timeout: Duration,
    /// Daemon unit.
    pub high_limit: Option<f64>,
    pub low_limit: Option<f64>,
}

impl Default for AlarmSettings {
    fn default() -> Self {
        AlarmSettings {
            settle_band: 0.5,
            settle_timeout: Duration::from_secs(1800),
            high_limit: None,
            low_limit: None,
        }
    }
}

pub struct Alarms {
    settings: AlarmSettings,
    pub latch: DeviceAlarms,
    /// Per loop: since when its input has been expected to settle.
    settling: [Option<SystemTime>; MAX_LOOPS],
}

impl Alarms {
    pub fn new(settings: AlarmSettings) -> Self {
        Alarms {
            settings,
            latch: DeviceAlarms::new(CODES),
            settling: [None; MAX_LOOPS],
        }
    }

    /// Loop `number` got a new setpoint at `now`: its input must settle in time.
    pub fn setpoint_changed(&mut self, number: u8, now: SystemTime) {
        self.settling[usize::from(number) - 1] = Some(now);
    }

    /// Sets every cause from `poll` (temperatures converted to `unit`).
    pub fn evaluate(&mut self, poll: &Poll, unit: ReportUnit, now: SystemTime) {
        let to = unit.temp_unit();
        let name = unit.name();
        let show = |value: f64| format!("{} {name}", format_number(tidy(value)));

        let mut late = Vec::new();
        for lp in &poll.loops {
            let index = usize::from(lp.number) - 1;
            let Some(since) = self.settling.get(index).copied().flatten() else {
                continue;
            };
            let setpoint = lp.setpoint_in(to);
            let reading = poll.input(lp.source).and_then(|i| i.temperature_in(to));
            if let (Some(setpoint), Some(reading)) = (setpoint, reading) {
                if (reading - setpoint).abs() <= self.settings.settle_band {
                    self.settling[index] = None;
                    continue;
                }
            }
            let waited = now.duration_since(since).unwrap_or_default();
            if waited > self.settings.settle_timeout {
                late.push(format!(
                    "loop {}: input {} at {} is not within {} K of the setpoint {} after {} s",
                    lp.number,
                    lp.source,
                    reading.map(show).unwrap_or_else(|| "no reading".into()),
                    format_number(self.settings.settle_band),
                    setpoint.map(show).unwrap_or_default(),
                    format_number(self.settings.settle_timeout.as_secs_f64())
                ));
            }
        }
        self.set("setpoint_timeout", late);

        let used = |input: char| {
            poll.loops
                .iter()
                .any(|lp| lp.source == input && lp.loop_type != LoopType::Off)
        };
        let faults = poll
            .inputs
            .iter()
            .filter(|i| used(i.input))
            .filter(|i| i.no_reading == Some(NoReading::SensorFault) || i.alarm.trim() == "SF")
            .map(|i| format!("input {}: sensor fault", i.input))
            .collect();
        self.set("sensor_fault", faults);

        let heaters = poll
            .loops
            .iter()
            .filter(|lp| !lp.heater_ok())
            .map(|lp| format!("loop {} heater: {}", lp.number, lp.heater_status.trim()))
            .collect();
        self.set("heater_fault", heaters);

        for (code, limit, above) in [
            ("high_limit", self.settings.high_limit, true),
            ("low_limit", self.settings.low_limit, false),
        ] {
            let beyond = limit
                .map(|limit| {
                    poll.inputs
                        .iter()
                        .filter_map(|i| Some((i.input, i.temperature_in(to)?)))
                        .filter(|&(_, t)| if above { t > limit } else { t < limit })
                        .map(|(input, t)| {
                            let side = if above { "above" } else { "below" };
                            format!("input {input} at {} is {side} {}", show(t), show(limit))
                        })
                        .collect()
                })
                .unwrap_or_default();
            self.set(code, beyond);
        }
    }

    fn set(&mut self, code: &str, causes: Vec<String>) {
        self.latch
            .set_condition(code, !causes.is_empty(), causes.join("; "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;
    use crate::poll::parse_poll_reply;
    use std::time::UNIX_EPOCH;

    /// A 22C reply with input A at `a` K and loop 1 (source A, PID) at setpoint `setpoint` K.
    fn poll(a: &str, setpoint: f64, heater: &str) -> Poll {
        let loop1 = format!(
            "CHA;{setpoint}K;PID;HI;5.00;OFF;10.0;1.0;0.0;0.0;0.0;0.0%;{heater};100.0;400.000K;50"
        );
        let loop2 =
            "B;77.5;OFF;LOW;10.00;OFF;10.0;1.0;0.0;12.5;12.5;0.0%;--Htr OK--;100.0;400.000K";
        let reply = format!("{a};-------;K;K;--;SF;ON;{loop1};{loop2}");
        parse_poll_reply(&reply, Model::Cryocon22C).unwrap()
    }

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + seconds)
    }

    #[test]
    fn causes_follow_the_poll() {
        let mut alarms = Alarms::new(AlarmSettings {
            settle_band: 0.5,
            settle_timeout: Duration::from_secs(60),
            high_limit: Some(300.0),
            low_limit: None,
        });
        let unit = ReportUnit::Kelvin;
        // Input B has no sensor but no loop of a type other than off uses it.
        alarms.evaluate(&poll("295.0", 295.0, "--Htr OK--"), unit, at(0));
        assert_eq!(alarms.latch.latched().count(), 0);

        alarms.setpoint_changed(1, at(0));
        alarms.evaluate(&poll("295.0", 200.0, "--Htr OK--"), unit, at(30));
        assert!(
            !alarms.latch.is_latched("setpoint_timeout"),
            "still in time"
        );
        alarms.evaluate(&poll("295.0", 200.0, "--Htr OK--"), unit, at(61));
        assert!(alarms.latch.is_latched("setpoint_timeout"));
        // Settled: the wait ends, and a later excursion is no setpoint timeout.
        alarms.latch.ack(labwire_daemon::AlarmSelector::All);
        alarms.evaluate(&poll("200.3", 200.0, "--Htr OK--"), unit, at(62));
        assert!(!alarms.latch.is_latched("setpoint_timeout"));
        alarms.evaluate(&poll("250.0", 200.0, "--Htr OK--"), unit, at(500));
        assert!(!alarms.latch.is_latched("setpoint_timeout"));

        alarms.evaluate(&poll("-------", 200.0, "-Overtemp-"), unit, at(600));
        assert!(alarms.latch.is_latched("sensor_fault"));
        assert_eq!(
            alarms.latch.message("sensor_fault"),
            Some("input A: sensor fault")
        );
        assert_eq!(
            alarms.latch.message("heater_fault"),
            Some("loop 1 heater: -Overtemp-")
        );
        alarms.evaluate(&poll("301.5", 200.0, "--Htr OK--"), unit, at(700));
        assert_eq!(
            alarms.latch.message("high_limit"),
            Some("input A at 301.5 K is above 300 K")
        );
        assert!(!alarms.latch.is_latched("low_limit"));
    }
}
