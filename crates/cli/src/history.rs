//! `labwire history <var>... --from --to [--csv]`: stored samples from the monitor's web
//! port (`GET /monitor/history`), as a table, the monitor's CSV, or its JSON.

use crate::http::{self, query_value};
use crate::output::table;
use crate::status::value_text;
use crate::{Context, Failure};
use serde_json::Value;

pub struct Query<'a> {
    pub vars: &'a [String],
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub csv: bool,
    pub limit: Option<u64>,
    pub http: Option<&'a str>,
}

/// The monitor's web port: `--http`, else the command port's host with port 8888.
fn web_address(context: &Context, http: Option<&str>) -> String {
    if let Some(address) = http {
        return address.to_string();
    }
    let host = match context.target.address.rsplit_once(':') {
        Some((host, _)) => host,
        None => context.target.address.as_str(),
    };
    format!("{host}:8888")
}

pub async fn run(context: &Context, query: Query<'_>) -> Result<(), Failure> {
    if !context.target.monitor {
        return Err(Failure::Usage(
            "history is kept by the monitor, not by a daemon: drop --daemon".into(),
        ));
    }
    let format = if query.csv { "csv" } else { "json" };
    let mut path = format!("/monitor/history?format={format}");
    for var in query.vars {
        path.push_str(&format!("&var={}", query_value(var)));
    }
    for (key, value) in [("from", query.from), ("to", query.to)] {
        if let Some(value) = value {
            path.push_str(&format!("&{key}={}", query_value(&time_spec(value)?)));
        }
    }
    if let Some(limit) = query.limit {
        path.push_str(&format!("&limit={limit}"));
    }
    let address = web_address(context, query.http);
    let token_header;
    let mut headers = Vec::new();
    if let Some(token) = &context.target.token {
        token_header = token.clone();
        headers.push(("X-Labwire-Token", token_header.as_str()));
    }
    let answer = http::get(&address, &path, &headers, context.target.timeout * 6)
        .await
        .map_err(Failure::Unreachable)?;
    let body = String::from_utf8_lossy(&answer.body);
    if answer.status != 200 {
        return Err(Failure::Failed(format!(
            "http://{address}/monitor/history answered {}: {}",
            answer.status,
            body.trim()
        )));
    }
    if query.csv || context.json {
        print!("{body}");
        if !body.ends_with('\n') {
            println!();
        }
        return Ok(());
    }
    let document: Value = serde_json::from_str(&body)
        .map_err(|err| Failure::Failed(format!("the history is not JSON: {err}")))?;
    let mut rows = Vec::new();
    for series in document["variables"].as_array().into_iter().flatten() {
        let name = value_text(&series["variable"]);
        let times = series["t"].as_array().cloned().unwrap_or_default();
        let values = series["value"].as_array().cloned().unwrap_or_default();
        for (t, value) in times.iter().zip(&values) {
            let when = t.as_f64().map_or(String::new(), |t| {
                labwire_time::rfc3339_millis(labwire_time::from_millis((t * 1000.0).round() as i64))
            });
            rows.push(vec![when, name.clone(), value_text(value)]);
        }
        if series["truncated"].as_bool() == Some(true) {
            eprintln!("note: {name} was cut short (more samples than the monitor exports at once)");
        }
    }
    print!(
        "{}",
        table(&["UTC", "VARIABLE", "VALUE"], &rows, context.colour)
    );
    Ok(())
}

/// `-90m`, `-2h`, `-7d`, `-30s` as the seconds relative to now the monitor reads;
/// anything else (`now`, Unix seconds, `-3600`) as it is.
pub fn time_spec(text: &str) -> Result<String, Failure> {
    let units = [('s', 1.0), ('m', 60.0), ('h', 3600.0), ('d', 86_400.0)];
    for (unit, seconds) in units {
        if let Some(number) = text.strip_suffix(unit) {
            return match labwire_protocol::parse_number(number) {
                Some(count) if count <= 0.0 => Ok(labwire_protocol::format_number(count * seconds)),
                _ => Err(Failure::Usage(format!(
                    "{text:?}: a time before now is negative, e.g. -90m, -2h, -7d"
                ))),
            };
        }
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        assert_eq!(time_spec("-90m").ok(), Some("-5400".into()));
        assert_eq!(time_spec("-2h").ok(), Some("-7200".into()));
        assert_eq!(time_spec("-1.5d").ok(), Some("-129600".into()));
        assert_eq!(time_spec("now").ok(), Some("now".into()));
        assert_eq!(time_spec("1767225600").ok(), Some("1767225600".into()));
        assert!(time_spec("2h").is_err());
    }
}
