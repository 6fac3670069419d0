//! `monitor.ini`: a configobj-style INI reader written with nom ([`parse_ini`]) and its
//! validation into a typed [`MonitorConfig`] ([`load`], [`from_str`]).
//!
//! The reader is generic: nested sections by bracket depth, `key = value` lines, quoted
//! values, comma lists and `;`/`#` comments, with the line number of every key and section
//! kept for error messages. The validation knows the keys of the monitor and of each client
//! and refuses anything else, so a typo is an error instead of a silently ignored setting.
//!
//! Value syntax, as configobj: a comma makes a list (`values = time, ch1_voltage`); items are
//! trimmed and may be empty (`pressure = , 1e-2`); a value in `"..."` or `'...'` is taken
//! literally (no escapes), which is how a value can contain `,`, `;` or `#`. Free-text keys
//! (`description`, `name`, labels) take the value as written when it contains commas, so
//! `description = Keysight E36313A, bench 2` means what it says.

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use labwire_protocol::{is_name_char, is_valid_name, parse_bool, parse_number};
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
    fn at(line: usize, message: impl Into<String>) -> Self {
        ConfigError {
            path: None,
            line,
            message: message.into(),
        }
    }

    fn in_file(mut self, path: Option<&Path>) -> Self {
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

// ---------------------------------------------------------------------------------------
// The generic reader
// ---------------------------------------------------------------------------------------

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
pub fn parse_ini(text: &str) -> Result<Section, ConfigError> {
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
fn where_in(path: &[&Section]) -> String {
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

// ---------------------------------------------------------------------------------------
// The typed configuration
// ---------------------------------------------------------------------------------------

/// The validated `monitor.ini`.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorConfig {
    pub name: String,
    pub listen: IpAddr,
    pub port: u16,
    pub http_port: u16,
    pub db: PathBuf,
    pub poll_interval: Duration,
    /// A variable that does not change is still stored at least this often.
    pub store_interval: Duration,
    /// History older than this is deleted; `None` keeps everything (`retention_days`).
    pub retention: Option<Duration>,
    /// In file order, then clients added on the command line.
    pub clients: Vec<ClientConfig>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            name: "monitor".to_owned(),
            listen: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 7100,
            http_port: 8888,
            db: PathBuf::from("labwire.sqlite"),
            poll_interval: Duration::from_secs(1),
            store_interval: Duration::from_secs(60),
            retention: None,
            clients: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    pub name: String,
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub description: String,
    pub template: String,
    pub alarms: Vec<AlarmLimit>,
    pub plots: Vec<PlotConfig>,
    /// Overrides the monitor's `poll_interval` for this client.
    pub poll_interval: Option<Duration>,
    /// The secret the monitor sends as `auth token=<secret>` (from `token_file`).
    pub token: Option<String>,
}

impl ClientConfig {
    /// A client with every optional setting at its default, as a command-line
    /// `name=host:port` creates it.
    pub fn new(name: impl Into<String>, host: impl Into<String>, port: u16) -> Self {
        ClientConfig {
            name: name.into(),
            enabled: true,
            host: host.into(),
            port,
            description: String::new(),
            template: DEFAULT_TEMPLATE.to_owned(),
            alarms: Vec::new(),
            plots: Vec::new(),
            poll_interval: None,
            token: None,
        }
    }
}

pub const DEFAULT_TEMPLATE: &str = "default.html";

/// Limits for one status variable; a side left empty in the file is unbounded.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmLimit {
    pub key: String,
    pub low: Option<f64>,
    pub high: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlotConfig {
    pub id: String,
    pub name: String,
    /// The abscissa first (usually `time`), then the plotted variables.
    pub values: Vec<String>,
    pub xlabel: String,
    pub ylabel: String,
    pub width: u32,
    pub height: u32,
    pub yscale: YScale,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YScale {
    Linear,
    Log,
}

impl MonitorConfig {
    pub fn client(&self, name: &str) -> Option<&ClientConfig> {
        self.clients.iter().find(|c| c.name == name)
    }

    /// Apply command-line `name=host:port` arguments: a new name adds an enabled client with
    /// default settings; a configured name keeps its settings and gets the new host and port.
    /// IPv6 addresses go in brackets: `psu1=[::1]:7001`.
    pub fn apply_client_overrides(&mut self, args: &[String]) -> Result<(), ConfigError> {
        let mut seen = HashSet::new();
        for arg in args {
            let (name, host, port) = parse_client_arg(arg)
                .map_err(|why| ConfigError::at(0, format!("bad client argument '{arg}': {why}")))?;
            if !seen.insert(name) {
                return Err(ConfigError::at(
                    0,
                    format!("client '{name}' is given twice on the command line"),
                ));
            }
            match self.clients.iter_mut().find(|c| c.name == name) {
                Some(client) => {
                    client.host = host.to_owned();
                    client.port = port;
                }
                None => self.clients.push(ClientConfig::new(name, host, port)),
            }
        }
        Ok(())
    }

    fn from_ini(root: &Section) -> Result<Self, ConfigError> {
        let mut config = MonitorConfig::default();
        let mut ports: Vec<(&Entry, u16)> = Vec::new();
        for entry in &root.entries {
            match entry.key.as_str() {
                "name" => {
                    config.name = scalar(entry, &[root])?.to_owned();
                    if !is_valid_name(&config.name) {
                        return Err(ConfigError::at(
                            entry.line,
                            format!(
                                "bad monitor name '{}': use letters, digits, '_', '-', '.'",
                                config.name
                            ),
                        ));
                    }
                }
                "listen" => {
                    let text = scalar(entry, &[root])?;
                    config.listen = text.parse().map_err(|_| {
                        ConfigError::at(
                            entry.line,
                            format!("bad listen address '{text}': expected an IP address"),
                        )
                    })?;
                }
                "port" => {
                    config.port = port(entry, &[root])?;
                    ports.push((entry, config.port));
                }
                "http_port" => {
                    config.http_port = port(entry, &[root])?;
                    ports.push((entry, config.http_port));
                }
                "db" => {
                    let text = scalar(entry, &[root])?;
                    if text.is_empty() {
                        return Err(ConfigError::at(entry.line, "'db' is empty"));
                    }
                    config.db = PathBuf::from(text);
                }
                "poll_interval" => config.poll_interval = seconds(entry, &[root])?,
                "store_interval" => config.store_interval = seconds(entry, &[root])?,
                "retention_days" => {
                    let days = positive_number(entry, &[root])?;
                    config.retention =
                        Some(Duration::try_from_secs_f64(days * 86_400.0).map_err(|_| {
                            ConfigError::at(entry.line, "'retention_days' is too large")
                        })?);
                }
                _ => return Err(unknown_key(entry, &[root])),
            }
        }
        if config.port == config.http_port {
            let line = ports.last().map_or(0, |(entry, _)| entry.line);
            return Err(ConfigError::at(
                line,
                format!(
                    "'port' and 'http_port' are both {}; they need different ports",
                    config.port
                ),
            ));
        }
        for section in &root.sections {
            config.clients.push(client(root, section)?);
        }
        Ok(config)
    }
}

/// Read and validate a configuration file. A relative `db` path is taken relative to the
/// directory of the file, so the monitor finds its history wherever it is started from.
pub fn load(path: &Path) -> Result<MonitorConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        path: Some(path.to_path_buf()),
        line: 0,
        message: format!("cannot read: {e}"),
    })?;
    let mut config = from_str(&text, Some(path))?;
    if config.db.is_relative() {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            config.db = dir.join(&config.db);
        }
    }
    Ok(config)
}

