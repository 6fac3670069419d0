//! The socket side: [`spawn`] frames LF-terminated lines for an [`Instrument`], and
//! [`PsuControl`] lets a test reach into the running instrument.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tracing::debug;

use super::channel::{Channel, ChannelSnapshot, Mode};
use super::model::{Model, PsuOptions};
use super::{Instrument, Remote, MAX_LINE};
use crate::scpi;
use crate::server::{self, Conn, Fault, SimHandle};

/// Test-side control of a running supply simulator; clones share the same instrument.
/// Channels are numbered from 1, as on the front panel and in channel lists.
#[derive(Clone)]
pub struct PsuControl {
    instrument: Arc<Mutex<Instrument>>,
}

impl fmt::Debug for PsuControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PsuControl")
            .field("model", &self.model())
            .finish_non_exhaustive()
    }
}

pub(super) fn lock(instrument: &Mutex<Instrument>) -> MutexGuard<'_, Instrument> {
    // No code panics while holding the lock; if one ever did, the state is still usable.
    instrument.lock().unwrap_or_else(PoisonError::into_inner)
}

impl PsuControl {
    /// Runs `f` on channel `channel` (1-based) after settling protections to now.
    fn with_channel<T>(&self, channel: usize, f: impl FnOnce(&mut Channel) -> T) -> T {
        let mut instrument = lock(&self.instrument);
        let count = instrument.channels.len();
        assert!(
            (1..=count).contains(&channel),
            "channel {channel} does not exist on a {} (1..={count})",
            instrument.model
        );
        instrument.settle(Instant::now());
        let result = f(&mut instrument.channels[channel - 1]);
        instrument.settle(Instant::now());
        result
    }

    /// Connects a load to a channel; `f64::INFINITY` is an open circuit, 0 a short.
    ///
    /// # Panics
    /// If the channel does not exist or `ohms` is negative or NaN.
    pub fn set_load_ohms(&self, channel: usize, ohms: f64) {
        assert!(ohms >= 0.0, "load must be >= 0 ohms, got {ohms}");
        self.with_channel(channel, |c| c.load_ohms = ohms);
    }

    /// Connects a stiff external source of `volts` (a magnitude, in the output's own
    /// polarity) across a channel instead of its load, or takes it away with `None`.
    /// Above the setpoint the channel is unregulated; below it, in CC.
    ///
    /// # Panics
    /// If the channel does not exist or `volts` is negative or NaN.
    pub fn set_external_voltage(&self, channel: usize, volts: Option<f64>) {
        if let Some(volts) = volts {
            assert!(volts >= 0.0, "external voltage must be >= 0, got {volts}");
        }
        self.with_channel(channel, |c| c.external_volts = volts);
    }

    pub fn load_ohms(&self, channel: usize) -> f64 {
        self.with_channel(channel, |c| c.load_ohms)
    }

    /// Queues an instrument error, as a hardware fault would; `SYST:ERR?` then reports
    /// `<code>,"<message>"`.
    pub fn push_error(&self, code: i32, message: &str) {
        lock(&self.instrument).push_error(code, message);
    }

    /// The error queue, oldest first, without reading it out.
    pub fn errors(&self) -> Vec<(i32, String)> {
        lock(&self.instrument).errors.iter().cloned().collect()
    }

    /// Everything about one channel at this instant.
    pub fn channel(&self, channel: usize) -> ChannelSnapshot {
        self.with_channel(channel, |c| c.snapshot())
    }

    pub fn voltage_set(&self, channel: usize) -> f64 {
        self.channel(channel).voltage_set
    }

    pub fn current_set(&self, channel: usize) -> f64 {
        self.channel(channel).current_set
    }

    pub fn output(&self, channel: usize) -> bool {
        self.channel(channel).output
    }

    /// Noise-free output voltage (0 when off).
    pub fn measured_voltage(&self, channel: usize) -> f64 {
        self.channel(channel).voltage
    }

    /// Noise-free output current (0 when off).
    pub fn measured_current(&self, channel: usize) -> f64 {
        self.channel(channel).current
    }

    pub fn mode(&self, channel: usize) -> Mode {
        self.channel(channel).mode
    }

    pub fn ovp_tripped(&self, channel: usize) -> bool {
        self.channel(channel).ovp_tripped
    }

    pub fn ocp_tripped(&self, channel: usize) -> bool {
        self.channel(channel).ocp_tripped
    }

    /// Channel (1-based) that commands without a channel list act on.
    pub fn selected_channel(&self) -> usize {
        lock(&self.instrument).selected + 1
    }

    /// Whether the front panel is in remote (`SYST:REM`, VXI-11 DEVICE_REMOTE) or local.
    pub fn remote(&self) -> Remote {
        lock(&self.instrument).remote
    }

    pub fn model(&self) -> Model {
        lock(&self.instrument).model
    }

    /// The instrument itself, for the VXI-11 side serving it too.
    pub(super) fn instrument(&self) -> Arc<Mutex<Instrument>> {
        self.instrument.clone()
    }

    /// Turns measurement noise on (the default) or off, for exact readbacks.
    pub fn set_noise(&self, enabled: bool) {
        lock(&self.instrument).noise = enabled;
    }
}

/// Starts an E363xx simulator on `listen` (port 0 picks a free port).
pub async fn spawn(listen: SocketAddr, options: PsuOptions) -> io::Result<SimHandle<PsuControl>> {
    let instrument = Arc::new(Mutex::new(Instrument::new(&options)));
    let control = PsuControl {
        instrument: instrument.clone(),
    };
    server::serve(
        options.model.idn_model(),
        listen,
        control,
        options.seed,
        b"\n",
        move |conn| session(conn, instrument.clone()),
    )
    .await
}

async fn session(mut conn: Conn, instrument: Arc<Mutex<Instrument>>) -> io::Result<()> {
    let mut line: Vec<u8> = Vec::with_capacity(256);
    // After an over-long line, everything up to its LF is thrown away.
    let mut discarding = false;
    let mut buf = [0u8; 4096];
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
                if discarding {
                    continue;
                }
                if line.len() >= MAX_LINE {
                    lock(&instrument).queue(scpi::INPUT_BUFFER_OVERRUN);
                    line.clear();
                    discarding = true;
                } else {
                    line.push(byte);
                }
                continue;
            }
            if std::mem::take(&mut discarding) {
                continue;
            }
            // Tolerate CR LF from clients that send it.
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let reply = {
                let mut instrument = lock(&instrument);
                match std::str::from_utf8(&line) {
                    Ok(text) => {
                        debug!(line = text, "request");
                        instrument.execute_line(text, Instant::now())
                    }
                    Err(_) => {
                        instrument.queue(scpi::SYNTAX_ERROR);
                        None
                    }
                }
            };
            line.clear();
            if let Some(mut reply) = reply {
                reply.push('\n');
                conn.answer(reply.as_bytes()).await?;
            }
        }
    }
}
