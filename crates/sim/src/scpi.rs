//! SCPI parsing helpers shared by simulated SCPI instruments: splitting a line into
//! message units, headers (short/long form, case-insensitive, optional nodes, IEEE 488.2
//! compound-header paths), parameters, numbers with MIN/MAX/DEF and unit suffixes,
//! booleans and channel lists; plus the standard error codes.
//!
//! Errors are the SCPI error numbers (`-102`, ...), which is all an instrument needs to
//! queue them; [`error_message`] gives the text that `SYST:ERR?` shows.

use crate::number::format_exponential;

pub const SYNTAX_ERROR: i32 = -102;
pub const DATA_TYPE_ERROR: i32 = -104;
pub const PARAMETER_NOT_ALLOWED: i32 = -108;
pub const MISSING_PARAMETER: i32 = -109;
pub const UNDEFINED_HEADER: i32 = -113;
pub const INVALID_SUFFIX: i32 = -131;
pub const SETTINGS_CONFLICT: i32 = -221;
pub const DATA_OUT_OF_RANGE: i32 = -222;
pub const ILLEGAL_PARAMETER_VALUE: i32 = -224;
pub const QUEUE_OVERFLOW: i32 = -350;
pub const INPUT_BUFFER_OVERRUN: i32 = -363;

/// The standard text of an error number, as `SYST:ERR?` quotes it.
pub fn error_message(code: i32) -> &'static str {
    match code {
        0 => "No error",
        SYNTAX_ERROR => "Syntax error",
        DATA_TYPE_ERROR => "Data type error",
        PARAMETER_NOT_ALLOWED => "Parameter not allowed",
        MISSING_PARAMETER => "Missing parameter",
        UNDEFINED_HEADER => "Undefined header",
        INVALID_SUFFIX => "Invalid suffix",
        SETTINGS_CONFLICT => "Settings conflict",
        DATA_OUT_OF_RANGE => "Data out of range",
        ILLEGAL_PARAMETER_VALUE => "Illegal parameter value",
        QUEUE_OVERFLOW => "Queue overflow",
        INPUT_BUFFER_OVERRUN => "Input buffer overrun",
        _ => "Device-specific error",
    }
}

/// One `SYST:ERR?` answer: `-113,"Undefined header"`, `+0,"No error"`.
pub fn format_error(code: i32, message: &str) -> String {
    format!("{code:+},\"{}\"", message.replace('"', "\"\""))
}

/// NR3 as Keysight writes it: `+5.00000000E+00`.
pub fn format_nr3(value: f64) -> String {
    format_exponential(value, 8)
}

/// Splits a program message into its `;`-separated units, keeping quoted strings whole.
pub fn split_units(line: &str) -> Result<Vec<&str>, i32> {
    split_outside_quotes(line, b';', false)
}

/// Splits a parameter section on top-level commas: commas inside a channel list
/// `(@1,3)` or a quoted string do not split. Each parameter comes back trimmed; an empty
/// one (`VOLT ,1`) is a syntax error.
pub fn split_params(params: &str) -> Result<Vec<&str>, i32> {
    let parts = split_outside_quotes(params, b',', true)?;
    if parts.iter().any(|p| p.is_empty()) {
        return Err(SYNTAX_ERROR);
    }
    Ok(parts)
}

fn split_outside_quotes(text: &str, separator: u8, track_parens: bool) -> Result<Vec<&str>, i32> {
    let mut parts = Vec::new();
    let mut quote: Option<u8> = None;
    let mut depth = 0usize;
    let mut start = 0;
    for (i, &b) in text.as_bytes().iter().enumerate() {
        match quote {
            // A doubled quote inside a string is an escaped quote: closing and
            // reopening gives the same split result, so it needs no special case.
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'"' | b'\'' => quote = Some(b),
                b'(' if track_parens => depth += 1,
                b')' if track_parens => depth = depth.checked_sub(1).ok_or(SYNTAX_ERROR)?,
                _ if b == separator && depth == 0 => {
                    parts.push(text[start..i].trim());
                    start = i + 1;
                }
                _ => {}
            },
        }
    }
    if quote.is_some() || depth != 0 {
        return Err(SYNTAX_ERROR);
    }
    parts.push(text[start..].trim());
    Ok(parts)
}

/// A parsed program header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// `*IDN?` and friends: `keywords` holds the one name without the `*`.
    pub common: bool,
    /// A leading `:` restarts at the root of the command tree.
    pub absolute: bool,
    pub keywords: Vec<&'a str>,
    pub query: bool,
}

