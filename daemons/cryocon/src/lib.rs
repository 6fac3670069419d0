//! The Cryo-con 24C/22C temperature controller driver, as a library the daemon (and a
//! fuzz target) builds on.
//!
//! - [`driver`]: [`Cryocon`](driver::Cryocon) over a byte link: identify, poll, settings
//!   written and read back, pacing and deadlines.
//! - [`poll`]: the poll's chained queries and [`parse_poll_reply`](poll::parse_poll_reply).
//! - [`reply`]: field parsers (numbers with suffixes, `-------`/`.......`, `*IDN?`).
//! - [`model`]: the known models, their inputs, loops and heater ranges.
//! - [`units`]: K/C/F/sensor units and conversions.

pub mod driver;
pub mod model;
pub mod poll;
pub mod reply;
pub mod units;

pub use driver::Cryocon;
pub use model::Model;
pub use poll::{parse_poll_reply, poll_requests, InputStatus, LoopStatus, Poll};
pub use reply::{parse_idn, Identity, LoopType, NoReading, ParseError};
pub use units::{ReportUnit, TempUnit};
