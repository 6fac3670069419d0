//! `--config <file>`: a daemon's settings from a file, for services
//! (`/etc/labwire/<instance>.conf`). One `key = value` per line; the keys are the long
//! flags, with `_` or `-` (`poll_interval = 0.5`, `device = 192.168.1.20`); a flag
//! without a value (`simulate`) takes `true` or `false`; `#` or `;` start a comment at
//! the start of a line or after a blank; quotes keep a value's blanks and comment signs.
//! Each value becomes the default of its flag, so a flag given on the command line wins;
//! a flag that may be given more than once (`--probe`) may have its key on several lines.
//! An unknown key, a bad value or a line that is not `key = value` stops the daemon with
//! `<file>:<line>: <what is wrong>`, exit 2, as a bad flag does.

use clap::builder::Resettable;
use clap::{ArgAction, Command};
use std::ffi::OsString;
use std::path::Path;

/// Flags a file cannot set.
const NOT_IN_A_FILE: &[&str] = &["config", "help", "version"];

/// One `key = value` line.
#[derive(Debug, PartialEq, Eq)]
pub struct Setting {
    pub line: usize,
    pub key: String,
    pub value: String,
}

/// The path after `--config` (or in `--config=PATH`) among the command-line words.
pub fn config_path(args: &[OsString]) -> Option<OsString> {
    let mut words = args.iter().skip(1);
    while let Some(word) = words.next() {
        if word == "--" {
            return None;
        }
        if word == "--config" {
            return words.next().cloned();
        }
        if let Some(path) = word.to_str().and_then(|w| w.strip_prefix("--config=")) {
            return Some(path.into());
        }
    }
    None
}

/// The settings of a file's text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Vec<Setting>, String> {
    let mut settings: Vec<Setting> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.trim();
        if content.is_empty() || content.starts_with(['#', ';']) {
            continue;
        }
        if content.starts_with('[') {
            return Err(format!(
                "{file}:{line}: a daemon's settings have no sections: {content}"
            ));
        }
        let Some((key, value)) = content.split_once('=') else {
            return Err(format!("{file}:{line}: expected `key = value`: {content}"));
        };
        let key = key.trim().replace('-', "_");
        if !labwire_protocol::is_valid_name(&key) {
            return Err(format!("{file}:{line}: {:?} is not a key", key));
        }
        let value = value_of(value.trim())
            .ok_or_else(|| format!("{file}:{line}: unclosed quote in the value of {key}"))?;
        settings.push(Setting { line, key, value });
    }
    Ok(settings)
}

/// A value without its trailing comment; quotes (`"..."` or `'...'`) keep everything.
fn value_of(text: &str) -> Option<String> {
    for quote in ['"', '\''] {
        if let Some(rest) = text.strip_prefix(quote) {
            let end = rest.find(quote)?;
            return Some(rest[..end].to_string());
        }
    }
    let mut end = text.len();
    for (at, _) in text.match_indices([' ', '\t']) {
        if text[at..].trim_start().starts_with(['#', ';']) {
            end = at;
            break;
        }
    }
    Some(text[..end].trim().to_string())
}

