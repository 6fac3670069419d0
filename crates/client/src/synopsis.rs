//! What a command's `help` synopsis says about its arguments, for the tools that offer
//! them (the CLI's tab completion, the monitor's OpenAPI document): each argument in
//! order, with its key (`ch=<1-3>`) or none (`<status|log>`), whether it is optional
//! (`[...]`), and the kind of value it takes when the synopsis shows it: one of a few
//! words (`<on|off>`, `on|off`), a whole number in a small range (`<1-3>`, `<1..255>`),
//! a number in a unit or a wider range (`<V>`, `<0-1000>`), or text.
//!
//! A synopsis is text for people (`ch=<1-3> value=<V> (voltage setpoint)`), so it is
//! read loosely: `(...)` remarks are skipped, and what cannot be made out is text or left
//! out. A range does not say whether fractions are allowed; one of fewer than
//! [`MAX_RANGE`] values, or written `a..b`, is taken as whole numbers (channels, loops,
//! bins), a wider one as any number (gains, percentages).

use labwire_protocol::is_valid_name;

/// The widest range taken as whole numbers (and offered value by value).
pub const MAX_RANGE: i64 = 32;

/// Value placeholders that name a unit: the argument is a number.
const NUMBER_UNITS: &[&str] = &[
    "V", "mV", "A", "mA", "W", "s", "ms", "K", "C", "degC", "mbar", "Pa", "torr", "Hz", "%",
];
/// Placeholders that count things: the argument is a whole number.
const COUNT_UNITS: &[&str] = &["px", "n"];

#[derive(Clone, Debug, PartialEq)]
pub struct Argument {
    pub key: Option<String>,
    /// Written inside `[...]`.
    pub optional: bool,
    /// Followed by `...`: it may be given many times (`key=value ...`), so its key and
    /// value are placeholders, not names.
    pub repeated: bool,
    /// The value as the synopsis writes it (`<1-3>`, `on|off`).
    pub value: String,
    pub kind: Kind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// One of these words.
    Choice(Vec<String>),
    /// A whole number from `min` to `max`.
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    /// A number, in `unit` when the synopsis names one.
    Number {
        min: Option<f64>,
        max: Option<f64>,
        unit: Option<String>,
    },
    Text,
}

impl Argument {
    /// The values to offer one by one: the words of a choice, the numbers of a small range.
    pub fn choices(&self) -> Vec<String> {
        match &self.kind {
            Kind::Choice(words) => words.clone(),
            Kind::Integer {
                min: Some(low),
                max: Some(high),
            } if high - low < MAX_RANGE => (*low..=*high).map(|n| n.to_string()).collect(),
            _ => Vec::new(),
        }
    }
}

pub fn arguments(synopsis: &str) -> Vec<Argument> {
    let mut arguments: Vec<Argument> = Vec::new();
    for item in items(&without_remarks(synopsis)) {
        if item.trim_end_matches(']') == "..." {
            if let Some(last) = arguments.last_mut() {
                last.repeated = true;
            }
            continue;
        }
        arguments.extend(argument(&item));
    }
    arguments
}

/// The synopsis without its `(...)` remarks (outside `<...>`, where a placeholder may
/// hold one: `<hi|low (loop 2)>`).
fn without_remarks(synopsis: &str) -> String {
    let (mut remark, mut placeholder) = (0usize, 0usize);
    let mut kept = String::new();
    for c in synopsis.chars() {
        match c {
            '<' if remark == 0 => placeholder += 1,
            '>' if remark == 0 => placeholder = placeholder.saturating_sub(1),
            '(' if placeholder == 0 => remark += 1,
            ')' if placeholder == 0 && remark > 0 => {
                remark -= 1;
                kept.push(' ');
                continue;
            }
            _ => {}
        }
        kept.push(if remark > 0 { ' ' } else { c });
    }
    kept
}

