//! The physics behind the simulated controller: one cold stage per input, each pulled
//! toward the cold head through a thermal link and warmed by the heater of the loop
//! with the same position (loop 1 heats the stage of input A, loop 2 that of B, ...);
//! and the controller's own loop algorithm (manual output, PID with a ramped setpoint).
//!
//! Stages integrate exactly (first-order exponential approach), so any step size is
//! stable; the PID runs in steps of at most [`MAX_STEP_S`] simulated seconds.

/// Longest simulated step of the control loop, in seconds.
pub(crate) const MAX_STEP_S: f64 = 0.5;
/// Heat capacity of each cold stage, J/K.
pub(crate) const HEAT_CAPACITY: f64 = 15.0;
/// Thermal conductance from a stage to the cold head, W/K (time constant C/G = 60 s).
pub(crate) const CONDUCTANCE: f64 = 0.25;

/// How a control loop drives its output (`LOOP n:TYPe`).
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

    /// The enumeration word the controller accepts and answers.
    pub fn name(self) -> &'static str {
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

    pub fn parse(text: &str) -> Option<LoopType> {
        LoopType::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(text.trim()))
    }

    /// Closed-loop types: the setpoint and the gains matter (tables act as PID here).
    fn closed(self) -> bool {
        matches!(
            self,
            LoopType::Pid | LoopType::Table | LoopType::RampP | LoopType::RampT
        )
    }

    pub(crate) fn ramps(self) -> bool {
        matches!(self, LoopType::RampP | LoopType::RampT)
    }
}

/// What `LOOP n:ERRor?` reports. Every state but `FanFault` keeps the heater off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HeaterError {
    #[default]
    Ok,
    Overtemp,
    OvertempDisconnected,
    LowResistance,
    FanFault,
    /// An open heater circuit (broken wire): no current flows.
    Open,
}

impl HeaterError {
    pub fn text(self) -> &'static str {
        match self {
            HeaterError::Ok => "--Htr OK--",
            HeaterError::Overtemp => "-Overtemp-",
            HeaterError::OvertempDisconnected => "OTDisconn",
            HeaterError::LowResistance => "Htr-Low-R",
            HeaterError::FanFault => "Fan Fault",
            // Not in the documented list; the wording is this simulator's.
            HeaterError::Open => "Htr Open",
        }
    }

    fn blocks_heating(self) -> bool {
        self != HeaterError::Ok && self != HeaterError::FanFault
    }
}

/// The heater ranges of a loop position and their full-scale power into 50 ohm.
pub(crate) fn ranges(loop_index: usize) -> &'static [(&'static str, f64)] {
    match loop_index {
        0 => &[("HI", 50.0), ("MID", 5.0), ("LOW", 0.5)],
        1 => &[("HI", 10.0), ("LOW", 1.0)],
        // Loops 3 and 4 are voltage outputs: 10 V or 5 V full scale into 50 ohm.
        _ => &[("10V", 2.0), ("5V", 0.5)],
    }
}

/// One control loop: its settings and the controller's running state.
#[derive(Clone, Debug)]
pub(crate) struct ControlLoop {
    pub index: usize,
    pub source: usize,
    pub kind: LoopType,
    pub range: usize,
    /// The setpoint asked for, in kelvin.
    pub target_k: f64,
    /// The setpoint the loop controls to right now (differs from the target while ramping).
    pub effective_k: f64,
    pub ramping: bool,
    /// Ramp rate, kelvin per minute.
    pub rate: f64,
    pub pgain: f64,
    pub igain: f64,
    pub dgain: f64,
    pub pmanual: f64,
    pub max_power: f64,
    pub max_set_k: f64,
    pub load_ohms: u32,
    pub heater_error: HeaterError,
    /// Commanded output, % of full scale.
    pub output_pct: f64,
    integral: f64,
    last_error: Option<f64>,
}

impl ControlLoop {
    pub(crate) fn new(index: usize, inputs: usize) -> Self {
        ControlLoop {
            index,
            source: index.min(inputs - 1),
            kind: LoopType::Man,
            range: ranges(index).len() - 1,
            target_k: 295.0,
            effective_k: 295.0,
            ramping: false,
            rate: 10.0,
            pgain: 10.0,
            igain: 1.0,
            dgain: 0.0,
            pmanual: 0.0,
            max_power: 100.0,
            max_set_k: 400.0,
            load_ohms: 50,
            heater_error: HeaterError::Ok,
            output_pct: 0.0,
            integral: 0.0,
            last_error: None,
        }
    }

    /// Full-scale heater power in watts for the current range and load. The outputs are
    /// current sources, so half the load resistance takes half the power.
    pub(crate) fn full_scale_w(&self) -> f64 {
        let power = ranges(self.index)[self.range].1;
        power * f64::from(self.load_ohms) / 50.0
    }

    /// What the heater really delivers, % of full scale (the `HTRRead?` value).
    pub(crate) fn heater_pct(&self) -> f64 {
        if self.heater_error.blocks_heating() {
            0.0
        } else {
            self.output_pct
        }
    }

    pub(crate) fn heater_w(&self) -> f64 {
        self.heater_pct() / 100.0 * self.full_scale_w()
    }

