//! Pfeiffer TPG 361 single-gauge controller speaking its ASCII mnemonic protocol, as a
//! serial-to-Ethernet server would expose it: a plain TCP byte stream.
//!
//! The host sends `<mnemonic>[,args]` and CR LF; the gauge acknowledges with `ACK CR LF`
//! (or `NAK CR LF`), and only when the host then sends a lone `ENQ` does it send the data
//! line. Each further `ENQ` sends the last request's data again, freshly measured.
//! `COM,<n>` starts continuous output until any byte arrives.
//!
//! Implemented mnemonics: `PR1`, `UNI[,n]`, `TID`, `COM[,n]`, `ERR`, `PNR`, `AYT`.
//! The pressure follows a pump-down curve (exponential in log-pressure towards
//! [`DEFAULT_TARGET_MBAR`]) with a few percent multiplicative noise; the curve is
//! evaluated when read, so no task ticks in the background.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::time::MissedTickBehavior;
use tracing::debug;

use crate::number::format_exponential;
use crate::rng::XorShift;
use crate::server::{self, Conn, Fault, SimHandle};

/// Default port of `labwire-sim gauge` (a common serial-server data port; the TPG itself
/// has no network port of its own).
pub const DEFAULT_PORT: u16 = 8000;
/// Where the simulated pump-down is heading.
pub const DEFAULT_TARGET_MBAR: f64 = 1.0e-6;
/// Time constant of the pump-down, in decades of log-pressure.
pub const DEFAULT_TIME_CONSTANT: Duration = Duration::from_secs(300);
/// Relative standard deviation of the reading noise.
pub const DEFAULT_NOISE: f64 = 0.02;
/// What `TID` answers: a Compact FullRange (Pirani + cold cathode) gauge.
pub const GAUGE_TYPE: &str = "PKR";
/// What `PNR` answers (the firmware version the vendor manual describes).
pub const FIRMWARE: &str = "010100";
/// What `AYT` answers: type, part number, serial number, firmware, hardware.
pub const AYT_ANSWER: &str = "TPG361,PTG28040,44990000,010100,010100";

const ACK: &[u8] = b"\x06\r\n";
const NAK: &[u8] = b"\x15\r\n";
const ENQ: u8 = 0x05;
/// ETX (Ctrl-C) clears the TPG's input buffer.
const ETX: u8 = 0x03;
/// Mnemonics are three letters plus a few short arguments; longer input is rejected.
const MAX_MESSAGE: usize = 64;

/// Bits of the `ERR` word, printed as four binary digits (`0000` = no error).
const ERR_SYNTAX: u8 = 0b0001;
const ERR_PARAMETER: u8 = 0b0010;

/// Pressure unit, with the `UNI` codes 0, 1, 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Unit {
    #[default]
    Mbar,
    Torr,
    Pa,
}

impl Unit {
    /// The `UNI` code.
    pub fn code(self) -> u8 {
        match self {
            Unit::Mbar => 0,
            Unit::Torr => 1,
            Unit::Pa => 2,
        }
    }

    /// The unit for a `UNI` code; `None` for the codes this simulator does not offer
    /// (the real TPG 36x also knows 3 Micron, 4 hPa, 5 Volt).
    pub fn from_code(code: u8) -> Option<Unit> {
        match code {
            0 => Some(Unit::Mbar),
            1 => Some(Unit::Torr),
            2 => Some(Unit::Pa),
            _ => None,
        }
    }

    /// Converts a pressure in mbar to this unit.
    pub fn from_mbar(self, mbar: f64) -> f64 {
        match self {
            Unit::Mbar => mbar,
            Unit::Torr => mbar * (760.0 / 1013.25),
            Unit::Pa => mbar * 100.0,
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unit::Mbar => "mbar",
            Unit::Torr => "Torr",
            Unit::Pa => "Pa",
        })
    }
}

