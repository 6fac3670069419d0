//! The monitor's `monitor.ini` schema: the tree read by [`crate::ini`] validated into a
//! typed [`MonitorConfig`] ([`load`], [`from_str`]).
//!
//! The validation knows the keys of the monitor and of each client and refuses anything
//! else, so a typo is an error instead of a silently ignored setting. Free-text keys
//! (`description`, `name`, labels) take the value as written when it contains commas, so
//! `description = Keysight E36313A, bench 2` means what it says. Paths (`db`, `token_file`,
//! `template_dir`, `frames_dir`, `[mqtt]`'s `credentials_file`) are relative to the
//! configuration file's directory. `[mqtt]` is the one section that is not a client
//! ([`crate::mqtt::settings`]).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::ini::ConfigError;
use crate::ini::{where_in, Entry, IniValue, Section};
pub use labwire_plot::YScale;
use labwire_protocol::{is_valid_name, parse_bool, parse_number};

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
    /// Per rollup tier (`rollup_10s_days`, `rollup_1m_days`, `rollup_10m_days`,
    /// `rollup_1h_days`): buckets
    /// older than this are deleted; `None` keeps them.
    pub rollup_retention: [Option<Duration>; crate::store::TIERS.len()],
    /// In file order, then clients added on the command line.
    pub clients: Vec<ClientConfig>,
    /// Where user block templates live (`template_dir`): a client's `template =` names a
    /// file here or a built-in one. Already resolved against the file's directory.
    pub template_dir: Option<PathBuf>,
    /// Where camera frames are stored (`frames_dir`); `None`: beside the database, see
    /// [`MonitorConfig::frames_dir`]. Already resolved against the file's directory.
    pub frames_dir: Option<PathBuf>,
    /// Publishing to an MQTT broker (`[mqtt]`); `None`: no MQTT.
    pub mqtt: Option<crate::mqtt::MqttConfig>,
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
            rollup_retention: [None; crate::store::TIERS.len()],
            clients: Vec::new(),
            template_dir: None,
            frames_dir: None,
            mqtt: None,
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
    /// The daemon's secret (`token_file`, read at load): the monitor authenticates with it.
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

impl MonitorConfig {
    /// Where camera frames go: `frames_dir`, or `<db name without extension>-frames` in
    /// the database's directory (`labwire.sqlite` -> `labwire-frames/`).
    pub fn frames_dir(&self) -> PathBuf {
        if let Some(dir) = &self.frames_dir {
            return dir.clone();
        }
        if is_postgres_db(&self.db) {
            return PathBuf::from("labwire-frames");
        }
        let stem = self
            .db
            .file_stem()
            .map_or_else(|| "labwire".into(), |s| s.to_string_lossy().into_owned());
        self.db.with_file_name(format!("{stem}-frames"))
    }

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

    /// `dir` is the configuration file's directory: relative paths are taken from there.
    fn from_ini(root: &Section, dir: &Path) -> Result<Self, ConfigError> {
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
                    let db = path_value(entry, &[root])?;
                    if crate::store::is_postgres_url(db) {
                        db.parse::<postgres::Config>().map_err(|e| {
                            ConfigError::at(entry.line, format!("bad PostgreSQL URL '{db}': {e}"))
                        })?;
                    }
                    config.db = PathBuf::from(db);
                }
                "poll_interval" => config.poll_interval = seconds(entry, &[root])?,
                "store_interval" => config.store_interval = seconds(entry, &[root])?,
                "template_dir" => {
                    let template_dir = dir.join(path_value(entry, &[root])?);
                    if !template_dir.is_dir() {
                        return Err(ConfigError::at(
                            entry.line,
                            format!(
                                "'template_dir' {} is not a directory",
                                template_dir.display()
                            ),
                        ));
                    }
                    config.template_dir = Some(template_dir);
                }
                "frames_dir" => {
                    config.frames_dir = Some(dir.join(path_value(entry, &[root])?));
                }
                "retention_days" => config.retention = Some(days(entry, &[root])?),
                key => match rollup_tier(key) {
                    Some(tier) => config.rollup_retention[tier] = Some(days(entry, &[root])?),
                    None => return Err(unknown_key(entry, &[root])),
                },
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
            if section.name == crate::mqtt::settings::SECTION {
                config.mqtt = Some(crate::mqtt::settings::from_section(root, section, dir)?);
                continue;
            }
            config
                .clients
                .push(client(root, section, dir, config.template_dir.as_deref())?);
        }
        Ok(config)
    }
}

/// Read and validate a configuration file. Relative paths (`db`, `token_file`,
/// `template_dir`) are taken relative to the directory of the file, so the monitor finds
/// them wherever it is started from.
pub fn load(path: &Path) -> Result<MonitorConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        path: Some(path.to_path_buf()),
        line: 0,
        message: format!("cannot read: {e}"),
    })?;
    from_str(&text, Some(path))
}

