//! Keysight E36311A / E36312A / E36313A triple-output supplies speaking SCPI over a raw
//! TCP socket (port 5025 on the real instrument).
//!
//! [`Instrument`] is the whole instrument as a plain state machine: one LF-terminated
//! line in, at most one reply line out. The socket side ([`spawn`], `session`) only frames
//! lines and applies faults. Time enters through the `now` argument: each channel's
//! operating point (CV/CC into its load) and its protections are re-evaluated before and
//! after every message unit, which is when a client could observe them, so OVP and OCP
//! trips happen on time without a background task.
//!
//! Layout: `model` (models, ratings, start options), `channel` (one output's settings,
//! operating point and protections), `commands` (the header table: pattern to handler),
//! `params` (parameter shapes), one module per subsystem holding its handlers (`common`
//! for `*XXX` and SYSTem, `source` for INSTrument, APPLy and levels, `output` for OUTPut
//! and the protections, `measure`), and `control` (the socket side and [`PsuControl`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tracing::debug;

use crate::rng::XorShift;
use crate::scpi::{
    self, error_message, is_channel_list, parse_channel_list, parse_unit, split_units, TreePath,
};

mod channel;
mod commands;
mod common;
mod control;
mod measure;
mod model;
mod output;
mod params;
mod source;
mod status;
#[cfg(test)]
mod tests;
mod vxi11;

use channel::Channel;
pub use channel::{ChannelSnapshot, Mode};
use commands::lookup;
pub use control::{spawn, PsuControl};
pub use model::{ChannelRating, Model, ParseModelError, PsuOptions};
pub use vxi11::{spawn_vxi11, Vxi11Handle, CORE_PROGRAM, CORE_VERSION, PORTMAPPER_PORT};

/// The instrument's SCPI socket port.
pub const DEFAULT_PORT: u16 = 5025;
/// Load every channel drives until [`PsuControl::set_load_ohms`] changes it.
pub const DEFAULT_LOAD_OHMS: f64 = 10.0;
/// Settings may exceed the rating by this factor (beyond it: -222).
pub const PROGRAMMABLE_MARGIN: f64 = 1.03;
/// The OVP level may be set up to this factor of the rated voltage, its default.
pub const OVP_MARGIN: f64 = 1.10;
/// OCP delay after `*RST`.
pub const DEFAULT_OCP_DELAY: Duration = Duration::from_millis(20);
/// Longest OCP delay accepted, in seconds.
pub const MAX_OCP_DELAY_S: f64 = 10.0;
/// `SYST:ERR?` queue length; the last slot becomes -350 on overflow.
pub const ERROR_QUEUE_CAPACITY: usize = 20;
/// Longest accepted input line; longer lines are dropped with -363.
pub const MAX_LINE: usize = 4096;
/// `*SAV`/`*RCL` locations, 0 up to this.
pub const LAST_STATE_LOCATION: usize = 9;
/// What `*OPT?` answers: no options installed, in IEEE 488.2's way of saying so.
pub const OPTIONS: &str = "0";
/// Event status register bit set at power-on (IEEE 488.2 PON), cleared by `*ESR?`/`*CLS`.
const ESR_POWER_ON: u8 = 0x80;

/// What `SYST:VERS?` answers.
pub const SCPI_VERSION: &str = "1999.0";

/// SCPI -114: a numeric header suffix (`ISUM4`) the instrument has no node for.
const HEADER_SUFFIX_OUT_OF_RANGE: i32 = -114;
/// IEEE 488.2 -410: a new program message came while an answer was still unread.
const QUERY_INTERRUPTED: i32 = -410;

/// The `SYST:ERR?` text of an error number, including the ones only this instrument
/// raises.
fn message_of(code: i32) -> &'static str {
    match code {
        HEADER_SUFFIX_OUT_OF_RANGE => "Header suffix out of range",
        QUERY_INTERRUPTED => "Query INTERRUPTED",
        _ => error_message(code),
    }
}

/// Command errors (-1xx) mean the parser lost track of the line, so the rest of it is
/// discarded; execution errors (-2xx) only cost their own unit.
fn aborts_line(code: i32) -> bool {
    (-199..=-100).contains(&code)
}

/// Event status register bit that an error number sets.
fn esr_bit(code: i32) -> u8 {
    match code {
        -199..=-100 => 0x20,
        -299..=-200 => 0x10,
        -399..=-300 => 0x08,
        -499..=-400 => 0x04,
        c if c > 0 => 0x08,
        _ => 0,
    }
}

fn flag(on: bool) -> String {
    if on { "1" } else { "0" }.to_string()
}

/// A reply of one value per channel, comma-separated.
fn join_replies<T>(items: impl IntoIterator<Item = T>, render: impl Fn(T) -> String) -> String {
    items.into_iter().map(render).collect::<Vec<_>>().join(",")
}

/// Who the front panel listens to (`SYST:REM`, `SYST:LOC`, `SYST:RWL`, or VXI-11's
/// DEVICE_REMOTE / DEVICE_LOCAL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remote {
    Local,
    Remote,
    /// Remote with the front panel locked out.
    RemoteWithLock,
}

