//! The connection to the broker: rumqttc's event loop driven until shutdown. A lost or
//! refused connection is retried after 0.5 s, doubling up to 5 s; the monitor's log says
//! once per outage that the broker is away and again when it is back. Each connection
//! subscribes to the command topic again (sessions are clean) and bumps `connections`,
//! which makes the feed publish the whole state. On shutdown the monitor says it is
//! offline and disconnects, so the broker does not send the will.

use super::{commands, Mqtt};
use labwire_protocol::LogLevel;
use rumqttc::{ConnectionError, Event, EventLoop, Outgoing, Packet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

const FIRST_RETRY: Duration = Duration::from_millis(500);
const LAST_RETRY: Duration = Duration::from_secs(5);
/// How long the goodbye may take at shutdown.
const GOODBYE: Duration = Duration::from_secs(1);

pub async fn run(
    mqtt: Arc<Mqtt>,
    mut eventloop: EventLoop,
    broker: String,
    connections: watch::Sender<u64>,
    tracker: TaskTracker,
) {
    let hub = mqtt.web.hub.clone();
    let counters = &mqtt.counters;
    let shutdown = mqtt.shutdown.clone();
    let mut retry = FIRST_RETRY;
    // Whether this outage is in the log yet (the first try counts as one).
    let mut outage_logged = false;
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => break,
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                counters.connected.store(true, Ordering::Relaxed);
                counters.connects.fetch_add(1, Ordering::Relaxed);
                retry = FIRST_RETRY;
                outage_logged = false;
                hub.log(
                    LogLevel::Info,
                    "monitor",
                    &format!("mqtt: connected to {broker}"),
                );
                if mqtt.command_token.is_some() {
                    // Sessions are clean: subscribe on every connection. The client's
                    // channel may be full of messages from before, so wait for room.
                    let mqtt = mqtt.clone();
                    tracker.spawn(async move {
                        let subscribe = mqtt.client.subscribe(mqtt.topics.command(), mqtt.qos);
                        tokio::select! {
                            _ = mqtt.shutdown.cancelled() => {}
                            _ = subscribe => {}
                        }
                    });
                }
                connections.send_modify(|count| *count += 1);
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                commands::receive(&mqtt, publish, &tracker);
            }
            Ok(Event::Outgoing(Outgoing::Publish(_))) => {
                counters.published.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(err) => {
                let was_connected = counters.connected.swap(false, Ordering::Relaxed);
                if !outage_logged {
                    outage_logged = true;
                    let what = if was_connected {
                        "lost the connection to"
                    } else {
                        "cannot connect to"
                    };
                    hub.log(
                        LogLevel::Warning,
                        "monitor",
                        &format!("mqtt: {what} {broker}: {}; retrying", describe(&err)),
                    );
                }
                tracing::debug!("mqtt: {broker}: {err}; next try in {retry:?}");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(retry) => {}
                }
                retry = (retry * 2).min(LAST_RETRY);
            }
        }
    }
    if counters.connected.load(Ordering::Relaxed) {
        goodbye(&mqtt, &mut eventloop).await;
    }
    counters.connected.store(false, Ordering::Relaxed);
}

/// `$monitor` offline, then DISCONNECT, within [`GOODBYE`]. The client's channel may
/// still be full of values, so each is queued as soon as there is room.
async fn goodbye(mqtt: &Mqtt, eventloop: &mut EventLoop) {
    let offline = super::topics::monitor_json(&mqtt.web.hub.name, false).to_string();
    let (mut offline_queued, mut disconnect_queued) = (false, false);
    let _ = tokio::time::timeout(GOODBYE, async {
        loop {
            if !offline_queued {
                offline_queued = mqtt
                    .client
                    .try_publish(mqtt.topics.monitor(), mqtt.qos, true, offline.clone())
                    .is_ok();
            }
            if offline_queued && !disconnect_queued {
                disconnect_queued = mqtt.client.try_disconnect().is_ok();
            }
            match eventloop.poll().await {
                Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
}

/// Why the broker is not there, for the log: refusals spelt out.
fn describe(err: &ConnectionError) -> String {
    match err {
        ConnectionError::ConnectionRefused(code) => {
            format!("the broker refused the monitor ({code:?})")
        }
        other => other.to_string(),
    }
}
