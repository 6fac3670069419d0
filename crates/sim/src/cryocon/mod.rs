//! Cryo-con 24C (inputs A-D, loops 1-4) and 22C (inputs A-B, loops 1-2) cryogenic
//! temperature controllers over their Ethernet port: LF-terminated SCPI-style lines,
//! answered with CR LF.
//!
//! - `commands.rs`: the command tree, chains and reply formats.
//! - `instrument.rs`: settings, inputs, loops, `*RST`, pacing bookkeeping.
//! - `plant.rs`: the cold stages, heaters and the controller's PID and ramp.
//!
//! The plant advances lazily to the current time whenever a request or the test-side
//! [`CryoconControl`] looks at it, so no task ticks in the background. `time_scale`
//! speeds simulated time up for tests.

mod commands;
mod instrument;
mod plant;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tracing::debug;

use crate::server::{self, Conn, Fault, SimHandle};
use instrument::Instrument;

pub use commands::NAK;
pub use instrument::{DisplayUnit, SensorState, CURVE_MAX_K, CURVE_MIN_K};
pub use plant::{HeaterError, LoopType};

/// Default port of `labwire-sim cryocon`, the controller's own default.
pub const DEFAULT_PORT: u16 = 5000;
/// The manual asks for lines under 250 characters; longer ones are refused with `NAK`.
pub const MAX_LINE: usize = 250;
/// How long `*RST` keeps the real controller from answering.
pub const DEFAULT_RESET_DURATION: Duration = Duration::from_secs(15);

/// Which controller is simulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Model {
    #[default]
    Cryocon24C,
    Cryocon22C,
}

impl Model {
    /// The model field of `*IDN?`.
    pub fn idn_model(self) -> &'static str {
        match self {
            Model::Cryocon24C => "24C",
            Model::Cryocon22C => "22C",
        }
    }

    pub fn inputs(self) -> usize {
        match self {
            Model::Cryocon24C => 4,
            Model::Cryocon22C => 2,
        }
    }

    pub fn loops(self) -> usize {
        self.inputs()
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.idn_model())
    }
}

impl FromStr for Model {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "24C" => Ok(Model::Cryocon24C),
            "22C" => Ok(Model::Cryocon22C),
            _ => Err(format!("unknown Cryo-con model {s:?}: expected 24C or 22C")),
        }
    }
}

/// How a controller simulator starts.
#[derive(Clone, Debug, PartialEq)]
pub struct CryoconOptions {
    pub model: Model,
    pub serial: String,
    pub firmware: String,
    /// How long `*RST` blocks remote access.
    pub reset_duration: Duration,
    /// Every stage starts here.
    pub initial_kelvin: f64,
    pub cold_head_kelvin: f64,
    /// Standard deviation-ish amplitude of reading noise, kelvin.
    pub noise_kelvin: f64,
    /// Simulated seconds per real second.
    pub time_scale: f64,
    pub seed: u64,
}

impl Default for CryoconOptions {
    /// A cryostat at room temperature with liquid nitrogen in its cold head.
    fn default() -> Self {
        CryoconOptions {
            model: Model::Cryocon24C,
            serial: "204683".to_string(),
            firmware: "1.01A".to_string(),
            reset_duration: DEFAULT_RESET_DURATION,
            initial_kelvin: 295.0,
            cold_head_kelvin: 77.0,
            noise_kelvin: 0.002,
            time_scale: 1.0,
            seed: 1,
        }
    }
}

/// Test-side control of a running controller; clones share it. Inputs are letters
/// (`'A'`), loops are numbers from 1, as on the front panel.
#[derive(Clone)]
pub struct CryoconControl {
    instrument: Arc<Mutex<Instrument>>,
}

impl fmt::Debug for CryoconControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CryoconControl").finish_non_exhaustive()
    }
}

fn lock(instrument: &Mutex<Instrument>) -> MutexGuard<'_, Instrument> {
    // No code panics while holding the lock; if one ever did, the state is still usable.
    instrument.lock().unwrap_or_else(PoisonError::into_inner)
}

fn input_index(model: Model, input: char) -> usize {
    let index = (input.to_ascii_uppercase() as usize).wrapping_sub('A' as usize);
    assert!(index < model.inputs(), "the {model} has no input {input:?}");
    index
}

fn loop_index(model: Model, number: usize) -> usize {
    assert!(
        (1..=model.loops()).contains(&number),
        "the {model} has no loop {number}"
    );
    number - 1
}

impl CryoconControl {
    /// Runs `f` on the instrument advanced to now.
    fn with<T>(&self, f: impl FnOnce(&mut Instrument) -> T) -> T {
        let mut instrument = lock(&self.instrument);
        instrument.advance(Instant::now());
        f(&mut instrument)
    }

    pub fn model(&self) -> Model {
        self.with(|i| i.model)
    }

    /// The true (noise-free) temperature of an input's stage, kelvin.
    pub fn temperature(&self, input: char) -> f64 {
        self.with(|i| i.stages[input_index(i.model, input)])
    }

    /// Jumps a stage to `kelvin`.
    pub fn set_temperature(&self, input: char, kelvin: f64) {
        assert!(kelvin.is_finite(), "temperature must be finite");
        self.with(|i| {
            let index = input_index(i.model, input);
            i.stages[index] = kelvin;
        })
    }

    pub fn set_cold_head(&self, kelvin: f64) {
        assert!(
            kelvin.is_finite() && kelvin > 0.0,
            "cold head must be > 0 K"
        );
        self.with(|i| i.cold_head_k = kelvin)
    }

