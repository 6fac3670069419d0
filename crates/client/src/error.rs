//! Why a client call failed. An `error` reply from the server is not one of these: it is a
//! successful exchange and comes back as `Ok(reply)`.

use std::fmt;

#[derive(Debug)]
pub enum ClientError {
    /// Connecting or talking to the server failed at the socket level.
    Io(std::io::Error),
    /// No reply (or no connection) within the configured timeout.
    Timeout,
    /// There is currently no connection (a [`ReconnectingClient`](crate::ReconnectingClient)
    /// between attempts).
    NotConnected,
    /// The connection was closed, by either side, before the reply arrived.
    Closed,
    /// The request could not be parsed, or the server's reply could not be read.
    Protocol(String),
}

pub type Result<T> = std::result::Result<T, ClientError>;

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(err) => write!(f, "i/o error: {err}"),
            ClientError::Timeout => f.write_str("timed out"),
            ClientError::NotConnected => f.write_str("not connected"),
            ClientError::Closed => f.write_str("connection closed"),
            ClientError::Protocol(text) => write!(f, "protocol error: {text}"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<std::io::Error> for ClientError {
    fn from(err: std::io::Error) -> Self {
        ClientError::Io(err)
    }
}
