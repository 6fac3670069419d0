//! The `[mqtt]` section of `monitor.ini`, validated into [`MqttConfig`]. Its keys are
//! refused like every other unknown key; the URL, prefix and credentials are checked
//! here, at start-up, so a wrong one stops the monitor instead of a reconnect loop.

use crate::config::{scalar, unknown_key, unknown_section, ConfigError};
use crate::ini::Section;
use labwire_protocol::parse_bool;
use std::path::Path;

/// The section's name in `monitor.ini`: no client can take it.
pub const SECTION: &str = "mqtt";
/// The broker's port when the URL names none (MQTT's registered port).
pub const DEFAULT_PORT: u16 = 1883;
pub const DEFAULT_PREFIX: &str = "labwire";
/// Messages waiting for the broker, at most (`queue`); more are dropped and counted.
pub const DEFAULT_QUEUE: usize = 10_000;
const LARGEST_QUEUE: usize = 1_000_000;

/// Where and how the monitor publishes.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttConfig {
    pub host: String,
    pub port: u16,
    /// Every topic starts with `<prefix>/`.
    pub prefix: String,
    pub credentials: Option<Credentials>,
    /// 0, 1 or 2, for every publish and the command subscription.
    pub qos: u8,
    /// Commands over MQTT (`commands = true`); they need the monitor's token.
    pub commands: bool,
    /// The client id the broker sees; `labwire-<monitor name>` when unset.
    pub client_id: Option<String>,
    pub queue: usize,
}

/// The user name and password the monitor logs in with (`credentials_file`).
#[derive(Clone, PartialEq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    // The password stays out of logs and test failures.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Read `[mqtt]`; `dir` is the configuration file's directory, where a relative
/// `credentials_file` is looked for.
pub fn from_section(
    root: &Section,
    section: &Section,
    dir: &Path,
) -> Result<MqttConfig, ConfigError> {
    let path = [root, section];
    if let Some(sub) = section.sections.first() {
        return Err(unknown_section(sub, &path));
    }
    let mut url = None;
    let mut config = MqttConfig {
        host: String::new(),
        port: DEFAULT_PORT,
        prefix: DEFAULT_PREFIX.to_owned(),
        credentials: None,
        qos: 0,
        commands: false,
        client_id: None,
        queue: DEFAULT_QUEUE,
    };
    for entry in &section.entries {
        let text = scalar(entry, &path)?;
        let bad = |why: String| ConfigError::at(entry.line, why);
        match entry.key.as_str() {
            "url" => {
                let (host, port) =
                    parse_url(text).map_err(|why| bad(format!("bad url '{text}': {why}")))?;
                (config.host, config.port) = (host, port);
                url = Some(entry);
            }
            "prefix" => {
                check_prefix(text).map_err(|why| bad(format!("bad prefix '{text}': {why}")))?;
                config.prefix = text.to_owned();
            }
            "credentials_file" => {
                if text.is_empty() {
                    return Err(bad("'credentials_file' is empty".into()));
                }
                config.credentials = Some(read_credentials(&dir.join(text)).map_err(bad)?);
            }
            "qos" => {
                config.qos = match text {
                    "0" => 0,
                    "1" => 1,
                    "2" => 2,
                    _ => return Err(bad(format!("bad qos '{text}': expected 0, 1 or 2"))),
                };
            }
            "commands" => {
                config.commands = parse_bool(text).ok_or_else(|| {
                    bad(format!(
                        "bad value '{text}' for 'commands': expected true or false"
                    ))
                })?;
            }
            "client_id" => {
                let fits = !text.is_empty()
                    && text.len() <= 65_535
                    && text.chars().all(|c| c.is_ascii_graphic());
                if !fits {
                    return Err(bad(format!(
                        "bad client_id '{text}': printable ASCII without blanks"
                    )));
                }
                config.client_id = Some(text.to_owned());
            }
            "queue" => {
                config.queue = text
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=LARGEST_QUEUE).contains(n))
                    .ok_or_else(|| {
                        bad(format!(
                            "bad queue '{text}': messages waiting for the broker, 1..{LARGEST_QUEUE}"
                        ))
                    })?;
            }
            _ => {
                let mut error = unknown_key(entry, &path);
                error.message.push_str(&format!(
                    " ([{SECTION}] configures MQTT; a client cannot be named {SECTION})"
                ));
                return Err(error);
            }
        }
    }
    if url.is_none() {
        return Err(ConfigError::at(
            section.line,
            format!("[{SECTION}] has no 'url' (e.g. url = mqtt://localhost:1883)"),
        ));
    }
    Ok(config)
}