/// Validate configuration text; `path` only names the file in error messages.
pub fn from_str(text: &str, path: Option<&Path>) -> Result<MonitorConfig, ConfigError> {
    let root = parse_ini(text).map_err(|e| e.in_file(path))?;
    MonitorConfig::from_ini(&root).map_err(|e| e.in_file(path))
}

fn client(root: &Section, section: &Section) -> Result<ClientConfig, ConfigError> {
    let path = [root, section];
    if !is_valid_name(&section.name) {
        return Err(ConfigError::at(
            section.line,
            format!(
                "bad client name '{}': use letters, digits, '_', '-', '.'",
                section.name
            ),
        ));
    }
    let mut client = ClientConfig::new(section.name.clone(), "localhost", 0);
    let mut has_port = false;
    for entry in &section.entries {
        match entry.key.as_str() {
            "enabled" => {
                let text = scalar(entry, &path)?;
                client.enabled = parse_bool(text).ok_or_else(|| {
                    ConfigError::at(
                        entry.line,
                        format!("bad value '{text}' for 'enabled': expected true or false"),
                    )
                })?;
            }
            "host" => {
                let text = scalar(entry, &path)?;
                if text.is_empty() || text.contains(char::is_whitespace) {
                    return Err(ConfigError::at(
                        entry.line,
                        format!("bad host '{text}' {}", where_in(&path)),
                    ));
                }
                client.host = text.to_owned();
            }
            "port" => {
                client.port = port(entry, &path)?;
                has_port = true;
            }
            "description" => client.description = text(entry),
            "template" => {
                let text = scalar(entry, &path)?;
                if text.is_empty()
                    || text.starts_with('.')
                    || text.contains(['/', '\\'])
                    || text.contains(char::is_whitespace)
                {
                    return Err(ConfigError::at(
                        entry.line,
                        format!("bad template '{text}': expected a file name like psu.html"),
                    ));
                }
                client.template = text.to_owned();
            }
            "poll_interval" => client.poll_interval = Some(seconds(entry, &path)?),
            _ => return Err(unknown_key(entry, &path)),
        }
    }
    for sub in &section.sections {
        match sub.name.as_str() {
            "alarms" => client.alarms = alarms(&[root, section, sub])?,
            "plots" => client.plots = plots(&[root, section, sub])?,
            _ => {
                return Err(ConfigError::at(
                    sub.line,
                    format!(
                        "unknown section {} {} (expected [[alarms]] or [[plots]])",
                        sub.header(),
                        where_in(&path)
                    ),
                ))
            }
        }
    }
    if !has_port {
        return Err(ConfigError::at(
            section.line,
            format!("{} has no 'port'", section.header()),
        ));
    }
    Ok(client)
}

