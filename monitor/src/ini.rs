//! A configobj-style INI reader written with nom: nested sections by bracket depth
//! (`[client]`, `[[plots]]`, `[[[voltages]]]`), `key = value` lines, quoted values, comma
//! lists and `;`/`#` comments, with the line number of every key and section kept for
//! error messages. It knows nothing of the monitor; [`crate::config`] gives the tree its
//! meaning. The entry point is [`parse`].
//!
//! Value syntax, as configobj: a comma makes a list (`values = time, ch1_voltage`); items are
//! trimmed and may be empty (`pressure = , 1e-2`); a value in `"..."` or `'...'` is taken
//! literally (no escapes), which is how a value can contain `,`, `;` or `#`.

use std::fmt;
use std::path::{Path, PathBuf};

use labwire_protocol::is_name_char;
use nom::bytes::complete::{take_while, take_while1};
use nom::character::complete::{char, none_of, one_of, space0};
use nom::combinator::{cut, eof, opt, recognize, rest};
use nom::error::{context, ContextError, ErrorKind, ParseError};
use nom::multi::{many0, many1_count};
use nom::sequence::preceded;
use nom::{IResult, Parser};

/// A configuration error, displayed as `monitor.ini:12: unknown key 'colour' in [psu1]`.
///
/// `line` is 1-based; 0 means the error belongs to no line (the file could not be read, or a
/// command-line argument was wrong).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: Option<PathBuf>,
    pub line: usize,
    pub message: String,
}

impl ConfigError {
    pub fn at(line: usize, message: impl Into<String>) -> Self {
        ConfigError {
            path: None,
            line,
            message: message.into(),
        }
    }