    /// Freezes (or releases) the stage temperatures; the controller keeps computing.
    pub fn hold(&self, held: bool) {
        self.with(|i| i.held = held)
    }

    /// Reading noise amplitude in kelvin (0 for exact readings).
    pub fn set_noise(&self, kelvin: f64) {
        let kelvin = if kelvin.is_finite() {
            kelvin.abs()
        } else {
            0.0
        };
        self.with(|i| i.noise_k = kelvin)
    }

    pub fn set_time_scale(&self, scale: f64) {
        assert!(scale.is_finite() && scale >= 0.0, "time scale must be >= 0");
        self.with(|i| i.time_scale = scale)
    }

    /// Unplugs, replugs or detunes the sensor of an input.
    pub fn set_sensor(&self, input: char, state: SensorState) {
        self.with(|i| {
            let index = input_index(i.model, input);
            i.inputs[index].sensor = state;
        })
    }

    /// Alarm limits of an input, kelvin (`None` disables that side).
    pub fn set_alarm_limits(&self, input: char, low: Option<f64>, high: Option<f64>) {
        self.with(|i| {
            let index = input_index(i.model, input);
            i.inputs[index].alarm_low_k = low;
            i.inputs[index].alarm_high_k = high;
        })
    }

    /// Breaks (or repairs, with [`HeaterError::Ok`]) a loop's heater.
    pub fn set_heater_error(&self, loop_number: usize, error: HeaterError) {
        self.with(|i| {
            let index = loop_index(i.model, loop_number);
            i.loops[index].heater_error = error;
        })
    }

    /// The display unit of an input.
    pub fn unit(&self, input: char) -> DisplayUnit {
        self.with(|i| i.inputs[input_index(i.model, input)].unit)
    }

    pub fn control_engaged(&self) -> bool {
        self.with(|i| i.engaged)
    }

    /// The target setpoint of a loop, kelvin.
    pub fn setpoint_kelvin(&self, loop_number: usize) -> f64 {
        self.with(|i| i.loops[loop_index(i.model, loop_number)].target_k)
    }

    pub fn loop_type(&self, loop_number: usize) -> LoopType {
        self.with(|i| i.loops[loop_index(i.model, loop_number)].kind)
    }

    /// Heater power actually delivered by a loop, watts.
    pub fn heater_watts(&self, loop_number: usize) -> f64 {
        self.with(|i| i.loops[loop_index(i.model, loop_number)].heater_w())
    }

    pub fn ramping(&self, loop_number: usize) -> bool {
        self.with(|i| i.loops[loop_index(i.model, loop_number)].ramping)
    }

    /// Request lines received so far (all connections).
    pub fn lines_received(&self) -> u64 {
        self.with(|i| i.lines)
    }

    /// Request lines that came less than 0.1 s (less a small margin) after the previous.
    pub fn pacing_violations(&self) -> u64 {
        self.with(|i| i.pacing_violations)
    }

    /// True while `*RST` blocks remote access.
    pub fn resetting(&self) -> bool {
        lock(&self.instrument).resetting(Instant::now())
    }
}

/// Starts a controller simulator on `listen` (port 0 picks a free port).
pub async fn spawn(
    listen: SocketAddr,
    options: CryoconOptions,
) -> io::Result<SimHandle<CryoconControl>> {
    let sane = options.initial_kelvin.is_finite()
        && options.initial_kelvin > 0.0
        && options.cold_head_kelvin.is_finite()
        && options.cold_head_kelvin > 0.0
        && options.time_scale.is_finite()
        && options.time_scale >= 0.0
        && options.noise_kelvin.is_finite();
    if !sane {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "temperatures must be finite and > 0 K, time scale and noise finite",
        ));
    }
    let instrument = Arc::new(Mutex::new(Instrument::new(&options, Instant::now())));
    let control = CryoconControl {
        instrument: instrument.clone(),
    };
    server::serve(
        "cryocon",
        listen,
        control,
        options.seed,
        b"\r\n",
        move |conn| session(conn, instrument.clone()),
    )
    .await
}

async fn session(mut conn: Conn, instrument: Arc<Mutex<Instrument>>) -> io::Result<()> {
    let mut line: Vec<u8> = Vec::with_capacity(MAX_LINE);
    // After an over-long line, everything up to its LF is thrown away.
    let mut overlong = false;
    let mut buf = [0u8; 1024];
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        if conn.fault() == Fault::Silent {
            line.clear();
            continue;
        }
        for &byte in &buf[..n] {
            if byte != b'\n' {
                if line.len() >= MAX_LINE {
                    overlong = true;
                } else {
                    line.push(byte);
                }
                continue;
            }
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let reply = {
                let now = Instant::now();
                let mut instrument = lock(&instrument);
                if instrument.resetting(now) {
                    None
                } else {
                    instrument.note_line(now);
                    match std::str::from_utf8(&line) {
                        _ if overlong => Some(NAK.to_string()),
                        Ok(text) => {
                            debug!(line = text, "request");
                            commands::execute_line(&mut instrument, text, now)
                        }
                        Err(_) => Some(NAK.to_string()),
                    }
                }
            };
            line.clear();
            overlong = false;
            if let Some(mut reply) = reply {
                reply.push_str("\r\n");
                conn.answer(reply.as_bytes()).await?;
            }
        }
    }
}