fn alarms(path: &[&Section; 3]) -> Result<Vec<AlarmLimit>, ConfigError> {
    let section = path[2];
    if let Some(sub) = section.sections.first() {
        return Err(unknown_section(sub, path));
    }
    let mut limits = Vec::new();
    for entry in &section.entries {
        let items = match &entry.value {
            IniValue::List(items) if items.len() == 2 => items,
            _ => {
                return Err(ConfigError::at(
                    entry.line,
                    format!(
                        "alarm '{}' needs 'low, high' (leave a side empty for no limit, \
                         e.g. ', 1.5')",
                        entry.key
                    ),
                ))
            }
        };
        let limit = |text: &str| -> Result<Option<f64>, ConfigError> {
            if text.is_empty() {
                return Ok(None);
            }
            parse_number(text).map(Some).ok_or_else(|| {
                ConfigError::at(
                    entry.line,
                    format!("bad limit '{text}' for alarm '{}'", entry.key),
                )
            })
        };
        let (low, high) = (limit(&items[0])?, limit(&items[1])?);
        match (low, high) {
            (None, None) => {
                return Err(ConfigError::at(
                    entry.line,
                    format!("alarm '{}' has neither a low nor a high limit", entry.key),
                ))
            }
            (Some(low), Some(high)) if low > high => {
                return Err(ConfigError::at(
                    entry.line,
                    format!(
                        "alarm '{}': low limit {low} is above high limit {high}",
                        entry.key
                    ),
                ))
            }
            _ => {}
        }
        limits.push(AlarmLimit {
            key: entry.key.clone(),
            low,
            high,
        });
    }
    Ok(limits)
}

fn plots(path: &[&Section; 3]) -> Result<Vec<PlotConfig>, ConfigError> {
    let section = path[2];
    if let Some(entry) = section.entries.first() {
        return Err(ConfigError::at(
            entry.line,
            format!(
                "unknown key '{}' {}; each plot is a [[[subsection]]]",
                entry.key,
                where_in(path)
            ),
        ));
    }
    section
        .sections
        .iter()
        .map(|plot_section| plot(path, plot_section))
        .collect()
}