    pub fn in_file(mut self, path: Option<&Path>) -> Self {
        if self.path.is_none() {
            self.path = path.map(Path::to_path_buf);
        }
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.path, self.line) {
            (Some(path), 0) => write!(f, "{}: {}", path.display(), self.message),
            (Some(path), line) => write!(f, "{}:{}: {}", path.display(), line, self.message),
            (None, 0) => f.write_str(&self.message),
            (None, line) => write!(f, "line {}: {}", line, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A section of an INI file; the file itself is the root section (depth 0, line 0, empty
/// name). Entries and subsections keep file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub name: String,
    pub depth: usize,
    pub line: usize,
    pub entries: Vec<Entry>,
    pub sections: Vec<Section>,
}

impl Section {
    fn root() -> Self {
        Section {
            name: String::new(),
            depth: 0,
            line: 0,
            entries: Vec::new(),
            sections: Vec::new(),
        }
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The section written the way it opens in the file: `[psu1]`, `[[plots]]`.
    pub fn header(&self) -> String {
        format!(
            "{}{}{}",
            "[".repeat(self.depth),
            self.name,
            "]".repeat(self.depth)
        )
    }
}

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub value: IniValue,
    /// The value as written (quotes kept, comment and surrounding blanks removed).
    pub raw: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum IniValue {
    /// No comma: one (possibly empty) value, unquoted.
    Scalar(String),
    /// At least one comma outside quotes.
    List(Vec<String>),
}

/// Read INI text into its tree of sections. Duplicate keys in one section, duplicate
/// sections in one parent and a section more than one level deeper than the one before it
/// are errors.
pub fn parse(text: &str) -> Result<Section, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // stack[d] is the open section at depth d; the last one receives the keys.
    let mut stack = vec![Section::root()];
    for (index, source) in text.lines().enumerate() {
        let line = index + 1;
        match parse_line(source).map_err(|message| ConfigError::at(line, message))? {
            Line::Blank => {}
            Line::Section { depth, name } => {
                let current = stack.len() - 1;
                if depth > current + 1 {
                    return Err(ConfigError::at(
                        line,
                        format!(
                            "section {} is {} levels deep but follows a section {} deep; \
                             nesting grows one bracket at a time",
                            bracketed(depth, name),
                            depth,
                            current
                        ),
                    ));
                }
                while stack.len() > depth {
                    close_section(&mut stack);
                }
                let parent = stack.last().expect("the root is never closed");
                if let Some(first) = parent.section(name) {
                    return Err(ConfigError::at(
                        line,
                        format!(
                            "duplicate section {} (first at line {})",
                            bracketed(depth, name),
                            first.line
                        ),
                    ));
                }
                stack.push(Section {
                    name: name.to_owned(),
                    depth,
                    line,
                    entries: Vec::new(),
                    sections: Vec::new(),
                });
            }
            Line::Pair { key, value, raw } => {
                let section = stack.last_mut().expect("the root is never closed");
                if let Some(first) = section.entry(key) {
                    return Err(ConfigError::at(
                        line,
                        format!(
                            "duplicate key '{key}' {} (first at line {})",
                            where_in(&[section]),
                            first.line
                        ),
                    ));
                }
                section.entries.push(Entry {
                    key: key.to_owned(),
                    value,
                    raw: raw.to_owned(),
                    line,
                });
            }
        }
    }
    while stack.len() > 1 {
        close_section(&mut stack);
    }
    Ok(stack.pop().expect("the root is never closed"))
}

fn close_section(stack: &mut Vec<Section>) {
    let done = stack.pop().expect("caller keeps the root");
    stack
        .last_mut()
        .expect("caller keeps the root")
        .sections
        .push(done);
}

fn bracketed(depth: usize, name: &str) -> String {
    format!("{}{}{}", "[".repeat(depth), name, "]".repeat(depth))
}

#[derive(Debug, PartialEq)]
enum Line<'a> {
    Blank,
    Section {
        depth: usize,
        name: &'a str,
    },
    Pair {
        key: &'a str,
        value: IniValue,
        raw: &'a str,
    },
}

/// A nom error carrying the most specific message attached with `context`.
#[derive(Debug)]
struct SyntaxError {
    message: Option<String>,
}

impl SyntaxError {
    fn failure(message: String) -> nom::Err<Self> {
        nom::Err::Failure(SyntaxError {
            message: Some(message),
        })
    }
}

impl ParseError<&str> for SyntaxError {
    fn from_error_kind(_input: &str, _kind: ErrorKind) -> Self {
        SyntaxError { message: None }
    }

    fn append(_input: &str, _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

impl ContextError<&str> for SyntaxError {
    fn add_context(_input: &str, context: &'static str, mut other: Self) -> Self {
        // The innermost context is the most precise one; outer ones must not overwrite it.
        other.message.get_or_insert_with(|| context.to_owned());
        other
    }
}

type PResult<'a, T> = IResult<&'a str, T, SyntaxError>;

fn parse_line(source: &str) -> Result<Line<'_>, String> {
    match line(source) {
        Ok((_, parsed)) => Ok(parsed),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
            Err(e.message.unwrap_or_else(|| "syntax error".to_owned()))
        }
        Err(nom::Err::Incomplete(_)) => Err("incomplete line".to_owned()),
    }
}

fn line(input: &str) -> PResult<'_, Line<'_>> {
    let (input, _) = blanks(input)?;
    if let Ok((input, ())) = line_end(input) {
        return Ok((input, Line::Blank));
    }
    if input.starts_with('[') {
        section_header(input)
    } else {
        key_value(input)
    }
}

fn blanks(input: &str) -> PResult<'_, &str> {
    space0(input)
}

/// Optional blanks, an optional comment, then the end of the line.
fn line_end(input: &str) -> PResult<'_, ()> {
    let (input, _) = blanks(input)?;
    let (input, _) = opt(preceded(one_of(";#"), rest)).parse(input)?;
    let (input, _) = eof(input)?;
    Ok((input, ()))
}

fn section_header(input: &str) -> PResult<'_, Line<'_>> {
    let (input, depth) = many1_count(char('[')).parse(input)?;
    let (input, _) = blanks(input)?;
    let (input, name) = cut(context(
        "expected a section name after '['",
        take_while1(|c: char| !matches!(c, '[' | ']' | ';' | '#' | '"' | '\'')),
    ))
    .parse(input)?;
    let (input, closing) = cut(context(
        "expected ']' after the section name",
        many1_count(char(']')),
    ))
    .parse(input)?;
    if closing != depth {
        return Err(SyntaxError::failure(format!(
            "section header opens with {depth} '[' but closes with {closing} ']'"
        )));
    }
    let (input, ()) = cut(context(
        "unexpected text after the section header",
        line_end,
    ))
    .parse(input)?;
    Ok((
        input,
        Line::Section {
            depth,
            name: name.trim_end(),
        },
    ))
}