/// Validate configuration text; `path` names the file in error messages, and its directory
/// is where relative paths start (the current directory without one).
pub fn from_str(text: &str, path: Option<&Path>) -> Result<MonitorConfig, ConfigError> {
    let dir = path.and_then(Path::parent).unwrap_or(Path::new(""));
    let root = crate::ini::parse(text).map_err(|e| e.in_file(path))?;
    let mut config = MonitorConfig::from_ini(&root, dir).map_err(|e| e.in_file(path))?;
    if !is_postgres_db(&config.db) {
        config.db = dir.join(&config.db);
    } else if config.frames_dir.is_none() {
        config.frames_dir = Some(dir.join("labwire-frames"));
    }
    Ok(config)
}

/// A path value: one non-empty scalar.
fn path_value<'a>(entry: &'a Entry, path: &[&Section]) -> Result<&'a str, ConfigError> {
    let text = scalar(entry, path)?;
    if text.is_empty() {
        return Err(ConfigError::at(
            entry.line,
            format!("'{}' is empty", entry.key),
        ));
    }
    Ok(text)
}

fn client(
    root: &Section,
    section: &Section,
    dir: &Path,
    template_dir: Option<&Path>,
) -> Result<ClientConfig, ConfigError> {
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
                let in_dir = template_dir.is_some_and(|d| d.join(text).is_file());
                if !in_dir && !crate::web::blocks::is_built_in(text) {
                    let searched = template_dir.map_or_else(
                        || "no 'template_dir' is set".to_owned(),
                        |d| format!("not in template_dir {}", d.display()),
                    );
                    return Err(ConfigError::at(
                        entry.line,
                        format!(
                            "template '{text}' is not built in ({}) and {searched}",
                            crate::web::blocks::BUILT_IN.join(", ")
                        ),
                    ));
                }
                client.template = text.to_owned();
            }
            "token_file" => {
                let file = dir.join(path_value(entry, &path)?);
                let token = labwire_daemon::cli::read_token_file(&file)
                    .map_err(|why| ConfigError::at(entry.line, why))?;
                client.token = Some(token);
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
                plot.yscale = text.parse().map_err(|_| {
                    ConfigError::at(
                        entry.line,
                        format!("bad yscale '{text}': expected linear or log"),
                    )
                })?;
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

pub(crate) fn unknown_key(entry: &Entry, path: &[&Section]) -> ConfigError {
    ConfigError::at(
        entry.line,
        format!("unknown key '{}' {}", entry.key, where_in(path)),
    )
}

pub(crate) fn unknown_section(section: &Section, parent: &[&Section]) -> ConfigError {
    ConfigError::at(
        section.line,
        format!("unknown section {} {}", section.header(), where_in(parent)),
    )
}

pub(crate) fn scalar<'a>(entry: &'a Entry, path: &[&Section]) -> Result<&'a str, ConfigError> {
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

/// Whether `db` is a `postgresql://` URL rather than a file.
fn is_postgres_db(db: &Path) -> bool {
    db.to_str().is_some_and(crate::store::is_postgres_url)
}

/// A retention in days (fractions allowed).
fn days(entry: &Entry, path: &[&Section]) -> Result<Duration, ConfigError> {
    let days = positive_number(entry, path)?;
    Duration::try_from_secs_f64(days * 86_400.0)
        .map_err(|_| ConfigError::at(entry.line, format!("'{}' is too large", entry.key)))
}

