//! How a polled value maps onto SQLite: each sample keeps its own storage class (REAL,
//! INTEGER for integral numbers, TEXT, or NULL for a value that could not be read), and no
//! text reaches the database longer than [`MAX_TEXT_BYTES`].

use labwire_protocol::parse_number;
use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, Value as SqlValue, ValueRef};

/// The longest text the store writes: a text value, a log message, an event detail, a name.
/// Longer ones are cut at a character boundary, so one record can never blow up the
/// database (or the writer's queue, which holds only the cut copy).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// One status value as the poller saw it. The empty string on the wire is [`Value::Missing`]
/// ("could not be read"), never a made-up number.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Text(String),
    Missing,
}

impl Value {
    /// Classify a wire value with the protocol's own number syntax.
    pub fn from_wire(text: &str) -> Value {
        if text.is_empty() {
            Value::Missing
        } else if let Some(number) = parse_number(text) {
            Value::Number(number)
        } else {
            Value::Text(text.to_owned())
        }
    }

    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(x) => Some(*x),
            _ => None,
        }
    }

    /// What a rollup bucket counts of the value: a number, `Some(None)` for one that
    /// could not be read, `None` for a text (not counted at all).
    pub(super) fn rollup_number(&self) -> Option<Option<f64>> {
        match self {
            Value::Number(x) => Some(Some(*x)),
            Value::Missing => Some(None),
            Value::Text(_) => None,
        }
    }

    /// The value as the store keeps it: a text cut to [`MAX_TEXT_BYTES`] (and its spare
    /// capacity released), with whether it was cut.
    pub(super) fn capped(self) -> (Value, bool) {
        match self {
            Value::Text(mut text) if text.len() > MAX_TEXT_BYTES => {
                text.truncate(cut_point(&text));
                text.shrink_to_fit();
                (Value::Text(text), true)
            }
            other => (other, false),
        }
    }
}

/// `text` cut to at most [`MAX_TEXT_BYTES`], with whether it was cut.
pub(super) fn capped_text(text: &str) -> (&str, bool) {
    if text.len() > MAX_TEXT_BYTES {
        (&text[..cut_point(text)], true)
    } else {
        (text, false)
    }
}

/// The largest character boundary at or below [`MAX_TEXT_BYTES`].
fn cut_point(text: &str) -> usize {
    (0..=MAX_TEXT_BYTES.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

/// The integer an `f64` holds exactly, if any. Beyond 2^53 integers and doubles part ways,
/// and -0.0 would come back as 0, so those stay REAL.
fn exact_integer(x: f64) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    (x.fract() == 0.0 && x.abs() <= EXACT && !(x == 0.0 && x.is_sign_negative()))
        .then_some(x as i64)
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Number(x) => ToSqlOutput::Owned(match exact_integer(*x) {
                Some(i) => SqlValue::Integer(i),
                None => SqlValue::Real(*x),
            }),
            Value::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Value::Missing => ToSqlOutput::Owned(SqlValue::Null),
        })
    }
}

impl FromSql for Value {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Ok(match value {
            ValueRef::Null => Value::Missing,
            ValueRef::Integer(i) => Value::Number(i as f64),
            ValueRef::Real(x) => Value::Number(x),
            ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
                Value::Text(String::from_utf8_lossy(bytes).into_owned())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_values_are_classified() {
        assert_eq!(Value::from_wire(""), Value::Missing);
        assert_eq!(Value::from_wire("1.5"), Value::Number(1.5));
        assert_eq!(Value::from_wire("-6e-06"), Value::Number(-6e-6));
        assert_eq!(Value::from_wire("nan"), Value::Text("nan".into()));
        assert_eq!(Value::from_wire("CV"), Value::Text("CV".into()));
        assert_eq!(Value::from_wire("0"), Value::Number(0.0));
    }

    #[test]
    fn long_texts_are_cut_at_a_character_boundary() {
        // 'é' is two bytes: an odd limit would fall inside one.
        let long = "é".repeat(MAX_TEXT_BYTES);
        let (cut, was_cut) = capped_text(&long);
        assert!(was_cut);
        assert!(cut.len() <= MAX_TEXT_BYTES && cut.len() > MAX_TEXT_BYTES - 2);
        assert!(cut.chars().all(|c| c == 'é'));
        let (value, was_cut) = Value::Text(long.clone()).capped();
        assert!(was_cut);
        assert_eq!(value, Value::Text(cut.to_owned()));
        let short = "x".repeat(MAX_TEXT_BYTES);
        assert_eq!(capped_text(&short), (short.as_str(), false));
        assert_eq!(Value::Number(1.0).capped(), (Value::Number(1.0), false));
    }
}
