//! `labwire status [client]`: the monitor's `get_status format=json` (or a daemon's
//! `get_status`) as a readable table.

use crate::output::{table, to_json};
use crate::target::request;
use crate::{Context, Failure};
use labwire_protocol::Message;
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

pub async fn run(context: &Context, client_name: Option<&str>) -> Result<(), Failure> {
    let client = context.target.connect().await?;
    if !context.target.monitor {
        if let Some(name) = client_name {
            return Err(Failure::Usage(format!(
                "status {name}: a daemon has no clients; leave the name out with --daemon"
            )));
        }
        let reply = request(&client, Message::new("get_status")).await?;
        if reply.is_error() {
            return Err(Failure::Refused(Box::new(reply)));
        }
        if context.json {
            println!("{}", to_json(&reply));
        } else {
            let rows: Vec<Vec<String>> = reply
                .kwargs
                .iter()
                .map(|(key, value)| vec![key.clone(), value.clone()])
                .collect();
            print!("{}", table(&["VARIABLE", "VALUE"], &rows, context.colour));
        }
        return Ok(());
    }
    let document = monitor_status(&client).await?;
    let clients = document["clients"].as_object().cloned().unwrap_or_default();
    match client_name {
        Some(name) => {
            let Some(entry) = clients.get(name) else {
                let known: Vec<&str> = clients.keys().map(String::as_str).collect();
                return Err(Failure::Failed(format!(
                    "no client named {name:?} (the monitor has: {})",
                    known.join(", ")
                )));
            };
            if context.json {
                println!("{entry}");
                return Ok(());
            }
            println!("{}", client_summary(name, entry));
            let rows: Vec<Vec<String>> = entry["vars"]
                .as_object()
                .map(|vars| {
                    vars.iter()
                        .map(|(key, value)| vec![key.clone(), value_text(value)])
                        .collect()
                })
                .unwrap_or_default();
            print!("{}", table(&["VARIABLE", "VALUE"], &rows, context.colour));
        }
        None => {
            if context.json {
                println!("{document}");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = clients
                .iter()
                .map(|(name, entry)| {
                    vec![
                        name.clone(),
                        state(entry),
                        value_text(&entry["type"]),
                        value_text(&entry["address"]),
                        age(&entry["last_update"]),
                        entry["vars"]
                            .as_object()
                            .map_or(0, |vars| vars.len())
                            .to_string(),
                        value_text(&entry["reason"]),
                    ]
                })
                .collect();
            println!(
                "{}: {} of {} clients connected",
                value_text(&document["name"]),
                value_text(&document["nconnected"]),
                value_text(&document["nclients"])
            );
            print!(
                "{}",
                table(
                    &["CLIENT", "STATE", "TYPE", "ADDRESS", "UPDATED", "VARS", "REASON"],
                    &rows,
                    context.colour
                )
            );
        }
    }
    Ok(())
}

/// The monitor's `get_status format=json` document.
pub async fn monitor_status(client: &labwire_client::Client) -> Result<Value, Failure> {
    let reply = request(client, Message::new("get_status").kwarg("format", "json")).await?;
    if reply.is_error() {
        return Err(Failure::Refused(Box::new(reply)));
    }
    let text = reply.args.first().map(String::as_str).unwrap_or_default();
    serde_json::from_str(text).map_err(|err| {
        Failure::Failed(format!(
            "the monitor's status document is not JSON ({err}): {reply}"
        ))
    })
}

fn client_summary(name: &str, entry: &Value) -> String {
    let mut summary = format!(
        "{name}: {} ({} at {}, updated {})",
        state(entry),
        value_text(&entry["type"]),
        value_text(&entry["address"]),
        age(&entry["last_update"])
    );
    if let Some(reason) = entry["reason"].as_str() {
        summary.push_str(&format!("\n  {reason}"));
    }
    summary
}

fn state(entry: &Value) -> String {
    let state = if entry["connected"].as_bool() == Some(true) {
        "up"
    } else {
        "down"
    };
    if entry["legacy"].as_bool() == Some(true) {
        format!("{state} (legacy)")
    } else {
        state.to_string()
    }
}

/// How long ago a Unix time was, for people: `0.4 s ago`, `3 min ago`, `never`.
fn age(unix_seconds: &Value) -> String {
    let Some(then) = unix_seconds.as_f64() else {
        return "never".into();
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64());
    let ago = (now - then).max(0.0);
    if ago < 60.0 {
        format!("{ago:.1} s ago")
    } else if ago < 3600.0 {
        format!("{:.0} min ago", ago / 60.0)
    } else if ago < 86_400.0 {
        format!("{:.1} h ago", ago / 3600.0)
    } else {
        format!("{:.1} d ago", ago / 86_400.0)
    }
}

/// A JSON value as a table cell: text as it is, null as nothing.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Number(number) if !(number.is_i64() || number.is_u64()) => number
            .as_f64()
            .map_or_else(|| number.to_string(), labwire_protocol::format_number),
        other => other.to_string(),
    }
}
