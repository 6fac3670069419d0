//! The labwire MONITOR: polls every daemon, stores history, relays commands, serves the
//! web page. The binary (`main.rs`) is thin; the parts live here so tests and benches can
//! use them directly.
//!
//! Layout, in the order data flows:
//! - [`ini`]: the generic configobj-style INI reader (nom), nested sections, line numbers.
//! - [`config`]: the `monitor.ini` schema: the INI tree validated into
//!   [`config::MonitorConfig`], plus the command-line `name=host:port` overrides.
//! - [`poller`]: one task per client: connect, greet, authenticate, subscribe to its log,
//!   poll.
//! - [`lower`]: a client that is itself a monitor, followed by subscription and paged
//!   status instead of polled; [`mirror`] keeps what it reported.
//! - [`change_filter`]: [`change_filter::ChangeFilter`] decides which polled values are
//!   worth storing.
//! - [`hub`]: the live state every other part reads: clients, variables, event streams.
//! - [`alarms`]: limits per variable and per connection, and the alarms daemons raise
//!   themselves (`alarm_<code>`); raised, latched, acknowledged; [`alarms::AlarmChange`]
//!   is what the store records of them.
//! - [`store`]: history in SQLite. [`store::Store`] owns one writer thread fed by a bounded
//!   queue (non-blocking calls from async code) and opens a new database should the file
//!   be deleted; [`store::Reader`] is a read-only connection for history queries.
//! - [`frames`]: camera frames: keywords for every camera from the other clients' state,
//!   each new frame fetched, stored under `frames_dir`, indexed, previewed.
//! - [`relay`]: relayed commands (`send`), one at a time per client on their own
//!   connection, with a deadline that tells "not sent" from "sent, no reply".
//! - [`limits`]: the bounds on everything stored: log size and rate, variables per client.
//! - [`mqtt`]: publishing to an MQTT broker (`[mqtt]`): every change, connection state,
//!   alarms and log lines, through a bounded queue; commands over MQTT with the token.
//! - [`service`]: the command port (`send`, `wait`, `clients`, ...), served by the shared
//!   `labwire_daemon` server.
//! - [`web`]: the web page, live events, plots, history, metrics (axum, askama templates
//!   from the repository's `templates/`).
//! - [`app`]: the command line, start-up and clean shutdown.

pub mod alarms;
pub mod app;
pub mod change_filter;
pub mod config;
pub mod frames;
pub mod hub;
pub mod ini;
pub mod limits;
pub mod lower;
pub mod mirror;
pub mod mqtt;
pub mod poller;
pub mod relay;
pub mod service;
pub mod store;
pub mod web;
