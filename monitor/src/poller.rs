//! One task per client: keep a connection (the client crate reconnects with capped,
//! jittered backoff), greet with an untagged `get_id` to learn whether the daemon speaks
//! labwire or is a CCDLab-era legacy daemon, subscribe to its log, then poll `get_status`
//! on the interval with a timeout. A client that stops answering is dropped and its
//! variables are no longer reported as current; a hung client never delays the others,
//! since each has its own task and every request its own deadline.

use crate::hub::{Hub, Link, Slot};
use labwire_client::{Backoff, Client, ClientError, ClientOptions, Events, ReconnectingClient};
use labwire_protocol::Message;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{interval_at, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// How long a client may take to answer for the first time before it is alarmed about.
const STARTUP_GRACE: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct PollSettings {
    pub interval: Duration,
    /// Deadline of one request; also how long a silent client is given.
    pub timeout: Duration,
    pub backoff: Backoff,
}

impl PollSettings {
    pub fn with_interval(interval: Duration) -> Self {
        PollSettings {
            interval,
            timeout: (interval * 2).clamp(Duration::from_millis(500), Duration::from_secs(5)),
            backoff: Backoff {
                initial: Duration::from_millis(200),
                max: Duration::from_secs(10),
            },
        }
    }
}

/// Poll `slot` until `shutdown`.
pub async fn run(
    hub: Arc<Hub>,
    slot: Arc<Slot>,
    settings: PollSettings,
    shutdown: CancellationToken,
) {
    let options = ClientOptions {
        request_timeout: settings.timeout,
        connect_timeout: settings.timeout.max(Duration::from_secs(1)),
        ..ClientOptions::default()
    };
    let link = ReconnectingClient::new(slot.address.clone(), options, settings.backoff);
    let mut state = link.connection_state();
    // A client down from the start is as alarming as one that goes away, once it had a
    // fair chance to answer.
    let start_grace = tokio::time::sleep(STARTUP_GRACE.max(settings.interval * 3));
    tokio::pin!(start_grace);
    let mut grace_over = false;
    loop {
        let connected = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = &mut start_grace, if !grace_over => {
                grace_over = true;
                hub.never_connected(&slot);
                continue;
            }
            connected = state.wait_for(|up| *up) => connected.is_ok(),
        };
        if !connected {
            break;
        }
        let Some(client) = link.client() else {
            continue;
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = session(&hub, &slot, &client, &settings) => {}
        }
        hub.set_link(&slot, None, "");
        // Make the reconnecting client start over with a fresh connection.
        client.close().await;
        let _ = state.wait_for(|up| !*up).await;
    }
    hub.set_link(&slot, None, "");
}

/// One connection's life: greet, subscribe, poll until it fails.
async fn session(hub: &Hub, slot: &Slot, client: &Client, settings: &PollSettings) {
    let id = match client.request_untagged(Message::new("get_id")).await {
        Ok(reply) if reply.name == "id" => reply,
        Ok(other) => {
            warn!(client = %slot.name, "unexpected answer to get_id: {other}");
            return;
        }
        Err(err) => {
            debug!(client = %slot.name, "no answer to get_id: {err}");
            return;
        }
    };
    let legacy = id.get("protocol").is_none();
    let kind = id.get("type").unwrap_or("").to_string();
    let mut logs = if legacy {
        None
    } else {
        subscribe_log(client).await
    };
    hub.set_link(
        slot,
        Some(Link {
            client: client.clone(),
            legacy,
        }),
        &kind,
    );
    let mut ticks = interval_at(Instant::now(), settings.interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            // The daemon's log, passed on under the client's configured name (never the
            // name the daemon claims), in this task rather than one more per client.
            Some(event) = next_log(&mut logs) => {
                if event.name == "log" {
                    let level = event.get("level").unwrap_or("info");
                    hub.log(level, &slot.name, event.get("message").unwrap_or(""));
                }
                continue;
            }
        }
        let request = Message::new("get_status");
        let reply = if legacy {
            client.request_untagged(request).await
        } else {
            client.request(request).await
        };
        match reply {
            Ok(status) if status.name == "status" => hub.record_status(slot, status.kwargs),
            Ok(other) => {
                hub.counters
                    .poll_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                warn!(client = %slot.name, "get_status answered {other}");
            }
            Err(err) => {
                hub.counters
                    .poll_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if matches!(err, ClientError::Timeout) {
                    hub.log(
                        "warning",
                        "monitor",
                        &format!("{} stopped answering", slot.name),
                    );
                }
                return;
            }
        }
    }
}

/// Ask the daemon for its log; the receiver of its unsolicited lines, if it agreed.
async fn subscribe_log(client: &Client) -> Option<Events> {
    let events = client.take_events()?;
    match client.call("subscribe log").await {
        Ok(reply) if reply.name == "ok" => Some(events),
        _ => None,
    }
}

/// The next unsolicited line, or never when there is no log subscription (or it ended).
async fn next_log(logs: &mut Option<Events>) -> Option<Message> {
    match logs {
        Some(receiver) => match receiver.recv().await {
            Some(event) => Some(event),
            None => {
                *logs = None;
                std::future::pending().await
            }
        },
        None => std::future::pending().await,
    }
}