/// Blank-separated items, a `<...>` placeholder or a `"..."` value kept whole.
fn items(text: &str) -> Vec<String> {
    let (mut depth, mut quoted) = (0usize, false);
    let mut items = vec![String::new()];
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth = depth.saturating_sub(1),
            c if c.is_whitespace() && depth == 0 && !quoted => {
                items.push(String::new());
                continue;
            }
            _ => {}
        }
        items.last_mut().expect("one item at least").push(c);
    }
    items.retain(|item| !item.is_empty());
    items
}

fn argument(item: &str) -> Option<Argument> {
    let optional = item.starts_with('[');
    let item = item.trim_start_matches('[').trim_end_matches(']');
    if item.is_empty() || item == "|" {
        return None;
    }
    let (key, value) = match item.split_once('=') {
        Some((key, value)) if is_valid_name(key) => (Some(key.to_string()), value),
        _ if item.starts_with('<') => (None, item),
        _ => return None,
    };
    Some(Argument {
        key,
        optional,
        repeated: false,
        value: value.to_string(),
        kind: kind(value),
    })
}

/// `<a|b|c>` or `a|b|c`: a choice; a bare word: that word (`format=json`); `<1-3>`: a
/// range; `<V>`: a number; anything else: text.
fn kind(value: &str) -> Kind {
    let Some(inner) = value.strip_prefix('<').and_then(|v| v.strip_suffix('>')) else {
        return words(value).map_or(Kind::Text, Kind::Choice);
    };
    // Inside `<...>` a single word is a placeholder (`<V>`, `<text>`), not a value.
    if let Some(words) = words(inner).filter(|_| inner.contains('|')) {
        return Kind::Choice(words);
    }
    // `<0-100 %>`, `<0-100, the daemon's unit per minute>`: the range, then its unit.
    let mut parts = inner.split([' ', ',']).filter(|p| !p.is_empty());
    let first = parts.next().unwrap_or_default();
    let unit = parts
        .next()
        .filter(|u| NUMBER_UNITS.contains(u))
        .map(str::to_string);
    if let Some(range) = range(first, unit) {
        return range;
    }
    if COUNT_UNITS.contains(&inner) {
        return Kind::Integer {
            min: None,
            max: None,
        };
    }
    if NUMBER_UNITS.contains(&inner) {
        return Kind::Number {
            min: None,
            max: None,
            unit: Some(inner.to_string()),
        };
    }
    Kind::Text
}

/// `a|b|c` (or one bare word) when every part is a plain word.
fn words(text: &str) -> Option<Vec<String>> {
    let words: Vec<String> = text.split('|').map(str::to_string).collect();
    words
        .iter()
        .all(|w| is_valid_name(w) && !w.starts_with('.'))
        .then_some(words)
}

