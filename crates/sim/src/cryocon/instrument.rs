//! The simulated controller's state: its settings, inputs, loops and the plant they
//! act on, advanced lazily to the current time whenever someone looks at it.

use std::time::{Duration, Instant};

use super::plant::{self, ControlLoop, MAX_STEP_S};
use super::{CryoconOptions, Model};
use crate::rng::XorShift;

/// The silicon diode curve fitted to every input covers this range; outside it an input
/// reads `.......`.
pub const CURVE_MIN_K: f64 = 1.4;
pub const CURVE_MAX_K: f64 = 500.0;
/// Requests closer together than this count as a pacing violation (the manual asks
/// for 0.1 s; the margin absorbs scheduling jitter on the simulator's side).
const PACING_LIMIT: Duration = Duration::from_millis(90);
/// A gap longer than this (simulated) is not integrated step by step: the plant jumps.
const MAX_ADVANCE_S: f64 = 10.0 * 86_400.0;
const MAX_STEPS_PER_ADVANCE: f64 = 200_000.0;

/// Display unit of an input (`INPut x:UNITs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DisplayUnit {
    #[default]
    K,
    C,
    F,
    /// Primitive sensor units: volts of the (simulated) silicon diode.
    S,
}

impl DisplayUnit {
    pub fn letter(self) -> &'static str {
        match self {
            DisplayUnit::K => "K",
            DisplayUnit::C => "C",
            DisplayUnit::F => "F",
            DisplayUnit::S => "S",
        }
    }

    pub fn parse(text: &str) -> Option<DisplayUnit> {
        match text.trim().to_ascii_uppercase().as_str() {
            "K" => Some(DisplayUnit::K),
            "C" => Some(DisplayUnit::C),
            "F" => Some(DisplayUnit::F),
            "S" => Some(DisplayUnit::S),
            _ => None,
        }
    }

    pub fn from_kelvin(self, kelvin: f64) -> f64 {
        match self {
            DisplayUnit::K => kelvin,
            DisplayUnit::C => kelvin - 273.15,
            DisplayUnit::F => (kelvin - 273.15) * 1.8 + 32.0,
            DisplayUnit::S => diode_volts(kelvin),
        }
    }

    pub fn to_kelvin(self, value: f64) -> f64 {
        match self {
            DisplayUnit::K => value,
            DisplayUnit::C => value + 273.15,
            DisplayUnit::F => (value - 32.0) / 1.8 + 273.15,
            DisplayUnit::S => (DIODE_V0 - value) / DIODE_SLOPE,
        }
    }

    /// Kelvin per display unit, for rates (`RATe` is in units per minute).
    fn kelvin_per_unit(self) -> f64 {
        match self {
            DisplayUnit::F => 1.0 / 1.8,
            DisplayUnit::S => 1.0 / DIODE_SLOPE,
            _ => 1.0,
        }
    }
}

/// A linearised silicon diode: 1.64 V near 0 K, 0.5 V at 300 K.
const DIODE_V0: f64 = 1.64;
const DIODE_SLOPE: f64 = 0.0038;

fn diode_volts(kelvin: f64) -> f64 {
    DIODE_V0 - DIODE_SLOPE * kelvin
}

/// What is wired to an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SensorState {
    #[default]
    Ok,
    /// Unplugged or broken: `-------` and alarm `SF`.
    Unplugged,
    /// Reads outside its calibration curve whatever the temperature: `.......`.
    OutOfCurve,
}

/// One input reading as the controller sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Reading {
    Kelvin(f64),
    SensorFault,
    OutOfCurve,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Input {
    pub unit: DisplayUnit,
    pub sensor: SensorState,
    pub alarm_low_k: Option<f64>,
    pub alarm_high_k: Option<f64>,
    pub min_k: f64,
    pub max_k: f64,
    pub slope_k_per_min: f64,
}

