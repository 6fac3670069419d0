//! MQTT: the monitor publishes what it sees to a broker (docs/mqtt.md), and with
//! `commands = true` takes commands from it. Configured by `[mqtt]` in `monitor.ini`.
//!
//! Layout, in the order data flows:
//! - [`settings`]: the `[mqtt]` section: `url`, `prefix`, `credentials_file`, `qos`,
//!   `commands`, `client_id`, `queue`.
//! - [`topics`]: the topic of everything published, and the JSON payloads.
//! - [`feed`]: the hub's change, log and alarm streams turned into messages, into a
//!   bounded queue that drops (and counts) rather than wait: polling never waits for the
//!   broker. After a drop or a reconnection it publishes the whole state again.
//! - [`link`]: the connection: drives rumqttc's event loop, reconnects on its own, tells
//!   the feed when it is connected and hands incoming command messages over.
//! - [`commands`]: command messages: the token checked, the command run through the same
//!   dispatch as the web page's, the reply published.
//!
//! Messages go out through rumqttc 0.25 (MQTT 3.1.1, no TLS); a reply goes where the
//! command's `reply_to` says.

pub mod commands;
pub mod feed;
pub mod link;
pub mod settings;
pub mod topics;

pub use settings::MqttConfig;

use crate::web::Web;
use rumqttc::{AsyncClient, LastWill, MqttOptions, QoS};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Requests rumqttc holds between the feed's queue and the socket: kept small, so the
/// queue the drops are counted at is the one that fills.
const CLIENT_CHANNEL: usize = 16;
/// The largest message the monitor sends (an alarm list can be long) or takes in.
pub const MAX_PACKET: usize = 1024 * 1024;
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// For `/metrics` (`labwire_mqtt_*`).
#[derive(Default, Debug)]
pub struct Counters {
    /// Messages written to the broker.
    pub published: AtomicU64,
    /// Messages and stream lines never published: the queue was full, or the hub's
    /// stream moved on before the feed read it.
    pub dropped: AtomicU64,
    pub connected: AtomicBool,
    pub connects: AtomicU64,
    pub commands: AtomicU64,
    /// Command messages refused: no or a wrong token, not JSON, too many at once.
    pub commands_refused: AtomicU64,
}

/// What the feed, the link and the commands share.
pub struct Mqtt {
    pub client: AsyncClient,
    pub topics: topics::Topics,
    pub qos: QoS,
    pub counters: Arc<Counters>,
    pub web: Arc<Web>,
    /// The monitor's token; commands are taken only when `Some` and `commands = true`.
    pub command_token: Option<String>,
    /// Commands from MQTT running now, at most [`commands::MAX_IN_FLIGHT`].
    pub in_flight: Arc<Semaphore>,
    pub shutdown: CancellationToken,
}

/// Start publishing to `config`'s broker until `shutdown`: the feed and the link, both
/// on `tracker`. `token` is the monitor's (checked by [`settings::check_token`]).
pub fn start(
    config: &MqttConfig,
    web: Arc<Web>,
    token: Option<String>,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> Arc<Counters> {
    let topics = topics::Topics::new(&config.prefix);
    let mut options = MqttOptions::new(config.client_id(&web.hub.name), &config.host, config.port);
    options
        .set_keep_alive(KEEP_ALIVE)
        .set_clean_session(true)
        .set_max_packet_size(MAX_PACKET, MAX_PACKET)
        .set_last_will(LastWill::new(
            topics.monitor(),
            topics::monitor_json(&web.hub.name, false).to_string(),
            qos(config.qos),
            true,
        ));
    if let Some(credentials) = &config.credentials {
        options.set_credentials(&credentials.username, &credentials.password);
    }
    let (client, eventloop) = AsyncClient::new(options, CLIENT_CHANNEL);
    let counters = Arc::new(Counters::default());
    let mqtt = Arc::new(Mqtt {
        client,
        topics,
        qos: qos(config.qos),
        counters: counters.clone(),
        web,
        command_token: token.filter(|_| config.commands),
        in_flight: Arc::new(Semaphore::new(commands::MAX_IN_FLIGHT)),
        shutdown,
    });
    let (queue, outbox) = mpsc::channel(config.queue);
    let (connections, connected) = watch::channel(0u64);
    let broker = format!("{}:{}", config.host, config.port);
    tracker.spawn(link::run(
        mqtt.clone(),
        eventloop,
        broker,
        connections,
        tracker.clone(),
    ));
    tracker.spawn(feed::send(mqtt.clone(), outbox));
    tracker.spawn(feed::run(mqtt, queue, connected));
    counters
}

pub fn qos(level: u8) -> QoS {
    match level {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}
