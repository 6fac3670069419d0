//! Relayed commands (`send <client> <command ...>`). They travel on a connection of their
//! own per client, one at a time, so that:
//! - the monitor's polls never wait behind a slow command (a daemon answers a connection's
//!   requests in order, so a slow command on the poll connection would stall the polls);
//! - a command never piles up inside the daemon: while one is in flight the next waits
//!   here, and one whose deadline passes while it waits is never written at all.
//!
//! Every relayed command has [`RELAY_TIMEOUT`] from its arrival to its reply, waiting for
//! its turn included. The two ways it can time out are told apart on the wire (`sent=`):
//!
//! ```text
//! error send code=timeout sent=0 message="not sent to psu1: the commands ahead of it did not finish within 4 s"
//! error send code=timeout sent=1 message="sent to psu1; no reply within 4 s"
//! ```
//!
//! `sent=0`: the daemon never saw the command. `sent=1`: it was written to the daemon,
//! which may have executed it.

use labwire_client::{Client, ClientError, ClientOptions};
use labwire_protocol::{format_number, ErrorCode, Message};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::{timeout_at, Instant};

/// From a relayed command's arrival to its reply. Below the client library's default
/// request timeout (5 s), so a script hears the monitor's own verdict (`sent=0|1`).
pub const RELAY_TIMEOUT: Duration = Duration::from_secs(4);

/// How a relayed command failed.
#[derive(Debug, PartialEq)]
pub enum RelayFailure {
    /// Never written to the daemon.
    NotSent { code: ErrorCode, why: String },
    /// Written, but no reply before the deadline.
    NoReply,
    /// Written, then the connection failed (closed, unreadable reply) before a reply.
    Lost(String),
}

impl RelayFailure {
    /// The `error send ...` reply to `request`, naming `client`.
    pub fn to_reply(&self, request: &Message, client: &str, timeout: Duration) -> Message {
        let seconds = format_number(timeout.as_secs_f64());
        let (code, sent, text) = match self {
            RelayFailure::NotSent { code, why } => {
                (*code, false, format!("not sent to {client}: {why}"))
            }
            RelayFailure::NoReply => (
                ErrorCode::Timeout,
                true,
                format!("sent to {client}; no reply within {seconds} s"),
            ),
            RelayFailure::Lost(why) => (
                ErrorCode::NotConnected,
                true,
                format!("sent to {client}; {why}"),
            ),
        };
        let mut reply = Message::error_reply(request.tag.clone(), Some(&request.name), code, text);
        reply
            .kwargs
            .insert(1, ("sent".to_string(), u8::from(sent).to_string()));
        reply
    }
}

/// One client's relay: its connection and the turn of the command in flight.
pub struct Relay {
    address: String,
    token: Option<String>,
    timeout: Duration,
    /// Held while a relayed command is in flight; it guards the relay connection.
    turn: Mutex<Option<Client>>,
}

impl Relay {
    pub fn new(address: String, token: Option<String>, timeout: Duration) -> Relay {
        Relay {
            address,
            token,
            timeout,
            turn: Mutex::new(None),
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Relay `command` (untagged for a `legacy` daemon) and return the daemon's reply.
    pub async fn send(&self, command: Message, legacy: bool) -> Result<Message, RelayFailure> {
        let deadline = Instant::now() + self.timeout;
        let seconds = format_number(self.timeout.as_secs_f64());
        let mut turn =
            timeout_at(deadline, self.turn.lock())
                .await
                .map_err(|_| RelayFailure::NotSent {
                    code: ErrorCode::Timeout,
                    why: format!("the commands ahead of it did not finish within {seconds} s"),
                })?;
        let client = match turn.as_ref().filter(|client| client.is_connected()) {
            Some(client) => client.clone(),
            None => {
                let client = timeout_at(deadline, self.connect(legacy))
                    .await
                    .unwrap_or_else(|_| {
                        Err(RelayFailure::NotSent {
                            code: ErrorCode::Timeout,
                            why: format!("no connection within {seconds} s"),
                        })
                    })?;
                *turn = Some(client.clone());
                client
            }
        };
        let exchange = async {
            if legacy {
                client.request_untagged(command).await
            } else {
                client.request(command).await
            }
        };
        match timeout_at(deadline, exchange).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(ClientError::Timeout)) | Err(_) => {
                // A late reply must not be taken for the next command's (untagged
                // replies cannot be told apart): the next command gets a new connection.
                client.close().await;
                *turn = None;
                Err(RelayFailure::NoReply)
            }
            Ok(Err(err)) => {
                client.close().await;
                *turn = None;
                Err(RelayFailure::Lost(format!("then {err}, no reply")))
            }
        }
    }

    /// A fresh relay connection, authenticated when the client has a token and speaks
    /// labwire (a legacy daemon never answers `auth`, as the poller knows too).
    async fn connect(&self, legacy: bool) -> Result<Client, RelayFailure> {
        let options = ClientOptions {
            request_timeout: self.timeout,
            connect_timeout: self.timeout,
            ..ClientOptions::default()
        };
        let not_connected = |why: String| RelayFailure::NotSent {
            code: ErrorCode::NotConnected,
            why,
        };
        let client = Client::connect(self.address.as_str(), options)
            .await
            .map_err(|err| not_connected(err.to_string()))?;
        if let Some(token) = self.token.as_ref().filter(|_| !legacy) {
            let auth = Message::new("auth").kwarg("token", token.as_str());
            match client.request(auth).await {
                Ok(reply) if reply.name == "ok" => {}
                Ok(refused) => {
                    client.close().await;
                    let why = refused.error_message().unwrap_or("refused").to_string();
                    return Err(not_connected(format!(
                        "it refused the monitor's token: {why}"
                    )));
                }
                Err(err) => {
                    client.close().await;
                    return Err(not_connected(format!("auth failed: {err}")));
                }
            }
        }
        Ok(client)
    }
}
