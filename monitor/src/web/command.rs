//! `POST /monitor/command`: a monitor command from the page's command line or buttons.
//!
//! Request: `Content-Type: application/json`, body `{"command": "send psu1 output ch=1 state=on"}`,
//! and with a token configured the header `X-Labwire-Token: <secret>`.
//! Answer: `{"reply": "<reply line>", "ok": bool, "tag", "name", "args": [...], "kwargs": {...},
//! "payload"}` (`payload`: the reply's payload when it is text, else `null`),
//! the reply the command port would give to the same line.
//!
//! Refused before anything runs:
//! - 403 when the browser says the request comes from another site (`Sec-Fetch-Site`
//!   other than `same-origin`/`none`, or an `Origin` that is not this host);
//! - 415 for any other content type (a cross-site form cannot send JSON without asking
//!   first, and the monitor never answers that question);
//! - 401 without the right token, when one is configured ([`super::auth`]);
//! - 503 when [`MAX_IN_FLIGHT`] commands are already running.
//!
//! The page may run what the command port offers except what belongs to a connection
//! (`auth`, `subscribe`, `exit`): `get_id`, `get_status`, `help`, `send`, `wait`,
//! `clients`, `connections`, `alarms`, `ack`, `log`.

use super::{failure, json_response, Peer, Web};
use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::response::Response;
use labwire_daemon::dispatch::{self, Caller, Identity};
use labwire_protocol::{parse_line, ErrorCode, Message};
use serde_json::json;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Commands from pages running at once.
pub const MAX_IN_FLIGHT: usize = 32;
/// The longest request body: a command line (the protocol's own limit is larger, but
/// nothing typed on a page comes close).
pub const MAX_BODY: usize = 64 * 1024;

pub async fn run(State(web): State<Arc<Web>>, request: Request<Body>) -> Response {
    let peer = peer_of(&request);
    let (parts, body) = request.into_parts();
    let unsupported = "send the command as application/json: {\"command\": \"...\"}";
    if let Err((status, why)) = admit(&web, &parts.headers, unsupported) {
        web.counters
            .commands_refused
            .fetch_add(1, Ordering::Relaxed);
        return failure(status, why);
    }
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        return failure(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is too long",
        );
    };
    let line = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(document) => match document.get("command").and_then(|c| c.as_str()) {
            Some(line) => line.trim().to_string(),
            None => return failure(StatusCode::BAD_REQUEST, "expected {\"command\": \"...\"}"),
        },
        Err(err) => return failure(StatusCode::BAD_REQUEST, format!("bad JSON: {err}")),
    };
    let Ok(_slot) = web.commands.clone().try_acquire_owned() else {
        return failure(StatusCode::SERVICE_UNAVAILABLE, "too many commands running");
    };
    web.counters.commands.fetch_add(1, Ordering::Relaxed);
    let reply = execute(&web, &line, peer).await;
    json_response(&reply_json(&reply))
}

/// The HTTP peer (relaying `exit` needs a loopback one).
pub fn peer_of(request: &Request<Body>) -> SocketAddr {
    request
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), |c| c.0 .0)
}

/// Same-origin, JSON, and the token: the checks made before a command runs (the page's,
/// and the REST API's POSTs). `unsupported` is the answer to another content type.
pub fn admit(
    web: &Web,
    headers: &HeaderMap,
    unsupported: &'static str,
) -> Result<(), (StatusCode, &'static str)> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        if !matches!(site, "same-origin" | "none") {
            return Err((
                StatusCode::FORBIDDEN,
                "cross-site requests may not run commands",
            ));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = text(header::HOST).unwrap_or_default();
        let same = origin
            .to_str()
            .ok()
            .and_then(|o| {
                o.strip_prefix("http://")
                    .or_else(|| o.strip_prefix("https://"))
            })
            .is_some_and(|o| !host.is_empty() && o.eq_ignore_ascii_case(host));
        if !same {
            return Err((
                StatusCode::FORBIDDEN,
                "cross-origin requests may not run commands",
            ));
        }
    }
    let json = text(header::CONTENT_TYPE)
        .and_then(|c| c.split(';').next())
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, unsupported));
    }
    super::auth::check(web, headers).map_err(|why| (StatusCode::UNAUTHORIZED, why))?;
    Ok(())
}

/// Answer `line` as the command port would, through the same dispatch; the token was
/// checked by [`admit`].
pub async fn execute(web: &Web, line: &str, peer: SocketAddr) -> Message {
    match parse_line(line) {
        Ok(request) => execute_message(web, request, peer).await,
        Err(err) => Message::error_reply(None, None, ErrorCode::Parse, err.to_string()),
    }
}

/// Answer `request` as the command port would (the REST API builds its requests itself).
pub async fn execute_message(web: &Web, request: Message, peer: SocketAddr) -> Message {
    let identity = Identity {
        name: &web.hub.name,
        version: env!("CARGO_PKG_VERSION"),
    };
    let caller = Caller {
        peer,
        authenticated: true,
        connection: false,
    };
    dispatch::answer(&web.service, identity, request, caller).await
}

pub fn reply_json(reply: &Message) -> serde_json::Value {
    let kwargs: serde_json::Map<String, serde_json::Value> = reply
        .kwargs
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({
        "reply": reply.to_line(),
        "ok": !reply.is_error(),
        "tag": reply.tag,
        "name": reply.name,
        "args": reply.args,
        "kwargs": kwargs,
        // A text payload (`logs`' page) is shown; a binary one only by its `bytes=`.
        "payload": reply
            .payload
            .as_ref()
            .and_then(|bytes| std::str::from_utf8(bytes).ok()),
    })
}
