//! The nom parser for one line (docs/protocol.md, section 2).
//!
//! A token is a run of adjacent pieces (bare text, a backslash escape, a double-quoted or
//! a single-quoted string). It is a keyword argument only when its first piece is bare
//! text holding an `=` with a non-empty, valid key before it; every other token is a
//! positional value.

use crate::message::Message;
use nom::branch::alt;
use nom::bytes::complete::{take_while, take_while1};
use nom::character::complete::{anychar, char};
use nom::combinator::{map, opt};
use nom::error::{ErrorKind, ParseError as NomParseError};
use nom::sequence::{preceded, terminated};

use nom::{IResult, Parser};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// Why a line could not be parsed; `tag` is set when the line began with a valid tag, so
/// the error reply can still carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    pub tag: Option<String>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

/// nom error carrying the human-readable reason.
#[derive(Debug)]
struct Fail(Cow<'static, str>);

impl<'a> NomParseError<&'a str> for Fail {
    fn from_error_kind(_input: &'a str, _kind: ErrorKind) -> Self {
        Fail(Cow::Borrowed("syntax error"))
    }

    fn append(_input: &'a str, _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

type Res<'a, T> = IResult<&'a str, T, Fail>;

fn failure<T>(reason: impl Into<Cow<'static, str>>) -> Res<'static, T> {
    Err(nom::Err::Failure(Fail(reason.into())))
}

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn ws(input: &str) -> Res<'_, &str> {
    take_while1(is_ws).parse(input)
}

fn tag_token(input: &str) -> Res<'_, &str> {
    preceded(char('@'), take_while1(crate::is_name_char)).parse(input)
}

/// One piece of a token; `bare` is true only for unescaped bare text.
struct Piece<'a> {
    text: Cow<'a, str>,
    bare: bool,
}

fn bare_text(input: &str) -> Res<'_, Piece<'_>> {
    map(
        take_while1(|c: char| !is_ws(c) && !matches!(c, '"' | '\'' | '\\')),
        |text: &str| Piece {
            text: Cow::Borrowed(text),
            bare: true,
        },
    )
    .parse(input)
}

fn bare_escape(input: &str) -> Res<'_, Piece<'_>> {
    let (rest, _) = char('\\').parse(input)?;
    match anychar::<_, Fail>(rest) {
        Ok((rest, c)) => Ok((
            rest,
            Piece {
                text: Cow::Owned(c.to_string()),
                bare: false,
            },
        )),
        Err(_) => failure("dangling backslash at the end of the line"),
    }
}

fn single_quoted(input: &str) -> Res<'_, Piece<'_>> {
    let (rest, _) = char('\'').parse(input)?;
    match terminated(take_while(|c| c != '\''), char::<_, Fail>('\'')).parse(rest) {
        Ok((rest, text)) => Ok((
            rest,
            Piece {
                text: Cow::Borrowed(text),
                bare: false,
            },
        )),
        Err(_) => failure("unclosed single quote"),
    }
}

fn double_quoted(input: &str) -> Res<'_, Piece<'_>> {
    let (mut rest, _) = char('"').parse(input)?;
    let mut text = String::new();
    loop {
        let (after, run) = take_while(|c| c != '"' && c != '\\').parse(rest)?;
        text.push_str(run);
        let mut chars = after.chars();
        match chars.next() {
            None => return failure("unclosed double quote"),
            Some('"') => {
                return Ok((
                    chars.as_str(),
                    Piece {
                        text: Cow::Owned(text),
                        bare: false,
                    },
                ))
            }
            Some(_backslash) => {
                let unescaped = match chars.next() {
                    Some('\\') => '\\',
                    Some('"') => '"',
                    Some('n') => '\n',
                    Some('t') => '\t',
                    Some('r') => '\r',
                    Some('0') => '\0',
                    Some(other) => {
                        return failure(format!("unknown escape \\{other} in double quotes"))
                    }
                    None => return failure("unclosed double quote"),
                };
                text.push(unescaped);
                rest = chars.as_str();
            }
        }
    }
}

fn piece(input: &str) -> Res<'_, Piece<'_>> {
    alt((bare_text, double_quoted, single_quoted, bare_escape)).parse(input)
}

enum Token {
    Positional(String),
    Keyword(String, String),
}

fn token(input: &str) -> Res<'_, Token> {
    let (mut rest, first) = piece(input)?;
    let mut pieces = vec![first];
    loop {
        match piece(rest) {
            Ok((after, next)) => {
                pieces.push(next);
                rest = after;
            }
            // Plain `Error` means the token ended (at a blank or the end of the line).
            Err(nom::Err::Error(_)) => break,
            Err(other) => return Err(other),
        }
    }
    Ok((rest, classify(pieces)))
}

