//! Pfeiffer TPG 361/362 gauge controller speaking its ASCII mnemonic protocol over a TCP
//! byte stream, as its own Ethernet command port (8000) does.
//!
//! The host sends `<mnemonic>[,args]` and CR (LF optional, except on RS-485); the gauge
//! acknowledges with `ACK CR LF` (or `NAK CR LF`), and only when the host then sends a
//! lone `ENQ` does it send the data line. Each further `ENQ` sends the last request's data
//! again, freshly measured. `COM[,n]` starts continuous output until any byte arrives.
//!
//! Implemented mnemonics: `PR1`, `PR2` (362), `PRX`, `UNI[,n]` (all six units), `TID`,
//! `SEN[,a[,b]]`, `COM[,n]`, `ERR`, `PNR`, `AYT`; `ETX` clears the input buffer.
//! Each channel's pressure follows a pump-down curve (exponential in log-pressure towards
//! [`DEFAULT_TARGET_MBAR`]) with a few percent multiplicative noise; the curve is
//! evaluated when read, so no task ticks in the background.
//!
//! Layout:
//! - [`unit`]: the six `UNI` units and conversions (Volt mode: the gauge's signal).
//! - `plant`: channels, pump-down, sensor status and switches, data-line formats.
//! - `mnemonics`: parsing one message into a command.
//! - `session`: one connection's byte handling, ACK/NAK/ENQ and continuous mode.

mod mnemonics;
mod plant;
mod session;
pub mod unit;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::server::{self, SimHandle};
use plant::GaugeState;

pub use plant::{GaugeType, Model, DEFAULT_NOISE, DEFAULT_TARGET_MBAR, DEFAULT_TIME_CONSTANT};
pub use unit::Unit;

/// Default port of `labwire-sim gauge`: the TPG 36x's Ethernet command port.
pub const DEFAULT_PORT: u16 = 8000;
/// What `TID` answers for a TPG 361 out of the box: a Compact FullRange gauge.
pub const GAUGE_TYPE: &str = "PKR";
/// What `PNR` answers (the firmware version the vendor manual describes).
pub const FIRMWARE: &str = "010100";
/// What `AYT` answers on a TPG 361: type, part number, serial number, firmware, hardware.
pub const AYT_ANSWER: &str = Model::Tpg361.identity();

/// The controller interface the host is on. Ethernet and USB take CR or CR LF after a
/// mnemonic; on RS-485 the host must send CR alone, and the simulator refuses an LF
/// (NAK, syntax error) so a host configured for the wrong line ending is noticed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Interface {
    #[default]
    Ethernet,
    Rs485,
}

/// How a gauge simulator starts.
#[derive(Clone, Debug, PartialEq)]
pub struct GaugeOptions {
    /// Pressure at start on every channel, in mbar; the pump-down starts from here.
    /// Must be > 0.
    pub initial_pressure_mbar: f64,
    /// Unit of the readings until a `UNI,n` changes it.
    pub unit: Unit,
    /// Seed of the reading noise (and of junk bytes), for reproducible runs.
    pub seed: u64,
    /// One channel (TPG 361) or two (TPG 362).
    pub model: Model,
    /// Which line end the host must use.
    pub interface: Interface,
}

impl Default for GaugeOptions {
    /// A TPG 361 on Ethernet, its chamber just vented to atmosphere, pumping down.
    fn default() -> Self {
        GaugeOptions {
            initial_pressure_mbar: 1000.0,
            unit: Unit::Mbar,
            seed: 1,
            model: Model::Tpg361,
            interface: Interface::Ethernet,
        }
    }
}

