//! Waiting for a condition, and asking a labwire server through the real client.

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