/// How a gauge simulator starts.
#[derive(Clone, Debug, PartialEq)]
pub struct GaugeOptions {
    /// Pressure at start, in mbar; the pump-down starts from here. Must be > 0.
    pub initial_pressure_mbar: f64,
    /// Unit of `PR1` answers until a `UNI,n` changes it.
    pub unit: Unit,
    /// Seed of the reading noise (and of junk bytes), for reproducible runs.
    pub seed: u64,
}

impl Default for GaugeOptions {
    /// A chamber just vented to atmosphere, pumping down.
    fn default() -> Self {
        GaugeOptions {
            initial_pressure_mbar: 1000.0,
            unit: Unit::Mbar,
            seed: 1,
        }
    }
}

struct GaugeState {
    /// The pump-down curve starts at `anchor_mbar` at `anchor`.
    anchor_mbar: f64,
    anchor: Instant,
    target_mbar: f64,
    /// `None` holds the pressure constant.
    time_constant: Option<Duration>,
    noise: f64,
    unit: Unit,
    status: u8,
    error_word: u8,
    rng: XorShift,
}

impl GaugeState {
    fn model_mbar(&self, now: Instant) -> f64 {
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

    fn restart_from(&mut self, mbar: f64, now: Instant) {
        self.anchor_mbar = mbar;
        self.anchor = now;
    }

    /// The `<status>,<value>` data of `PR1` and of continuous mode.
    fn measurement_line(&mut self, now: Instant) -> String {
        let value = match self.status {
            // Under- and overrange still report the (limit) pressure, as the TPG does;
            // the other states have no measurement at all.
            0..=2 => {
                let reading = self.model_mbar(now) * (1.0 + self.noise * self.rng.noise());
                self.unit.from_mbar(reading)
            }
            _ => 0.0,
        };
        format!("{},{}", self.status, format_exponential(value, 4))
    }
}

/// Test-side control of a running gauge simulator; clones share the same gauge.
#[derive(Clone)]
pub struct GaugeControl {
    state: Arc<Mutex<GaugeState>>,
}

impl fmt::Debug for GaugeControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GaugeControl")
            .field("pressure_mbar", &self.pressure_mbar())
            .field("unit", &self.unit())
            .field("sensor_status", &self.sensor_status())
            .finish()
    }
}

fn lock(state: &Mutex<GaugeState>) -> MutexGuard<'_, GaugeState> {
    // No code panics while holding the lock; if one ever did, the state is still usable.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl GaugeControl {
    /// Jumps the pressure to `mbar`; an active pump-down continues from there.
    ///
    /// # Panics
    /// If `mbar` is not a finite number above zero.
    pub fn set_pressure_mbar(&self, mbar: f64) {
        assert!(
            mbar.is_finite() && mbar > 0.0,
            "pressure must be finite and > 0 mbar, got {mbar}"
        );
        lock(&self.state).restart_from(mbar, Instant::now());
    }

    /// The true (noise-free) pressure right now, in mbar.
    pub fn pressure_mbar(&self) -> f64 {
        lock(&self.state).model_mbar(Instant::now())
    }

    /// Sets the status code `PR1` reports: 0 ok, 1 underrange, 2 overrange, 3 sensor
    /// error, 4 sensor off, 5 no sensor, 6 identification error.
    ///
    /// # Panics
    /// If `status` is above 6.
    pub fn set_sensor_status(&self, status: u8) {
        assert!(status <= 6, "TPG status codes are 0..=6, got {status}");
        lock(&self.state).status = status;
    }

    /// The status code `PR1` currently reports.
    pub fn sensor_status(&self) -> u8 {
        lock(&self.state).status
    }

    /// The unit `PR1` currently answers in (changed by `UNI,n` from any client).
    pub fn unit(&self) -> Unit {
        lock(&self.state).unit
    }

    /// Changes the unit as if set on the front panel.
    pub fn set_unit(&self, unit: Unit) {
        lock(&self.state).unit = unit;
    }

    /// Restarts the pump-down from the current pressure towards `target_mbar`.
    ///
    /// # Panics
    /// If `target_mbar` is not finite and > 0, or `time_constant` is zero.
    pub fn set_pump_down(&self, target_mbar: f64, time_constant: Duration) {
        assert!(
            target_mbar.is_finite() && target_mbar > 0.0,
            "target must be finite and > 0 mbar, got {target_mbar}"
        );
        assert!(!time_constant.is_zero(), "time constant must be non-zero");
        let now = Instant::now();
        let mut state = lock(&self.state);
        let current = state.model_mbar(now);
        state.restart_from(current, now);
        state.target_mbar = target_mbar;
        state.time_constant = Some(time_constant);
    }

    /// Freezes the pressure where it is (noise continues unless set to 0).
    pub fn hold(&self) {
        let now = Instant::now();
        let mut state = lock(&self.state);
        let current = state.model_mbar(now);
        state.restart_from(current, now);
        state.time_constant = None;
    }

    /// Sets the relative noise of readings (0 for exact values; clamped to 0..=0.25 so
    /// a reading can never turn negative).
    pub fn set_noise(&self, fraction: f64) {
        let fraction = if fraction.is_finite() { fraction } else { 0.0 };
        lock(&self.state).noise = fraction.clamp(0.0, 0.25);
    }
}

