//! STA Archon CCD controller over TCP (port 4242): `>xxCOMMAND` requests with a rolling
//! hex id, `<xx` + reply or `?xx` on error, LF-terminated; `FETCH` answers with binary
//! blocks, `<xx:` + 1024 bytes each, the last padded with 0xFF.
//!
//! - `controller.rs`: modules, power, configuration lines, timing-core parameters, the
//!   exposure and readout timeline, the frame buffer, the log.
//! - `sensor.rs`: the pixels of a frame (bias, noise, dark current, flat, stars, cosmic
//!   rays, shutter).
//!
//! Exposures are started by the lab's timing script parameters (`FASTLOADPARAM
//! Exposures 1` with `IntMS`, `OpenShutter`, `ROIX`/`ROIY`/`ROIWidth`/`ROIHeight`,
//! `BinX`/`BinY`; `AbortExposure 1` discards the exposure). Readout takes
//! pixels / `pixel_rate` seconds. Besides the shared [`Fault`]s, [`ArchonControl`] can
//! make a FETCH stop after some blocks and make commands fail with `?xx`.

mod controller;
mod sensor;

pub use controller::{BLOCK, BUF1_BASE, HEATER_MODULE, PARAMETERS};
pub use sensor::{Exposure, Scene, SensorModel};

use crate::server::{self, Conn, Fault, SimHandle};
use controller::{Controller, Phase};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// Default port of `labwire-sim archon`, the controller's own.
pub const DEFAULT_PORT: u16 = 4242;
/// Longest request line accepted; the controller's own limit is far below this.
const MAX_LINE: usize = 4096;
/// FETCH blocks written with one call.
const BLOCKS_PER_WRITE: usize = 64;

#[derive(Clone, Debug, PartialEq)]
pub struct ArchonOptions {
    pub sensor: SensorModel,
    /// Pixels read out per second (all channels together).
    pub pixel_rate: f64,
    pub initial_ccd_temp_c: f64,
    /// Time constant of the CCD temperature following the heater target, seconds.
    pub thermal_tau_s: f64,
    pub seed: u64,
}

impl Default for ArchonOptions {
    fn default() -> Self {
        ArchonOptions {
            sensor: SensorModel::default(),
            pixel_rate: 4.0e6,
            initial_ccd_temp_c: -100.0,
            thermal_tau_s: 60.0,
            seed: 1,
        }
    }
}

/// Test-side control of the simulated controller.
#[derive(Clone)]
pub struct ArchonControl {
    controller: Arc<Mutex<Controller>>,
    faults: Arc<Mutex<ArchonFaults>>,
}

#[derive(Clone, Debug, Default)]
struct ArchonFaults {
    fetch_stops_after: Option<usize>,
    reject_prefix: Option<String>,
}

impl fmt::Debug for ArchonControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArchonControl").finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // No code panics while holding the lock; if one ever did, the state is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ArchonControl {
    fn with<T>(&self, f: impl FnOnce(&mut Controller) -> T) -> T {
        let mut controller = lock(&self.controller);
        controller.advance(Instant::now());
        f(&mut controller)
    }

    /// Every FETCH sends this many blocks and then nothing more (`None`: all of them).
    pub fn set_fetch_stops_after(&self, blocks: Option<usize>) {
        lock(&self.faults).fetch_stops_after = blocks;
    }

    /// Commands starting with `prefix` are answered `?xx` (`None`: none are).
    pub fn set_reject(&self, prefix: Option<&str>) {
        lock(&self.faults).reject_prefix = prefix.map(str::to_string);
    }

    pub fn set_scene(&self, scene: Scene) {
        self.with(|c| c.scene = scene)
    }

    pub fn ccd_temperature(&self) -> f64 {
        self.with(|c| c.ccd_temp_c())
    }

    pub fn set_ccd_temperature(&self, temp_c: f64) {
        self.with(|c| c.set_ccd_temp(temp_c))
    }

    pub fn heater_target(&self) -> f64 {
        self.with(|c| c.heater_target_c())
    }

    /// 4 on, 2 off (as `STATUS` reports `POWER`).
    pub fn power(&self) -> u8 {
        self.with(|c| c.power)
    }

    /// A timing-core parameter as last loaded.
    pub fn parameter(&self, name: &str) -> Option<i64> {
        self.with(|c| c.params.get(name).copied())
    }

    /// Frames completed so far.
    pub fn frames(&self) -> u64 {
        self.with(|c| c.frame.as_ref().map_or(0, |f| f.number))
    }

    /// "idle", "exposing" or "reading".
    pub fn phase(&self) -> &'static str {
        self.with(|c| match c.phase {
            Phase::Idle => "idle",
            Phase::Exposing { .. } => "exposing",
            Phase::Reading { .. } => "reading",
        })
    }

    /// The last frame's pixels (little-endian u16), width and height.
    pub fn last_frame(&self) -> Option<(Arc<Vec<u8>>, usize, usize)> {
        self.with(|c| {
            c.frame
                .as_ref()
                .map(|f| (f.data.clone(), f.width, f.height))
        })
    }

    /// Entries waiting for `FETCHLOG`.
    pub fn log_len(&self) -> usize {
        self.with(|c| c.log.len())
    }

    /// Queue a message for `FETCHLOG`.
    pub fn push_log(&self, message: &str) {
        self.with(|c| c.log.push_back(message.to_string()))
    }
}

