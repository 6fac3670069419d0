//! The Cryo-con 24C/22C temperature controller: the driver, as a library the daemon
//! (and a fuzz target) builds on, and the labwire daemon built on it.
//!
//! Driver:
//! - [`driver`]: [`Cryocon`](driver::Cryocon) over a byte link: identify, poll, settings
//!   written and read back, pacing and deadlines.
//! - [`poll`]: the poll's chained queries and [`parse_poll_reply`](poll::parse_poll_reply).
//! - [`reply`]: field parsers (numbers with suffixes, `-------`/`.......`, `*IDN?`).
//! - [`model`]: the known models, their inputs, loops and heater ranges.
//! - [`units`]: K/C/F/sensor units and conversions.
//!
//! Daemon (`labwire-cryocon`, docs/daemons/cryocon.md):
//! - [`cli`]: the daemon's own flags and the device configuration they make.
//! - [`commands`]: the commands and their validation before anything is sent.
//! - [`status`]: a poll as status variables in the daemon's unit.
//! - [`profiles`]: a setpoint profile per loop on the shared engine, saved and resumed.
//! - [`alarms`]: the device alarms (`setpoint_timeout`, `sensor_fault`, ...).
//! - [`device`]: the labwire `Device`: connect without changing anything, poll (which
//!   drives the profiles and sets the alarms' causes), execute.

pub mod alarms;
pub mod cli;
pub mod commands;
pub mod device;
pub mod driver;
pub mod model;
pub mod poll;
pub mod profiles;
pub mod reply;
pub mod status;
pub mod units;

pub use driver::Cryocon;
pub use model::Model;
pub use poll::{parse_poll_reply, poll_requests, InputStatus, LoopStatus, Poll};
pub use reply::{parse_idn, Identity, LoopType, NoReading, ParseError};
pub use units::{ReportUnit, TempUnit};
