//! `GET /api/v1/clients`, `GET /api/v1/clients/<client>` and
//! `POST /api/v1/clients/<client>/<command>`.
//!
//! A command's JSON object becomes the keyword arguments of `send <client> <command>`,
//! run through the page's dispatch (`command::execute_message`) and so through the
//! client's relay, as the command port would run it. Values go on the wire as the
//! protocol writes them: a string as it is, a number in its plain form, a boolean as
//! `1`/`0`. The daemon validates its arguments before it touches the hardware and says
//! what was wrong with an error code, which gives the status ([`super::errors::status_of`]).
//! Before anything is relayed, the API refuses what it can tell by itself: an unknown
//! client, a command the daemon's `help` does not list (when the daemon answers `help`),
//! a command that belongs to a connection ([`help::offered`]), and arguments that are not a JSON object of
//! strings, numbers and booleans.

use super::errors::{status_of, ApiError};
use super::help::{self, HelpCache};
use crate::hub::{json_value, ClientView, Slot};
use crate::web::command::{self, MAX_BODY};
use crate::web::{json_response, utc_millis, Web};
use axum::body::{to_bytes, Body};
use axum::extract::{Path, State};
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use labwire_protocol::{format_bool, format_number, is_valid_name, Message};
use serde_json::{json, Map, Value as Json};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

pub async fn list(State(web): State<Arc<Web>>) -> Response {
    let now = SystemTime::now();
    let clients: Vec<Json> = web
        .hub
        .slots()
        .iter()
        .map(|slot| summary(&web, slot, &slot.view(), now))
        .collect();
    json_response(&json!({ "clients": clients }))
}

pub async fn one(State(web): State<Arc<Web>>, Path(client): Path<String>) -> Response {
    let Some(slot) = web.hub.slot(&client) else {
        return unknown_client(&client).into_response();
    };
    let view = slot.view();
    let mut document = summary(&web, slot, &view, SystemTime::now());
    // As the command port's get_status: no stale variables for a client that is down.
    let variables: Map<String, Json> = if view.connected {
        view.vars
            .iter()
            .map(|(key, text)| (key.clone(), json_value(text)))
            .collect()
    } else {
        Map::new()
    };
    document["variables"] = Json::Object(variables);
    json_response(&document)
}

/// What the list shows of a client, and the details start with.
fn summary(web: &Web, slot: &Slot, view: &ClientView, now: SystemTime) -> Json {
    let state = match (view.connected, &view.reason) {
        (true, _) => "connected",
        (false, Some(_)) => "refused",
        (false, None) => "disconnected",
    };
    let age = view.last_update.map(|at| {
        let seconds = now.duration_since(at).unwrap_or_default().as_secs_f64();
        (seconds * 1000.0).round() / 1000.0
    });
    json!({
        "name": slot.name,
        "description": web.client(&slot.name).map(|c| c.description.as_str()).unwrap_or_default(),
        "address": slot.address,
        "type": view.kind,
        "connected": view.connected,
        "state": state,
        "reason": view.reason,
        "legacy": view.legacy,
        "last_update": view.last_update.map(utc_millis),
        "age": age,
    })
}

pub async fn run(
    State(web): State<Arc<Web>>,
    Extension(help): Extension<Arc<HelpCache>>,
    Path((client, command)): Path<(String, String)>,
    request: Request<Body>,
) -> Result<Response, ApiError> {
    let peer = command::peer_of(&request);
    let (parts, body) = request.into_parts();
    super::admit(&web, &parts.headers)?;
    if web.hub.slot(&client).is_none() {
        return Err(unknown_client(&client));
    }
    if !is_valid_name(&command) || !help::offered(&command) {
        return Err(ApiError::not_found(
            "unknown_command",
            format!("{client} has no command {command:?} that the API sends"),
        ));
    }
    let arguments = arguments(&body_bytes(body).await?)?;
    if let Some(commands) = help.commands(&web.hub, &client).await {
        if !commands.iter().any(|(name, _)| *name == command) {
            let names: Vec<&str> = commands
                .iter()
                .map(|(name, _)| name.as_str())
                .filter(|name| help::offered(name))
                .collect();
            return Err(ApiError::not_found(
                "unknown_command",
                format!(
                    "{client} has no command {command:?}; its help lists {}",
                    names.join(", ")
                ),
            ));
        }
    }
    let Ok(_turn) = web.commands.clone().try_acquire_owned() else {
        return Err(super::too_busy());
    };
    web.counters.commands.fetch_add(1, Ordering::Relaxed);
    let mut send = Message::new("send")
        .arg(client.as_str())
        .arg(command.as_str());
    send.kwargs = arguments;
    let reply = command::execute_message(&web, send, peer).await;
    let document = reply_document(&client, &command, &reply);
    Ok((status_of(&reply), json_response(&document)).into_response())
}

