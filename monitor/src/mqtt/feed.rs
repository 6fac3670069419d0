//! From the hub to the broker: [`run`] reads the hub's change, log and alarm streams (the
//! same ones the page's event stream reads) and queues one message per changed value,
//! connection change, log line and alarm list; [`send`] hands them to the MQTT client.
//!
//! The queue between the two is bounded (`queue` in `[mqtt]`): when the broker is slow or
//! gone, [`run`] drops the message and counts it instead of waiting, so nothing upstream
//! ever waits for MQTT. A dropped value leaves a stale retained message on the broker, and
//! a broker that restarted may have lost them all, so after a drop and after every
//! (re)connection the whole state is queued again ([`Resync`]): client by client, as the
//! queue drains, never filling more than half of it, so live changes keep their room and
//! the hub's streams are read all along.

use super::topics::{monitor_json, state_json};
use super::Mqtt;
use crate::hub::Hub;
use crate::web::events::{alarms_json, log_entry, log_json, status_update};
use serde_json::Value as Json;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
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
        resync: None,
    };
    // While a resync waits for the queue to drain: how often to look.
    let mut drained = tokio::time::interval(RESYNC_TICK);
    drained.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let shutdown = mqtt.shutdown.clone();
    loop {
        if feed.stale && feed.resync.is_none() && mqtt.counters.connected.load(Ordering::Relaxed) {
            feed.stale = false;
            feed.resync = Some(Resync::new(&feed));
        }
        feed.resync_more();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = connections.changed() => {
                if changed.is_err() {
                    return;
                }
                // A new broker, or one that may have forgotten: start over.
                feed.resync = None;
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
                    tracing::debug!("mqtt: {lines} log lines passed before the feed read them");
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
            _ = drained.tick(), if feed.resync.is_some() => {}
        }
    }
}

/// How often a resync waiting for room looks at the queue again.
const RESYNC_TICK: Duration = Duration::from_millis(10);

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
    resync: Option<Resync>,
}

/// The whole state on its way to the queue: `$monitor` first, then each client's
/// `$state` and last values, in configuration order, then the alarms.
struct Resync {
    /// The next client whose messages are made.
    next_slot: usize,
    ready: VecDeque<Outgoing>,
    alarms_made: bool,
}

impl Resync {
    fn new(feed: &Feed) -> Resync {
        Resync {
            next_slot: 0,
            ready: VecDeque::from([Outgoing {
                topic: feed.mqtt.topics.monitor(),
                payload: monitor_json(&feed.hub.name, true).to_string(),
                retain: true,
            }]),
            alarms_made: false,
        }
    }
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
        tracing::debug!("mqtt: {lines} update lines passed before the feed read them");
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
            payload: slot
                .with_view(|view| state_json(view, &slot.address, SystemTime::now()))
                .to_string(),
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

    /// Move the resync along while the queue is less than half full; done, it is dropped.
    fn resync_more(&mut self) {
        let Some(mut resync) = self.resync.take() else {
            return;
        };
        let half = self.queue.max_capacity() / 2;
        while self.queue.capacity() > half {
            if let Some(message) = resync.ready.pop_front() {
                if too_large(&message) {
                    self.mqtt.counters.dropped.fetch_add(1, Ordering::Relaxed);
                } else if self.queue.try_send(message).is_err() {
                    // Only the feed sends, and there was room: the sending side is gone.
                    return;
                }
                continue;
            }
            if let Some(slot) = self.hub.slots().get(resync.next_slot) {
                resync.next_slot += 1;
                let view = slot.view();
                let topics = &self.mqtt.topics;
                resync.ready.push_back(Outgoing {
                    topic: topics.state(&slot.name),
                    payload: state_json(&view, &slot.address, SystemTime::now()).to_string(),
                    retain: true,
                });
                resync
                    .ready
                    .extend(view.vars.into_iter().map(|(key, value)| Outgoing {
                        topic: topics.value(&slot.name, &key),
                        payload: value,
                        retain: true,
                    }));
                continue;
            }
            if !resync.alarms_made {
                resync.alarms_made = true;
                let alarms = alarms_json(&self.hub.alarms());
                let message = self.alarm_message(alarms);
                resync.ready.push_back(message);
                continue;
            }
            return;
        }
        self.resync = Some(resync);
    }
}

/// A message the client would refuse, closing the connection with it.
fn too_large(message: &Outgoing) -> bool {
    // Fixed header, topic length and packet id: well under 16 bytes.
    message.topic.len() + message.payload.len() + 16 > super::MAX_PACKET
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Client names may hold dots: a value belongs to the longest name before a dot.
    #[test]
    fn update_lines_split_at_the_longest_client_name() {
        let hub = Hub::new(
            "m".into(),
            [
                ("lab".to_string(), "127.0.0.1:9".to_string()),
                ("lab.psu".to_string(), "127.0.0.1:9".to_string()),
            ],
            None,
            Duration::from_secs(60),
        );
        let update = status_update(
            &hub,
            "update lab.psu.ch1_voltage=1.5 lab.pressure=2e-3 lab.psu=1 other.key=3",
        )
        .unwrap();
        assert_eq!(
            update["vars"],
            json!([
                ["lab.psu", "ch1_voltage", "1.5"],
                ["lab", "pressure", "2e-3"]
            ])
        );
        assert_eq!(update["connected"], json!({"lab.psu": true}));
        assert_eq!(status_update(&hub, "update other.key=3"), None);
    }
}
