//! The daemons' `help`, asked through each client's relay (the path of `send`) and kept
//! for [`FRESH`], so that the OpenAPI document and the check of a command's name cost a
//! relayed command once a minute per client, not once a request. A client that is not
//! connected is not asked; nor is a CCDLab-era daemon, which need not answer `help` and
//! would cost the relay's whole timeout each time.

use crate::hub::Hub;
use labwire_daemon::dispatch::CONNECTION_COMMANDS;
use labwire_protocol::Message;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an answer (or a failure to get one) is kept.
pub const FRESH: Duration = Duration::from_secs(60);

/// A daemon's commands and their synopses, in `help` order.
pub type Commands = Vec<(String, String)>;

/// Whether the API sends `command`: not those that change or end a connection (`auth`,
/// `subscribe`, `unsubscribe`, `exit`), which would act on the relay's own connection or
/// stop the daemon; the command port is there for them.
pub fn offered(command: &str) -> bool {
    !CONNECTION_COMMANDS.iter().any(|spec| spec.name == command)
}

/// One client's answer: when it was asked, and what it said (`None`: no usable answer).
type Answer = Option<(Instant, Option<Commands>)>;

#[derive(Default)]
pub struct HelpCache {
    /// Per configured client; its lock is held while it is asked, so that requests
    /// arriving meanwhile wait for that answer instead of asking again.
    answers: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Answer>>>>,
}

impl HelpCache {
    /// `client`'s commands, when it is connected and answers `help`.
    pub async fn commands(&self, hub: &Hub, client: &str) -> Option<Commands> {
        let slot = hub.slot(client)?;
        if slot.link()?.legacy {
            return None;
        }
        let entry = self
            .answers
            .lock()
            .expect("help cache")
            .entry(client.to_string())
            .or_default()
            .clone();
        let mut answer = entry.lock().await;
        if let Some((asked, commands)) = answer.as_ref() {
            if asked.elapsed() < FRESH {
                return commands.clone();
            }
        }
        let outcome = slot.relay.send(Message::new("help"), false).await;
        hub.counters.relayed.fetch_add(1, Ordering::Relaxed);
        let commands = match outcome {
            Ok(reply) if reply.name == "help" => Some(reply.kwargs),
            _ => None,
        };
        *answer = Some((Instant::now(), commands.clone()));
        commands
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Link;
    use labwire_client::{Client, ClientOptions};
    use labwire_testkit::{reply_to, FakeDaemon};
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn help_is_asked_once_while_fresh_and_only_of_a_connected_client() {
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = asked.clone();
        let daemon = FakeDaemon::answering(move |request| {
            let counter = counter.clone();
            async move {
                if request.name != "help" {
                    return Vec::new();
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let help = Message::new("help").kwarg("go", "speed=<1-3>");
                vec![reply_to(&request, help)]
            }
        });
        let hub = Hub::new(
            "m".into(),
            [("dev".to_string(), daemon.addr.to_string())],
            None,
            Duration::from_secs(60),
        );
        let cache = HelpCache::default();
        assert_eq!(cache.commands(&hub, "dev").await, None, "not connected");
        assert_eq!(asked.load(Ordering::SeqCst), 0);

        let slot = hub.slot("dev").unwrap().clone();
        let client = Client::connect(daemon.addr, ClientOptions::default())
            .await
            .unwrap();
        let link = Link {
            client,
            legacy: false,
        };
        hub.set_link(&slot, Some(link), "fake");
        let (first, second) =
            tokio::join!(cache.commands(&hub, "dev"), cache.commands(&hub, "dev"));
        let expected = vec![("go".to_string(), "speed=<1-3>".to_string())];
        assert_eq!(first.as_ref(), Some(&expected));
        assert_eq!(second.as_ref(), Some(&expected));
        assert_eq!(cache.commands(&hub, "dev").await, Some(expected));
        assert_eq!(asked.load(Ordering::SeqCst), 1, "asked once, then kept");
        assert_eq!(cache.commands(&hub, "nope").await, None);
    }
}