/// `mqtt://host[:port]`: the broker. TLS (`mqtts://`) is not built in, and a password in
/// the URL would sit in `monitor.ini` for everyone who can read it.
pub fn parse_url(url: &str) -> Result<(String, u16), String> {
    let Some(rest) = url.strip_prefix("mqtt://") else {
        if url.starts_with("mqtts://") || url.starts_with("ssl://") {
            return Err(
                "TLS is not supported; use mqtt:// to a broker on a trusted \
                        network, or a local TLS-terminating proxy"
                    .into(),
            );
        }
        return Err("expected mqtt://host:port".into());
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('@') {
        return Err("put the user name and password in 'credentials_file', not the url".into());
    }
    if rest.contains(['/', '?', '#']) {
        return Err("expected mqtt://host:port, nothing after the port".into());
    }
    let (host, port) = match rest.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or("an IPv6 address needs its closing ']'")?;
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(after.strip_prefix(':').ok_or("expected ':' after ']'")?),
                ),
            }
        }
        None if rest.matches(':').count() > 1 => {
            return Err("write an IPv6 address in brackets: mqtt://[::1]:1883".into())
        }
        None => match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        },
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(text) => text
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("bad port '{text}' (1..65535)"))?,
    };
    Ok((host.to_owned(), port))
}

/// A prefix is one or more topic levels, none of them empty, without MQTT's wildcards,
/// and not starting with `$` (the broker's own topics).
fn check_prefix(prefix: &str) -> Result<(), &'static str> {
    if prefix.is_empty() {
        return Err("empty");
    }
    if prefix.starts_with('$') {
        return Err("topics starting with '$' belong to the broker");
    }
    if prefix.contains(['+', '#', '\0']) || prefix.contains(char::is_whitespace) {
        return Err("no '+', '#' or blanks in a topic");
    }
    if prefix.split('/').any(str::is_empty) {
        return Err("no empty levels: no leading, trailing or double '/'");
    }
    Ok(())
}

