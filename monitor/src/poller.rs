//! One task per client: keep a connection (the client crate reconnects with capped,
//! jittered backoff), greet with an untagged `get_id` to learn whether the daemon speaks
//! labwire or is a CCDLab-era legacy daemon, authenticate when the client has a token,
//! subscribe to its log, then poll `get_status` on the interval with a timeout. A client
//! that stops answering is dropped and its variables are no longer reported as current; a
//! hung client never delays the others, since each has its own task and every request its
//! own deadline. A client that refuses the monitor (`forbidden`) is shown as not connected
//! with the reason. Everything the task logs is in a `client` span naming the client.
//! A client that is itself a monitor is followed by [`crate::lower`] instead of polled.

use crate::hub::{Hub, Link, Slot, MONITOR_KIND};
use crate::limits::{TokenBucket, DAEMON_LOG_RATE};
use labwire_client::{Backoff, Client, ClientError, ClientOptions, Events, ReconnectingClient};
use labwire_protocol::{ErrorCode, LogLevel, Message};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{interval_at, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn, Instrument};

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

/// How a session ended.
pub(crate) enum SessionEnd {
    /// The connection failed or stopped answering: reconnect.
    Lost,
    /// The daemon answered but will not serve the monitor: the reason.
    Refused(String),
}

/// Poll `slot` until `shutdown`.
pub async fn run(
    hub: Arc<Hub>,
    slot: Arc<Slot>,
    settings: PollSettings,
    shutdown: CancellationToken,
) {
    let span = tracing::info_span!("client", name = %slot.name);
    poll(hub, slot, settings, shutdown).instrument(span).await
}

async fn poll(hub: Arc<Hub>, slot: Arc<Slot>, settings: PollSettings, shutdown: CancellationToken) {
    let options = ClientOptions {
        request_timeout: settings.timeout,
        connect_timeout: settings.timeout.max(Duration::from_secs(1)),
        ..ClientOptions::default()
    };
    let link = ReconnectingClient::new(slot.address.clone(), options, settings.backoff);
    // A client down from the start is as alarming as one that goes away, once it had a
    // fair chance to answer.
    let start_grace = tokio::time::sleep(STARTUP_GRACE.max(settings.interval * 3));
    tokio::pin!(start_grace);
    let mut grace_over = false;
    // The number of the last connection used: the next session needs a newer one, however
    // fast the daemon came back (a restart can drop and reconnect between two looks).
    let mut last = 0;
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = &mut start_grace, if !grace_over => {
                grace_over = true;
                hub.never_connected(&slot);
                continue;
            }
            next = link.next_connection(last) => next,
        };
        let Some((number, client)) = next else {
            break;
        };
        last = number;
        let end = tokio::select! {
            _ = shutdown.cancelled() => break,
            end = session(&hub, &slot, &client, &settings) => end,
        };
        match end {
            SessionEnd::Lost => hub.set_link(&slot, None, ""),
            SessionEnd::Refused(reason) => hub.refused(&slot, &reason),
        }
        // Make the reconnecting client start over with a fresh connection.
        client.close().await;
    }
    hub.set_link(&slot, None, "");
}

