//! What a command's `help` synopsis tells completion: its arguments in order, each with
//! its key (`ch=<1-3>`) or none (`<status|log>`), and the values it takes when the
//! synopsis lists them (`<on|off>`, or a small range `<1-3>`). A synopsis is text for
//! people (`ch=<1-3> value=<V> (voltage setpoint)`), so this reads it loosely: what it
//! cannot make out, it leaves out.

/// The longest integer range expanded into choices.
const MAX_RANGE: i64 = 32;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Argument {
    pub key: Option<String>,
    pub choices: Vec<String>,
}

pub fn arguments(synopsis: &str) -> Vec<Argument> {
    without_remarks(synopsis)
        .split_whitespace()
        .filter_map(argument)
        .collect()
}

/// The synopsis without its `(...)` remarks.
fn without_remarks(synopsis: &str) -> String {
    let mut depth = 0usize;
    let mut kept = String::new();
    for c in synopsis.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => kept.push(c),
            _ => kept.push(' '),
        }
    }
    kept
}

fn argument(item: &str) -> Option<Argument> {
    let item = item.trim_start_matches('[').trim_end_matches(']');
    if item.is_empty() || item == "|" {
        return None;
    }
    let (key, value) = match item.split_once('=') {
        Some((key, value)) if labwire_protocol::is_valid_name(key) => {
            (Some(key.to_string()), value)
        }
        _ if item.starts_with('<') => (None, item),
        _ => return None,
    };
    Some(Argument {
        key,
        choices: choices(value),
    })
}

/// `<a|b|c>` -> a, b, c; `<1-3>` -> 1, 2, 3; a bare word -> itself (`format=json`).
fn choices(value: &str) -> Vec<String> {
    let inner = match value.strip_prefix('<').and_then(|v| v.strip_suffix('>')) {
        Some(inner) => inner,
        None if labwire_protocol::is_valid_name(value) => return vec![value.to_string()],
        None => return Vec::new(),
    };
    if inner.contains('|') {
        let words: Vec<String> = inner.split('|').map(str::to_string).collect();
        if words.iter().all(|w| labwire_protocol::is_valid_name(w)) {
            return words;
        }
        return Vec::new();
    }
    if let Some((low, high)) = inner.split_once("..").or_else(|| inner.split_once('-')) {
        if let (Ok(low), Ok(high)) = (low.parse::<i64>(), high.parse::<i64>()) {
            if low <= high && high - low < MAX_RANGE {
                return (low..=high).map(|n| n.to_string()).collect();
            }
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(key: &str, choices: &[&str]) -> Argument {
        Argument {
            key: Some(key.into()),
            choices: choices.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn daemon_synopses() {
        assert_eq!(
            arguments("ch=<1-3> value=<V> (voltage setpoint; negative on the E36311A's CH3)"),
            [keyed("ch", &["1", "2", "3"]), keyed("value", &[])]
        );
        assert_eq!(
            arguments("unit=<mbar|torr|pa> (the controller's display unit; status pressure stays in mbar)"),
            [keyed("unit", &["mbar", "torr", "pa"])]
        );
        assert_eq!(arguments("(switch every output off)"), []);
        assert_eq!(arguments("[format=json]"), [keyed("format", &["json"])]);
    }

    #[test]
    fn monitor_synopses() {
        assert_eq!(
            arguments("<status|log>"),
            [Argument {
                key: None,
                choices: vec!["status".into(), "log".into()]
            }]
        );
        let log = arguments("<debug|info|warning|error> <message...> (4096 bytes kept)");
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].choices, ["debug", "info", "warning", "error"]);
        assert!(log[1].choices.is_empty());
        assert_eq!(arguments("token=<secret>"), [keyed("token", &[])]);
        assert_eq!(arguments("<client>.<key> | all").len(), 1);
    }
}
