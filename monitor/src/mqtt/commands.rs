//! Commands over MQTT, taken only with `commands = true` (and then the monitor's token is
//! required in every message). A command message, published to `<prefix>/$command`:
//!
//! ```json
//! {"command": "send psu1 output ch=1 state=on", "token": "<the monitor's token>",
//!  "reply_to": "lab/scripts/42", "id": 42}
//! ```
//!
//! `command` is a line of the command port; it runs through the same dispatch as the web
//! page's commands ([`crate::web::command::execute`]), so it may do what the page may:
//! `send`, `wait`, `alarms`, `ack`, `log`, ... but not `auth`, `subscribe` or `exit`.
//! The reply is the page's JSON (`reply`, `ok`, `name`, `args`, `kwargs`) with the
//! request's `id`, if any, published (not retained) to `reply_to`, or to
//! `<prefix>/$reply` when the request names none. A message that is not such a document,
//! that lacks the token or has a wrong one, was retained by the broker (it would run on
//! every reconnection), or comes while [`MAX_IN_FLIGHT`] commands are running is
//! answered with an `error` reply and counted as refused; nothing runs.

use super::topics::is_publishable;
use super::Mqtt;
use crate::web::auth::is_token;
use crate::web::command::{execute, reply_json, MAX_BODY};
use labwire_protocol::{ErrorCode, Message};
use serde_json::Value as Json;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio_util::task::TaskTracker;

/// Commands from MQTT running at once (a `wait` may take minutes), apart from the page's.
pub const MAX_IN_FLIGHT: usize = crate::web::command::MAX_IN_FLIGHT;

/// What a command message asks.
#[derive(Debug, PartialEq)]
pub struct Request {
    pub command: String,
    pub token: Option<String>,
    pub reply_to: Option<String>,
    pub id: Option<Json>,
}

/// A command message that will not run: why, and where to say so.
#[derive(Debug)]
pub struct Refusal {
    pub code: ErrorCode,
    pub why: String,
    pub reply_to: Option<String>,
    pub id: Option<Json>,
}

impl Refusal {
    fn new(code: ErrorCode, why: &str, reply_to: Option<String>, id: Option<Json>) -> Box<Self> {
        Box::new(Refusal {
            code,
            why: why.to_owned(),
            reply_to,
            id,
        })
    }
}

/// Read a command message. Refusals name the problem; the `reply_to` and `id` found
/// before it come along, so the refusal reaches the asker.
pub fn parse(payload: &[u8]) -> Result<Request, Box<Refusal>> {
    let refuse = |why: &str| Refusal::new(ErrorCode::Parse, why, None, None);
    if payload.len() > MAX_BODY {
        return Err(refuse("the command message is too long"));
    }
    let document: Json =
        serde_json::from_slice(payload).map_err(|err| refuse(&format!("bad JSON: {err}")))?;
    let Json::Object(fields) = document else {
        return Err(refuse(
            "expected {\"command\": \"...\", \"token\": \"...\", \"reply_to\": \"...\"}",
        ));
    };
    let id = fields.get("id").cloned();
    let reply_to = match fields.get("reply_to") {
        None | Some(Json::Null) => None,
        Some(Json::String(topic)) if is_publishable(topic) => Some(topic.clone()),
        Some(_) => {
            return Err(Refusal::new(
                ErrorCode::Parse,
                "'reply_to' must be a topic name (no '+' or '#')",
                None,
                id,
            ))
        }
    };
    let fail = |why: &str| Refusal::new(ErrorCode::Parse, why, reply_to.clone(), id.clone());
    let command = match fields.get("command") {
        Some(Json::String(line)) if !line.trim().is_empty() => line.trim().to_owned(),
        _ => return Err(fail("expected \"command\": \"<a command line>\"")),
    };
    let token = match fields.get("token") {
        None | Some(Json::Null) => None,
        Some(Json::String(token)) => Some(token.clone()),
        Some(_) => return Err(fail("'token' must be a string")),
    };
    for key in fields.keys() {
        if !matches!(key.as_str(), "command" | "token" | "reply_to" | "id") {
            return Err(fail(&format!(
                "unknown field {key:?} (command, token, reply_to, id)"
            )));
        }
    }
    Ok(Request {
        command,
        token,
        reply_to,
        id,
    })
}

/// Whether `request` carries the monitor's token.
pub fn admit(request: Request, expected: &str) -> Result<Request, Box<Refusal>> {
    let why = match request.token.as_deref() {
        Some(given) if is_token(expected, given) => return Ok(request),
        Some(_) => "wrong token",
        None => "this monitor needs its token: \"token\" in the command message",
    };
    Err(Refusal::new(
        ErrorCode::Forbidden,
        why,
        request.reply_to,
        request.id,
    ))
}

/// A retained command would run again on every connection of the monitor, long after it
/// was sent: only live messages run.
fn live(request: Request, retained: bool) -> Result<Request, Box<Refusal>> {
    if !retained {
        return Ok(request);
    }
    Err(Refusal::new(
        ErrorCode::Forbidden,
        "a retained command message is not run (publish commands without retain)",
        request.reply_to,
        request.id,
    ))
}

