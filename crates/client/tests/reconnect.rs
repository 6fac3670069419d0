//! `ReconnectingClient` against a server that goes away and comes back on the same port.

use futures_util::{SinkExt, StreamExt};
use labwire_client::{Backoff, ClientError, ClientOptions, ReconnectingClient};
use labwire_protocol::Message;
use labwire_testkit::{any_port, bounded, listen, ClosedPort, FakeDaemon, FramedConn};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// Answers `get_id` with the server's `generation`, so a test can tell restarts apart;
/// reports on `ended` each connection that closes.
fn start_server(
    listener: TcpListener,
    generation: u32,
    ended: mpsc::UnboundedSender<u32>,
) -> FakeDaemon {
    FakeDaemon::framed_on(listener, move |mut conn: FramedConn| {
        let ended = ended.clone();
        async move {
            while let Some(Ok(Ok(request))) = conn.next().await {
                let reply = Message::ok_reply(&request).kwarg("generation", generation.to_string());
                if conn.send(reply).await.is_err() {
                    break;
                }
            }
            let _ = ended.send(generation);
        }
    })
}

async fn wait_state(state: &mut watch::Receiver<bool>, connected: bool) {
    state.wait_for(|now| *now == connected).await.unwrap();
}

fn quick_backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
    }
}

#[tokio::test]
async fn reconnects_after_the_server_restarts_on_the_same_port() {
    bounded(async {
        let listener = listen(any_port());
        let addr = listener.local_addr().unwrap();
        let (ended_tx, mut ended) = mpsc::unbounded_channel();
        let server = start_server(listener, 1, ended_tx.clone());

        let client =
            ReconnectingClient::new(addr.to_string(), ClientOptions::default(), quick_backoff());
        let mut state = client.connection_state();
        wait_state(&mut state, true).await;
        assert!(client.is_connected());
        let reply = client.call("get_id").await.unwrap();
        assert_eq!(reply.get("generation"), Some("1"));

        server.stop().await;
        wait_state(&mut state, false).await;
        assert!(!client.is_connected());
        let started = Instant::now();
        let outcome = client.call("get_id").await;
        assert!(
            matches!(outcome, Err(ClientError::NotConnected)),
            "{outcome:?}"
        );
        assert!(started.elapsed() < Duration::from_millis(500), "fails fast");

        // Let a few attempts fail against the closed port before the server returns.
        tokio::time::sleep(Duration::from_millis(150)).await;
        // The port this server had, taken again (SO_REUSEADDR).
        let _server = start_server(listen(addr), 2, ended_tx);
        wait_state(&mut state, true).await;
        let reply = client.call("get_id").await.unwrap();
        assert_eq!(reply.get("generation"), Some("2"));
        let reply = client
            .request_untagged(Message::new("get_status"))
            .await
            .unwrap();
        assert_eq!(reply.args, ["get_status"]);

        // Dropping the last handle stops the background task and closes the connection.
        let second = client.clone();
        drop(client);
        assert!(second.is_connected());
        drop(second);
        assert_eq!(ended.recv().await, Some(2));
    })
    .await;
}

#[tokio::test]
async fn requests_fail_fast_while_the_server_never_came_up() {
    bounded(async {
        let never = ClosedPort::new();
        let addr = never.addr;
        let client =
            ReconnectingClient::new(addr.to_string(), ClientOptions::default(), quick_backoff());
        for _ in 0..3 {
            let started = Instant::now();
            let outcome = client.request(Message::new("get_status")).await;
            assert!(
                matches!(outcome, Err(ClientError::NotConnected)),
                "{outcome:?}"
            );
            assert!(started.elapsed() < Duration::from_millis(500));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!*client.connection_state().borrow());
        assert!(client.client().is_none());
    })
    .await;
}