fn plot(parent: &[&Section; 3], section: &Section) -> Result<PlotConfig, ConfigError> {
    let path = [parent[0], parent[1], parent[2], section];
    if let Some(sub) = section.sections.first() {
        return Err(unknown_section(sub, &path));
    }
    if !is_valid_name(&section.name) {
        return Err(ConfigError::at(
            section.line,
            format!(
                "bad plot id '{}': use letters, digits, '_', '-', '.'",
                section.name
            ),
        ));
    }
    let mut plot = PlotConfig {
        id: section.name.clone(),
        name: section.name.clone(),
        values: Vec::new(),
        xlabel: String::new(),
        ylabel: String::new(),
        width: 800,
        height: 300,
        yscale: YScale::Linear,
    };
    let mut xlabel = None;
    for entry in &section.entries {
        match entry.key.as_str() {
            "name" => plot.name = text(entry),
            "values" => plot.values = plot_values(entry)?,
            "xlabel" => xlabel = Some(text(entry)),
            "ylabel" => plot.ylabel = text(entry),
            "width" => plot.width = pixels(entry, &path)?,
            "height" => plot.height = pixels(entry, &path)?,
            "yscale" => {
                let text = scalar(entry, &path)?;
                plot.yscale = match text.to_ascii_lowercase().as_str() {
                    "linear" => YScale::Linear,
                    "log" => YScale::Log,
                    _ => {
                        return Err(ConfigError::at(
                            entry.line,
                            format!("bad yscale '{text}': expected linear or log"),
                        ))
                    }
                };
            }
            _ => return Err(unknown_key(entry, &path)),
        }
    }
    if plot.values.is_empty() {
        return Err(ConfigError::at(
            section.line,
            format!(
                "plot {} has no 'values' (e.g. values = time, ch1_voltage)",
                section.header()
            ),
        ));
    }
    plot.xlabel = xlabel.unwrap_or_else(|| match plot.values[0].as_str() {
        "time" => "Time, UTC".to_owned(),
        abscissa => abscissa.to_owned(),
    });
    Ok(plot)
}

fn plot_values(entry: &Entry) -> Result<Vec<String>, ConfigError> {
    let items = match &entry.value {
        IniValue::List(items) => items,
        IniValue::Scalar(_) => {
            return Err(ConfigError::at(
                entry.line,
                "'values' needs the abscissa and at least one variable, \
                 e.g. values = time, ch1_voltage",
            ))
        }
    };
    let mut seen = HashSet::new();
    for item in items {
        if !is_valid_name(item) {
            return Err(ConfigError::at(
                entry.line,
                format!("bad variable name '{item}' in 'values'"),
            ));
        }
        if !seen.insert(item.as_str()) {
            return Err(ConfigError::at(
                entry.line,
                format!("'{item}' is listed twice in 'values'"),
            ));
        }
    }
    Ok(items.clone())
}

fn unknown_key(entry: &Entry, path: &[&Section]) -> ConfigError {
    ConfigError::at(
        entry.line,
        format!("unknown key '{}' {}", entry.key, where_in(path)),
    )
}

fn unknown_section(section: &Section, parent: &[&Section]) -> ConfigError {
    ConfigError::at(
        section.line,
        format!("unknown section {} {}", section.header(), where_in(parent)),
    )
}

fn scalar<'a>(entry: &'a Entry, path: &[&Section]) -> Result<&'a str, ConfigError> {
    match &entry.value {
        IniValue::Scalar(text) => Ok(text),
        IniValue::List(_) => Err(ConfigError::at(
            entry.line,
            format!(
                "'{}' {} takes one value, not a list",
                entry.key,
                where_in(path)
            ),
        )),
    }
}

/// Free text: a list is taken as written, since people write commas in descriptions.
fn text(entry: &Entry) -> String {
    match &entry.value {
        IniValue::Scalar(text) => text.clone(),
        IniValue::List(_) => entry.raw.clone(),
    }
}