/// Starts a TPG 361 simulator on `listen` (port 0 picks a free port).
pub async fn spawn(
    listen: SocketAddr,
    options: GaugeOptions,
) -> io::Result<SimHandle<GaugeControl>> {
    if !(options.initial_pressure_mbar.is_finite() && options.initial_pressure_mbar > 0.0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "initial pressure must be finite and > 0 mbar",
        ));
    }
    let state = Arc::new(Mutex::new(GaugeState {
        anchor_mbar: options.initial_pressure_mbar,
        anchor: Instant::now(),
        target_mbar: DEFAULT_TARGET_MBAR,
        time_constant: Some(DEFAULT_TIME_CONSTANT),
        noise: DEFAULT_NOISE,
        unit: options.unit,
        status: 0,
        error_word: 0,
        rng: XorShift::new(options.seed),
    }));
    let control = GaugeControl {
        state: state.clone(),
    };
    server::serve(
        "gauge",
        listen,
        control,
        options.seed,
        b"\r\n",
        move |conn| session(conn, state.clone()),
    )
    .await
}

/// What a later `ENQ` answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Request {
    Pressure,
    Unit,
    GaugeType,
    ErrorWord,
    Firmware,
    Identity,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Command {
    Read(Request),
    SetUnit(Unit),
    Continuous(Duration),
}

/// Parses one message (without CR LF, spaces removed). The error is the `ERR` bit the
/// TPG would set when it answers NAK.
fn parse_message(message: &[u8]) -> Result<Command, u8> {
    let text = std::str::from_utf8(message).map_err(|_| ERR_SYNTAX)?;
    let (mnemonic, args) = match text.split_once(',') {
        Some((mnemonic, args)) => (mnemonic, Some(args)),
        None => (text, None),
    };
    let read = |request| match args {
        None => Ok(Command::Read(request)),
        Some(_) => Err(ERR_PARAMETER),
    };
    let code = |args: &str| args.parse::<u8>().map_err(|_| ERR_PARAMETER);
    match mnemonic {
        "PR1" => read(Request::Pressure),
        "TID" => read(Request::GaugeType),
        "ERR" => read(Request::ErrorWord),
        "PNR" => read(Request::Firmware),
        "AYT" => read(Request::Identity),
        "UNI" => match args {
            None => Ok(Command::Read(Request::Unit)),
            Some(args) => Unit::from_code(code(args)?)
                .map(Command::SetUnit)
                .ok_or(ERR_PARAMETER),
        },
        "COM" => {
            let interval = match args.map(code).transpose()? {
                Some(0) => Duration::from_millis(100),
                // 1 s is the TPG's default when no interval is given.
                None | Some(1) => Duration::from_secs(1),
                Some(2) => Duration::from_secs(60),
                Some(_) => return Err(ERR_PARAMETER),
            };
            Ok(Command::Continuous(interval))
        }
        _ => Err(ERR_SYNTAX),
    }
}

