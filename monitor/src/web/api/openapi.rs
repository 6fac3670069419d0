//! `GET /api/v1/openapi.json`: the API as an OpenAPI 3.1 document, built on each request
//! from the configuration and the daemons' `help` ([`super::help`]). Each client that
//! answers `help` gets one path per command, `/api/v1/clients/<client>/<command>`, whose
//! request body lists the arguments its synopsis shows (read by
//! `labwire_client::synopsis`: names, whether required, types, ranges and choices). The
//! templated `/api/v1/clients/{client}/{command}` stands for the rest (a client that is
//! down, a CCDLab-era daemon): OpenAPI matches concrete paths first.
//!
//! The schemas here describe exactly what the handlers answer; the integration test
//! checks the document with openapi-spec-validator and every answer it gets against it
//! with openapi-core.

use super::help::{self, Commands, HelpCache};
use crate::web::{json_response, Web};
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use labwire_client::synopsis::{self, Kind};
use serde_json::{json, Map, Value as Json};
use std::sync::Arc;

pub async fn document(
    State(web): State<Arc<Web>>,
    Extension(help): Extension<Arc<HelpCache>>,
) -> Response {
    let names: Vec<String> = web.hub.slots().iter().map(|s| s.name.clone()).collect();
    let asked = names.iter().map(|name| help.commands(&web.hub, name));
    let answers = futures_util::future::join_all(asked).await;
    let clients: Vec<(&str, Option<Commands>)> =
        names.iter().map(String::as_str).zip(answers).collect();
    json_response(&build(&web, &clients))
}

/// The document for `clients` (each with its commands, when known).
fn build(web: &Web, clients: &[(&str, Option<Commands>)]) -> Json {
    let mut paths = fixed_paths();
    let mut tags = Vec::new();
    for (client, commands) in clients {
        let description = web.client(client).map(|c| c.description.clone());
        tags.push(json!({
            "name": client,
            "description": description.filter(|d| !d.is_empty()).unwrap_or_else(|| format!("the client {client}")),
        }));
        for (command, synopsis) in commands.iter().flatten() {
            if !help::offered(command) {
                continue;
            }
            paths.insert(
                format!("/api/v1/clients/{client}/{command}"),
                json!({ "post": command_operation(client, command, synopsis) }),
            );
        }
    }
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": format!("labwire monitor {}", web.hub.name),
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The monitor's REST API: its clients' state and variables, their commands \
                and the alarms. Commands are relayed to the daemons as the command port's `send` \
                relays them; an `error` reply's code gives the status (400 a missing, bad or \
                out-of-range argument, 404 an unknown client or command, 409 the device refused \
                or is busy, 503 not connected, 504 no reply in time).",
        },
        "tags": tags,
        "paths": paths,
        "components": components(),
    });
    if web.token_required() {
        document["security"] = json!([{"bearer": []}, {"token": []}]);
    }
    document
}

/// One client's command: its arguments from the synopsis, the reply as the API gives it.
fn command_operation(client: &str, command: &str, synopsis: &str) -> Json {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for argument in synopsis::arguments(synopsis) {
        let Some(key) = argument.key.as_ref().filter(|_| !argument.repeated) else {
            continue;
        };
        let mut schema = match &argument.kind {
            Kind::Choice(words) => json!({"type": "string", "enum": words}),
            Kind::Integer { min, max } => {
                bounded("integer", min.map(Json::from), max.map(Json::from))
            }
            Kind::Number { min, max, .. } => {
                bounded("number", min.map(Json::from), max.map(Json::from))
            }
            Kind::Text => json!({"type": "string"}),
        };
        // The placeholder shows the unit or the range as the daemon wrote it (`<V>`).
        schema["description"] = Json::String(format!("{key}={}", argument.value));
        if let Kind::Number {
            unit: Some(unit), ..
        } = &argument.kind
        {
            schema["x-unit"] = Json::String(unit.clone());
        }
        if !argument.optional && !required.contains(key) {
            required.push(key.clone());
        }
        properties.insert(key.clone(), schema);
    }
    let mut body = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        body["required"] = json!(required);
    }
    let summary = if synopsis.is_empty() {
        command.to_string()
    } else {
        format!("{command} {synopsis}")
    };
    json!({
        "tags": [client],
        "operationId": format!("{client}.{command}"),
        "summary": summary,
        "description": format!("`send {client} {command} ...` on the command port. Synopsis from {client}'s help: `{synopsis}`"),
        "requestBody": {
            "required": !required.is_empty(),
            "content": {"application/json": {"schema": body}},
        },
        "responses": command_responses(),
    })
}