fn port(entry: &Entry, path: &[&Section]) -> Result<u16, ConfigError> {
    let text = scalar(entry, path)?;
    parse_port(text).ok_or_else(|| {
        ConfigError::at(
            entry.line,
            format!(
                "bad port '{text}' for '{}' {} (expected 1..65535)",
                entry.key,
                where_in(path)
            ),
        )
    })
}

fn parse_port(text: &str) -> Option<u16> {
    text.parse::<u16>().ok().filter(|&p| p != 0)
}

fn positive_number(entry: &Entry, path: &[&Section]) -> Result<f64, ConfigError> {
    let text = scalar(entry, path)?;
    parse_number(text).filter(|&v| v > 0.0).ok_or_else(|| {
        ConfigError::at(
            entry.line,
            format!(
                "bad value '{text}' for '{}': expected a number above 0",
                entry.key
            ),
        )
    })
}

fn seconds(entry: &Entry, path: &[&Section]) -> Result<Duration, ConfigError> {
    let value = positive_number(entry, path)?;
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            ConfigError::at(
                entry.line,
                format!("'{}' = {value} s is out of range", entry.key),
            )
        })
}

fn pixels(entry: &Entry, path: &[&Section]) -> Result<u32, ConfigError> {
    let text = scalar(entry, path)?;
    text.parse::<u32>()
        .ok()
        .filter(|p| (100..=4000).contains(p))
        .ok_or_else(|| {
            ConfigError::at(
                entry.line,
                format!(
                    "bad {} '{text}' {} (expected 100..4000 pixels)",
                    entry.key,
                    where_in(path)
                ),
            )
        })
}