fn data_line(state: &Mutex<GaugeState>, request: Option<Request>) -> Vec<u8> {
    let mut state = lock(state);
    let mut line = match request {
        Some(Request::Pressure) => state.measurement_line(Instant::now()),
        Some(Request::Unit) => state.unit.code().to_string(),
        Some(Request::GaugeType) => GAUGE_TYPE.to_string(),
        Some(Request::ErrorWord) => {
            let word = format!("{:04b}", state.error_word);
            // Reading the error word resets it, as on the TPG.
            state.error_word = 0;
            word
        }
        Some(Request::Firmware) => FIRMWARE.to_string(),
        Some(Request::Identity) => AYT_ANSWER.to_string(),
        // An ENQ without a valid request gets the error word (without resetting it).
        None => format!("{:04b}", state.error_word),
    };
    line.push_str("\r\n");
    line.into_bytes()
}

/// ACK and NAK are not cut by a disconnect fault: the interesting failure is a data line
/// that stops halfway, which is where the fault strikes.
async fn acknowledge(conn: &mut Conn, bytes: &[u8]) -> io::Result<()> {
    if conn.fault() == Fault::Disconnect {
        conn.send_raw(bytes).await
    } else {
        conn.answer(bytes).await
    }
}

async fn session(mut conn: Conn, state: Arc<Mutex<GaugeState>>) -> io::Result<()> {
    let mut input: Vec<u8> = Vec::with_capacity(MAX_MESSAGE);
    let mut overflow = false;
    let mut pending: Option<Request> = None;
    let mut continuous: Option<tokio::time::Interval> = None;
    let mut buf = [0u8; 512];
    loop {
        let n = match continuous.as_mut() {
            Some(ticker) => tokio::select! {
                read = conn.read(&mut buf) => read?,
                _ = ticker.tick() => {
                    let line = data_line(&state, Some(Request::Pressure));
                    conn.answer(&line).await?;
                    continue;
                }
            },
            None => conn.read(&mut buf).await?,
        };
        if n == 0 {
            return Ok(());
        }
        if conn.fault() == Fault::Silent {
            continue;
        }
        if continuous.take().is_some() {
            debug!("continuous mode ended by host input");
        }
        for &byte in &buf[..n] {
            match byte {
                ENQ => {
                    input.clear();
                    overflow = false;
                    let line = data_line(&state, pending);
                    conn.answer(&line).await?;
                }
                ETX => {
                    input.clear();
                    overflow = false;
                }
                b'\r' | b'\n' => {
                    if input.is_empty() && !overflow {
                        // The LF of CR LF, or a stray line end.
                        continue;
                    }
                    let result = if overflow {
                        Err(ERR_SYNTAX)
                    } else {
                        parse_message(&input)
                    };
                    input.clear();
                    overflow = false;
                    debug!(?result, "message");
                    if conn.fault() == Fault::Nak {
                        pending = None;
                        conn.send_raw(NAK).await?;
                        continue;
                    }
                    match result {
                        Ok(command) => {
                            pending = Some(match command {
                                Command::Read(request) => request,
                                Command::SetUnit(unit) => {
                                    lock(&state).unit = unit;
                                    Request::Unit
                                }
                                Command::Continuous(_) => Request::Pressure,
                            });
                            acknowledge(&mut conn, ACK).await?;
                            if let Command::Continuous(period) = command {
                                // The first tick fires at once: the TPG follows its ACK
                                // immediately with the first value.
                                let mut ticker = tokio::time::interval(period);
                                ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
                                continuous = Some(ticker);
                            }
                        }
                        Err(bit) => {
                            lock(&state).error_word |= bit;
                            pending = None;
                            acknowledge(&mut conn, NAK).await?;
                        }
                    }
                }
                // The TPG ignores spaces anywhere in a message.
                b' ' => {}
                other => {
                    if input.len() < MAX_MESSAGE {
                        input.push(other);
                    } else {
                        overflow = true;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_mnemonics() {
        assert_eq!(parse_message(b"PR1"), Ok(Command::Read(Request::Pressure)));
        assert_eq!(parse_message(b"UNI"), Ok(Command::Read(Request::Unit)));
        assert_eq!(parse_message(b"UNI,2"), Ok(Command::SetUnit(Unit::Pa)));
        assert_eq!(
            parse_message(b"COM"),
            Ok(Command::Continuous(Duration::from_secs(1)))
        );
        assert_eq!(
            parse_message(b"COM,0"),
            Ok(Command::Continuous(Duration::from_millis(100)))
        );
        assert_eq!(
            parse_message(b"COM,2"),
            Ok(Command::Continuous(Duration::from_secs(60)))
        );
    }

    #[test]
    fn rejects_unknown_mnemonics_and_bad_arguments() {
        assert_eq!(parse_message(b"XYZ"), Err(ERR_SYNTAX));
        assert_eq!(parse_message(b"pr1"), Err(ERR_SYNTAX));
        assert_eq!(parse_message(b"\xff\xfe"), Err(ERR_SYNTAX));
        assert_eq!(parse_message(b"UNI,7"), Err(ERR_PARAMETER));
        assert_eq!(parse_message(b"UNI,x"), Err(ERR_PARAMETER));
        assert_eq!(parse_message(b"COM,3"), Err(ERR_PARAMETER));
        assert_eq!(parse_message(b"PR1,1"), Err(ERR_PARAMETER));
    }

    #[test]
    fn unit_conversion() {
        assert_eq!(Unit::Pa.from_mbar(1.0), 100.0);
        assert!((Unit::Torr.from_mbar(1013.25) - 760.0).abs() < 1e-9);
        for code in 0..3 {
            assert_eq!(Unit::from_code(code).unwrap().code(), code);
        }
        assert_eq!(Unit::from_code(3), None);
    }

    fn state(mbar: f64, tau: Option<Duration>) -> GaugeState {
        GaugeState {
            anchor_mbar: mbar,
            anchor: Instant::now(),
            target_mbar: DEFAULT_TARGET_MBAR,
            time_constant: tau,
            noise: 0.0,
            unit: Unit::Mbar,
            status: 0,
            error_word: 0,
            rng: XorShift::new(3),
        }
    }

    #[test]
    fn pump_down_falls_monotonically_towards_the_target() {
        let s = state(1000.0, Some(Duration::from_secs(300)));
        let t0 = s.anchor;
        let samples: Vec<f64> = (0..20)
            .map(|minutes| s.model_mbar(t0 + Duration::from_secs(60 * minutes)))
            .collect();
        assert!((samples[0] - 1000.0).abs() < 1e-9);
        assert!(samples.windows(2).all(|w| w[1] < w[0]), "{samples:?}");
        let late = s.model_mbar(t0 + Duration::from_secs(60 * 60 * 10));
        assert!((DEFAULT_TARGET_MBAR..1.1 * DEFAULT_TARGET_MBAR).contains(&late));
    }

    #[test]
    fn measurement_line_format_and_status() {
        let mut s = state(1.23e-3, None);
        let now = Instant::now();
        assert_eq!(s.measurement_line(now), "0,+1.2300E-03");
        s.unit = Unit::Pa;
        assert_eq!(s.measurement_line(now), "0,+1.2300E-01");
        s.status = 5;
        assert_eq!(s.measurement_line(now), "5,+0.0000E+00");
    }

    #[test]
    fn noisy_readings_stay_positive_and_near_the_model() {
        let mut s = state(2.0e-6, None);
        s.noise = 0.25;
        for _ in 0..5000 {
            let line = s.measurement_line(Instant::now());
            let value: f64 = line.split_once(',').unwrap().1.parse().unwrap();
            assert!(value > 0.0 && value < 4.0e-6, "{line}");
        }
    }
}
