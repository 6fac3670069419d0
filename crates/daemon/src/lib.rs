//! What every labwire device daemon shares. A daemon binary is its [`Device`]
//! implementation, its hardware driver, and a `main` that calls [`run`].
//!
//! Layout:
//! - [`device`]: the [`Device`] trait, command specs for `help`, the [`Error`] type,
//!   [`Outcome`] (a command's kwargs, optional payload and reply name).
//! - [`args`]: typed, validating access to a request's arguments ([`Args`]).
//! - [`status`]: the status cache that `get_status` answers from, and its update events.
//! - [`hardware`]: the hardware task, sole owner of the device: connects with backoff,
//!   polls on its own schedule, validates and executes commands one at a time.
//! - [`service`]: the [`Service`] trait a server is generic over, and [`DeviceService`]:
//!   `get_status` from the cache, commands (and `reconnect`) to the hardware task. The
//!   monitor's command port is another service.
//! - [`dispatch`]: the one routing of a request, connection or not: access control,
//!   `get_id`, `help` (listing exactly what is answered), service commands,
//!   `unknown_command`. The monitor's web page calls [`dispatch::answer`].
//! - [`server`]: the TCP accept loop, the connection limit and making room when full.
//! - [`connection`]: one connection: framing, tags, pipelining, the connection-bound
//!   built-ins (`auth`, `subscribe`, `exit`), payload admission, cancelling a pending
//!   request when the peer goes.
//! - [`room`]: which connection to close when the server is full.
//! - [`auth`]: token comparison and the brake on guessing tokens.
//! - [`daemon`]: a running device daemon ([`Daemon`]): server plus hardware task.
//! - [`logbus`]: a tracing layer that turns log events into `log` lines for subscribers.
//! - [`transport`]: links to hardware: device addresses, raw sockets (or any async stream
//!   in tests) and VXI-11, behind one [`transport::InstrumentLink`].
//! - [`cli`]: the command-line flags every daemon shares ([`CommonArgs`]), what a daemon
//!   says about itself ([`DaemonInfo`]), [`parse`] (`cli::parse_local` for local hardware),
//!   logging, the runtime and signals.
//! - [`config_file`]: `--config <file>`, settings as the defaults of the flags.
//! - [`journal`]: log lines in journald's format when run under systemd.
//! - [`launch`]: [`run`], a daemon binary's life: the command line checked before the
//!   runtime starts, the in-process simulator, the device built from a [`Setup`], the
//!   exit code (0 clean stop, 2 bad command line or configuration, 1 anything else).
//! - [`state`]: [`StateFile`], state that survives a restart (`--state-file`).
//! - [`profile`]: setpoint profiles a daemon runs itself ([`Profile`], [`ProfileRun`]),
//!   kept in its state file across restarts.
//! - [`device_alarms`]: alarms raised by a device ([`DeviceAlarms`]): `alarm_<code>`
//!   status variables, latched until `ack_alarm` and the cause is gone.

pub mod args;
pub mod auth;
pub mod cli;
pub mod config_file;
mod connection;
pub mod daemon;
pub mod device;
pub mod device_alarms;
pub mod dispatch;
pub mod hardware;
pub mod journal;
pub mod launch;
pub mod logbus;
pub mod profile;
pub mod room;
pub mod server;
pub mod service;
pub mod state;
pub mod status;
pub mod transport;

pub use args::Args;
pub use cli::{parse, CommonArgs, DaemonInfo};
pub use daemon::Daemon;
pub use device::{CommandSpec, Device, Error, Kwargs, Outcome};
pub use device_alarms::{AlarmSelector, DeviceAlarms};
pub use launch::{run, run_over, Setup, Transports};
pub use profile::{Profile, ProfileRun, ProfileStatus, RunState};
pub use server::ServerConfig;
pub use service::{DeviceService, Service};
pub use state::StateFile;
pub use status::StatusBuilder;