fn bounded(kind: &str, min: Option<Json>, max: Option<Json>) -> Json {
    let mut schema = json!({ "type": kind });
    if let Some(min) = min {
        schema["minimum"] = min;
    }
    if let Some(max) = max {
        schema["maximum"] = max;
    }
    schema
}

fn reference(schema: &str) -> Json {
    json!({ "$ref": format!("#/components/schemas/{schema}") })
}

fn answer(description: &str, schema: Json) -> Json {
    json!({
        "description": description,
        "content": {"application/json": {"schema": schema}},
    })
}

fn refusal(description: &str) -> Json {
    answer(description, reference("Error"))
}

/// A status that is either the API's own refusal or a daemon's `error` reply.
fn refusal_or_reply(description: &str) -> Json {
    answer(
        description,
        json!({"anyOf": [reference("Reply"), reference("Error")]}),
    )
}

fn command_responses() -> Json {
    json!({
        "200": answer("the daemon's reply", reference("Reply")),
        "400": refusal_or_reply("a missing, bad or out-of-range argument (the daemon's missing_argument, bad_argument, out_of_range), or a body that is not a JSON object of strings, numbers and booleans"),
        "401": refusal("no token, or the wrong one"),
        "403": refusal_or_reply("a cross-site request, or a command the monitor may not relay (forbidden)"),
        "404": refusal_or_reply("no such client, or no such command (the daemon's help does not list it, or it answered unknown_command)"),
        "409": answer("the device refused or failed (device_error), or is busy", reference("Reply")),
        "413": refusal("the body is too long"),
        "415": refusal("the body is not application/json"),
        "500": answer("the daemon's internal error", reference("Reply")),
        "503": refusal_or_reply("the client is not connected (not_connected), or too many commands are running"),
        "504": answer("no reply in time (timeout; values.sent: 0 never sent, 1 sent)", reference("Reply")),
    })
}

/// As a command's: the ack of a device alarm is the daemon's `ack_alarm`.
fn ack_responses() -> Json {
    let mut responses = command_responses();
    responses["200"] = answer("acknowledged: values.n says how many", reference("Reply"));
    responses["404"] = refusal("no such alarm");
    responses
}

fn client_parameter() -> Json {
    json!({"name": "client", "in": "path", "required": true, "schema": {"type": "string"},
           "description": "a client's name from the configuration"})
}

/// The routes that do not depend on the daemons.
fn fixed_paths() -> Map<String, Json> {
    let read = |summary: &str, id: &str, ok: Json, extra: &[(&str, Json)]| {
        let mut responses = json!({
            "200": ok,
            "401": refusal("no token, or the wrong one"),
        });
        for (status, response) in extra {
            responses[*status] = response.clone();
        }
        json!({"get": {"summary": summary, "operationId": id, "responses": responses}})
    };
    let mut paths = Map::new();
    paths.insert(
        "/api/v1/clients".into(),
        read(
            "every client: connection state and the age of its values",
            "clients",
            answer(
                "the clients, in configuration order",
                reference("ClientList"),
            ),
            &[],
        ),
    );
    let mut one = read(
        "one client: its state and variables, typed",
        "client",
        answer("the client", reference("Client")),
        &[("404", refusal("no such client"))],
    );
    one["get"]["parameters"] = json!([client_parameter()]);
    paths.insert("/api/v1/clients/{client}".into(), one);
    paths.insert(
        "/api/v1/clients/{client}/{command}".into(),
        json!({"post": {
            "summary": "run a command of a client (see the client's own paths for its commands and arguments)",
            "operationId": "command",
            "parameters": [
                client_parameter(),
                {"name": "command", "in": "path", "required": true, "schema": {"type": "string"}},
            ],
            "requestBody": {"required": false, "content": {"application/json": {"schema": {
                "type": "object",
                "additionalProperties": {"type": ["string", "number", "boolean"]},
            }}}},
            "responses": command_responses(),
        }}),
    );
    paths.insert(
        "/api/v1/alarms".into(),
        read(
            "the alarms that are active or not yet acknowledged",
            "alarms",
            answer("the alarms, in the order raised", reference("AlarmList")),
            &[],
        ),
    );
    paths.insert(
        "/api/v1/alarms/{name}/ack".into(),
        json!({"post": {
            "summary": "acknowledge an alarm (<client>.<key>) or all of them; a device alarm is forwarded to its daemon",
            "operationId": "ack",
            "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"},
                            "description": "<client>.<key> as GET /api/v1/alarms names it, or all"}],
            "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": ack_responses(),
        }}),
    );
    paths.insert(
        "/api/v1/openapi.json".into(),
        read(
            "this document",
            "openapi",
            answer("an OpenAPI 3.1 document", json!({"type": "object"})),
            &[],
        ),
    );
    paths
}

