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
use std::sync::Mutex;
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

#[derive(Default)]
pub struct HelpCache {
    answers: Mutex<HashMap<String, (Instant, Option<Commands>)>>,
}

impl HelpCache {
    /// `client`'s commands, when it is connected and answers `help`.
    pub async fn commands(&self, hub: &Hub, client: &str) -> Option<Commands> {
        let slot = hub.slot(client)?;
        let link = slot.link()?;
        if link.legacy {
            return None;
        }
        if let Some((asked, answer)) = self.answers.lock().expect("help cache").get(client) {
            if asked.elapsed() < FRESH {
                return answer.clone();
            }
        }
        let outcome = slot.relay.send(Message::new("help"), false).await;
        hub.counters.relayed.fetch_add(1, Ordering::Relaxed);
        let answer = match outcome {
            Ok(reply) if reply.name == "help" => Some(reply.kwargs),
            _ => None,
        };
        self.answers
            .lock()
            .expect("help cache")
            .insert(client.to_string(), (Instant::now(), answer.clone()));
        answer
    }
}