/// A message arrived on a subscribed topic: run it if it is an admissible command (on
/// `tracker`, so a long `wait` holds up nothing), else answer the refusal.
pub fn receive(mqtt: &Arc<Mqtt>, publish: rumqttc::Publish, tracker: &TaskTracker) {
    let Some(expected) = mqtt.command_token.as_deref() else {
        return;
    };
    if publish.topic != mqtt.topics.command() {
        return;
    }
    let counters = &mqtt.counters;
    let admitted = parse(&publish.payload)
        .and_then(|request| admit(request, expected))
        .and_then(|request| live(request, publish.retain));
    let request = match admitted {
        Ok(request) => request,
        Err(refusal) => {
            let reply = Message::error_reply(None, None, refusal.code, refusal.why);
            refuse(mqtt, refusal.reply_to, refusal.id, reply);
            return;
        }
    };
    let Ok(permit) = mqtt.in_flight.clone().try_acquire_owned() else {
        let reply = Message::error_reply(
            None,
            None,
            ErrorCode::Busy,
            format!("{MAX_IN_FLIGHT} commands from MQTT are running; try again"),
        );
        refuse(mqtt, request.reply_to, request.id, reply);
        return;
    };
    counters.commands.fetch_add(1, Ordering::Relaxed);
    let mqtt = mqtt.clone();
    tracker.spawn(async move {
        let _permit = permit;
        // Nothing to relate the broker's peer to: the command port's loopback rules do
        // not apply, and the token was checked.
        let peer = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
        let reply = tokio::select! {
            _ = mqtt.shutdown.cancelled() => return,
            reply = execute(&mqtt.web, &request.command, peer) => reply,
        };
        answer(mqtt, request.reply_to, request.id, reply).await;
    });
}

/// Answer a refused message if the client has room now: a flood of refusals must not
/// pile up waiting for the broker (a dropped refusal is counted as dropped).
fn refuse(mqtt: &Mqtt, reply_to: Option<String>, id: Option<Json>, reply: Message) {
    mqtt.counters
        .commands_refused
        .fetch_add(1, Ordering::Relaxed);
    let (topic, document) = reply_message(mqtt, reply_to, id, &reply);
    if mqtt
        .client
        .try_publish(topic, mqtt.qos, false, document)
        .is_err()
    {
        mqtt.counters.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// Publish `reply`, waiting for room (the command's permit bounds how many wait).
async fn answer(mqtt: Arc<Mqtt>, reply_to: Option<String>, id: Option<Json>, reply: Message) {
    let (topic, document) = reply_message(&mqtt, reply_to, id, &reply);
    let publish = mqtt.client.publish(topic, mqtt.qos, false, document);
    tokio::select! {
        _ = mqtt.shutdown.cancelled() => {}
        _ = publish => {}
    }
}

/// Where the reply goes, and the page's JSON of it with the request's `id`.
fn reply_message(
    mqtt: &Mqtt,
    reply_to: Option<String>,
    id: Option<Json>,
    reply: &Message,
) -> (String, String) {
    let mut document = reply_json(reply);
    if let Some(id) = id {
        document["id"] = id;
    }
    let topic = reply_to.unwrap_or_else(|| mqtt.topics.reply());
    (topic, document.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A command message as a script writes it.
    fn message(command: &str, token: Option<&str>, reply_to: &str, id: u64) -> String {
        json!({"command": command, "token": token, "reply_to": reply_to, "id": id}).to_string()
    }

    #[test]
    fn a_command_message_is_read() {
        let request = parse(message("clients", Some("t"), "me/1", 7).as_bytes()).unwrap();
        assert_eq!(
            request,
            Request {
                command: "clients".into(),
                token: Some("t".into()),
                reply_to: Some("me/1".into()),
                id: Some(json!(7)),
            }
        );
        let wrong = admit(
            parse(message("clients", Some("t"), "me/1", 7).as_bytes()).unwrap(),
            "u",
        )
        .unwrap_err();
        assert_eq!(
            (wrong.code, wrong.why.as_str()),
            (ErrorCode::Forbidden, "wrong token")
        );
        assert_eq!(wrong.reply_to.as_deref(), Some("me/1"));
        assert_eq!(wrong.id, Some(json!(7)));
        assert_eq!(admit(request, "t").unwrap().command, "clients");
        let anonymous = parse(br#"{"command": "clients"}"#).unwrap();
        assert!(admit(anonymous, "t")
            .unwrap_err()
            .why
            .contains("needs its token"));
    }

    #[test]
    fn retained_commands_do_not_run() {
        let request = || parse(message("clients", Some("t"), "me/1", 7).as_bytes()).unwrap();
        assert!(live(request(), false).is_ok());
        let refusal = live(request(), true).unwrap_err();
        assert_eq!(refusal.code, ErrorCode::Forbidden);
        assert!(refusal.why.contains("retained"), "{refusal:?}");
        assert_eq!(refusal.reply_to.as_deref(), Some("me/1"));
    }

    #[test]
    fn refusals_name_the_problem_and_keep_the_reply_topic() {
        let cases: &[(&[u8], &str, Option<&str>)] = &[
            (b"send psu1", "bad JSON", None),
            (b"[1]", "expected {", None),
            (
                br#"{"command": "x", "reply_to": "a/#"}"#,
                "'reply_to' must be",
                None,
            ),
            (
                br#"{"reply_to": "me", "id": 1}"#,
                "expected \"command\"",
                Some("me"),
            ),
            (
                br#"{"command": " ", "reply_to": "me"}"#,
                "expected \"command\"",
                Some("me"),
            ),
            (
                br#"{"command": "x", "token": 5, "reply_to": "me"}"#,
                "'token' must",
                Some("me"),
            ),
            (
                br#"{"command": "x", "tokn": "t", "reply_to": "me"}"#,
                "unknown field \"tokn\"",
                Some("me"),
            ),
        ];
        for &(payload, needle, reply_to) in cases {
            let refusal = parse(payload).expect_err(needle);
            assert!(refusal.why.contains(needle), "{refusal:?}");
            assert_eq!(refusal.reply_to.as_deref(), reply_to, "{refusal:?}");
            assert_eq!(refusal.code, ErrorCode::Parse);
        }
        let long = vec![b' '; MAX_BODY + 1];
        assert!(parse(&long).unwrap_err().why.contains("too long"));
    }
}