fn components() -> Json {
    let value = json!({
        "type": ["number", "string", "null"],
        "description": "a wire value: a number as a JSON number, text as a string, a value that could not be read as null (flags are 0/1 on the wire, and numbers here)",
    });
    let nullable = |kind: &str| json!({"type": [kind, "null"]});
    let error_detail = json!({
        "type": "object",
        "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
    });
    let summary = json!({
        "name": {"type": "string"},
        "description": {"type": "string"},
        "address": {"type": "string", "description": "host:port of its daemon"},
        "type": {"type": "string", "description": "type= of its id reply; empty until it connected"},
        "connected": {"type": "boolean"},
        "state": {"type": "string", "enum": ["connected", "disconnected", "refused"],
                  "description": "refused: it answered but refused the monitor (reason says why)"},
        "reason": nullable("string"),
        "legacy": {"type": "boolean", "description": "a CCDLab-era daemon"},
        "last_update": {"type": ["string", "null"], "format": "date-time",
                        "description": "when the monitor last had its status"},
        "age": {"type": ["number", "null"], "description": "seconds since last_update"},
    });
    let summary_required = json!([
        "name",
        "description",
        "address",
        "type",
        "connected",
        "state",
        "reason",
        "legacy",
        "last_update",
        "age"
    ]);
    let mut client = summary.clone();
    client["variables"] = json!({
        "type": "object",
        "additionalProperties": reference("Value"),
        "description": "its latest status variables; none while it is not connected",
    });
    let mut client_required = summary_required.clone();
    client_required
        .as_array_mut()
        .expect("a list")
        .push(json!("variables"));
    json!({
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "the monitor's token (--token-file)"},
            "token": {"type": "apiKey", "in": "header", "name": "X-Labwire-Token"},
        },
        "schemas": {
            "Value": value,
            "Error": {
                "type": "object",
                "required": ["ok", "error"],
                "properties": {"ok": {"const": false}, "error": error_detail},
            },
            "Reply": {
                "type": "object",
                "required": ["ok", "client", "command", "reply", "name", "args", "values"],
                "properties": {
                    "ok": {"type": "boolean", "description": "false for an error reply"},
                    "client": {"type": "string"},
                    "command": {"type": "string"},
                    "reply": {"type": "string", "description": "the reply line as the command port gives it"},
                    "name": {"type": "string", "description": "the reply's first word: ok, error, status, help, ..."},
                    "args": {"type": "array", "items": {"type": "string"}},
                    "values": {"type": "object", "additionalProperties": reference("Value")},
                    "error": error_detail,
                    "alarm": {"type": "string", "description": "the alarm acknowledged (ack only)"},
                },
            },
            "ClientSummary": {"type": "object", "required": summary_required, "properties": summary},
            "Client": {"type": "object", "required": client_required, "properties": client},
            "ClientList": {
                "type": "object",
                "required": ["clients"],
                "properties": {"clients": {"type": "array", "items": reference("ClientSummary")}},
            },
            "Alarm": {
                "type": "object",
                "required": ["name", "client", "key", "state", "value", "message", "since", "active", "acknowledged", "device"],
                "properties": {
                    "name": {"type": "string", "description": "<client>.<key>, for ack"},
                    "client": {"type": "string"},
                    "key": {"type": "string"},
                    "state": {"type": "string", "description": "high, low, disconnected or device"},
                    "value": reference("Value"),
                    "message": {"type": "string", "description": "a device alarm's message"},
                    "since": {"type": "string", "format": "date-time"},
                    "active": {"type": "boolean"},
                    "acknowledged": {"type": "boolean"},
                    "device": {"type": "boolean", "description": "raised by the daemon itself"},
                },
            },
            "AlarmList": {
                "type": "object",
                "required": ["alarms"],
                "properties": {"alarms": {"type": "array", "items": reference("Alarm")}},
            },
        },
    })
}