/// The rollup tier a `rollup_<tier>_days` key names.
fn rollup_tier(key: &str) -> Option<usize> {
    let name = key.strip_prefix("rollup_")?.strip_suffix("_days")?;
    crate::store::TIERS
        .iter()
        .position(|tier| tier.name == name)
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
    fn frames_go_beside_the_database_unless_configured() {
        let config = from_str("db = data/h.sqlite\n", Some(Path::new("/lab/monitor.ini"))).unwrap();
        assert_eq!(config.frames_dir(), PathBuf::from("/lab/data/h-frames"));
        let config = from_str(
            "db = h.sqlite\nframes_dir = images\n",
            Some(Path::new("/lab/monitor.ini")),
        )
        .unwrap();
        assert_eq!(config.frames_dir(), PathBuf::from("/lab/images"));
        let empty = from_str("frames_dir =\n", None).unwrap_err();
        assert!(
            empty.to_string().contains("'frames_dir' is empty"),
            "{empty}"
        );
    }

    #[test]
    fn a_postgresql_url_is_kept_as_it_is() {
        let ini = "name = lab2\ndb = postgresql://labwire@db.lab:5433/history\n";
        let config = from_str(ini, Some(Path::new("/lab/monitor.ini"))).unwrap();
        assert_eq!(
            config.db,
            PathBuf::from("postgresql://labwire@db.lab:5433/history")
        );
        assert_eq!(config.frames_dir(), PathBuf::from("/lab/labwire-frames"));
        let bad = from_str("db = postgresql://labwire@db.lab:port/x\n", None).unwrap_err();
        assert!(bad.to_string().contains("bad PostgreSQL URL"), "{bad}");
    }

    #[test]
    fn each_rollup_tier_has_its_retention() {
        let config = from_str(
            "rollup_1m_days = 30
rollup_1h_days = 3650
",
            None,
        )
        .unwrap();
        let day = 86_400;
        assert_eq!(
            config.rollup_retention,
            [
                None,
                Some(Duration::from_secs(30 * day)),
                None,
                Some(Duration::from_secs(3650 * day))
            ]
        );
        for (text, why) in [
            ("rollup_1m_days = 0\n", "expected a number above 0"),
            ("rollup_1m_days = 1e300\n", "'rollup_1m_days' is too large"),
            ("rollup_5m_days = 3\n", "unknown key 'rollup_5m_days'"),
        ] {
            let err = from_str(text, None).unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
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

    /// A fresh directory under the system's temporary one, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("labwire-config-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn token_files_are_read_from_the_config_directory() {
        let dir = TempDir::new("token");
        std::fs::write(dir.0.join("psu.token"), "  s3cret\n").unwrap();
        std::fs::write(dir.0.join("empty.token"), " \n").unwrap();
        let file = dir.0.join("monitor.ini");
        let load_text = |text: &str| {
            std::fs::write(&file, text).unwrap();
            load(&file)
        };

        let config =
            load_text("[psu1]\nport = 7001\ntoken_file = psu.token\n[g]\nport = 2\n").unwrap();
        assert_eq!(config.clients[0].token.as_deref(), Some("s3cret"));
        assert_eq!(config.clients[1].token, None);
        let absolute = format!(
            "[psu1]\nport = 7001\ntoken_file = {}\n",
            dir.0.join("psu.token").display()
        );
        assert_eq!(
            load_text(&absolute).unwrap().clients[0].token.as_deref(),
            Some("s3cret")
        );

        for (text, needle) in [
            (
                "[psu1]\nport = 7001\ntoken_file = empty.token\n",
                "token file is empty",
            ),
            (
                "[psu1]\nport = 7001\ntoken_file = missing.token\n",
                "cannot read token file",
            ),
            (
                "[psu1]\nport = 7001\ntoken_file =\n",
                "'token_file' is empty",
            ),
        ] {
            let e = load_text(text).unwrap_err();
            assert_eq!(e.line, 3, "{e}");
            assert!(e.message.contains(needle), "{e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("{}:3: ", file.display())),
                "{e}"
            );
        }
    }

    #[test]
    fn templates_are_built_in_or_in_template_dir() {
        let dir = TempDir::new("templates");
        std::fs::create_dir(dir.0.join("views")).unwrap();
        std::fs::write(dir.0.join("views/chamber.html"), "<p>{{client}}</p>").unwrap();
        let file = dir.0.join("monitor.ini");
        let load_text = |text: &str| {
            std::fs::write(&file, text).unwrap();
            load(&file)
        };

        let config = load_text(
            "template_dir = views\n[c1]\nport = 1\ntemplate = chamber.html\n\
             [p1]\nport = 2\ntemplate = psu.html\n",
        )
        .unwrap();
        assert_eq!(config.template_dir, Some(dir.0.join("views")));
        assert_eq!(config.clients[0].template, "chamber.html");
        assert_eq!(config.clients[1].template, "psu.html");

        let cases: &[(&str, usize, &str)] = &[
            (
                "template_dir = views\n[c1]\nport = 1\ntemplate = oven.html\n",
                4,
                "template 'oven.html' is not built in (default.html, psu.html, gauge.html, cryocon.html, ferment.html, clusterctrl.html, ccd.html) and not in template_dir",
            ),
            (
                "[c1]\nport = 1\ntemplate = chamber.html\n",
                3,
                "no 'template_dir' is set",
            ),
            ("template_dir = nowhere\n", 1, "is not a directory"),
            ("template_dir = views/chamber.html\n", 1, "is not a directory"),
        ];
        for &(text, line, needle) in cases {
            let e = load_text(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("{}:{line}: ", file.display())),
                "{e}"
            );
        }
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
        assert_eq!(names[..3], ["gauge1", "psu1", "psu2"]);
        // Every client is a daemon the demo starts, on that client's port.
        let demo = include_str!("../../scripts/demo");
        for client in &config.clients {
            let listen = format!("--listen 127.0.0.1:{}", client.port);
            assert!(
                demo.contains(&listen),
                "{}: no `{listen}` in scripts/demo",
                client.name
            );
        }

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
        let cryo = config.client("cryo").unwrap();
        assert_eq!((cryo.port, cryo.template.as_str()), (7021, "cryocon.html"));
        assert!(cryo.plots[0]
            .values
            .contains(&"loop1_profile_setpoint".into()));
        let ferment = config.client("ferment1").unwrap();
        assert_eq!(
            (ferment.port, ferment.template.as_str()),
            (7031, "ferment.html")
        );
        assert!(ferment.plots[0].values.contains(&"profile_setpoint".into()));
    }
}