/// `low-high` or `low..high`, numbers both.
fn range(text: &str, unit: Option<String>) -> Option<Kind> {
    let dotted = text.contains("..");
    let (low, high) = text.split_once("..").or_else(|| {
        // The `-` after the first character: `-5-5` is -5 to 5.
        let at = text.get(1..)?.find('-')? + 1;
        Some((&text[..at], &text[at + 1..]))
    })?;
    if let (Ok(low), Ok(high)) = (low.parse::<i64>(), high.parse::<i64>()) {
        if low <= high && unit.is_none() && (dotted || high - low < MAX_RANGE) {
            return Some(Kind::Integer {
                min: Some(low),
                max: Some(high),
            });
        }
    }
    let (low, high) = (
        labwire_protocol::parse_number(low)?,
        labwire_protocol::parse_number(high)?,
    );
    (low <= high).then_some(Kind::Number {
        min: Some(low),
        max: Some(high),
        unit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(key: &str, choices: &[&str]) -> (Option<String>, Vec<String>) {
        (
            Some(key.into()),
            choices.iter().map(|c| c.to_string()).collect(),
        )
    }

    fn offered(synopsis: &str) -> Vec<(Option<String>, Vec<String>)> {
        arguments(synopsis)
            .into_iter()
            .map(|a| (a.key.clone(), a.choices()))
            .collect()
    }

    fn kinds(synopsis: &str) -> Vec<Kind> {
        arguments(synopsis).into_iter().map(|a| a.kind).collect()
    }

    #[test]
    fn daemon_synopses() {
        assert_eq!(
            offered("ch=<1-3> value=<V> (voltage setpoint; negative on the E36311A's CH3)"),
            [keyed("ch", &["1", "2", "3"]), keyed("value", &[])]
        );
        assert_eq!(
            offered("unit=<mbar|torr|pa> (the controller's display unit; status pressure stays in mbar)"),
            [keyed("unit", &["mbar", "torr", "pa"])]
        );
        assert_eq!(offered("(switch every output off)"), []);
        assert_eq!(offered("[format=json]"), [keyed("format", &["json"])]);
        assert_eq!(
            offered("state=on|off|reset [board=<order>|hat] (ClusterCTRL hubs: reset only)"),
            [keyed("state", &["on", "off", "reset"]), keyed("board", &[])]
        );
    }

    #[test]
    fn kinds_and_ranges() {
        assert_eq!(
            kinds("ch=<1-3> value=<V>"),
            [
                Kind::Integer {
                    min: Some(1),
                    max: Some(3)
                },
                Kind::Number {
                    min: None,
                    max: None,
                    unit: Some("V".into())
                }
            ]
        );
        assert_eq!(
            kinds("board=<order> order=<1..255>")[1],
            Kind::Integer {
                min: Some(1),
                max: Some(255)
            }
        );
        assert_eq!(
            kinds("loop=<1-4> p=<0-1000> i=<0-1000>")[1],
            Kind::Number {
                min: Some(0.0),
                max: Some(1000.0),
                unit: None
            }
        );
        assert_eq!(
            kinds("loop=<1-4> power=<0-100 %> (output of a loop of type man)")[1],
            Kind::Number {
                min: Some(0.0),
                max: Some(100.0),
                unit: Some("%".into())
            }
        );
        assert_eq!(
            kinds("loop=<1-4> rate=<0-100, the daemon's unit per minute>")[1],
            Kind::Number {
                min: Some(0.0),
                max: Some(100.0),
                unit: None
            }
        );
        assert_eq!(
            kinds("loop=<1-4> range=<hi|mid|low (loop 1), hi|low (loop 2), 10v|5v (loops 3-4)>")[1],
            Kind::Text
        );
        assert_eq!(kinds("loop=<1-4> input=<a-d>")[1], Kind::Text);
        assert_eq!(
            kinds("x=<px> y=<px>")[0],
            Kind::Integer {
                min: None,
                max: None
            }
        );
        assert_eq!(kinds("pi=<n>|<order>.<n>|hat.<n>|all"), [Kind::Text]);
        assert_eq!(kinds("points=<time>:<C>,... (times 0s)"), [Kind::Text]);
    }

    #[test]
    fn optional_and_repeated_arguments() {
        let exposure = arguments(
            "exptime=<s> [imagetype=object|bias|dark|flat] [shutter=open|closed] [object=<text>]",
        );
        let optional: Vec<bool> = exposure.iter().map(|a| a.optional).collect();
        assert_eq!(optional, [false, true, true, true]);
        assert_eq!(exposure[1].choices(), ["object", "bias", "dark", "flat"]);
        assert_eq!(exposure[3].kind, Kind::Text);
        let keywords = arguments("key=value ... (FITS keywords; clear=1 forgets them)");
        assert_eq!(keywords.len(), 1);
        assert!(keywords[0].repeated);
        let points = arguments("loop=<1-4> points=\"<time>:<temperature>,...\" (times 30s)");
        assert_eq!(points[1].key.as_deref(), Some("points"));
        assert!(!points[1].repeated);
    }

    #[test]
    fn monitor_synopses() {
        assert_eq!(
            offered("<status|log>"),
            [(None, vec!["status".into(), "log".into()])]
        );
        let log = arguments("<debug|info|warning|error> <message...> (4096 bytes kept)");
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].choices(), ["debug", "info", "warning", "error"]);
        assert!(log[1].choices().is_empty());
        assert_eq!(offered("token=<secret>"), [keyed("token", &[])]);
        assert_eq!(arguments("<client>.<key> | all").len(), 1);
    }
}