pub(super) fn unknown_client(client: &str) -> ApiError {
    ApiError::not_found("unknown_client", format!("no client named {client:?}"))
}

pub(super) async fn body_bytes(body: Body) -> Result<bytes::Bytes, ApiError> {
    to_bytes(body, MAX_BODY).await.map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the request body is longer than {MAX_BODY} bytes"),
        )
    })
}

/// The JSON object's members as keyword arguments, in its order; an empty body is `{}`.
fn arguments(body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let document: Json = serde_json::from_slice(body)
        .map_err(|err| ApiError::bad_request(format!("bad JSON: {err}")))?;
    let Json::Object(members) = document else {
        return Err(ApiError::bad_request(
            "the arguments are a JSON object: {\"name\": value, ...}",
        ));
    };
    members
        .into_iter()
        .map(|(key, value)| {
            if !is_valid_name(&key) {
                return Err(ApiError::bad_request(format!(
                    "{key:?} is not an argument name (letters, digits, _ - .)"
                )));
            }
            let text = match value {
                Json::String(text) => text,
                Json::Bool(flag) => format_bool(flag).to_string(),
                Json::Number(number) if number.is_f64() => {
                    format_number(number.as_f64().unwrap_or(f64::NAN))
                }
                Json::Number(number) => number.to_string(),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "argument {key:?}: expected a string, a number or a boolean"
                    )))
                }
            };
            Ok((key, text))
        })
        .collect()
}

/// A reply as the API answers it: the line, and its parts with typed values.
pub(super) fn reply_document(client: &str, command: &str, reply: &Message) -> Json {
    let values: Map<String, Json> = reply
        .kwargs
        .iter()
        .map(|(key, text)| (key.clone(), json_value(text)))
        .collect();
    let mut document = json!({
        "ok": !reply.is_error(),
        "client": client,
        "command": command,
        "reply": reply.to_line(),
        "name": reply.name,
        "args": reply.args,
        "values": values,
    });
    if reply.is_error() {
        document["error"] = json!({
            "code": reply.error_code().unwrap_or("device_error"),
            "message": reply.error_message().unwrap_or_default(),
        });
    }
    document
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_members_become_wire_values() {
        let kwargs =
            arguments(br#"{"ch": 1, "value": 5.25, "state": true, "name": "a b", "small": 1e-6}"#)
                .unwrap();
        let texts: Vec<(&str, &str)> = kwargs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            texts,
            [
                ("ch", "1"),
                ("value", "5.25"),
                ("state", "1"),
                ("name", "a b"),
                ("small", "1e-6")
            ]
        );
        assert!(arguments(b"").unwrap().is_empty());
        assert!(arguments(b" \n").unwrap().is_empty());
    }

    #[test]
    fn other_json_is_refused_with_its_reason() {
        for (body, says) in [
            (&br#"[1, 2]"#[..], "JSON object"),
            (br#"{"ch": null}"#, "\"ch\""),
            (br#"{"ch": [1]}"#, "expected a string"),
            (br#"{"a b": 1}"#, "not an argument name"),
            (br#"{"ch": 1"#, "bad JSON"),
        ] {
            let err = arguments(body).unwrap_err();
            assert_eq!(err.status.as_u16(), 400);
            assert!(err.message.contains(says), "{}", err.message);
        }
    }
}