fn classify(pieces: Vec<Piece<'_>>) -> Token {
    let mut pieces = pieces.into_iter();
    let first = pieces.next().expect("a token has at least one piece");
    let keyword = if first.bare {
        first
            .text
            .find('=')
            .filter(|&at| crate::is_valid_name(&first.text[..at]))
    } else {
        None
    };
    match keyword {
        Some(at) => {
            let key = first.text[..at].to_string();
            let mut value = first.text[at + 1..].to_string();
            pieces.for_each(|p| value.push_str(&p.text));
            Token::Keyword(key, value)
        }
        None => {
            let mut value = first.text.into_owned();
            pieces.for_each(|p| value.push_str(&p.text));
            Token::Positional(value)
        }
    }
}

fn command_name(input: &str) -> Res<'_, &str> {
    let (rest, name) = match take_while1::<_, _, Fail>(crate::is_name_char).parse(input) {
        Ok(ok) => ok,
        Err(_) => {
            let shown: String = input.chars().take_while(|c| !is_ws(*c)).take(40).collect();
            return failure(format!(
                "a line must start with a command name, not {shown:?}"
            ));
        }
    };
    match rest.chars().next() {
        None => Ok((rest, name)),
        Some(c) if is_ws(c) => Ok((rest, name)),
        Some('=') => failure("the first token is the command name and cannot contain '='"),
        Some(c) => failure(format!(
            "invalid character {c:?} in command name (letters, digits, '_', '-', '.')"
        )),
    }
}

/// Kwargs up to which a repeated key is found by looking through the list.
const LINEAR_KEYS: usize = 32;

fn line(input: &str) -> Res<'_, Message> {
    let (rest, tag) = opt(tag_token).parse(input)?;
    let rest = match tag {
        Some(_) if rest.is_empty() => return failure("a tag must be followed by a command name"),
        Some(_) => ws(rest)?.0,
        None => rest,
    };
    let (mut rest, name) = command_name(rest)?;
    let mut message = Message::new(name);
    message.tag = tag.map(str::to_string);
    // Where each key is, once there are too many to look each one up in the list (a
    // page of a monitor's status has a thousand).
    let mut places: Option<HashMap<String, usize>> = None;
    // The caller trimmed trailing blanks, so every blank run is followed by a token.
    while !rest.is_empty() {
        let (after, tok) = preceded(ws, token).parse(rest)?;
        match tok {
            Token::Positional(value) => message.args.push(value),
            Token::Keyword(key, value) if message.kwargs.len() < LINEAR_KEYS => {
                message.set(key, value)
            }
            Token::Keyword(key, value) => {
                let places = places.get_or_insert_with(|| {
                    let kwargs = message.kwargs.iter().enumerate();
                    kwargs.map(|(at, (key, _))| (key.clone(), at)).collect()
                });
                match places.get(&key) {
                    Some(&at) => message.kwargs[at].1 = value,
                    None => {
                        places.insert(key.clone(), message.kwargs.len());
                        message.kwargs.push((key, value));
                    }
                }
            }
        }
        rest = after;
    }
    Ok((rest, message))
}

impl FromStr for Message {
    type Err = ParseError;

    fn from_str(line: &str) -> Result<Self, Self::Err> {
        parse_line(line)
    }
}

/// Parse one line (without its terminator). Leading and trailing blanks are ignored.
pub fn parse_line(input: &str) -> Result<Message, ParseError> {
    let trimmed = input.trim_matches(is_ws);
    let tag = tag_token(trimmed)
        .ok()
        .map(|(_, t)| t)
        .filter(|t| crate::is_valid_tag(t))
        .map(str::to_string);
    let fail = |message: String| ParseError {
        message,
        tag: tag.clone(),
    };
    if trimmed.is_empty() {
        return Err(fail("empty line".into()));
    }
    if trimmed.starts_with('@') && tag.is_none() {
        return Err(fail(
            "a tag is '@' and 1 to 64 letters, digits, '_', '-' or '.', then a blank".into(),
        ));
    }
    match line(trimmed) {
        Ok((_, message)) => Ok(message),
        Err(nom::Err::Error(Fail(reason)) | nom::Err::Failure(Fail(reason))) => {
            Err(fail(reason.into_owned()))
        }
        Err(nom::Err::Incomplete(_)) => Err(fail("incomplete line".into())),
    }
}
