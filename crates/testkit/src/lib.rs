//! The one harness labwire's integration tests share (as ripgrep's tests do): real
//! binaries on ephemeral loopback ports, fake daemons, raw connections, and waits that
//! are always bounded, so a broken server fails a test instead of hanging it.
//!
//! - [`process`]: [`binary`] (where cargo put a workspace binary), [`Process`] (a started
//!   binary, its address read from the `listening <addr>` line it prints first, killed
//!   on drop), [`run_to_end`] (a binary that should stop on its own).
//! - [`daemons`]: [`DAEMONS`] (every daemon binary), [`Simulated`] (a daemon simulating
//!   its device with its own state file), [`start_monitor`], [`start_monitor_with`].
//! - [`fake`]: [`FakeDaemon`], a scripted TCP server on port 0: answering through a
//!   closure, silent, garbage, legacy, slow, or any handler of its own.
//! - [`line`]: [`LineConn`], a raw-line connection for tests that speak bytes;
//!   [`ClosedPort`], where nothing listens.
//! - [`ask`]: [`eventually`], [`bounded`], and asking through the real client
//!   ([`connect`], [`status_where`], [`number`], and [`Session`] with its assertions).
//! - [`broker`]: [`Mosquitto`], a real MQTT broker on a free loopback port.
//! - [`scratch`]: [`TempDir`], a scratch directory removed on drop.
//! - [`postgres`]: [`PgServer`], a real PostgreSQL server of the test's own (Debian's
//!   binaries, a private data directory under `target/tmp/`, a free port).

pub mod ask;
pub mod broker;
pub mod daemons;
pub mod fake;
pub mod line;
pub mod postgres;
pub mod process;
pub mod scratch;

pub use ask::{ask_until, bounded, connect, eventually, number, status_where, Session, WAIT};
pub use broker::Mosquitto;
pub use daemons::{start_monitor, start_monitor_with, Simulated, DAEMONS};
pub use fake::{fake_id, listen, reply_to, FakeDaemon, FramedConn};
pub use line::{any_port, ClosedPort, LineConn, ANSWER_TIMEOUT, SILENCE};
pub use postgres::PgServer;
pub use process::{binary, run_to_end, Process};
pub use scratch::TempDir;