fn parse_client_arg(arg: &str) -> Result<(&str, &str, u16), String> {
    const SYNTAX: &str = "expected name=host:port";
    let (name, address) = arg.split_once('=').ok_or(SYNTAX)?;
    if !is_valid_name(name) {
        return Err(format!(
            "'{name}' is not a valid client name (letters, digits, '_', '-', '.')"
        ));
    }
    let (host, port_text) = address.rsplit_once(':').ok_or(SYNTAX)?;
    let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => inner,
        None if host.contains(':') => {
            return Err("write an IPv6 address in brackets, e.g. psu1=[::1]:7001".to_owned())
        }
        None => host,
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!("bad host '{host}'; {SYNTAX}"));
    }
    let port = parse_port(port_text).ok_or_else(|| format!("bad port '{port_text}' (1..65535)"))?;
    Ok((name, host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> ConfigError {
        from_str(text, Some(Path::new("monitor.ini"))).expect_err("configuration must be refused")
    }

    fn ini_err(text: &str) -> ConfigError {
        parse_ini(text).expect_err("INI text must be refused")
    }

    fn scalar_of(section: &Section, key: &str) -> String {
        match &section.entry(key).expect("key present").value {
            IniValue::Scalar(s) => s.clone(),
            other => panic!("{key} is {other:?}"),
        }
    }

    #[test]
    fn sections_nest_by_bracket_depth() {
        let root =
            parse_ini("top = 1\n[a]\nx = 1\n[[b]]\ny = 2\n[[[c]]]\nz = 3\n[[d]]\n[e]\nw = 4\n")
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
        let root = parse_ini("[a]\n[[plots]]\n[b]\n[[plots]]\n").unwrap();
        assert!(root.section("a").unwrap().section("plots").is_some());
        assert!(root.section("b").unwrap().section("plots").is_some());
    }

    #[test]
    fn comments_blanks_and_trailing_comments() {
        let root = parse_ini(
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
        let root = parse_ini(
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
        let root = parse_ini(
            "values = time, ch1_voltage,ch2_voltage\nlimits = , 1.5\nq = \"a,b\", 'c' ; x\n",
        )
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

    #[test]
    fn error_display_is_file_line_message() {
        let e = err("port = 7100\n\n[psu1]\nport = 7001\ncolour = red\n");
        assert_eq!(
            e.to_string(),
            "monitor.ini:5: unknown key 'colour' in [psu1]"
        );
        let no_path = from_str("bogus = 1\n", None).unwrap_err();
        assert_eq!(
            no_path.to_string(),
            "line 1: unknown key 'bogus' at the top level"
        );
        let missing = load(Path::new("/nonexistent/labwire/monitor.ini")).unwrap_err();
        assert_eq!(missing.line, 0);
        assert!(
            missing
                .to_string()
                .starts_with("/nonexistent/labwire/monitor.ini: cannot read"),
            "{missing}"
        );
    }

    #[test]
    fn defaults_apply() {
        let config = from_str("[psu1]\nport = 7001\n", None).unwrap();
        assert_eq!(config.name, "monitor");
        assert_eq!(config.listen, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!((config.port, config.http_port), (7100, 8888));
        assert_eq!(config.db, PathBuf::from("labwire.sqlite"));
        assert_eq!(config.poll_interval, Duration::from_secs(1));
        assert_eq!(config.store_interval, Duration::from_secs(60));
        assert_eq!(config.retention, None);
        assert_eq!(
            config.clients,
            [ClientConfig::new("psu1", "localhost", 7001)]
        );
        assert_eq!(config.clients[0].template, "default.html");
    }

    #[test]
    fn full_configuration_is_typed() {
        let config = from_str(
            "name = lab2\nlisten = 0.0.0.0\nport = 7200\nhttp_port = 8080\ndb = /var/h.sqlite\n\
             poll_interval = 0.5\nstore_interval = 30\nretention_days = 1.5\n\
             [psu1]\nenabled = no\nhost = 10.0.0.5\nport = 7001\n\
             description = Keysight E36313A, bench 2\ntemplate = psu.html\npoll_interval = 2\n\
             [[alarms]]\nch1_current = 0, 1.5\nch2_current = , 2\nch3_voltage = -1,\n\
             [[plots]]\n[[[voltages]]]\nname = Channel voltages\n\
             values = time, ch1_voltage, ch2_voltage\nxlabel = Time, UTC\n\
             ylabel = Voltage [V]\nwidth = 1000\nheight = 400\nyscale = log\n\
             [[[iv]]]\nvalues = ch1_voltage, ch1_current\n\
             [gauge1]\nport = 7011\n",
            None,
        )
        .unwrap();
        assert_eq!(config.name, "lab2");
        assert_eq!(config.listen.to_string(), "0.0.0.0");
        assert_eq!((config.port, config.http_port), (7200, 8080));
        assert_eq!(config.db, PathBuf::from("/var/h.sqlite"));
        assert_eq!(config.poll_interval, Duration::from_millis(500));
        assert_eq!(config.store_interval, Duration::from_secs(30));
        assert_eq!(config.retention, Some(Duration::from_secs(129_600)));
        let names: Vec<&str> = config.clients.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["psu1", "gauge1"]);

        let psu = &config.clients[0];
        assert!(!psu.enabled);
        assert_eq!(psu.host, "10.0.0.5");
        assert_eq!(psu.port, 7001);
        assert_eq!(psu.description, "Keysight E36313A, bench 2");
        assert_eq!(psu.template, "psu.html");
        assert_eq!(psu.poll_interval, Some(Duration::from_secs(2)));
        assert_eq!(
            psu.alarms,
            [
                AlarmLimit {
                    key: "ch1_current".into(),
                    low: Some(0.0),
                    high: Some(1.5)
                },
                AlarmLimit {
                    key: "ch2_current".into(),
                    low: None,
                    high: Some(2.0)
                },
                AlarmLimit {
                    key: "ch3_voltage".into(),
                    low: Some(-1.0),
                    high: None
                },
            ]
        );
        assert_eq!(
            psu.plots[0],
            PlotConfig {
                id: "voltages".into(),
                name: "Channel voltages".into(),
                values: vec!["time".into(), "ch1_voltage".into(), "ch2_voltage".into()],
                xlabel: "Time, UTC".into(),
                ylabel: "Voltage [V]".into(),
                width: 1000,
                height: 400,
                yscale: YScale::Log,
            }
        );
        let iv = &psu.plots[1];
        assert_eq!((iv.id.as_str(), iv.name.as_str()), ("iv", "iv"));
        assert_eq!(iv.xlabel, "ch1_voltage");
        assert_eq!((iv.width, iv.height, iv.yscale), (800, 300, YScale::Linear));
        assert!(config.clients[1].enabled);
    }

    #[test]
    fn validation_errors_name_their_line() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "port = 70000\n",
                1,
                "bad port '70000' for 'port' at the top level",
            ),
            ("http_port = 0\n", 1, "bad port '0'"),
            ("[psu1]\nport = x\n", 2, "bad port 'x' for 'port' in [psu1]"),
            ("[psu1]\nhost = a\n", 1, "[psu1] has no 'port'"),
            ("[bad name]\nport = 1\n", 1, "bad client name 'bad name'"),
            (
                "\n[psu1]\nport = 1\n[psu1]\nport = 2\n",
                4,
                "duplicate section [psu1]",
            ),
            (
                "[psu1]\nport = 1\n[[extras]]\n",
                3,
                "unknown section [[extras]] in [psu1]",
            ),
            ("[psu1]\nport = 1, 2\n", 2, "takes one value, not a list"),
            (
                "[psu1]\nport = 1\nenabled = maybe\n",
                3,
                "bad value 'maybe' for 'enabled'",
            ),
            ("poll_interval = 0\n", 1, "expected a number above 0"),
            (
                "[psu1]\nport = 1\npoll_interval = -1\n",
                3,
                "expected a number above 0",
            ),
            ("store_interval = soon\n", 1, "expected a number above 0"),
            ("listen = localhost\n", 1, "bad listen address"),
            ("port = 8888\n", 1, "'port' and 'http_port' are both 8888"),
            ("name = my monitor\n", 1, "bad monitor name"),
            (
                "[psu1]\nport = 1\ntemplate = ../x.html\n",
                3,
                "bad template",
            ),
            ("[p]\nport = 1\n[[alarms]]\nx = 1\n", 4, "needs 'low, high'"),
            (
                "[p]\nport = 1\n[[alarms]]\nx = ,\n",
                4,
                "neither a low nor a high",
            ),
            (
                "[p]\nport = 1\n[[alarms]]\nx = 2, 1\n",
                4,
                "low limit 2 is above high limit 1",
            ),
            ("[p]\nport = 1\n[[alarms]]\nx = a, 1\n", 4, "bad limit 'a'"),
            (
                "[p]\nport = 1\n[[alarms]]\n[[[x]]]\n",
                4,
                "unknown section [[[x]]] in [p] [[alarms]]",
            ),
            (
                "[p]\nport = 1\n[[plots]]\nwidth = 5\n",
                4,
                "each plot is a [[[subsection]]]",
            ),
            (
                "[p]\nport = 1\n[[plots]]\n[[[v]]]\n",
                4,
                "plot [[[v]]] has no 'values'",
            ),
            (
                "[p]\nport = 1\n[[plots]]\n[[[v]]]\nvalues = time\n",
                5,
                "at least one variable",
            ),
            (
                "[p]\nport = 1\n[[plots]]\n[[[v]]]\nvalues = time, a, a\n",
                5,
                "listed twice",
            ),
            (
                "[p]\nport = 1\n[[plots]]\n[[[v]]]\nvalues = time, a\nwidth = 99\n",
                6,
                "bad width '99'",
            ),
            (
                "[p]\nport = 1\n[[plots]]\n[[[v]]]\nvalues = time, a\nheight = 4001\n",
                6,
                "bad height",
            ),
            (
                "[p]\nport = 1\n[[plots]]\n[[[v]]]\nvalues = time, a\nyscale = ln\n",
                6,
                "bad yscale 'ln'",
            ),
            (
                "[p]\nport = 1\n[[plots]]\n[[[v]]]\nvalues = time, a\ncolour = red\n",
                6,
                "unknown key 'colour' in [p] [[plots]] [[[v]]]",
            ),
        ];
        for &(text, line, needle) in cases {
            let e = err(text);
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
            assert!(
                e.to_string().starts_with(&format!("monitor.ini:{line}: ")),
                "{e}"
            );
        }
    }

    #[test]
    fn relative_db_is_taken_from_the_config_directory() {
        let dir = std::env::temp_dir().join(format!("labwire-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("monitor.ini");
        std::fs::write(&file, "db = history.sqlite\n").unwrap();
        let relative = load(&file);
        std::fs::write(&file, "db = /abs/history.sqlite\n").unwrap();
        let absolute = load(&file);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(relative.unwrap().db, dir.join("history.sqlite"));
        assert_eq!(absolute.unwrap().db, PathBuf::from("/abs/history.sqlite"));
    }

    #[test]
    fn command_line_clients_add_or_override() {
        let mut config = from_str(
            "[psu1]\nhost = lab-pc\nport = 7001\ntemplate = psu.html\ndescription = bench\n\
             [[alarms]]\nch1_current = 0, 1.5\n",
            None,
        )
        .unwrap();
        let args = [
            "psu1=10.1.1.1:7101".to_owned(),
            "thermo=[::1]:7020".to_owned(),
        ];
        config.apply_client_overrides(&args).unwrap();
        let psu = config.client("psu1").unwrap();
        assert_eq!((psu.host.as_str(), psu.port), ("10.1.1.1", 7101));
        assert_eq!(psu.template, "psu.html");
        assert_eq!(psu.description, "bench");
        assert_eq!(psu.alarms.len(), 1);
        assert_eq!(config.clients[1], ClientConfig::new("thermo", "::1", 7020));
    }

    #[test]
    fn bad_command_line_clients_name_the_argument() {
        let cases = [
            ("psu1", "expected name=host:port"),
            ("psu1=localhost", "expected name=host:port"),
            ("psu1=localhost:0", "bad port '0'"),
            ("psu1=localhost:http", "bad port 'http'"),
            ("psu1=:7001", "bad host ''"),
            ("bad name=localhost:7001", "not a valid client name"),
            ("psu1=::1:7001", "IPv6 address in brackets"),
        ];
        for (arg, needle) in cases {
            let mut config = MonitorConfig::default();
            let e = config
                .apply_client_overrides(&[arg.to_owned()])
                .expect_err(arg);
            assert_eq!(e.line, 0);
            let shown = e.to_string();
            assert!(
                shown.starts_with(&format!("bad client argument '{arg}': ")),
                "{shown}"
            );
            assert!(shown.contains(needle), "{shown}");
            assert!(config.clients.is_empty());
        }
        let mut config = MonitorConfig::default();
        let twice = ["a=h:1".to_owned(), "a=h:2".to_owned()];
        let e = config.apply_client_overrides(&twice).unwrap_err();
        assert!(e.message.contains("given twice"), "{e}");
    }

    #[test]
    fn repository_monitor_ini_is_valid() {
        let config = from_str(include_str!("../../monitor.ini"), None).unwrap();
        assert_eq!((config.port, config.http_port), (7100, 8888));
        assert_eq!(config.db, PathBuf::from("labwire.sqlite"));
        let names: Vec<&str> = config.clients.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["gauge1", "psu1", "psu2"]);

        let gauge = config.client("gauge1").unwrap();
        assert_eq!(gauge.port, 7011);
        assert_eq!(
            gauge.alarms,
            [AlarmLimit {
                key: "pressure".into(),
                low: None,
                high: Some(1e-2)
            }]
        );
        let pressure = &gauge.plots[0];
        assert_eq!(pressure.values, ["time", "pressure"]);
        assert_eq!(pressure.yscale, YScale::Log);
        assert_eq!(pressure.ylabel, "Pressure [mbar]");

        let psu1 = config.client("psu1").unwrap();
        assert_eq!((psu1.port, psu1.template.as_str()), (7001, "psu.html"));
        assert!(psu1.alarms.iter().any(|a| a.key == "ch1_current"));
        assert!(psu1.plots.len() >= 2);
        let psu2 = config.client("psu2").unwrap();
        assert_eq!((psu2.port, psu2.template.as_str()), (7002, "psu.html"));
    }
}