pub(crate) struct Instrument {
    pub model: Model,
    pub serial: String,
    pub firmware: String,
    reset_duration: Duration,
    pub inputs: Vec<Input>,
    /// True stage temperatures, kelvin, one per input.
    pub stages: Vec<f64>,
    pub loops: Vec<ControlLoop>,
    pub cold_head_k: f64,
    pub engaged: bool,
    pub noise_k: f64,
    pub time_scale: f64,
    pub held: bool,
    rng: XorShift,
    last_advance: Instant,
    busy_until: Option<Instant>,
    last_line: Option<Instant>,
    pub pacing_violations: u64,
    pub lines: u64,
}

impl Instrument {
    pub(crate) fn new(options: &CryoconOptions, now: Instant) -> Self {
        let inputs = options.model.inputs();
        let mut instrument = Instrument {
            model: options.model,
            serial: options.serial.clone(),
            firmware: options.firmware.clone(),
            reset_duration: options.reset_duration,
            inputs: Vec::new(),
            stages: vec![options.initial_kelvin; inputs],
            loops: Vec::new(),
            cold_head_k: options.cold_head_kelvin,
            engaged: false,
            noise_k: options.noise_kelvin,
            time_scale: options.time_scale,
            held: false,
            rng: XorShift::new(options.seed),
            last_advance: now,
            busy_until: None,
            last_line: None,
            pacing_violations: 0,
            lines: 0,
        };
        instrument.apply_defaults();
        instrument
    }

    /// Factory settings (what `*RST` restores); the plant keeps its temperatures.
    fn apply_defaults(&mut self) {
        let inputs = self.model.inputs();
        self.inputs = (0..inputs)
            .map(|i| Input {
                min_k: self.stages[i],
                max_k: self.stages[i],
                ..Input::default()
            })
            .collect();
        self.loops = (0..self.model.loops())
            .map(|i| ControlLoop::new(i, inputs))
            .collect();
        self.engaged = false;
    }

    /// `*RST`: defaults, then no remote access for the reset duration.
    pub(crate) fn reset(&mut self, now: Instant) {
        self.advance(now);
        let sensors: Vec<(SensorState, Option<f64>, Option<f64>)> = self
            .inputs
            .iter()
            .map(|i| (i.sensor, i.alarm_low_k, i.alarm_high_k))
            .collect();
        let heater_errors: Vec<_> = self.loops.iter().map(|l| l.heater_error).collect();
        self.apply_defaults();
        // Hardware conditions survive a reset: they are not settings.
        for (input, (sensor, low, high)) in self.inputs.iter_mut().zip(sensors) {
            input.sensor = sensor;
            input.alarm_low_k = low;
            input.alarm_high_k = high;
        }
        for (lp, error) in self.loops.iter_mut().zip(heater_errors) {
            lp.heater_error = error;
        }
        self.busy_until = Some(now + self.reset_duration);
    }

    /// True while a `*RST` keeps the controller from answering.
    pub(crate) fn resetting(&mut self, now: Instant) -> bool {
        match self.busy_until {
            Some(until) if now < until => true,
            Some(_) => {
                self.busy_until = None;
                false
            }
            None => false,
        }
    }

    /// Notes a request line arriving, for the pacing and line counters.
    pub(crate) fn note_line(&mut self, now: Instant) {
        self.lines += 1;
        if let Some(last) = self.last_line {
            if now.saturating_duration_since(last) < PACING_LIMIT {
                self.pacing_violations += 1;
            }
        }
        self.last_line = Some(now);
    }

    /// Runs plant and controller up to `now`.
    pub(crate) fn advance(&mut self, now: Instant) {
        let elapsed = now
            .saturating_duration_since(self.last_advance)
            .as_secs_f64();
        self.last_advance = now;
        let mut remaining = elapsed * self.time_scale;
        if remaining > MAX_ADVANCE_S {
            remaining = MAX_ADVANCE_S;
        }
        if remaining <= 0.0 {
            return;
        }
        let steps = (remaining / MAX_STEP_S)
            .ceil()
            .clamp(1.0, MAX_STEPS_PER_ADVANCE);
        let dt = remaining / steps;
        for _ in 0..steps as u64 {
            self.step(dt);
        }
    }

