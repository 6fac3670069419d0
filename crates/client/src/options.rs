//! Connection settings.

use std::time::Duration;

/// Settings for one [`Client`](crate::Client) connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// How long a request may take from the call until its reply arrives, including any
    /// wait for its turn to be written (default 5 s).
    pub request_timeout: Duration,
    /// How long establishing the TCP connection may take (default 5 s).
    pub connect_timeout: Duration,
    /// Longest line accepted from the server (default: the protocol's 64 KiB).
    pub max_line: usize,
    /// Largest binary payload accepted from the server (default 256 MiB). A larger one
    /// fails its request with [`ClientError::Protocol`](crate::ClientError::Protocol) and
    /// closes the connection, since the stream cannot be resynchronised.
    pub max_payload: usize,
    /// How many unsolicited lines are buffered for [`Client::take_events`](crate::Client::take_events)
    /// before newer ones are dropped (default 1024).
    pub event_capacity: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            max_line: labwire_protocol::DEFAULT_MAX_LINE,
            max_payload: 256 * 1024 * 1024,
            event_capacity: 1024,
        }
    }
}