/// `command` with the file's settings as the defaults of its flags. Errors name the file
/// and line.
pub fn apply(mut command: Command, path: &Path) -> Result<Command, String> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("{file}: cannot read the settings file: {err}"))?;
    let settings = parse(&file, &text)?;
    for (index, setting) in settings.iter().enumerate() {
        let Setting { line, key, value } = setting;
        let line = *line;
        let arg = command
            .get_arguments()
            .find(|arg| {
                arg.get_long().map(|long| long.replace('-', "_")).as_deref() == Some(key.as_str())
            })
            .filter(|arg| !NOT_IN_A_FILE.contains(&arg.get_id().as_str()))
            .cloned()
            .ok_or_else(|| format!("{file}:{line}: unknown key '{key}'"))?;
        let flag = format!("--{}", arg.get_long().unwrap_or_default());
        let id = arg.get_id().clone();
        if matches!(arg.get_action(), ArgAction::SetTrue) {
            match labwire_protocol::parse_bool(value) {
                Some(true) => {
                    // A default satisfies no `required_unless_present` in clap; a flag the
                    // file turns on (`simulate`) is what makes another one (`--device`)
                    // unneeded.
                    command = command
                        .mut_arg(id, |a| a.default_value("true"))
                        .mut_args(|a| a.required_unless_present(Resettable::<clap::Id>::Reset))
                }
                Some(false) => {}
                None => {
                    return Err(format!(
                        "{file}:{line}: {key} = {value:?}: expected true or false"
                    ))
                }
            }
            continue;
        }
        check_value(&arg, &flag, value)
            .map_err(|detail| format!("{file}:{line}: {key} = {value:?}: {detail}"))?;
        let repeats = matches!(arg.get_action(), ArgAction::Append);
        if let Some(earlier) = settings[..index].iter().find(|s| s.key == *key) {
            if !repeats {
                return Err(format!(
                    "{file}:{line}: {key} is set twice (also on line {})",
                    earlier.line
                ));
            }
            continue;
        }
        // A flag given more than once (`--probe`) takes every line with its key.
        let values: Vec<String> = settings[index..]
            .iter()
            .filter(|s| s.key == *key)
            .map(|s| s.value.clone())
            .collect();
        // A default satisfies no requirement in clap: a flag set by the file counts as given.
        command = command.mut_arg(id, |a| {
            a.default_values(values)
                .required_unless_present(Resettable::<clap::Id>::Reset)
        });
    }
    Ok(command)
}

/// The flag's own parser checks the value, alone, so that the error can name the line.
fn check_value(arg: &clap::Arg, flag: &str, value: &str) -> Result<(), String> {
    let alone = arg
        .clone()
        .required(false)
        .required_unless_present(Resettable::<clap::Id>::Reset)
        .conflicts_with(Resettable::<clap::Id>::Reset);
    Command::new("settings")
        .no_binary_name(true)
        .arg(alone)
        .try_get_matches_from([flag, value])
        .map(|_| ())
        .map_err(|err| {
            let first = err.to_string();
            let first = first.lines().next().unwrap_or_default();
            match first.trim_start_matches("error: ") {
                "" => err.kind().as_str().unwrap_or("invalid value").to_string(),
                detail => detail.to_string(),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_comments_and_quotes() {
        let text = "# psu on bench 2\n\nlisten = 0.0.0.0:7001\npoll-interval=0.5 ; faster\n\
                    name = \"psu 1 # not a comment\"\nsimulate = true\ndevice = lab#2\n";
        let settings = parse("p.conf", text).unwrap();
        let pairs: Vec<(&str, &str, usize)> = settings
            .iter()
            .map(|s| (s.key.as_str(), s.value.as_str(), s.line))
            .collect();
        assert_eq!(
            pairs,
            [
                ("listen", "0.0.0.0:7001", 3),
                ("poll_interval", "0.5", 4),
                ("name", "psu 1 # not a comment", 5),
                ("simulate", "true", 6),
                ("device", "lab#2", 7),
            ]
        );
    }

    #[test]
    fn malformed_lines_name_the_line() {
        assert_eq!(
            parse("p.conf", "a = 1\nnonsense\n").unwrap_err(),
            "p.conf:2: expected `key = value`: nonsense"
        );
        assert!(parse("p.conf", "[psu1]\n")
            .unwrap_err()
            .starts_with("p.conf:1:"));
        assert!(parse("p.conf", "a = \"open\n")
            .unwrap_err()
            .starts_with("p.conf:1:"));
    }

    #[test]
    fn the_config_flag_is_found_before_clap_reads_the_rest() {
        let words = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            config_path(&words(&["d", "--simulate", "--config", "a.conf"])),
            Some("a.conf".into())
        );
        assert_eq!(
            config_path(&words(&["d", "--config=b.conf"])),
            Some("b.conf".into())
        );
        assert_eq!(config_path(&words(&["d", "--", "--config", "x"])), None);
        assert_eq!(config_path(&words(&["d"])), None);
    }
}
