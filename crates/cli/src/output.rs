//! How replies and events are shown: coloured by kind for people, JSON for scripts, and
//! aligned tables.

use crate::cli::ColourChoice;
use labwire_protocol::Message;
use serde_json::{json, Map, Value};
use std::io::IsTerminal;

const RESET: &str = "\x1b[0m";
const GREEN: &str = "\x1b[32m";
const RED_BOLD: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";

/// Whether to colour what goes to stdout.
pub fn use_colour(choice: ColourChoice) -> bool {
    match choice {
        ColourChoice::Always => true,
        ColourChoice::Never => false,
        ColourChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
                && std::env::var("TERM").map_or(true, |term| term != "dumb")
        }
    }
}

/// The colour of a line, by its kind: `ok` green, `error` red, `update` cyan, `log` by
/// its level; other replies (`status`, `id`, `help`, ...) stay plain.
fn colour_of(message: &Message) -> Option<&'static str> {
    match message.name.as_str() {
        "ok" => Some(GREEN),
        "error" => Some(RED_BOLD),
        "update" => Some(CYAN),
        "log" => match message.get("level") {
            Some("error") => Some(RED_BOLD),
            Some("warning") => Some(YELLOW),
            Some("debug") => Some(DIM),
            _ => None,
        },
        _ => None,
    }
}

/// The line as the server sent it, coloured when `colour` is on.
pub fn line(message: &Message, colour: bool) -> String {
    let text = message.to_string();
    match colour_of(message).filter(|_| colour) {
        Some(code) => format!("{code}{text}{RESET}"),
        None => text,
    }
}

/// A `log` line for people: `level source: message`.
pub fn log_line(message: &Message, colour: bool) -> String {
    let level = message.get("level").unwrap_or("?");
    let source = message.get("source").unwrap_or("?");
    let text = message.get("message").unwrap_or_default();
    let plain = format!("{level:<7} {source}: {text}");
    match colour_of(message).filter(|_| colour) {
        Some(code) => format!("{code}{plain}{RESET}"),
        None => plain,
    }
}

pub fn bold(text: &str, colour: bool) -> String {
    if colour {
        format!("{BOLD}{text}{RESET}")
    } else {
        text.to_string()
    }
}

/// A message as one JSON object: `{"tag", "name", "args": [...], "kwargs": {...}}`, the
/// values as the text they are on the wire.
pub fn to_json(message: &Message) -> Value {
    let kwargs: Map<String, Value> = message
        .kwargs
        .iter()
        .map(|(key, value)| (key.clone(), Value::String(value.clone())))
        .collect();
    let mut object = json!({
        "tag": message.tag,
        "name": message.name,
        "args": message.args,
        "kwargs": kwargs,
    });
    if let Some(payload) = &message.payload {
        object["payload_bytes"] = json!(payload.len());
    }
    object
}

/// Rows under a header, each column as wide as its widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>], colour: bool) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let render = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths[i] + 2 - cell.chars().count();
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = bold(&render(header.to_vec()), colour);
    out.push('\n');
    for row in rows {
        out.push_str(&render(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use labwire_protocol::parse_line;

    #[test]
    fn colours_follow_the_kind() {
        let ok = parse_line("ok set_unit unit=torr").unwrap();
        assert_eq!(line(&ok, true), "\x1b[32mok set_unit unit=torr\x1b[0m");
        assert_eq!(line(&ok, false), "ok set_unit unit=torr");
        let error = parse_line("error x code=bad_argument message=\"no\"").unwrap();
        assert!(line(&error, true).starts_with(RED_BOLD));
        let status = parse_line("status a=1").unwrap();
        assert_eq!(line(&status, true), "status a=1");
    }

    #[test]
    fn json_keeps_order_and_text() {
        let m = parse_line("@3 status b=2 a=\"x y\"").unwrap();
        assert_eq!(
            to_json(&m).to_string(),
            r#"{"tag":"3","name":"status","args":[],"kwargs":{"b":"2","a":"x y"}}"#
        );
    }

    #[test]
    fn tables_align() {
        let rows = vec![
            vec!["gauge1".to_string(), "up".to_string()],
            vec!["p".to_string(), "down".to_string()],
        ];
        assert_eq!(
            table(&["CLIENT", "STATE"], &rows, false),
            "CLIENT  STATE\ngauge1  up\np       down\n"
        );
    }
}
