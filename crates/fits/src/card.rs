//! Header cards: 80 ASCII characters each, `KEYWORD = value / comment`. Keywords of up
//! to eight characters from `A-Z 0-9 - _` are written as they are; any other keyword
//! (longer, or with `.` or spaces for levels) follows the ESO `HIERARCH` convention:
//! `HIERARCH CRYO TEMP_A = 77.2`, with `.` turned into the space between levels.
//!
//! String values are in single quotes with an embedded quote doubled (`'O''Brien'`),
//! at least eight characters between the quotes (the standard's fixed format), only
//! printable ASCII (anything else becomes `?`), and cut to what fits on the card.

use std::fmt;

/// Characters on one header card.
pub const CARD: usize = 80;

/// A card's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Logical(bool),
    Integer(i64),
    /// Written with a decimal point or exponent; a non-finite number is written as
    /// [`Value::Undefined`], which FITS has for a value that is not known.
    Real(f64),
    Text(String),
    /// `KEYWORD =` with nothing after it.
    Undefined,
}

impl Value {
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_real(&self) -> Option<f64> {
        match self {
            Value::Real(value) => Some(*value),
            Value::Integer(value) => Some(*value as f64),
            _ => None,
        }
    }

    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Value::Integer(value) => Some(*value),
            _ => None,
        }
    }
}

/// One keyword, its value and an optional comment.
#[derive(Clone, Debug, PartialEq)]
pub struct Card {
    /// As written after `HIERARCH` or in the first eight columns: upper case, levels
    /// separated by one space.
    pub keyword: String,
    pub value: Value,
    pub comment: Option<String>,
}

/// Why a card cannot be written or read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CardError {
    /// Empty, or a character outside `A-Z a-z 0-9 - _ .` and single spaces.
    BadKeyword(String),
    /// A keyword the image writer sets itself (`SIMPLE`, `BITPIX`, `NAXISn`, `BZERO`,
    /// `BSCALE`, `EXTEND`, `END`).
    Reserved(String),
    /// The keyword and value do not fit on one card even with the value cut short.
    TooLong(String),
    /// A card that is not what this reader understands.
    Unreadable(String),
}

impl fmt::Display for CardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CardError::BadKeyword(key) => write!(
                f,
                "keyword {key:?} is not made of letters, digits, '-', '_' and '.'"
            ),
            CardError::Reserved(key) => {
                write!(f, "keyword {key} is set by the image writer itself")
            }
            CardError::TooLong(key) => write!(f, "keyword {key} and its value exceed a card"),
            CardError::Unreadable(card) => write!(f, "unreadable header card {card:?}"),
        }
    }
}

impl std::error::Error for CardError {}

