//! From the hub to the broker: [`run`] reads the hub's change, log and alarm streams (the
//! same ones the page's event stream reads) and queues one message per changed value,
//! connection change, log line and alarm list; [`send`] hands them to the MQTT client.
//!
//! The queue between the two is bounded (`queue` in `[mqtt]`): when the broker is slow or
//! gone, [`run`] drops the message and counts it instead of waiting, so nothing upstream
//! ever waits for MQTT. A dropped value leaves a stale retained message on the broker, and
//! a broker that restarted may have lost them all, so after a drop and after every
//! (re)connection the whole state is queued again, this time waiting for room: the feed
//! may fall behind the hub meanwhile (counted too, and followed by one more resync), the
//! hub never falls behind the feed.

use super::topics::{monitor_json, state_json};
use super::Mqtt;
use crate::hub::Hub;
use crate::web::events::{alarms_json, log_entry, log_json, status_update};
use serde_json::Value as Json;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, watch};

/// One message for the broker.
#[derive(Debug)]
pub struct Outgoing {
    pub topic: String,
    pub payload: String,
    pub retain: bool,
}

/// Queue the hub's changes until shutdown. `connections` counts the link's successful
/// connections: each one asks for the whole state again.
pub async fn run(
    mqtt: Arc<Mqtt>,
    queue: mpsc::Sender<Outgoing>,
    mut connections: watch::Receiver<u64>,
) {
    let hub = mqtt.web.hub.clone();
    let mut status = hub.subscribe_status();
    let mut log = hub.subscribe_log();
    let mut changes = hub.changes();
    let mut feed = Feed {
        mqtt: mqtt.clone(),
        hub,
        queue,
        alarms: Json::Null,
        stale: false,
    };
    let shutdown = mqtt.shutdown.clone();
    loop {
        if feed.stale && mqtt.counters.connected.load(Ordering::Relaxed) {
            feed.stale = false;
            // Lines that arrive meanwhile wait in the hub's streams, or are counted lost.
            let resynced = tokio::select! {
                _ = shutdown.cancelled() => return,
                resynced = feed.resync() => resynced,
            };
            if !resynced {
                return;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = connections.changed() => {
                if changed.is_err() {
                    return;
                }
                feed.stale = true;
            }
            line = status.recv() => match line {
                Ok(line) => feed.status(&line),
                Err(RecvError::Lagged(lines)) => feed.lost(lines),
                Err(RecvError::Closed) => return,
            },
            line = log.recv() => match line {
                Ok(line) => feed.log(&line),
                Err(RecvError::Lagged(lines)) => {
                    mqtt.counters.dropped.fetch_add(lines, Ordering::Relaxed);
                }
                Err(RecvError::Closed) => return,
            },
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
                feed.alarms_changed();
            }
        }
    }
}

/// Hand queued messages to the MQTT client until shutdown. The client's own channel is
/// small, so this waits while the broker is slow or gone and the queue fills behind it.
pub async fn send(mqtt: Arc<Mqtt>, mut outbox: mpsc::Receiver<Outgoing>) {
    let shutdown = mqtt.shutdown.clone();
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => return,
            message = outbox.recv() => match message {
                Some(message) => message,
                None => return,
            },
        };
        let publish = mqtt
            .client
            .publish(message.topic, mqtt.qos, message.retain, message.payload);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            sent = publish => if sent.is_err() {
                // The event loop is gone: the monitor is stopping.
                return;
            },
        }
    }
}

struct Feed {
    mqtt: Arc<Mqtt>,
    hub: Arc<Hub>,
    queue: mpsc::Sender<Outgoing>,
    /// The alarm list last queued, to queue it again only when it changed.
    alarms: Json,
    /// A retained message was dropped or the broker reconnected: the state must be
    /// published again.
    stale: bool,
}