/// The whole simulated instrument, minus the socket.
#[derive(Debug)]
pub struct Instrument {
    model: Model,
    serial: String,
    firmware: String,
    channels: Vec<Channel>,
    /// Index of the channel commands without a channel list act on.
    selected: usize,
    errors: VecDeque<(i32, String)>,
    esr: u8,
    ese: u8,
    sre: u8,
    remote: Remote,
    /// `*SAV` locations: each output's settings and the selected output.
    saved: Vec<(Vec<channel::SavedChannel>, usize)>,
    noise: bool,
    rng: XorShift,
}

impl Instrument {
    /// The instrument just switched on: `*RST` state, PON set in the event register.
    pub fn new(options: &PsuOptions) -> Self {
        let channels: Vec<Channel> = options
            .model
            .ratings()
            .iter()
            .map(|r| Channel::new(*r))
            .collect();
        let reset_state = (channels.iter().map(Channel::settings).collect(), 0);
        Instrument {
            model: options.model,
            serial: options.serial.clone(),
            firmware: options.firmware.clone(),
            channels,
            selected: 0,
            errors: VecDeque::with_capacity(ERROR_QUEUE_CAPACITY),
            esr: ESR_POWER_ON,
            ese: 0,
            sre: 0,
            remote: Remote::Local,
            saved: vec![reset_state; LAST_STATE_LOCATION + 1],
            noise: true,
            rng: XorShift::new(options.seed),
        }
    }

    /// Queues an error as the instrument would (setting its event status bit). A full
    /// queue turns its last entry into -350 and drops further errors.
    pub fn push_error(&mut self, code: i32, message: &str) {
        self.esr |= esr_bit(code);
        if self.errors.len() < ERROR_QUEUE_CAPACITY {
            self.errors.push_back((code, message.to_string()));
        } else if let Some(last) = self.errors.back_mut() {
            if last.0 != scpi::QUEUE_OVERFLOW {
                *last = (
                    scpi::QUEUE_OVERFLOW,
                    error_message(scpi::QUEUE_OVERFLOW).to_string(),
                );
            }
        }
    }

    fn queue(&mut self, code: i32) {
        self.push_error(code, message_of(code));
    }

    fn settle(&mut self, now: Instant) {
        for channel in &mut self.channels {
            channel.settle(now);
        }
    }

    /// Executes one input line (without its LF) at time `now`, returning the reply line
    /// (without LF) if the line held any successful query.
    pub fn execute_line(&mut self, line: &str, now: Instant) -> Option<String> {
        self.settle(now);
        let units = match split_units(line) {
            Ok(units) => units,
            Err(code) => {
                self.queue(code);
                return None;
            }
        };
        let mut path = TreePath::default();
        let mut replies = Vec::new();
        for text in units {
            let unit = match parse_unit(text) {
                Ok(Some(unit)) => unit,
                Ok(None) => continue,
                Err(code) => {
                    self.queue(code);
                    break;
                }
            };
            let resolved = path.resolve(&unit.header);
            let Some(found) = lookup(unit.header.common, unit.header.query, &resolved) else {
                debug!(unit = text, "undefined header");
                self.queue(scpi::UNDEFINED_HEADER);
                break;
            };
            if !unit.header.common {
                path.descend(resolved);
            }
            let result = found.run(self, &unit.params, now);
            self.settle(now);
            match result {
                Ok(Some(reply)) => replies.push(reply),
                Ok(None) => {}
                Err(code) => {
                    debug!(unit = text, code, "error");
                    self.queue(code);
                    if aborts_line(code) {
                        break;
                    }
                }
            }
        }
        (!replies.is_empty()).then(|| replies.join(";"))
    }

    /// Channel indices (0-based) a unit acts on: its list, or the selected channel.
    fn targets(&self, list: Option<&str>) -> Result<Vec<usize>, i32> {
        let Some(list) = list else {
            return Ok(vec![self.selected]);
        };
        parse_channel_list(list)?
            .into_iter()
            .map(|n| {
                if n <= self.channels.len() {
                    Ok(n - 1)
                } else {
                    Err(scpi::DATA_OUT_OF_RANGE)
                }
            })
            .collect()
    }

    /// `CH1`, `ch2`, ... or the output identifiers `P6V`, `P25V`, `N25V` (outputs 1, 2
    /// and 3 on every model), as used by `INST:SEL` and `APPL`.
    fn channel_keyword(&self, text: &str) -> Result<usize, i32> {
        let text = text.trim();
        if let Some(index) = ["P6V", "P25V", "N25V"]
            .iter()
            .position(|name| name.eq_ignore_ascii_case(text))
        {
            return Ok(index);
        }
        let number = text
            .get(..2)
            .filter(|prefix| prefix.eq_ignore_ascii_case("CH"))
            .and_then(|_| text[2..].parse::<usize>().ok())
            .filter(|n| (1..=self.channels.len()).contains(n));
        match number {
            Some(n) => Ok(n - 1),
            None if is_channel_list(text) || text.starts_with(|c: char| c.is_ascii_digit()) => {
                Err(scpi::DATA_TYPE_ERROR)
            }
            None => Err(scpi::ILLEGAL_PARAMETER_VALUE),
        }
    }
}