    /// A new target: a ramping loop that is engaged ramps to it from where it is now.
    pub(crate) fn set_target(&mut self, kelvin: f64, engaged: bool) {
        self.target_k = kelvin;
        if engaged && self.kind.ramps() {
            self.ramping = self.effective_k != kelvin;
        } else {
            self.effective_k = kelvin;
            self.ramping = false;
        }
    }

    /// Control was just engaged: a ramp starts from the measured temperature.
    pub(crate) fn engage(&mut self, measured_k: Option<f64>) {
        self.integral = 0.0;
        self.last_error = None;
        match measured_k {
            Some(t) if self.kind.ramps() => {
                self.effective_k = t;
                self.ramping = t != self.target_k;
            }
            _ => {
                self.effective_k = self.target_k;
                self.ramping = false;
            }
        }
    }

    /// One control step of `dt` seconds with the source reading `measured_k` (`None`
    /// on a sensor fault, which shuts a closed loop down as the real controller does).
    pub(crate) fn step(&mut self, dt: f64, measured_k: Option<f64>, engaged: bool) {
        if !engaged || matches!(self.kind, LoopType::Off | LoopType::Scale) {
            self.output_pct = 0.0;
            self.integral = 0.0;
            self.last_error = None;
            return;
        }
        if self.kind == LoopType::Man {
            self.output_pct = self.pmanual.min(self.max_power);
            return;
        }
        debug_assert!(self.kind.closed());
        if self.ramping {
            let step = self.rate / 60.0 * dt;
            let gap = self.target_k - self.effective_k;
            if gap.abs() <= step {
                self.effective_k = self.target_k;
                self.ramping = false;
            } else {
                self.effective_k += step.copysign(gap);
            }
        }
        let Some(measured) = measured_k else {
            self.output_pct = 0.0;
            self.integral = 0.0;
            return;
        };
        let error = self.effective_k - measured;
        let derivative = self.last_error.map_or(0.0, |last| (error - last) / dt);
        self.last_error = Some(error);
        self.integral += error * dt;
        // Anti-windup: the integral term alone never asks for more than the output can do.
        if self.igain > 0.0 {
            self.integral = self.integral.clamp(0.0, self.max_power / self.igain);
        } else {
            self.integral = 0.0;
        }
        let output = self.pgain * error + self.igain * self.integral + self.dgain * derivative;
        self.output_pct = output.clamp(0.0, self.max_power);
    }
}

/// Advances each stage by `dt` seconds with `heat_w[i]` watts on stage `i`.
pub(crate) fn step_stages(stages: &mut [f64], heat_w: &[f64], cold_head_k: f64, dt: f64) {
    let decay = (-dt * CONDUCTANCE / HEAT_CAPACITY).exp();
    for (kelvin, heat) in stages.iter_mut().zip(heat_w) {
        let equilibrium = cold_head_k + heat / CONDUCTANCE;
        *kelvin = equilibrium + (*kelvin - equilibrium) * decay;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_relax_to_the_cold_head_plus_heating() {
        let mut stages = [295.0, 295.0];
        for _ in 0..10_000 {
            step_stages(&mut stages, &[0.0, 5.0], 77.0, 0.5);
        }
        assert!((stages[0] - 77.0).abs() < 1e-6);
        assert!((stages[1] - (77.0 + 5.0 / CONDUCTANCE)).abs() < 1e-6);
    }

    #[test]
    fn pid_brings_the_stage_to_its_setpoint() {
        let mut stage = [77.0];
        let mut lp = ControlLoop::new(0, 1);
        lp.kind = LoopType::Pid;
        lp.range = 0;
        lp.set_target(173.15, true);
        for _ in 0..20_000 {
            lp.step(0.5, Some(stage[0]), true);
            step_stages(&mut stage, &[lp.heater_w()], 77.0, 0.5);
        }
        assert!((stage[0] - 173.15).abs() < 0.05, "{}", stage[0]);
    }

    #[test]
    fn ramps_move_at_the_rate_and_end_at_the_target() {
        let mut lp = ControlLoop::new(0, 1);
        lp.kind = LoopType::RampP;
        lp.rate = 6.0;
        lp.engage(Some(100.0));
        lp.set_target(110.0, true);
        assert!(lp.ramping);
        for _ in 0..100 {
            lp.step(0.5, Some(100.0), true);
        }
        // 50 s at 6 K/min is 5 K.
        assert!((lp.effective_k - 105.0).abs() < 1e-9, "{}", lp.effective_k);
        for _ in 0..200 {
            lp.step(0.5, Some(100.0), true);
        }
        assert!(!lp.ramping);
        assert_eq!(lp.effective_k, 110.0);
    }

    #[test]
    fn open_heater_delivers_nothing() {
        let mut lp = ControlLoop::new(0, 1);
        lp.range = 0;
        lp.pmanual = 40.0;
        lp.step(0.1, Some(80.0), true);
        assert_eq!(lp.heater_w(), 20.0);
        lp.load_ohms = 25;
        assert_eq!(lp.heater_w(), 10.0);
        lp.heater_error = HeaterError::Open;
        assert_eq!(lp.output_pct, 40.0);
        assert_eq!(lp.heater_w(), 0.0);
    }
}