pub async fn spawn(
    listen: SocketAddr,
    options: ArchonOptions,
) -> io::Result<SimHandle<ArchonControl>> {
    let sane = options.pixel_rate.is_finite()
        && options.pixel_rate > 0.0
        && options.initial_ccd_temp_c.is_finite()
        && options.sensor.width > 0
        && options.sensor.height > 0;
    if !sane {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "pixel rate must be > 0, the sensor not empty, the temperature finite",
        ));
    }
    let seed = options.seed;
    let controller = Arc::new(Mutex::new(Controller::new(options, Instant::now())));
    let control = ArchonControl {
        controller: controller.clone(),
        faults: Arc::default(),
    };
    let session_control = control.clone();
    server::serve("archon", listen, control, seed, b"\n", move |conn| {
        session(conn, session_control.clone())
    })
    .await
}

async fn session(mut conn: Conn, control: ArchonControl) -> io::Result<()> {
    let mut line: Vec<u8> = Vec::with_capacity(256);
    let mut buf = vec![0u8; 4096];
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
                if line.len() < MAX_LINE {
                    line.push(byte);
                }
                continue;
            }
            let request = String::from_utf8_lossy(&line)
                .trim_end_matches('\r')
                .to_string();
            line.clear();
            answer(&mut conn, &control, &request).await?;
        }
    }
}

/// Answer one request line; nothing at all for a line without `>xx`, as the controller.
async fn answer(conn: &mut Conn, control: &ArchonControl, request: &str) -> io::Result<()> {
    let Some(rest) = request.strip_prefix('>') else {
        return Ok(());
    };
    let Some(id) = rest
        .get(..2)
        .filter(|id| u8::from_str_radix(id, 16).is_ok())
    else {
        return Ok(());
    };
    let id = id.to_ascii_uppercase();
    let command = &rest[2..];
    let faults = lock(&control.faults).clone();
    if faults
        .reject_prefix
        .as_deref()
        .is_some_and(|prefix| command.starts_with(prefix))
    {
        return conn.answer(format!("?{id}\n").as_bytes()).await;
    }
    if let Some(spec) = command
        .strip_prefix("FETCH")
        .filter(|_| command != "FETCHLOG")
    {
        return fetch(conn, control, &id, spec, faults.fetch_stops_after).await;
    }
    let reply = lock(&control.controller).command(command, Instant::now());
    let text = match reply {
        Ok(payload) => format!("<{id}{payload}\n"),
        Err(()) => format!("?{id}\n"),
    };
    conn.answer(text.as_bytes()).await
}

async fn fetch(
    conn: &mut Conn,
    control: &ArchonControl,
    id: &str,
    spec: &str,
    stops_after: Option<usize>,
) -> io::Result<()> {
    let parsed = (spec.len() == 16)
        .then(|| {
            let address = u64::from_str_radix(&spec[..8], 16).ok()?;
            let blocks = usize::from_str_radix(&spec[8..], 16).ok()?;
            Some((address, blocks))
        })
        .flatten();
    let data = {
        let mut controller = lock(&control.controller);
        controller.advance(Instant::now());
        let frame = controller.frame.as_ref().map(|f| f.data.clone());
        let reading = matches!(controller.phase, Phase::Reading { .. });
        match (parsed, frame) {
            (Some((address, blocks)), Some(data))
                if address == BUF1_BASE
                    && !reading
                    && blocks > 0
                    && blocks <= data.len().div_ceil(BLOCK) =>
            {
                Some((data, blocks))
            }
            _ => None,
        }
    };
    let Some((data, blocks)) = data else {
        return conn.answer(format!("?{id}\n").as_bytes()).await;
    };
    match conn.fault() {
        Fault::None | Fault::Offline | Fault::Slow(_) => {}
        // Mangled answers and disconnects are the shared faults' business.
        _ => return conn.answer(format!("<{id}:").as_bytes()).await,
    }
    let send = stops_after.map_or(blocks, |n| n.min(blocks));
    let header = format!("<{id}:");
    let mut out = Vec::with_capacity(BLOCKS_PER_WRITE * (BLOCK + header.len()));
    for block in 0..send {
        out.extend_from_slice(header.as_bytes());
        let start = block * BLOCK;
        let end = (start + BLOCK).min(data.len());
        out.extend_from_slice(&data[start..end]);
        out.resize(out.len() + (BLOCK - (end - start)), 0xFF);
        if out.len() >= BLOCKS_PER_WRITE * (BLOCK + header.len()) || block + 1 == send {
            conn.send_raw(&out).await?;
            out.clear();
        }
    }
    Ok(())
}