    fn step(&mut self, dt: f64) {
        let mut heat = vec![0.0; self.stages.len()];
        for lp in &mut self.loops {
            let measured = match self.inputs[lp.source].sensor {
                SensorState::Ok => Some(self.stages[lp.source]).filter(|k| in_curve(*k)),
                _ => None,
            };
            lp.step(dt, measured, self.engaged);
            if let Some(slot) = heat.get_mut(lp.index) {
                *slot += lp.heater_w();
            }
        }
        if self.held {
            return;
        }
        let before = self.stages.clone();
        plant::step_stages(&mut self.stages, &heat, self.cold_head_k, dt);
        for ((input, now), then) in self.inputs.iter_mut().zip(&self.stages).zip(before) {
            input.min_k = input.min_k.min(*now);
            input.max_k = input.max_k.max(*now);
            input.slope_k_per_min = (now - then) / dt * 60.0;
        }
    }

    /// A fresh reading of input `index`, noise included.
    pub(crate) fn read(&mut self, index: usize) -> Reading {
        match self.inputs[index].sensor {
            SensorState::Unplugged => return Reading::SensorFault,
            SensorState::OutOfCurve => return Reading::OutOfCurve,
            SensorState::Ok => {}
        }
        let kelvin = self.stages[index] + self.noise_k * self.rng.noise();
        if in_curve(kelvin) {
            Reading::Kelvin(kelvin)
        } else {
            Reading::OutOfCurve
        }
    }

    /// `--`, `SF`, `HI` or `LO`.
    pub(crate) fn alarm(&self, index: usize) -> &'static str {
        let input = &self.inputs[index];
        let kelvin = self.stages[index];
        if input.sensor != SensorState::Ok || !in_curve(kelvin) {
            "SF"
        } else if input.alarm_high_k.is_some_and(|high| kelvin > high) {
            "HI"
        } else if input.alarm_low_k.is_some_and(|low| kelvin < low) {
            "LO"
        } else {
            "--"
        }
    }

    /// The reading the loop would control on, for starting a ramp.
    fn source_kelvin(&self, loop_index: usize) -> Option<f64> {
        let source = self.loops[loop_index].source;
        (self.inputs[source].sensor == SensorState::Ok).then_some(self.stages[source])
    }

    /// `CONTrol`: engages every loop.
    pub(crate) fn engage(&mut self) {
        if self.engaged {
            return;
        }
        self.engaged = true;
        for i in 0..self.loops.len() {
            let measured = self.source_kelvin(i);
            self.loops[i].engage(measured);
        }
    }

    /// The display unit a loop's setpoint is expressed in: its source's.
    pub(crate) fn loop_unit(&self, loop_index: usize) -> DisplayUnit {
        self.inputs[self.loops[loop_index].source].unit
    }

    /// `RATe` in the source's units per minute, stored as kelvin per minute.
    pub(crate) fn rate_to_kelvin(&self, loop_index: usize, rate: f64) -> f64 {
        rate * self.loop_unit(loop_index).kelvin_per_unit()
    }

    pub(crate) fn rate_from_kelvin(&self, loop_index: usize, kelvin_rate: f64) -> f64 {
        kelvin_rate / self.loop_unit(loop_index).kelvin_per_unit()
    }
}

fn in_curve(kelvin: f64) -> bool {
    (CURVE_MIN_K..=CURVE_MAX_K).contains(&kelvin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_round_trip() {
        for unit in [
            DisplayUnit::K,
            DisplayUnit::C,
            DisplayUnit::F,
            DisplayUnit::S,
        ] {
            let back = unit.to_kelvin(unit.from_kelvin(173.15));
            assert!((back - 173.15).abs() < 1e-9, "{unit:?}");
        }
        assert!((DisplayUnit::C.from_kelvin(173.15) + 100.0).abs() < 1e-9);
        assert!((DisplayUnit::F.from_kelvin(273.15) - 32.0).abs() < 1e-9);
    }
}