/// The user name on the first line, the password on the second, each taken as written
/// (only the line end removed), so a password may hold any character. It must not be
/// open to others, nor writable by its group: owner-only (600), or read by the
/// monitor's group as the token files under systemd are (`install -m 640 -g labwire`).
pub fn read_credentials(path: &Path) -> Result<Credentials, String> {
    let shown = path.display();
    owner_only(path)?;
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("{shown}: cannot read credentials file: {err}"))?;
    let mut lines = text.lines();
    let username = lines.next().unwrap_or_default();
    let password = lines.next().unwrap_or_default();
    if username.is_empty() || password.is_empty() {
        return Err(format!(
            "{shown}: expected the user name on the first line and the password on the second"
        ));
    }
    if lines.any(|line| !line.is_empty()) {
        return Err(format!(
            "{shown}: only two lines, the user name and the password"
        ));
    }
    Ok(Credentials {
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

#[cfg(unix)]
fn owner_only(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::metadata(path)
        .map_err(|err| format!("{}: cannot read credentials file: {err}", path.display()))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o027 != 0 {
        return Err(format!(
            "{}: credentials file is open to others (mode {mode:03o}); chmod 600 or 640 it",
            path.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn owner_only(_path: &Path) -> Result<(), String> {
    Ok(())
}

/// Commands over MQTT are checked with the monitor's token, so they need one.
pub fn check_token(config: &MqttConfig, token: Option<&str>) -> Result<(), String> {
    if config.commands && token.is_none() {
        return Err(format!(
            "[{SECTION}] commands = true needs the monitor's token (--token-file): \
             every command message must carry it"
        ));
    }
    Ok(())
}

impl MqttConfig {
    /// The client id: `client_id`, or `labwire-<monitor name>`.
    pub fn client_id(&self, monitor: &str) -> String {
        self.client_id
            .clone()
            .unwrap_or_else(|| format!("labwire-{monitor}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_str;

    fn mqtt(text: &str) -> Result<MqttConfig, ConfigError> {
        from_str(text, Some(Path::new("monitor.ini"))).map(|c| c.mqtt.expect("an [mqtt] section"))
    }

    #[test]
    fn the_section_is_read_with_its_defaults() {
        let config = mqtt("[mqtt]\nurl = mqtt://broker.lab:1884\n").unwrap();
        assert_eq!((config.host.as_str(), config.port), ("broker.lab", 1884));
        assert_eq!(config.prefix, "labwire");
        assert_eq!(
            (config.qos, config.commands, config.queue),
            (0, false, DEFAULT_QUEUE)
        );
        assert_eq!(config.client_id("m1"), "labwire-m1");
        let config = mqtt(
            "[psu1]\nport = 7001\n[mqtt]\nurl = mqtt://[::1]\nprefix = lab/b2\nqos = 2\n\
             commands = true\nclient_id = bench-2\nqueue = 50\n",
        )
        .unwrap();
        assert_eq!((config.host.as_str(), config.port), ("::1", DEFAULT_PORT));
        assert_eq!((config.prefix.as_str(), config.qos), ("lab/b2", 2));
        assert!(config.commands);
        assert_eq!(
            (config.client_id("m1"), config.queue),
            ("bench-2".into(), 50)
        );
        let whole = from_str("[psu1]\nport = 7001\n[mqtt]\nurl = mqtt://h\n", None).unwrap();
        assert_eq!(whole.clients.len(), 1, "[mqtt] is no client");
        assert_eq!(from_str("", None).unwrap().mqtt, None);
    }

    #[test]
    fn bad_settings_name_their_line() {
        let cases: &[(&str, usize, &str)] = &[
            ("[mqtt]\nprefix = x\n", 1, "[mqtt] has no 'url'"),
            ("[mqtt]\nurl = tcp://h:1\n", 2, "expected mqtt://host:port"),
            ("[mqtt]\nurl = mqtts://h:8883\n", 2, "TLS is not supported"),
            (
                "[mqtt]\nurl = mqtt://u:p@h\n",
                2,
                "in 'credentials_file', not the url",
            ),
            ("[mqtt]\nurl = mqtt://h:0\n", 2, "bad port '0'"),
            ("[mqtt]\nurl = mqtt://h:x\n", 2, "bad port 'x'"),
            ("[mqtt]\nurl = mqtt://:1883\n", 2, "no host"),
            (
                "[mqtt]\nurl = mqtt://::1:1883\n",
                2,
                "IPv6 address in brackets",
            ),
            (
                "[mqtt]\nurl = mqtt://h/topic\n",
                2,
                "nothing after the port",
            ),
            (
                "[mqtt]\nurl = mqtt://h\nprefix = a/+\n",
                3,
                "bad prefix 'a/+'",
            ),
            (
                "[mqtt]\nurl = mqtt://h\nprefix = /a\n",
                3,
                "no empty levels",
            ),
            (
                "[mqtt]\nurl = mqtt://h\nprefix = $SYS\n",
                3,
                "belong to the broker",
            ),
            ("[mqtt]\nurl = mqtt://h\nqos = 3\n", 3, "bad qos '3'"),
            (
                "[mqtt]\nurl = mqtt://h\ncommands = yes please\n",
                3,
                "bad value",
            ),
            ("[mqtt]\nurl = mqtt://h\nqueue = 0\n", 3, "bad queue '0'"),
            (
                "[mqtt]\nurl = mqtt://h\nclient_id = a b\n",
                3,
                "bad client_id",
            ),
            (
                "[mqtt]\nurl = mqtt://h\nport = 7001\n",
                3,
                "unknown key 'port' in [mqtt] ([mqtt] configures MQTT",
            ),
            (
                "[mqtt]\nurl = mqtt://h\n[[topics]]\n",
                3,
                "unknown section [[topics]] in [mqtt]",
            ),
            (
                "[mqtt]\nurl = mqtt://h\ncredentials_file =\n",
                3,
                "'credentials_file' is empty",
            ),
        ];
        for &(text, line, needle) in cases {
            let e = mqtt(text).expect_err(text);
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn credentials_are_two_lines_for_the_owner_only() {
        let dir = labwire_testkit::TempDir::new("mqtt-credentials");
        let file = dir.path().join("broker.credentials");
        let write = |text: &str, mode: u32| {
            std::fs::write(&file, text).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            }
        };
        let ini = dir.path().join("monitor.ini");
        std::fs::write(
            &ini,
            "[mqtt]\nurl = mqtt://h\ncredentials_file = broker.credentials\n",
        )
        .unwrap();

        write("monitor\nread by the group\n", 0o640);
        let config = crate::config::load(&ini).unwrap().mqtt.unwrap();
        assert_eq!(config.credentials.unwrap().password, "read by the group");
        write("monitor\np@ss, word; #1\n", 0o600);
        let config = crate::config::load(&ini).unwrap().mqtt.unwrap();
        let credentials = config.credentials.unwrap();
        assert_eq!(credentials.username, "monitor");
        assert_eq!(credentials.password, "p@ss, word; #1");
        assert!(
            !format!("{credentials:?}").contains("p@ss"),
            "no password in Debug"
        );

        for (text, mode, needle) in [
            (
                "monitor\nsecret\n",
                0o644,
                "open to others (mode 644); chmod 600 or 640 it",
            ),
            ("monitor\nsecret\n", 0o660, "open to others (mode 660)"),
            ("monitor\nsecret\n", 0o602, "open to others"),
            ("monitor\n", 0o600, "the password on the second"),
            ("\nsecret\n", 0o600, "the user name on the first line"),
            ("a\nb\nc\n", 0o600, "only two lines"),
        ] {
            write(text, mode);
            let e = crate::config::load(&ini).unwrap_err();
            assert_eq!(e.line, 3, "{e}");
            assert!(e.message.contains(needle), "{text:?} {mode:o}: {e}");
        }
        std::fs::remove_file(&file).unwrap();
        let e = crate::config::load(&ini).unwrap_err();
        assert!(e.message.contains("cannot read credentials file"), "{e}");
    }

    #[test]
    fn commands_need_the_monitor_token() {
        let mut config = mqtt("[mqtt]\nurl = mqtt://h\n").unwrap();
        assert_eq!(check_token(&config, None), Ok(()));
        config.commands = true;
        assert!(check_token(&config, None)
            .unwrap_err()
            .contains("--token-file"));
        assert_eq!(check_token(&config, Some("t")), Ok(()));
    }
}