/// Test-side control of a running gauge simulator; clones share the same gauge.
/// Channels are numbered from 1 as on the front panel; the methods without a channel
/// act on channel 1 (`set_pump_down`, `hold`, `set_noise`: on every channel).
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
    fn with_channel<T>(&self, channel: usize, f: impl FnOnce(&mut plant::Channel) -> T) -> T {
        let mut state = lock(&self.state);
        let count = state.channels.len();
        let index = channel.wrapping_sub(1);
        assert!(
            index < count,
            "channel {channel} of a {count}-channel gauge"
        );
        f(&mut state.channels[index])
    }

    /// Jumps the pressure of channel 1 to `mbar`; an active pump-down continues from there.
    ///
    /// # Panics
    /// If `mbar` is not a finite number above zero.
    pub fn set_pressure_mbar(&self, mbar: f64) {
        self.set_channel_pressure_mbar(1, mbar);
    }

    /// As [`GaugeControl::set_pressure_mbar`], on `channel` (1 or, on a 362, 2).
    ///
    /// # Panics
    /// If `mbar` is not finite and > 0, or there is no such channel.
    pub fn set_channel_pressure_mbar(&self, channel: usize, mbar: f64) {
        assert!(
            mbar.is_finite() && mbar > 0.0,
            "pressure must be finite and > 0 mbar, got {mbar}"
        );
        self.with_channel(channel, |c| c.restart_from(mbar, Instant::now()));
    }

    /// The true (noise-free) pressure of channel 1 right now, in mbar.
    pub fn pressure_mbar(&self) -> f64 {
        self.with_channel(1, |c| c.model_mbar(Instant::now()))
    }

    /// Sets the status code channel 1 reports: 0 ok, 1 underrange, 2 overrange, 3 sensor
    /// error, 4 sensor off, 5 no sensor, 6 identification error.
    ///
    /// # Panics
    /// If `status` is above 6.
    pub fn set_sensor_status(&self, status: u8) {
        self.set_channel_sensor_status(1, status);
    }

    /// As [`GaugeControl::set_sensor_status`], on `channel`.
    ///
    /// # Panics
    /// If `status` is above 6 or there is no such channel.
    pub fn set_channel_sensor_status(&self, channel: usize, status: u8) {
        assert!(status <= 6, "TPG status codes are 0..=6, got {status}");
        self.with_channel(channel, |c| c.status = status);
    }

    /// The status code channel 1 currently reports (4 while `SEN` has it switched off).
    pub fn sensor_status(&self) -> u8 {
        self.with_channel(1, |c| c.status_code())
    }

    /// Whether `channel`'s sensor is switched on (`SEN`).
    ///
    /// # Panics
    /// If there is no such channel.
    pub fn sensor_on(&self, channel: usize) -> bool {
        self.with_channel(channel, |c| c.switched_on)
    }

    /// Replaces the gauge head on `channel`.
    ///
    /// # Panics
    /// If there is no such channel.
    pub fn set_gauge_type(&self, channel: usize, gauge_type: GaugeType) {
        self.with_channel(channel, |c| c.gauge_type = gauge_type);
    }

    /// The unit readings currently come in (changed by `UNI,n` from any client).
    pub fn unit(&self) -> Unit {
        lock(&self.state).unit
    }

    /// Changes the unit as if set on the front panel.
    pub fn set_unit(&self, unit: Unit) {
        lock(&self.state).unit = unit;
    }

    /// Restarts every channel's pump-down from its current pressure towards
    /// `target_mbar`.
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
        for channel in &mut lock(&self.state).channels {
            channel.pump_down(target_mbar, Some(time_constant), now);
        }
    }

    /// Freezes every channel's pressure where it is (noise continues unless set to 0).
    pub fn hold(&self) {
        let now = Instant::now();
        for channel in &mut lock(&self.state).channels {
            channel.hold(now);
        }
    }

    /// Sets the relative noise of readings (0 for exact values; clamped to 0..=0.25 so
    /// a reading can never turn negative).
    pub fn set_noise(&self, fraction: f64) {
        let fraction = if fraction.is_finite() { fraction } else { 0.0 };
        lock(&self.state).noise = fraction.clamp(0.0, 0.25);
    }
}

/// Starts a TPG 36x simulator on `listen` (port 0 picks a free port).
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
    let state = Arc::new(Mutex::new(GaugeState::new(
        options.model,
        options.initial_pressure_mbar,
        options.unit,
        options.seed,
    )));
    let control = GaugeControl {
        state: state.clone(),
    };
    let interface = options.interface;
    server::serve(
        "gauge",
        listen,
        control,
        options.seed,
        b"\r\n",
        move |conn| session::session(conn, state.clone(), interface),
    )
    .await
}