/// One program message unit: a header and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageUnit<'a> {
    pub header: Header<'a>,
    pub params: Vec<&'a str>,
}

/// Parses one unit (`MEAS:VOLT? (@1)`). `Ok(None)` for an empty unit. The header must be
/// separated from the parameters by whitespace, as IEEE 488.2 requires.
pub fn parse_unit(unit: &str) -> Result<Option<MessageUnit<'_>>, i32> {
    let unit = unit.trim();
    if unit.is_empty() {
        return Ok(None);
    }
    let split = unit
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(unit.len());
    let header = parse_header(&unit[..split])?;
    let rest = unit[split..].trim();
    let params = if rest.is_empty() {
        Vec::new()
    } else {
        split_params(rest)?
    };
    Ok(Some(MessageUnit { header, params }))
}

fn is_keyword(word: &str) -> bool {
    let mut chars = word.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses a header such as `:SOUR:VOLT?`, `meas:curr?` or `*RST`.
pub fn parse_header(text: &str) -> Result<Header<'_>, i32> {
    let (body, query) = match text.strip_suffix('?') {
        Some(body) => (body, true),
        None => (text, false),
    };
    if let Some(name) = body.strip_prefix('*') {
        if !name.chars().all(|c| c.is_ascii_alphabetic()) || name.is_empty() {
            return Err(SYNTAX_ERROR);
        }
        return Ok(Header {
            common: true,
            absolute: false,
            keywords: vec![name],
            query,
        });
    }
    let (body, absolute) = match body.strip_prefix(':') {
        Some(body) => (body, true),
        None => (body, false),
    };
    let keywords: Vec<&str> = body.split(':').collect();
    if !keywords.iter().all(|k| is_keyword(k)) {
        return Err(SYNTAX_ERROR);
    }
    Ok(Header {
        common: false,
        absolute,
        keywords,
        query,
    })
}

/// The short form of a long-form keyword: its capital letters (`MEASure` -> `MEAS`).
pub fn short_form(long: &str) -> String {
    long.chars().filter(|c| !c.is_ascii_lowercase()).collect()
}

/// True when `input` is the short or the long form of `long`, in any case. SCPI accepts
/// exactly those two spellings, nothing in between (`MEASU` is not `MEASure`).
pub fn keyword_matches(input: &str, long: &str) -> bool {
    input.eq_ignore_ascii_case(long) || input.eq_ignore_ascii_case(&short_form(long))
}

/// True when `keywords` spell `pattern`, a header in manual notation with optional nodes
/// in brackets: `[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]`.
pub fn pattern_matches<K: AsRef<str>>(pattern: &str, keywords: &[K]) -> bool {
    let nodes = pattern_nodes(pattern);
    match_nodes(&nodes, keywords)
}

fn pattern_nodes(pattern: &str) -> Vec<(&str, bool)> {
    let mut nodes = Vec::new();
    let mut optional = false;
    let mut start: Option<usize> = None;
    for (i, c) in pattern.char_indices() {
        if c.is_ascii_alphanumeric() {
            start.get_or_insert(i);
            continue;
        }
        if let Some(s) = start.take() {
            nodes.push((&pattern[s..i], optional));
        }
        match c {
            '[' => optional = true,
            ']' => optional = false,
            _ => {}
        }
    }
    if let Some(s) = start {
        nodes.push((&pattern[s..], optional));
    }
    nodes
}

fn match_nodes<K: AsRef<str>>(nodes: &[(&str, bool)], keywords: &[K]) -> bool {
    let Some(((long, optional), rest)) = nodes.split_first() else {
        return keywords.is_empty();
    };
    let consumed = matches!(keywords.first(), Some(k) if keyword_matches(k.as_ref(), long))
        && match_nodes(rest, &keywords[1..]);
    consumed || (*optional && match_nodes(rest, keywords))
}

/// The compound-header path of IEEE 488.2: after `MEAS:VOLT?`, a following `;CURR?` in
/// the same line means `MEAS:CURR?`; a leading colon (`;:MEAS:CURR?`) goes back to the
/// root, and common commands (`*OPC?`) leave the path alone. Real instruments resolve
/// headers this way, so `MEAS:VOLT?;MEAS:CURR?` is an undefined header on them too.
#[derive(Clone, Debug, Default)]
pub struct TreePath {
    prefix: Vec<String>,
}

impl TreePath {
    /// The keywords `header` stands for, from the root.
    pub fn resolve(&self, header: &Header<'_>) -> Vec<String> {
        let keywords = header.keywords.iter().map(|k| k.to_string());
        if header.absolute || header.common {
            return keywords.collect();
        }
        self.prefix.iter().cloned().chain(keywords).collect()
    }