fn key_value(input: &str) -> PResult<'_, Line<'_>> {
    let (input, key) = context(
        "expected 'key = value', a [section] or a comment",
        take_while1(is_name_char),
    )
    .parse(input)?;
    let (input, _) = blanks(input)?;
    let (input, _) = match char::<&str, SyntaxError>('=').parse(input) {
        Ok(ok) => ok,
        Err(_) => {
            return Err(SyntaxError::failure(format!(
                "expected '=' after the key '{key}' (keys are letters, digits, '_', '-', '.')"
            )))
        }
    };
    let (start, _) = blanks(input)?;
    let (input, first) = item(start)?;
    let (input, more) = many0(preceded((blanks, char(',')), item)).parse(input)?;
    let raw = start[..start.len() - input.len()].trim_end();
    let (input, ()) = cut(context(
        "unexpected text after a quoted value; quote the whole value, \
         or separate list items with ','",
        line_end,
    ))
    .parse(input)?;
    let value = if more.is_empty() {
        IniValue::Scalar(first.to_owned())
    } else {
        IniValue::List(
            std::iter::once(first)
                .chain(more)
                .map(str::to_owned)
                .collect(),
        )
    };
    Ok((input, Line::Pair { key, value, raw }))
}

/// One value or list item: quoted, or bare text up to a comma or a comment.
fn item(input: &str) -> PResult<'_, &str> {
    let (input, _) = blanks(input)?;
    match input.chars().next() {
        Some(quote @ ('"' | '\'')) => quoted(quote, input),
        _ => {
            let (input, text) = recognize(opt((
                none_of("\"',;#"),
                take_while(|c: char| !matches!(c, ',' | ';' | '#')),
            )))
            .parse(input)?;
            Ok((input, text.trim_end()))
        }
    }
}

fn quoted(quote: char, input: &str) -> PResult<'_, &str> {
    let (input, _) = char(quote).parse(input)?;
    let (input, body) = take_while(|c: char| c != quote).parse(input)?;
    let (input, _) = cut(context("unclosed quote", char(quote))).parse(input)?;
    Ok((input, body))
}

