//! Async client for the labwire line protocol (`docs/protocol.md`), used by the monitor,
//! the tests and the tools. All grammar work is delegated to `labwire-protocol`.
//!
//! Layout:
//! - [`options`]: [`ClientOptions`] (timeouts, line and payload limits, event queue size).
//! - [`error`]: [`ClientError`] and the crate's [`Result`].
//! - [`client`]: [`Client`], one TCP connection shared by all its clones. A writer task
//!   batches outgoing lines; a reader task routes tagged replies to the request waiting for
//!   that tag, untagged replies to the single legacy (untagged) request allowed at a time,
//!   and `update`/`log`/unsolicited lines to a bounded event queue.
//! - [`paged`]: [`Client::paged_status`], a status too long for one line read page by
//!   page (`get_status page=<n>`).
//! - [`reconnect`]: [`ReconnectingClient`], which keeps a [`Client`] connected from a
//!   background task with capped, jittered exponential [`Backoff`].
//! - [`synopsis`]: what a `help` synopsis says about a command's arguments (for tab
//!   completion and the monitor's OpenAPI document).
//!
//! ```no_run
//! # async fn demo() -> labwire_client::Result<()> {
//! use labwire_client::{Client, ClientOptions};
//! let client = Client::connect("127.0.0.1:7001", ClientOptions::default()).await?;
//! let status = client.call("get_status").await?;
//! println!("{}", status.get("hw_connected").unwrap_or("?"));
//! # Ok(()) }
//! ```

pub mod client;
pub mod error;
pub mod options;
pub mod paged;
pub mod reconnect;
pub mod synopsis;

pub use client::{Client, Events};
pub use error::{ClientError, Result};
pub use options::ClientOptions;
pub use reconnect::{Backoff, ReconnectingClient};