/// Keywords the image writer owns.
pub fn is_reserved(keyword: &str) -> bool {
    let key = keyword.to_ascii_uppercase();
    matches!(
        key.as_str(),
        "SIMPLE" | "BITPIX" | "NAXIS" | "BZERO" | "BSCALE" | "EXTEND" | "END" | "HIERARCH"
    ) || key
        .strip_prefix("NAXIS")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The keyword as it goes on the card, and whether it needs `HIERARCH`.
pub fn normalize_keyword(keyword: &str) -> Result<(String, bool), CardError> {
    let bad = || CardError::BadKeyword(keyword.to_string());
    let levels: Vec<&str> = keyword.split(['.', ' ']).collect();
    if levels.iter().any(|level| {
        level.is_empty()
            || !level
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }) {
        return Err(bad());
    }
    let key = levels.join(" ").to_ascii_uppercase();
    let hierarch = levels.len() > 1 || key.len() > 8;
    Ok((key, hierarch))
}

/// Printable ASCII, everything else as `?`; and whether anything was replaced.
fn printable(text: &str) -> (String, bool) {
    let mut changed = false;
    let clean = text
        .chars()
        .map(|c| {
            if (' '..='~').contains(&c) {
                c
            } else {
                changed = true;
                '?'
            }
        })
        .collect();
    (clean, changed)
}

/// A quoted string of at most `room` characters (quotes included); whether it was cut.
fn quoted(text: &str, room: usize) -> (String, bool) {
    let mut out = String::from("'");
    let mut cut = false;
    for c in text.chars() {
        let needed = if c == '\'' { 2 } else { 1 };
        // Keep one column for the closing quote.
        if out.len() + needed + 1 > room {
            cut = true;
            break;
        }
        out.push(c);
        if c == '\'' {
            out.push('\'');
        }
    }
    while out.len() < 9 {
        out.push(' ');
    }
    out.push('\'');
    (out, cut)
}

fn real(value: f64) -> String {
    // Debug gives the shortest text that reads back to the same number, always with a
    // decimal point or an exponent, which FITS wants upper case.
    let text = format!("{value:?}").replace('e', "E");
    match text.split_once('E') {
        Some((mantissa, exponent)) if !mantissa.contains('.') => format!("{mantissa}.0E{exponent}"),
        _ => text,
    }
}

impl Card {
    /// A card for `keyword` (normalised) and `value`; `Ok(true)` when a text value had to
    /// be cut or had characters replaced to fit.
    pub fn new(
        keyword: &str,
        value: Value,
        comment: Option<&str>,
    ) -> Result<(Card, bool), CardError> {
        let (keyword, _) = normalize_keyword(keyword)?;
        let mut card = Card {
            keyword,
            value,
            comment: comment.map(|c| printable(c).0),
        };
        let mut changed = false;
        if let Value::Text(text) = &card.value {
            let (clean, replaced) = printable(text);
            changed = replaced;
            card.value = Value::Text(clean);
        }
        if let Value::Real(value) = card.value {
            if !value.is_finite() {
                card.value = Value::Undefined;
            }
        }
        let (_, cut) = card.render()?;
        if cut {
            let Value::Text(text) = &card.value else {
                unreachable!("only text is cut")
            };
            let room = CARD - card.prefix().len();
            let (quoted, _) = quoted(text, room);
            card.value = Value::Text(unquote(&quoted).0.trim_end().to_string());
            changed = true;
        }
        Ok((card, changed))
    }

    fn hierarch(&self) -> bool {
        self.keyword.len() > 8 || self.keyword.contains(' ')
    }

    fn prefix(&self) -> String {
        if self.hierarch() {
            format!("HIERARCH {} = ", self.keyword)
        } else {
            format!("{:<8}= ", self.keyword)
        }
    }

    /// The 80 characters, and whether a text value was cut to fit.
    fn render(&self) -> Result<(String, bool), CardError> {
        let prefix = self.prefix();
        if prefix.len() > CARD {
            return Err(CardError::TooLong(self.keyword.clone()));
        }
        let room = CARD - prefix.len();
        let (value, cut) = match &self.value {
            // Fixed format: logical and numbers right-justified to column 30.
            Value::Logical(b) => (format!("{:>20}", if *b { "T" } else { "F" }), false),
            Value::Integer(n) => (format!("{n:>20}"), false),
            Value::Real(x) => (format!("{:>20}", real(*x)), false),
            Value::Text(text) => quoted(text, room),
            Value::Undefined => (String::new(), false),
        };
        let value = if self.hierarch() {
            value.trim_start().to_string()
        } else {
            value
        };
        if value.len() > room {
            return Err(CardError::TooLong(self.keyword.clone()));
        }
        let mut line = prefix + &value;
        if let Some(comment) = &self.comment {
            let room = CARD.saturating_sub(line.len() + 3);
            if room > 0 {
                line.push_str(" / ");
                line.push_str(&comment[..comment.len().min(room)]);
            }
        }
        Ok((format!("{line:<CARD$}"), cut))
    }

    /// The card's 80 characters.
    pub fn to_line(&self) -> String {
        self.render().expect("a card is checked when it is made").0
    }

    /// Parse one 80-character card; `Ok(None)` for commentary and blank cards.
    pub fn parse(line: &str) -> Result<Option<Card>, CardError> {
        let unreadable = || CardError::Unreadable(line.to_string());
        if line.len() != CARD || !line.is_ascii() {
            return Err(unreadable());
        }
        let (keyword, rest) = if let Some(after) = line.strip_prefix("HIERARCH ") {
            let (key, rest) = after.split_once('=').ok_or_else(unreadable)?;
            (key.trim().to_string(), rest)
        } else if &line[8..10] == "= " {
            (line[..8].trim_end().to_string(), &line[10..])
        } else {
            return Ok(None);
        };
        let rest = rest.trim_start();
        let (value, comment) = if rest.starts_with('\'') {
            let (text, len) = unquote(rest);
            let len = len.ok_or_else(unreadable)?;
            let comment = rest[len..].trim_start().strip_prefix('/');
            (Value::Text(text.trim_end().to_string()), comment)
        } else {
            let (token, comment) = match rest.split_once('/') {
                Some((token, comment)) => (token, Some(comment)),
                None => (rest, None),
            };
            let value = match token.trim() {
                "" => Value::Undefined,
                "T" => Value::Logical(true),
                "F" => Value::Logical(false),
                token => match token.parse::<i64>() {
                    Ok(n) => Value::Integer(n),
                    Err(_) => Value::Real(
                        token
                            .replace('D', "E")
                            .parse::<f64>()
                            .map_err(|_| unreadable())?,
                    ),
                },
            };
            (value, comment)
        };
        let comment = comment.map(|c| c.trim().to_string());
        Ok(Some(Card {
            keyword,
            value,
            comment,
        }))
    }
}

/// The text of a quoted string at the start of `text`, and the length it took with its
/// quotes (`None` when the closing quote is missing).
fn unquote(text: &str) -> (String, Option<usize>) {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = 1;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            if bytes.get(i + 1) == Some(&b'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            return (out, Some(i + 1));
        }
        out.push(bytes[i] as char);
        i += 1;
    }
    (out, None)
}