/// Where a key or section sits, for messages: `in [psu1] [[plots]]`, or `at the top level`.
pub fn where_in(path: &[&Section]) -> String {
    let headers: Vec<String> = path
        .iter()
        .filter(|s| s.depth > 0)
        .map(|s| s.header())
        .collect();
    if headers.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("in {}", headers.join(" "))
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn ini_err(text: &str) -> ConfigError {
        parse(text).expect_err("INI text must be refused")
    }

    fn scalar_of(section: &Section, key: &str) -> String {
        match &section.entry(key).expect("key present").value {
            IniValue::Scalar(s) => s.clone(),
            other => panic!("{key} is {other:?}"),
        }
    }

    #[test]
    fn sections_nest_by_bracket_depth() {
        let root = parse("top = 1\n[a]\nx = 1\n[[b]]\ny = 2\n[[[c]]]\nz = 3\n[[d]]\n[e]\nw = 4\n")
            .unwrap();
        assert_eq!(scalar_of(&root, "top"), "1");
        let names: Vec<&str> = root.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "e"]);
        let a = root.section("a").unwrap();
        assert_eq!((a.depth, a.line), (1, 2));
        let subs: Vec<&str> = a.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(subs, ["b", "d"]);
        let b = a.section("b").unwrap();
        assert_eq!(scalar_of(b, "y"), "2");
        let c = b.section("c").unwrap();
        assert_eq!((c.depth, c.line), (3, 6));
        assert_eq!(scalar_of(c, "z"), "3");
        assert_eq!(c.entry("z").unwrap().line, 7);
        assert_eq!(scalar_of(root.section("e").unwrap(), "w"), "4");
    }

    #[test]
    fn same_section_name_under_different_parents_is_allowed() {
        let root = parse("[a]\n[[plots]]\n[b]\n[[plots]]\n").unwrap();
        assert!(root.section("a").unwrap().section("plots").is_some());
        assert!(root.section("b").unwrap().section("plots").is_some());
    }

    #[test]
    fn comments_blanks_and_trailing_comments() {
        let root = parse(
            "; a comment\n# another\n\n   \nport = 7100 ; trailing\nhost = x # hash too\n\
             [sec]  ; after a header\n  indented = yes\t\r\n",
        )
        .unwrap();
        assert_eq!(scalar_of(&root, "port"), "7100");
        assert_eq!(scalar_of(&root, "host"), "x");
        let sec = root.section("sec").unwrap();
        assert_eq!(scalar_of(sec, "indented"), "yes");
        assert_eq!(sec.entry("indented").unwrap().line, 8);
    }

    #[test]
    fn quoted_values_keep_commas_and_comment_characters() {
        let root = parse(
            "a = \"x, y ; z # w\"  ; real comment\nb = 'say \"hi\"'\nc = \"\"\nd =\n\
             e = \"it's\"\nf = Bob's supply\n",
        )
        .unwrap();
        assert_eq!(scalar_of(&root, "a"), "x, y ; z # w");
        assert_eq!(scalar_of(&root, "b"), "say \"hi\"");
        assert_eq!(scalar_of(&root, "c"), "");
        assert_eq!(scalar_of(&root, "d"), "");
        assert_eq!(scalar_of(&root, "e"), "it's");
        assert_eq!(scalar_of(&root, "f"), "Bob's supply");
    }

    #[test]
    fn comma_lists_with_empty_and_quoted_items() {
        let root =
            parse("values = time, ch1_voltage,ch2_voltage\nlimits = , 1.5\nq = \"a,b\", 'c' ; x\n")
                .unwrap();
        let list = |key: &str| match &root.entry(key).unwrap().value {
            IniValue::List(items) => items.clone(),
            other => panic!("{key} is {other:?}"),
        };
        assert_eq!(list("values"), ["time", "ch1_voltage", "ch2_voltage"]);
        assert_eq!(list("limits"), ["", "1.5"]);
        assert_eq!(list("q"), ["a,b", "c"]);
        assert_eq!(root.entry("q").unwrap().raw, "\"a,b\", 'c'");
    }

    #[test]
    fn syntax_errors_name_their_line() {
        let cases = [
            ("a = 1\nb = \"open\n", 2, "unclosed quote"),
            (
                "a = 1\n\nthis is not ini\n",
                3,
                "expected '=' after the key 'this'",
            ),
            ("[a]\n%x = 1\n", 2, "expected 'key = value'"),
            ("[a\n", 1, "expected ']'"),
            ("[[a]\n", 1, "opens with 2 '[' but closes with 1 ']'"),
            ("[ ]\n", 1, "expected a section name"),
            ("[a] junk\n", 1, "unexpected text after the section header"),
            ("a = \"x\" y\n", 1, "unexpected text after a quoted value"),
        ];
        for (text, line, needle) in cases {
            let e = ini_err(text);
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn duplicates_and_depth_jumps_are_errors() {
        let e = ini_err("a = 1\nb = 2\na = 3\n");
        assert_eq!(e.line, 3);
        assert!(e.message.contains("duplicate key 'a'"), "{e}");
        assert!(e.message.contains("first at line 1"), "{e}");

        let e = ini_err("[psu1]\nport = 1\n[psu2]\nport = 2\n[psu1]\nport = 3\n");
        assert_eq!(e.line, 5);
        assert!(e.message.contains("duplicate section [psu1]"), "{e}");

        let e = ini_err("[a]\n[[b]]\n[[b]]\n");
        assert_eq!(e.line, 3);
        assert!(e.message.contains("duplicate section [[b]]"), "{e}");

        let e = ini_err("[a]\nx = 1\n[[[deep]]]\n");
        assert_eq!(e.line, 3);
        assert!(e.message.contains("3 levels deep"), "{e}");

        let e = ini_err("[[first]]\n");
        assert_eq!(e.line, 1);
    }
}
