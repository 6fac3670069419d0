//! What the simulated controller measures: one pump-down curve per gauge channel, the
//! sensors' status and on/off switches, and the data lines that report them.

use std::time::{Duration, Instant};

use super::unit::Unit;
use crate::number::format_exponential;
use crate::rng::XorShift;

/// Where the simulated pump-down is heading.
pub const DEFAULT_TARGET_MBAR: f64 = 1.0e-6;
/// Time constant of the pump-down, in decades of log-pressure.
pub const DEFAULT_TIME_CONSTANT: Duration = Duration::from_secs(300);
/// Relative standard deviation of the reading noise.
pub const DEFAULT_NOISE: f64 = 0.02;

/// The status code of a channel with no gauge connected.
const NO_SENSOR: u8 = 5;
/// What such a channel reports as its value (`5,2.0000E-2`), whatever the unit.
const NO_SENSOR_VALUE: f64 = 2.0e-2;

/// Which controller: the TPG 361 reads one gauge, the TPG 362 two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Model {
    #[default]
    Tpg361,
    Tpg362,
}

impl Model {
    pub fn channels(self) -> usize {
        match self {
            Model::Tpg361 => 1,
            Model::Tpg362 => 2,
        }
    }

    /// What `AYT` answers: type, part number, serial number, firmware, hardware.
    pub const fn identity(self) -> &'static str {
        match self {
            Model::Tpg361 => "TPG 361,PTG28040,44990000,010100,010100",
            Model::Tpg362 => "TPG 362,PTG28290,44990000,010100,010100",
        }
    }

    /// The gauges connected out of the box: a FullRange gauge on the chamber and, on the
    /// second channel of a 362, a Pirani on the foreline.
    fn gauge_types(self) -> &'static [GaugeType] {
        match self {
            Model::Tpg361 => &[GaugeType::Pkr],
            Model::Tpg362 => &[GaugeType::Pkr, GaugeType::Tpr],
        }
    }
}

/// A gauge head as `TID` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GaugeType {
    /// Compact FullRange (Pirani + cold cathode).
    Pkr,
    /// Compact Pirani.
    Tpr,
    /// Compact cold cathode.
    Ikr,
    /// Compact FullRange BA (Pirani + hot cathode).
    Pbr,
    /// Compact hot cathode.
    Imr,
    /// Compact capacitance (CMR/APR), the one linear gauge.
    Cmr,
}

impl GaugeType {
    pub fn name(self) -> &'static str {
        match self {
            GaugeType::Pkr => "PKR",
            GaugeType::Tpr => "TPR",
            GaugeType::Ikr => "IKR",
            GaugeType::Pbr => "PBR",
            GaugeType::Imr => "IMR",
            GaugeType::Cmr => "CMR",
        }
    }

    /// Logarithmic gauges resolve three digits: the TPG prints their 3rd and 4th decimals
    /// as 0.
    fn logarithmic(self) -> bool {
        self != GaugeType::Cmr
    }

    /// The gauges with a cathode the controller can switch off (`SEN`, status 4).
    fn switchable(self) -> bool {
        matches!(
            self,
            GaugeType::Pkr | GaugeType::Ikr | GaugeType::Pbr | GaugeType::Imr
        )
    }
}

/// One gauge channel.
#[derive(Debug)]
pub(super) struct Channel {
    /// The pump-down curve starts at `anchor_mbar` at `anchor`.
    anchor_mbar: f64,
    anchor: Instant,
    target_mbar: f64,
    /// `None` holds the pressure constant.
    time_constant: Option<Duration>,
    /// Set by the test; a sensor switched off reports 4 whatever this says.
    pub status: u8,
    pub switched_on: bool,
    pub gauge_type: GaugeType,
}

impl Channel {
    fn new(mbar: f64, gauge_type: GaugeType, now: Instant) -> Channel {
        Channel {
            anchor_mbar: mbar,
            anchor: now,
            target_mbar: DEFAULT_TARGET_MBAR,
            time_constant: Some(DEFAULT_TIME_CONSTANT),
            status: 0,
            switched_on: true,
            gauge_type,
        }
    }

    pub fn model_mbar(&self, now: Instant) -> f64 {
        let Some(tau) = self.time_constant else {
            return self.anchor_mbar;
        };
        // Exponential approach in log space: decades fall quickly at first and slowly
        // near the base pressure, which is what a pump-down plot looks like.
        let t = now.saturating_duration_since(self.anchor).as_secs_f64();
        let start = self.anchor_mbar.log10();
        let end = self.target_mbar.log10();
        10f64.powf(end + (start - end) * (-t / tau.as_secs_f64()).exp())
    }

    pub fn restart_from(&mut self, mbar: f64, now: Instant) {
        self.anchor_mbar = mbar;
        self.anchor = now;
    }

    pub fn pump_down(&mut self, target_mbar: f64, time_constant: Option<Duration>, now: Instant) {
        let current = self.model_mbar(now);
        self.restart_from(current, now);
        self.target_mbar = target_mbar;
        self.time_constant = time_constant;
    }

    pub fn hold(&mut self, now: Instant) {
        let target = self.target_mbar;
        self.pump_down(target, None, now);
    }

    pub fn status_code(&self) -> u8 {
        if self.switched_on {
            self.status
        } else {
            4
        }
    }

    /// The `SEN` code: 0 cannot be switched, 1 off, 2 on.
    pub fn switch_code(&self) -> u8 {
        match (self.gauge_type.switchable(), self.switched_on) {
            (false, _) => 0,
            (true, false) => 1,
            (true, true) => 2,
        }
    }

