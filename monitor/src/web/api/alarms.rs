//! `GET /api/v1/alarms` and `POST /api/v1/alarms/<name>/ack`: the hub's alarms as JSON,
//! and the command port's `ack` (a device alarm is forwarded to its daemon as
//! `ack_alarm`, through the relay), run through the page's dispatch.

use super::clients::{body_bytes, reply_document};
use super::errors::{status_of, ApiError};
use crate::alarms::AlarmView;
use crate::hub::json_value;
use crate::web::command;
use crate::web::{json_response, utc_millis, Web};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use labwire_protocol::Message;
use serde_json::{json, Value as Json};
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub async fn list(State(web): State<Arc<Web>>) -> Response {
    let alarms: Vec<Json> = web.hub.alarms().iter().map(alarm_json).collect();
    json_response(&json!({ "alarms": alarms }))
}

fn alarm_json(alarm: &AlarmView) -> Json {
    json!({
        "name": format!("{}.{}", alarm.client, alarm.key),
        "client": alarm.client,
        "key": alarm.key,
        "state": alarm.state,
        "value": json_value(&alarm.value),
        "message": alarm.message,
        "since": utc_millis(alarm.since),
        "active": alarm.active,
        "acknowledged": alarm.acknowledged,
        "device": alarm.is_device(),
    })
}

/// `<client>.<key>` or `all`; the body, if any, is ignored (`{}` is the usual one).
pub async fn ack(
    State(web): State<Arc<Web>>,
    Path(name): Path<String>,
    request: Request<Body>,
) -> Result<Response, ApiError> {
    let peer = command::peer_of(&request);
    let (parts, body) = request.into_parts();
    super::admit(&web, &parts.headers)?;
    body_bytes(body).await?;
    let listed = web
        .hub
        .alarms()
        .iter()
        .any(|a| format!("{}.{}", a.client, a.key) == name);
    if name != "all" && !listed {
        return Err(ApiError::not_found(
            "unknown_alarm",
            format!("no alarm {name:?} to acknowledge (GET /api/v1/alarms lists them)"),
        ));
    }
    let Ok(_turn) = web.commands.clone().try_acquire_owned() else {
        return Err(super::too_busy());
    };
    web.counters.commands.fetch_add(1, Ordering::Relaxed);
    let reply = command::execute_message(&web, Message::new("ack").arg(name.as_str()), peer).await;
    let mut document = reply_document("monitor", "ack", &reply);
    document["alarm"] = Json::String(name);
    Ok((status_of(&reply), json_response(&document)).into_response())
}