/// Cards in order; a keyword pushed again replaces its earlier value in place.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Header {
    cards: Vec<Card>,
}

impl Header {
    pub fn new() -> Header {
        Header::default()
    }

    /// Add (or replace) a card; `Ok(true)` when its text had to be cut or cleaned to fit.
    pub fn push(
        &mut self,
        keyword: &str,
        value: Value,
        comment: Option<&str>,
    ) -> Result<bool, CardError> {
        let (card, changed) = Card::new(keyword, value, comment)?;
        match self.cards.iter_mut().find(|c| c.keyword == card.keyword) {
            Some(existing) => *existing = card,
            None => self.cards.push(card),
        }
        Ok(changed)
    }

    /// Add a card the image writer owns; only [`crate::image`] does.
    pub(crate) fn push_card(&mut self, card: Card) {
        self.cards.push(card);
    }

    /// The value of `keyword`, given as it was pushed (`cryo.temp_a`) or as written.
    pub fn get(&self, keyword: &str) -> Option<&Value> {
        let key = normalize_keyword(keyword).ok()?.0;
        self.cards
            .iter()
            .find(|c| c.keyword == key)
            .map(|c| &c.value)
    }

    pub fn cards(&self) -> &[Card] {
        &self.cards
    }

    pub fn len(&self) -> usize {
        self.cards.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cards.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(keyword: &str, value: Value) -> String {
        Card::new(keyword, value, None).unwrap().0.to_line()
    }

    #[test]
    fn fixed_format_of_the_standard() {
        assert_eq!(
            line("SIMPLE", Value::Logical(true)),
            format!("{:<80}", "SIMPLE  =                    T")
        );
        assert_eq!(
            line("BITPIX", Value::Integer(16)),
            format!("{:<80}", "BITPIX  =                   16")
        );
        assert_eq!(
            line("exptime", Value::Real(1.5)),
            format!("{:<80}", "EXPTIME =                  1.5")
        );
        assert_eq!(
            line("IMAGETYP", Value::Text("bias".into())),
            format!("{:<80}", "IMAGETYP= 'bias    '")
        );
        assert!(line("GAIN", Value::Real(6e-21)).contains("6.0E-21"));
        assert_eq!(line("TEMP", Value::Real(f64::NAN)).trim_end(), "TEMP    =");
    }

    #[test]
    fn quotes_are_doubled_and_read_back() {
        let card = line("OBJECT", Value::Text("O'Brien's lamp".into()));
        assert!(card.starts_with("OBJECT  = 'O''Brien''s lamp'"), "{card}");
        let back = Card::parse(&card).unwrap().unwrap();
        assert_eq!(back.value, Value::Text("O'Brien's lamp".into()));
    }

    #[test]
    fn long_keywords_go_hierarch_and_read_back() {
        let (card, changed) =
            Card::new("cryo.ch_a_temperature", Value::Real(77.25), Some("K")).unwrap();
        assert!(!changed);
        let text = card.to_line();
        assert!(
            text.starts_with("HIERARCH CRYO CH_A_TEMPERATURE = 77.25 / K"),
            "{text}"
        );
        assert_eq!(Card::parse(&text).unwrap().unwrap(), card);
        assert!(Card::new("a..b", Value::Integer(1), None).is_err());
        assert!(Card::new("a=b", Value::Integer(1), None).is_err());
        assert!(Card::new("", Value::Integer(1), None).is_err());
        let huge = "x".repeat(75);
        assert!(matches!(
            Card::new(&huge, Value::Integer(1), None),
            Err(CardError::TooLong(_))
        ));
    }

    #[test]
    fn long_text_is_cut_without_splitting_a_doubled_quote() {
        let text = format!("{}'tail", "a".repeat(67));
        let (card, changed) = Card::new("NOTE", Value::Text(text), None).unwrap();
        assert!(changed);
        let line = card.to_line();
        assert_eq!(line.len(), 80);
        let back = Card::parse(&line).unwrap().unwrap();
        assert_eq!(back.value, card.value);
        assert_eq!(back.value, Value::Text("a".repeat(67)));
        let (cleaned, changed) = Card::new("NOTE", Value::Text("α\tβ".into()), None).unwrap();
        assert!(changed);
        assert_eq!(cleaned.value, Value::Text("???".into()));
    }

    #[test]
    fn reserved_keywords() {
        for key in ["simple", "NAXIS", "NAXIS2", "BZERO", "end"] {
            assert!(is_reserved(key), "{key}");
        }
        for key in ["NAXISX", "EXPTIME", "BZEROS"] {
            assert!(!is_reserved(key), "{key}");
        }
    }

    #[test]
    fn a_repeated_keyword_replaces_its_value() {
        let mut header = Header::new();
        header
            .push("OBJECT", Value::Text("M31".into()), None)
            .unwrap();
        header
            .push("object", Value::Text("M33".into()), None)
            .unwrap();
        assert_eq!(header.len(), 1);
        assert_eq!(header.get("OBJECT").and_then(Value::as_text), Some("M33"));
    }
}