    /// Moves the path to the parent of a successfully executed header's last keyword.
    pub fn descend(&mut self, mut resolved: Vec<String>) {
        resolved.pop();
        self.prefix = resolved;
    }
}

/// A numeric parameter: a value or one of the special keywords.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Numeric {
    Value(f64),
    Min,
    Max,
    Def,
}

/// Parses `<NRf>` with an optional unit suffix (`unit` is the base unit, like `V`;
/// `mV`/`uV`/`kV` scale it), or `MIN[imum]`, `MAX[imum]`, `DEF[ault]`.
pub fn parse_numeric(param: &str, unit: &str) -> Result<Numeric, i32> {
    let text = param.trim();
    if text.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return [
            ("MINimum", Numeric::Min),
            ("MAXimum", Numeric::Max),
            ("DEFault", Numeric::Def),
        ]
        .into_iter()
        .find(|(long, _)| keyword_matches(text, long))
        .map(|(_, keyword)| keyword)
        .ok_or(DATA_TYPE_ERROR);
    }
    let (number, rest) = split_number(text).ok_or(DATA_TYPE_ERROR)?;
    let value: f64 = number.parse().map_err(|_| DATA_TYPE_ERROR)?;
    let suffix = rest.trim();
    if suffix.is_empty() {
        return Ok(Numeric::Value(value));
    }
    let scale = if suffix.eq_ignore_ascii_case(unit) {
        1.0
    } else {
        let mut chars = suffix.chars();
        let prefix = chars.next();
        if !chars.as_str().eq_ignore_ascii_case(unit) || unit.is_empty() {
            return Err(INVALID_SUFFIX);
        }
        // SCPI suffixes are case-insensitive, so `M` is milli (the mega spellings
        // MA/MOHM do not arise for volts, amps and seconds).
        match prefix {
            Some('m' | 'M') => 1e-3,
            Some('u' | 'U') => 1e-6,
            Some('k' | 'K') => 1e3,
            _ => return Err(INVALID_SUFFIX),
        }
    };
    Ok(Numeric::Value(value * scale))
}

/// Splits the leading decimal number (sign, digits, point, exponent) off `text`.
fn split_number(text: &str) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return None;
    }
    // An exponent only counts with digits after it; otherwise the `E` starts a suffix.
    if i < bytes.len() && matches!(bytes[i], b'e' | b'E') {
        let mut j = i + 1;
        if j < bytes.len() && matches!(bytes[j], b'+' | b'-') {
            j += 1;
        }
        let exp_start = j;
        while j < bytes.len() && bytes[j].is_ascii_digit() {
            j += 1;
        }
        if j > exp_start {
            i = j;
        }
    }
    Some((&text[..i], &text[i..]))
}

/// `ON`/`OFF`, or a number (non-zero after rounding is true).
pub fn parse_bool(param: &str) -> Result<bool, i32> {
    let text = param.trim();
    if text.eq_ignore_ascii_case("ON") {
        return Ok(true);
    }
    if text.eq_ignore_ascii_case("OFF") {
        return Ok(false);
    }
    if text.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(ILLEGAL_PARAMETER_VALUE);
    }
    match split_number(text) {
        Some((number, "")) => number
            .parse::<f64>()
            .map(|v| v.round() != 0.0)
            .map_err(|_| DATA_TYPE_ERROR),
        _ => Err(DATA_TYPE_ERROR),
    }
}

/// True when a parameter is a channel list (`(@...)`), whatever its contents.
pub fn is_channel_list(param: &str) -> bool {
    param.trim_start().starts_with("(@")
}

/// Channel numbers above this are out of range for any instrument; the bound keeps a
/// range like `(@1:999999999)` from expanding into a huge list.
pub const MAX_CHANNEL: usize = 99;

/// Parses `(@1)`, `(@1,3)`, `(@1:3)`, `(@3:1)` or mixtures (`(@1,2:3)`) into channel
/// numbers in the order given. A malformed list is a syntax error; a channel of 0 or
/// above [`MAX_CHANNEL`] is out of range. Whether the channel exists is the caller's
/// business.
pub fn parse_channel_list(param: &str) -> Result<Vec<usize>, i32> {
    let inner = param
        .trim()
        .strip_prefix("(@")
        .and_then(|rest| rest.strip_suffix(')'))
        .ok_or(SYNTAX_ERROR)?;
    let mut channels = Vec::new();
    for item in inner.split(',') {
        let (first, last) = match item.split_once(':') {
            Some((first, last)) => (channel_number(first)?, channel_number(last)?),
            None => {
                let only = channel_number(item)?;
                (only, only)
            }
        };
        if first <= last {
            channels.extend(first..=last);
        } else {
            channels.extend((last..=first).rev());
        }
    }
    Ok(channels)
}