    pub fn switchable(&self) -> bool {
        self.gauge_type.switchable()
    }
}

pub(super) struct GaugeState {
    pub model: Model,
    pub channels: Vec<Channel>,
    pub noise: f64,
    pub unit: Unit,
    pub error_word: u8,
    rng: XorShift,
}

impl GaugeState {
    pub fn new(model: Model, mbar: f64, unit: Unit, seed: u64) -> GaugeState {
        let now = Instant::now();
        GaugeState {
            model,
            channels: model
                .gauge_types()
                .iter()
                .map(|&gauge_type| Channel::new(mbar, gauge_type, now))
                .collect(),
            noise: DEFAULT_NOISE,
            unit,
            error_word: 0,
            rng: XorShift::new(seed),
        }
    }

    /// `<status>,<value>` of one channel (index from 0), as `PR1`/`PR2` answer it.
    pub fn reading(&mut self, index: usize, now: Instant) -> String {
        let channel = &self.channels[index];
        let status = channel.status_code();
        let gauge_type = channel.gauge_type;
        let value = match status {
            // Under- and overrange still report the (limit) pressure, as the TPG does;
            // the other states have no measurement at all.
            0..=2 => {
                let mbar = channel.model_mbar(now) * (1.0 + self.noise * self.rng.noise());
                self.unit.from_mbar(mbar)
            }
            // The manual's own example for a channel with no sensor.
            NO_SENSOR => NO_SENSOR_VALUE,
            _ => 0.0,
        };
        let text = if gauge_type.logarithmic() && self.unit != Unit::Volt {
            three_digits(value)
        } else {
            format_exponential(value, 4)
        };
        format!("{status},{text}")
    }

    /// Every channel's `<status>,<value>`, comma-separated: `PRX` and continuous mode.
    pub fn readings(&mut self, now: Instant) -> String {
        (0..self.channels.len())
            .map(|index| self.reading(index, now))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `TID`: the gauge types, comma-separated per channel.
    pub fn gauge_types(&self) -> String {
        self.list(|channel| channel.gauge_type.name().to_string())
    }

    /// `SEN`: each channel's switch code.
    pub fn switches(&self) -> String {
        self.list(|channel| channel.switch_code().to_string())
    }

    fn list(&self, item: impl Fn(&Channel) -> String) -> String {
        self.channels.iter().map(item).collect::<Vec<_>>().join(",")
    }
}

/// `sx.xx00Esxx`: the TPG's fixed 4-decimal format with a logarithmic gauge's resolution.
fn three_digits(value: f64) -> String {
    let text = format_exponential(value, 2);
    match text.split_once('E') {
        Some((mantissa, exponent)) => format!("{mantissa}00E{exponent}"),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(model: Model, mbar: f64) -> GaugeState {
        let mut state = GaugeState::new(model, mbar, Unit::Mbar, 3);
        state.noise = 0.0;
        let now = Instant::now();
        for channel in &mut state.channels {
            channel.hold(now);
        }
        state
    }

    #[test]
    fn pump_down_falls_monotonically_towards_the_target() {
        let now = Instant::now();
        let channel = Channel::new(1000.0, GaugeType::Pkr, now);
        let samples: Vec<f64> = (0..20)
            .map(|minutes| channel.model_mbar(now + Duration::from_secs(60 * minutes)))
            .collect();
        assert!((samples[0] - 1000.0).abs() < 1e-9);
        assert!(samples.windows(2).all(|w| w[1] < w[0]), "{samples:?}");
        let late = channel.model_mbar(now + Duration::from_secs(60 * 60 * 10));
        assert!((DEFAULT_TARGET_MBAR..1.1 * DEFAULT_TARGET_MBAR).contains(&late));
    }

    #[test]
    fn logarithmic_gauges_print_three_digits_linear_ones_five() {
        let mut s = state(Model::Tpg361, 1.2345e-3);
        let now = Instant::now();
        assert_eq!(s.reading(0, now), "0,+1.2300E-03");
        s.unit = Unit::Pa;
        assert_eq!(s.reading(0, now), "0,+1.2300E-01");
        s.channels[0].gauge_type = GaugeType::Cmr;
        assert_eq!(s.reading(0, now), "0,+1.2345E-01");
        assert_eq!(three_digits(9.996), "+1.0000E+01");
    }

    #[test]
    fn volt_mode_reports_the_signal_with_four_decimals() {
        let mut s = state(Model::Tpg361, 1.0e-3);
        s.unit = Unit::Volt;
        assert_eq!(s.reading(0, Instant::now()), "0,+5.0000E+00");
    }

    #[test]
    fn status_switch_and_channel_lists() {
        let mut s = state(Model::Tpg362, 1.0e-3);
        let now = Instant::now();
        assert_eq!(s.readings(now), "0,+1.0000E-03,0,+1.0000E-03");
        assert_eq!(s.gauge_types(), "PKR,TPR");
        assert_eq!(s.switches(), "2,0");
        s.channels[0].switched_on = false;
        s.channels[1].status = 5;
        assert_eq!(s.readings(now), "4,+0.0000E+00,5,+2.0000E-02");
        assert_eq!(s.switches(), "1,0");
    }

    #[test]
    fn noisy_readings_stay_positive_and_near_the_model() {
        let mut s = state(Model::Tpg361, 2.0e-6);
        s.noise = 0.25;
        for _ in 0..5000 {
            let line = s.reading(0, Instant::now());
            let value: f64 = line.split_once(',').unwrap().1.parse().unwrap();
            assert!(value > 0.0 && value < 4.0e-6, "{line}");
        }
    }
}
