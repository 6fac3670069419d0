//! Waiting for a condition, and asking a labwire server through the real client: one
//! call at a time, or a [`Session`] carrying the assertions tests make of every reply.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

/// Run `check` every 20 ms until it returns `Some`, for at most `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `test`, failing it if it has not finished within 20 s, whatever the code under
/// test does.
pub async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), test)
        .await
        .expect("test did not finish in time")
}

/// How long the shared helpers below wait for a condition.
pub const WAIT: Duration = Duration::from_secs(15);

/// A protocol client on `addr`, with default options.
pub async fn connect(addr: SocketAddr) -> labwire_client::Client {
    labwire_client::Client::connect(addr, labwire_client::ClientOptions::default())
        .await
        .unwrap_or_else(|err| panic!("cannot connect to {addr}: {err}"))
}

/// Send `request` until its reply satisfies `accept` (within [`WAIT`]); the reply.
pub async fn ask_until(
    client: &labwire_client::Client,
    request: &str,
    what: &str,
    accept: impl Fn(&labwire_protocol::Message) -> bool,
) -> labwire_protocol::Message {
    eventually(WAIT, what, || async {
        let reply = client.call(request).await.ok()?;
        accept(&reply).then_some(reply)
    })
    .await
}

/// `get_status` until it satisfies `accept`.
pub async fn status_where(
    client: &labwire_client::Client,
    what: &str,
    accept: impl Fn(&labwire_protocol::Message) -> bool,
) -> labwire_protocol::Message {
    ask_until(client, "get_status", what, accept).await
}

/// The number in `key` of `message`; panics naming what is missing or malformed.
pub fn number(message: &labwire_protocol::Message, key: &str) -> f64 {
    let text = message
        .get(key)
        .unwrap_or_else(|| panic!("no {key} in {message}"));
    labwire_protocol::parse_number(text).unwrap_or_else(|| panic!("{key}={text:?} is not a number"))
}

/// A client to one server with the checks a test makes of its replies; every method
/// panics, naming the request, when the reply is not what was asserted.
pub struct Session {
    client: labwire_client::Client,
}

impl Session {
    /// A session on `addr`, with default client options.
    pub async fn open(addr: SocketAddr) -> Session {
        Session::new(connect(addr).await)
    }

    /// A session over a client opened with options of its own.
    pub fn new(client: labwire_client::Client) -> Session {
        Session { client }
    }

    pub fn client(&self) -> &labwire_client::Client {
        &self.client
    }

    /// The reply to `line`; panics when there is none (connection lost, timed out).
    pub async fn call(&self, line: &str) -> labwire_protocol::Message {
        self.client
            .call(line)
            .await
            .unwrap_or_else(|err| panic!("{line}: no reply: {err}"))
    }

    /// Asserts that `line` is answered with exactly `reply`.
    pub async fn ok(&self, line: &str, reply: &str) {
        assert_eq!(self.call(line).await.to_line(), reply, "{line}");
    }

    /// Asserts that `line` is answered with anything but an error; the reply.
    pub async fn answered(&self, line: &str) -> labwire_protocol::Message {
        let reply = self.call(line).await;
        assert!(reply.error_code().is_none(), "{line} -> {reply}");
        reply
    }

    /// Asserts that `line` is refused with the error `code`; the error's message.
    pub async fn refused(&self, line: &str, code: &str) -> String {
        let reply = self.call(line).await;
        assert_eq!(reply.error_code(), Some(code), "{line} -> {reply}");
        reply.error_message().unwrap_or_default().to_string()
    }

    /// `get_status` until it satisfies `accept` (within [`WAIT`]).
    pub async fn status_where(
        &self,
        what: &str,
        accept: impl Fn(&labwire_protocol::Message) -> bool,
    ) -> labwire_protocol::Message {
        status_where(&self.client, what, accept).await
    }

    /// `get_status` until `key` is `value`.
    pub async fn status_with(&self, key: &str, value: &str) -> labwire_protocol::Message {
        self.status_where(&format!("{key}={value}"), |s| s.get(key) == Some(value))
            .await
    }
}