fn channel_number(text: &str) -> Result<usize, i32> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SYNTAX_ERROR);
    }
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_CHANNEL).contains(&n) => Ok(n),
        _ => Err(DATA_OUT_OF_RANGE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_short_long_and_case() {
        let h = parse_header("MEASure:VOLTage?").unwrap();
        assert_eq!(h.keywords, ["MEASure", "VOLTage"]);
        assert!(h.query && !h.common && !h.absolute);
        let h = parse_header(":sour:volt").unwrap();
        assert!(h.absolute && !h.query);
        let h = parse_header("*idn?").unwrap();
        assert!(h.common && h.query);
        assert_eq!(h.keywords, ["idn"]);
        for bad in [
            "MEAS::VOLT?",
            "MEAS:VOLT?(@1)",
            "*",
            "*ID1?",
            "VOLT?:PROT",
            ":",
            "1VOLT",
        ] {
            assert_eq!(parse_header(bad), Err(SYNTAX_ERROR), "{bad}");
        }
    }

    #[test]
    fn keywords_accept_exactly_short_or_long_form() {
        assert!(keyword_matches("MEAS", "MEASure"));
        assert!(keyword_matches("measure", "MEASure"));
        assert!(keyword_matches("Meas", "MEASure"));
        assert!(!keyword_matches("MEASU", "MEASure"));
        assert!(!keyword_matches("MEA", "MEASure"));
        assert_eq!(short_form("CURRent"), "CURR");
        assert_eq!(short_form("NEXT"), "NEXT");
    }

    #[test]
    fn patterns_with_optional_nodes() {
        let volt = "[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]";
        assert!(pattern_matches(volt, &["VOLT"]));
        assert!(pattern_matches(volt, &["sour", "volt"]));
        assert!(pattern_matches(volt, &["SOURce", "VOLTage", "LEV", "AMPL"]));
        assert!(pattern_matches(volt, &["VOLT", "IMM"]));
        assert!(!pattern_matches(volt, &["VOLT", "PROT"]));
        assert!(!pattern_matches(volt, &["VOLT", "AMPL", "LEV"]));
        assert!(!pattern_matches::<&str>(volt, &[]));
        let meas = "MEASure[:SCALar]:VOLTage[:DC]";
        assert!(pattern_matches(meas, &["MEAS", "VOLT"]));
        assert!(pattern_matches(meas, &["meas", "scal", "volt", "dc"]));
        assert!(!pattern_matches(meas, &["VOLT"]));
    }

    #[test]
    fn units_split_on_semicolons_outside_quotes() {
        assert_eq!(
            split_units("VOLT 5;:MEAS:VOLT?;*OPC?").unwrap(),
            ["VOLT 5", ":MEAS:VOLT?", "*OPC?"]
        );
        assert_eq!(
            split_units("DISP:TEXT \"a;b\";*OPC?").unwrap(),
            ["DISP:TEXT \"a;b\"", "*OPC?"]
        );
        assert_eq!(split_units("X \"open"), Err(SYNTAX_ERROR));
    }

    #[test]
    fn params_split_outside_channel_lists() {
        let unit = parse_unit("VOLT 5 , (@1,3)").unwrap().unwrap();
        assert_eq!(unit.params, ["5", "(@1,3)"]);
        let unit = parse_unit("  APPL CH1,5,1  ").unwrap().unwrap();
        assert_eq!(unit.params, ["CH1", "5", "1"]);
        assert_eq!(parse_unit("   ").unwrap(), None);
        assert_eq!(parse_unit("VOLT ,5"), Err(SYNTAX_ERROR));
        assert_eq!(parse_unit("VOLT 5,(@1"), Err(SYNTAX_ERROR));
        assert_eq!(parse_unit("VOLT 5,@1)"), Err(SYNTAX_ERROR));
    }

    #[test]
    fn tree_path_follows_ieee_488_2() {
        let mut path = TreePath::default();
        let first = parse_header("MEAS:VOLT?").unwrap();
        let resolved = path.resolve(&first);
        assert_eq!(resolved, ["MEAS", "VOLT"]);
        path.descend(resolved);
        let relative = parse_header("CURR?").unwrap();
        assert_eq!(path.resolve(&relative), ["MEAS", "CURR"]);
        let absolute = parse_header(":VOLT").unwrap();
        assert_eq!(path.resolve(&absolute), ["VOLT"]);
        let common = parse_header("*OPC?").unwrap();
        assert_eq!(path.resolve(&common), ["OPC"]);
    }

    #[test]
    fn numbers_with_keywords_and_suffixes() {
        assert_eq!(parse_numeric("5", "V"), Ok(Numeric::Value(5.0)));
        assert_eq!(parse_numeric("+2.5e1", "V"), Ok(Numeric::Value(25.0)));
        assert_eq!(parse_numeric(".5", "A"), Ok(Numeric::Value(0.5)));
        assert_eq!(parse_numeric("-3.", "V"), Ok(Numeric::Value(-3.0)));
        assert_eq!(parse_numeric("500 mV", "V"), Ok(Numeric::Value(0.5)));
        assert_eq!(parse_numeric("250MA", "A"), Ok(Numeric::Value(0.25)));
        assert_eq!(parse_numeric("2V", "V"), Ok(Numeric::Value(2.0)));
        assert_eq!(parse_numeric("20ms", "S"), Ok(Numeric::Value(0.02)));
        assert_eq!(parse_numeric("1e", "V"), Err(INVALID_SUFFIX));
        assert_eq!(parse_numeric("MIN", "V"), Ok(Numeric::Min));
        assert_eq!(parse_numeric("maximum", "V"), Ok(Numeric::Max));
        assert_eq!(parse_numeric("Def", "V"), Ok(Numeric::Def));
        assert_eq!(parse_numeric("MAXI", "V"), Err(DATA_TYPE_ERROR));
        assert_eq!(parse_numeric("abc", "V"), Err(DATA_TYPE_ERROR));
        assert_eq!(parse_numeric("(@1)", "V"), Err(DATA_TYPE_ERROR));
        assert_eq!(parse_numeric("\"5\"", "V"), Err(DATA_TYPE_ERROR));
        assert_eq!(parse_numeric("5 A", "V"), Err(INVALID_SUFFIX));
        assert_eq!(parse_numeric(".", "V"), Err(DATA_TYPE_ERROR));
        assert_eq!(parse_numeric("5é", "V"), Err(INVALID_SUFFIX));
    }

    #[test]
    fn booleans() {
        assert_eq!(parse_bool("ON"), Ok(true));
        assert_eq!(parse_bool("off"), Ok(false));
        assert_eq!(parse_bool("1"), Ok(true));
        assert_eq!(parse_bool("0"), Ok(false));
        assert_eq!(parse_bool("0.4"), Ok(false));
        assert_eq!(parse_bool("ONN"), Err(ILLEGAL_PARAMETER_VALUE));
        assert_eq!(parse_bool("(@1)"), Err(DATA_TYPE_ERROR));
        assert_eq!(parse_bool("1V"), Err(DATA_TYPE_ERROR));
    }

    #[test]
    fn channel_lists() {
        assert_eq!(parse_channel_list("(@1)"), Ok(vec![1]));
        assert_eq!(parse_channel_list("(@1,3)"), Ok(vec![1, 3]));
        assert_eq!(parse_channel_list("(@1:3)"), Ok(vec![1, 2, 3]));
        assert_eq!(parse_channel_list("(@3:1)"), Ok(vec![3, 2, 1]));
        assert_eq!(parse_channel_list(" (@ 1, 2:3 ) "), Ok(vec![1, 2, 3]));
        assert_eq!(parse_channel_list("(@0)"), Err(DATA_OUT_OF_RANGE));
        assert_eq!(parse_channel_list("(@1:999999999)"), Err(DATA_OUT_OF_RANGE));
        for bad in [
            "(@)", "(1)", "(@1,)", "(@a)", "(@1", "@1", "(@1:2:3)", "(@-1)",
        ] {
            assert_eq!(parse_channel_list(bad), Err(SYNTAX_ERROR), "{bad}");
        }
        assert!(is_channel_list(" (@1)"));
        assert!(!is_channel_list("5"));
    }

    #[test]
    fn error_formatting() {
        assert_eq!(format_error(0, error_message(0)), "+0,\"No error\"");
        assert_eq!(
            format_error(-113, error_message(-113)),
            "-113,\"Undefined header\""
        );
        assert_eq!(format_error(301, "Say \"hi\""), "+301,\"Say \"\"hi\"\"\"");
        assert_eq!(format_nr3(5.0), "+5.00000000E+00");
    }
}