impl Feed {
    /// Queue `message` if there is room; else count it (and remember that a retained
    /// topic is now stale on the broker).
    fn offer(&mut self, message: Outgoing) {
        if too_large(&message) {
            self.mqtt.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let retain = message.retain;
        if self.queue.try_send(message).is_err() {
            self.mqtt.counters.dropped.fetch_add(1, Ordering::Relaxed);
            self.stale |= retain;
        }
    }

    /// The hub's stream moved on without this feed: `lines` changes were never seen.
    fn lost(&mut self, lines: u64) {
        self.mqtt
            .counters
            .dropped
            .fetch_add(lines, Ordering::Relaxed);
        self.stale = true;
    }

    /// An `update` line: changed values, or a client connected or gone.
    fn status(&mut self, line: &str) {
        let Some(update) = status_update(&self.hub, line) else {
            return;
        };
        for item in update["vars"].as_array().into_iter().flatten() {
            if let (Some(client), Some(key), Some(value)) =
                (item[0].as_str(), item[1].as_str(), item[2].as_str())
            {
                self.offer(Outgoing {
                    topic: self.mqtt.topics.value(client, key),
                    payload: value.to_owned(),
                    retain: true,
                });
            }
        }
        for client in update["connected"]
            .as_object()
            .into_iter()
            .flat_map(|c| c.keys())
        {
            if let Some(message) = self.state(client) {
                self.offer(message);
            }
        }
    }

    fn state(&self, client: &str) -> Option<Outgoing> {
        let slot = self.hub.slot(client)?;
        Some(Outgoing {
            topic: self.mqtt.topics.state(client),
            payload: state_json(&slot.view(), &slot.address, SystemTime::now()).to_string(),
            retain: true,
        })
    }

    fn log(&mut self, line: &str) {
        if let Some(entry) = log_entry(line, SystemTime::now()) {
            self.offer(Outgoing {
                topic: self.mqtt.topics.log(),
                payload: log_json(&entry).to_string(),
                retain: false,
            });
        }
    }

    /// The alarm list, when it changed since last queued.
    fn alarms_changed(&mut self) {
        let alarms = alarms_json(&self.hub.alarms());
        if alarms != self.alarms {
            let message = self.alarm_message(alarms);
            self.offer(message);
        }
    }

    fn alarm_message(&mut self, alarms: Json) -> Outgoing {
        let message = Outgoing {
            topic: self.mqtt.topics.alarms(),
            payload: alarms.to_string(),
            retain: true,
        };
        self.alarms = alarms;
        message
    }

    /// Queue the whole state, waiting for room: `$monitor`, every client's `$state` and
    /// last values, the alarms. False when the sending side is gone.
    async fn resync(&mut self) -> bool {
        let topics = self.mqtt.topics.clone();
        let mut messages = vec![Outgoing {
            topic: topics.monitor(),
            payload: monitor_json(&self.hub.name, true).to_string(),
            retain: true,
        }];
        let now = SystemTime::now();
        for slot in self.hub.slots() {
            let view = slot.view();
            messages.push(Outgoing {
                topic: topics.state(&slot.name),
                payload: state_json(&view, &slot.address, now).to_string(),
                retain: true,
            });
            messages.extend(view.vars.into_iter().map(|(key, value)| Outgoing {
                topic: topics.value(&slot.name, &key),
                payload: value,
                retain: true,
            }));
            if messages.len() >= 1024 && !self.queue_all(&mut messages).await {
                return false;
            }
        }
        let alarms = alarms_json(&self.hub.alarms());
        messages.push(self.alarm_message(alarms));
        self.queue_all(&mut messages).await
    }

    async fn queue_all(&self, messages: &mut Vec<Outgoing>) -> bool {
        for message in messages.drain(..) {
            if too_large(&message) {
                self.mqtt.counters.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if self.queue.send(message).await.is_err() {
                return false;
            }
        }
        true
    }
}

/// A message the client would refuse, closing the connection with it.
fn too_large(message: &Outgoing) -> bool {
    // Fixed header, topic length and packet id: well under 16 bytes.
    message.topic.len() + message.payload.len() + 16 > super::MAX_PACKET
}