/// One connection's life: greet, authenticate, subscribe, poll until it fails.
async fn session(hub: &Hub, slot: &Slot, client: &Client, settings: &PollSettings) -> SessionEnd {
    let id = match client.request_untagged(Message::new("get_id")).await {
        Ok(reply) if reply.name == "id" => reply,
        Ok(other) => {
            warn!("unexpected answer to get_id: {other}");
            return SessionEnd::Lost;
        }
        Err(err) => {
            debug!("no answer to get_id: {err}");
            return SessionEnd::Lost;
        }
    };
    let legacy = id.get("protocol").is_none();
    let kind = id.get("type").unwrap_or("").to_string();
    if let (Some(token), false) = (&slot.token, legacy) {
        let auth = Message::new("auth").kwarg("token", token.as_str());
        match client.request(auth).await {
            Ok(reply) if reply.name == "ok" => {}
            Ok(refused) => return SessionEnd::Refused(refusal("auth", &refused)),
            Err(err) => {
                debug!("no answer to auth: {err}");
                return SessionEnd::Lost;
            }
        }
    }
    if kind == MONITOR_KIND && !legacy {
        return crate::lower::session(hub, slot, client, settings, &kind).await;
    }
    let mut logs = if legacy {
        None
    } else {
        subscribe_log(client).await
    };
    let mut forwarder = LogForwarder::new();
    let mut ticks = interval_at(Instant::now(), settings.interval);
    // A late tick is not made up with a burst: the next poll keeps the daemon's pace.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut linked = false;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            // The daemon's log, passed on under the client's configured name (never the
            // name the daemon claims), in this task rather than one more per client.
            Some(event) = next_log(&mut logs) => {
                forwarder.forward(hub, slot, &event);
                continue;
            }
        }
        let request = Message::new("get_status");
        let reply = if legacy {
            client.request_untagged(request).await
        } else {
            client.request(request).await
        };
        if let (Ok(answer), false) = (&reply, linked) {
            if !is_forbidden(answer) {
                // Connected once the daemon serves the monitor, not before: one that
                // refuses every poll is not shown as connected.
                linked = true;
                let link = Link {
                    client: client.clone(),
                    legacy,
                };
                hub.set_link(slot, Some(link), &kind);
            }
        }
        match reply {
            Ok(status) if status.name == "status" => hub.record_status(slot, status.kwargs),
            Ok(refused) if is_forbidden(&refused) => {
                hub.counters.poll_failures.fetch_add(1, Ordering::Relaxed);
                return SessionEnd::Refused(refusal("get_status", &refused));
            }
            Ok(other) => {
                hub.counters.poll_failures.fetch_add(1, Ordering::Relaxed);
                warn!("get_status answered {other}");
            }
            Err(err) => {
                hub.counters.poll_failures.fetch_add(1, Ordering::Relaxed);
                if matches!(err, ClientError::Timeout) {
                    hub.log(
                        LogLevel::Warning,
                        "monitor",
                        &format!("{} stopped answering", slot.name),
                    );
                }
                return SessionEnd::Lost;
            }
        }
    }
}

pub(crate) fn is_forbidden(reply: &Message) -> bool {
    reply.error_code() == Some(ErrorCode::Forbidden.as_str())
}

/// Why the daemon refused `command`, for the page and the log.
pub(crate) fn refusal(command: &str, reply: &Message) -> String {
    let code = reply.error_code().unwrap_or("refused");
    let message = reply.error_message().unwrap_or("");
    let hint = if is_forbidden(reply) {
        "; check this client's token_file"
    } else {
        ""
    };
    format!("{command}: {code}: {message}{hint}")
}

/// Passes the daemon's log lines to the hub, at most [`DAEMON_LOG_RATE`]; lines beyond it
/// are counted and dropped, and the count is logged when lines flow again.
pub(crate) struct LogForwarder {
    bucket: TokenBucket,
    dropped: u64,
    /// The client is a monitor: its lines keep their source, under the client's name.
    lower_sources: bool,
}

impl LogForwarder {
    pub(crate) fn new() -> Self {
        LogForwarder {
            bucket: TokenBucket::new(DAEMON_LOG_RATE, std::time::Instant::now()),
            dropped: 0,
            lower_sources: false,
        }
    }

    /// For a lower monitor: a line from its `psu1` is logged as from `<client>.psu1`.
    pub(crate) fn for_monitor() -> Self {
        LogForwarder {
            lower_sources: true,
            ..LogForwarder::new()
        }
    }

    pub(crate) fn forward(&mut self, hub: &Hub, slot: &Slot, event: &Message) {
        if event.name != "log" {
            return;
        }
        if !self.bucket.take(std::time::Instant::now()) {
            if self.dropped == 0 {
                warn!("log lines beyond {}: dropping", DAEMON_LOG_RATE.describe());
            }
            self.dropped += 1;
            return;
        }
        if self.dropped > 0 {
            hub.log(
                LogLevel::Warning,
                "monitor",
                &format!(
                    "{} logged faster than {}: {} lines dropped",
                    slot.name,
                    DAEMON_LOG_RATE.describe(),
                    self.dropped
                ),
            );
            self.dropped = 0;
        }
        let level = event
            .get("level")
            .and_then(LogLevel::parse)
            .unwrap_or(LogLevel::Info);
        let source = match event.get("source") {
            Some(lower) if self.lower_sources => format!("{}.{lower}", slot.name),
            _ => slot.name.clone(),
        };
        hub.log(level, &source, event.get("message").unwrap_or(""));
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
