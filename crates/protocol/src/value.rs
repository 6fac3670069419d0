//! Numbers and booleans on the wire. Numbers are plain decimal or exponent form; `nan` and
//! `inf` are not numbers, so a non-finite value is written as the empty string ("could not
//! be read"). Booleans are `0` / `1`.

/// Write a number the way every labwire component does: shortest round-trip digits, plain
/// decimal for ordinary magnitudes and exponent form for very small or large ones.
pub fn format_number(value: f64) -> String {
    if !value.is_finite() {
        return String::new();
    }
    let magnitude = value.abs();
    if magnitude == 0.0 || (1e-4..1e15).contains(&magnitude) {
        format!("{value}")
    } else {
        format!("{value:e}")
    }
}

/// Read a wire number; anything but plain decimal or exponent form is refused.
pub fn parse_number(text: &str) -> Option<f64> {
    let looks_numeric = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
        && text.bytes().any(|b| b.is_ascii_digit());
    if !looks_numeric {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A duration in whole milliseconds as decimal seconds (`0.042`, `12.5`), without going
/// through floating point: it is on the hot path of every `status` reply.
pub fn format_millis_as_seconds(millis: u64) -> String {
    let (seconds, fraction) = (millis / 1000, millis % 1000);
    if fraction == 0 {
        return seconds.to_string();
    }
    let mut text = format!("{seconds}.{fraction:03}");
    while text.ends_with('0') {
        text.pop();
    }
    text
}

pub fn format_bool(value: bool) -> &'static str {
    if value {
        "1"
    } else {
        "0"
    }
}

/// Read a boolean: `0`/`1` on the wire; people at a prompt may also type on/off,
/// true/false or yes/no.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "on" | "true" | "yes" => Some(true),
        "0" | "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_plain_or_exponent() {
        assert_eq!(format_number(1.5), "1.5");
        assert_eq!(format_number(-0.000414), "-0.000414");
        assert_eq!(format_number(6e-6), "6e-6");
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(2e20), "2e20");
        assert_eq!(format_number(f64::NAN), "");
        assert_eq!(format_number(f64::INFINITY), "");
    }

    #[test]
    fn numbers_round_trip() {
        for v in [
            1.5,
            -0.000414,
            6e-6,
            1.23e-3,
            0.0,
            123456789.125,
            -2e-300,
            1e300,
        ] {
            assert_eq!(parse_number(&format_number(v)), Some(v), "{v}");
        }
    }

    #[test]
    fn non_numbers_refused() {
        for text in [
            "nan", "inf", "-inf", "infinity", "NaN", "", "1,5", "0x10", "e", "+",
        ] {
            assert_eq!(parse_number(text), None, "{text:?}");
        }
        assert_eq!(parse_number("+5.00000000E+00"), Some(5.0));
    }

    #[test]
    fn milliseconds_as_seconds() {
        for (millis, text) in [
            (0, "0"),
            (42, "0.042"),
            (12_500, "12.5"),
            (3_000, "3"),
            (1_001, "1.001"),
        ] {
            assert_eq!(format_millis_as_seconds(millis), text);
            assert_eq!(parse_number(text), Some(millis as f64 / 1000.0));
        }
    }

    #[test]
    fn booleans() {
        assert_eq!(format_bool(true), "1");
        assert_eq!(parse_bool("ON"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("2"), None);
    }
}
