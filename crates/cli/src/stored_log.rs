//! `labwire log [--source] [--level] [--text] [--from] [--to] [--limit]`: the stored log,
//! from the monitor's `logs` (its pages come newest first, at most [`PAGE`] lines each,
//! as a JSON payload); the newest `--limit` lines are printed oldest first, as `log -f`
//! prints them with the time in front, or with `--json` one JSON object per line.

use crate::cli::LogFilters;
use crate::history::time_spec;
use crate::output::log_line;
use crate::target::request;
use crate::{Context, Failure};
use labwire_protocol::Message;
use serde_json::Value;

/// Lines asked for in one `logs` request: the most the monitor gives.
pub const PAGE: u32 = 1000;
pub const DEFAULT_LINES: u32 = 100;

/// The `logs` request for the page below `before`, with at most `limit` lines.
fn logs_request(
    filters: &LogFilters,
    before: Option<&str>,
    limit: u32,
) -> Result<Message, Failure> {
    let mut message = Message::new("logs").kwarg("limit", limit.to_string());
    for (key, value) in [
        ("source", filters.source.clone()),
        ("level", filters.min_level.clone()),
        ("text", filters.text.clone()),
        ("from", filters.from.as_deref().map(time_spec).transpose()?),
        ("to", filters.to.as_deref().map(time_spec).transpose()?),
        ("before", before.map(str::to_string)),
    ] {
        if let Some(value) = value {
            message.set(key, value);
        }
    }
    Ok(message)
}

pub async fn run(context: &Context, filters: &LogFilters) -> Result<(), Failure> {
    if !context.target.monitor {
        return Err(Failure::Usage(
            "the stored log is the monitor's: drop --daemon (a daemon's log can be followed with -f)"
                .into(),
        ));
    }
    let client = context.target.connect().await?;
    let mut wanted = filters.limit.unwrap_or(DEFAULT_LINES);
    let mut before: Option<String> = None;
    let mut newest_first: Vec<Value> = Vec::new();
    while wanted > 0 {
        let message = logs_request(filters, before.as_deref(), wanted.min(PAGE))?;
        let reply = request(&client, message).await?;
        if reply.is_error() {
            return Err(Failure::Refused(Box::new(reply)));
        }
        let payload = reply.payload.as_deref().unwrap_or_default();
        let mut page: Value = serde_json::from_slice(payload).map_err(|err| {
            Failure::Failed(format!("the monitor's logs page is not JSON: {err}"))
        })?;
        let lines = match page["logs"].take() {
            Value::Array(lines) => lines,
            _ => Vec::new(),
        };
        wanted = wanted.saturating_sub(lines.len() as u32);
        newest_first.extend(lines);
        match reply.get("next") {
            Some(next)
                if reply.get("more").and_then(labwire_protocol::parse_bool) == Some(true) =>
            {
                before = Some(next.to_string())
            }
            _ => break,
        }
    }
    for entry in newest_first.iter().rev() {
        if context.json {
            println!("{entry}");
            continue;
        }
        let text = |key: &str| entry[key].as_str().unwrap_or_default().to_string();
        // As `log -f` shows a `log` line, the time in front.
        let line = Message::new("log")
            .kwarg("level", text("level"))
            .kwarg("source", text("source"))
            .kwarg("message", text("message"));
        println!("{} {}", text("time"), log_line(&line, context.colour));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_carries_every_filter() {
        let filters = LogFilters {
            source: Some("psu1".into()),
            min_level: Some("warning".into()),
            text: Some("output on".into()),
            from: Some("-2h".into()),
            to: Some("now".into()),
            limit: Some(5),
        };
        let message = logs_request(&filters, Some("42"), 5).unwrap();
        assert_eq!(
            message.to_line(),
            "logs limit=5 source=psu1 level=warning text=\"output on\" from=-7200 to=now before=42"
        );
        assert_eq!(
            logs_request(&LogFilters::default(), None, 100)
                .unwrap()
                .to_line(),
            "logs limit=100"
        );
        assert!(logs_request(
            &LogFilters {
                from: Some("2h".into()),
                ..LogFilters::default()
            },
            None,
            1
        )
        .is_err());
    }
}
