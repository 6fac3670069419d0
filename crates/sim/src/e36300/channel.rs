//! One output channel: its settings, its operating point into the load, and its
//! over-voltage and over-current protections.

use std::time::{Duration, Instant};

use tracing::debug;

use super::model::ChannelRating;
use super::{
    DEFAULT_LOAD_OHMS, DEFAULT_OCP_DELAY, MAX_OCP_DELAY_S, OVP_MARGIN, PROGRAMMABLE_MARGIN,
};
use crate::scpi::{self, Numeric};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Output off (or tripped).
    Off,
    ConstantVoltage,
    ConstantCurrent,
    /// Neither held: an external source drives the terminals above the setpoint.
    Unregulated,
}

impl Mode {
    /// The CV/CC bits of `STAT:QUES:INST:ISUM<n>:COND?`: bit 0 CC, bit 1 CV, both
    /// unregulated, neither off (the E3631A's table, which the E36300 keeps).
    pub fn condition_bits(self) -> u8 {
        match self {
            Mode::Off => 0,
            Mode::ConstantCurrent => 1,
            Mode::ConstantVoltage => 2,
            Mode::Unregulated => 3,
        }
    }
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
    pub external_volts: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Quantity {
    Voltage,
    Current,
    OvpLevel,
    OcpDelay,
}

impl Quantity {
    /// The base unit suffix SCPI accepts after a number of this kind.
    pub(super) fn unit(self) -> &'static str {
        match self {
            Quantity::Voltage | Quantity::OvpLevel => "V",
            Quantity::Current => "A",
            Quantity::OcpDelay => "S",
        }
    }
}

/// One output's settings in a `*SAV` location.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct SavedChannel {
    voltage_set: f64,
    current_set: f64,
    ovp_level: f64,
    ocp_enabled: bool,
    ocp_delay: f64,
}

#[derive(Clone, Debug)]
pub(super) struct Channel {
    pub(super) rating: ChannelRating,
    pub(super) voltage_set: f64,
    pub(super) current_set: f64,
    pub(super) output: bool,
    pub(super) ovp_level: f64,
    pub(super) ovp_tripped: bool,
    pub(super) ocp_enabled: bool,
    pub(super) ocp_delay: f64,
    pub(super) ocp_tripped: bool,
    pub(super) load_ohms: f64,
    /// A stiff external source across the terminals (magnitude, in the output's polarity),
    /// replacing the resistive load while set.
    pub(super) external_volts: Option<f64>,
    /// Since when the channel has been in CC, for the OCP delay.
    pub(super) cc_since: Option<Instant>,
}

impl Channel {
    pub(super) fn new(rating: ChannelRating) -> Self {
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
            external_volts: None,
            cc_since: None,
        };
        channel.reset();
        channel
    }

    /// The `*RST` state; the load is physics, not a setting, so it stays. The current
    /// limit goes to the rating, not to 0 (the E3631A's *RST table, 5 A / 1 A / 1 A):
    /// "set a voltage, switch on" then delivers it.
    pub(super) fn reset(&mut self) {
        self.voltage_set = 0.0;
        self.current_set = self.rating.max_current;
        self.output = false;
        self.ovp_level = self.limits(Quantity::OvpLevel).2;
        self.ovp_tripped = false;
        self.ocp_enabled = false;
        self.ocp_delay = DEFAULT_OCP_DELAY.as_secs_f64();
        self.ocp_tripped = false;
        self.cc_since = None;
    }

    pub(super) fn polarity(&self) -> f64 {
        if self.rating.max_voltage < 0.0 {
            -1.0
        } else {
            1.0
        }
    }

    /// (MIN, MAX, DEF) of a setting; on a negative output MAX is the most negative.
    pub(super) fn limits(&self, quantity: Quantity) -> (f64, f64, f64) {
        let volts = self.rating.max_voltage;
        match quantity {
            Quantity::Voltage => (0.0, volts * PROGRAMMABLE_MARGIN, 0.0),
            Quantity::Current => (
                0.0,
                self.rating.max_current * PROGRAMMABLE_MARGIN,
                self.rating.max_current,
            ),
            Quantity::OvpLevel => (0.0, volts * OVP_MARGIN, volts * OVP_MARGIN),
            Quantity::OcpDelay => (0.0, MAX_OCP_DELAY_S, DEFAULT_OCP_DELAY.as_secs_f64()),
        }
    }

    pub(super) fn get(&self, quantity: Quantity) -> f64 {
        match quantity {
            Quantity::Voltage => self.voltage_set,
            Quantity::Current => self.current_set,
            Quantity::OvpLevel => self.ovp_level,
            Quantity::OcpDelay => self.ocp_delay,
        }
    }

    pub(super) fn set(&mut self, quantity: Quantity, value: f64) {
        match quantity {
            Quantity::Voltage => self.voltage_set = value,
            Quantity::Current => self.current_set = value,
            Quantity::OvpLevel => self.ovp_level = value,
            Quantity::OcpDelay => self.ocp_delay = value,
        }
    }

    /// The value a numeric parameter asks for, or -222 when it is outside the limits.
    pub(super) fn resolve(&self, quantity: Quantity, arg: Numeric) -> Result<f64, i32> {
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

    /// What `*SAV` keeps of this output.
    pub(super) fn settings(&self) -> SavedChannel {
        SavedChannel {
            voltage_set: self.voltage_set,
            current_set: self.current_set,
            ovp_level: self.ovp_level,
            ocp_enabled: self.ocp_enabled,
            ocp_delay: self.ocp_delay,
        }
    }

    /// `*RCL`: the saved settings; the output stays as it is and trips stay latched.
    pub(super) fn recall(&mut self, saved: &SavedChannel) {
        self.voltage_set = saved.voltage_set;
        self.current_set = saved.current_set;
        self.ovp_level = saved.ovp_level;
        self.ocp_enabled = saved.ocp_enabled;
        self.ocp_delay = saved.ocp_delay;
    }

    pub(super) fn tripped(&self) -> bool {
        self.ovp_tripped || self.ocp_tripped
    }

    /// Output voltage and current into the load. The current carries the voltage's
    /// sign, so a negative output reports negative amps.
    pub(super) fn operating_point(&self) -> (f64, f64, Mode) {
        if !self.output {
            return (0.0, 0.0, Mode::Off);
        }
        let sign = self.polarity();
        let volts = self.voltage_set.abs();
        if let Some(external) = self.external_volts {
            // Above the setpoint the supply can neither hold its voltage nor sink
            // current; below it, it pushes its current limit into the source.
            return if external > volts {
                (sign * external, 0.0, Mode::Unregulated)
            } else {
                (
                    sign * external,
                    sign * self.current_set,
                    Mode::ConstantCurrent,
                )
            };
        }
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
    pub(super) fn settle(&mut self, now: Instant) {
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

    pub(super) fn snapshot(&self) -> ChannelSnapshot {
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
            external_volts: self.external_volts,
        }
    }
}
