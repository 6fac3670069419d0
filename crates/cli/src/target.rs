//! The server a command talks to (the monitor, or one daemon with `--daemon`), the
//! connection to it, and requests built from shell words.

use crate::cli::Cli;
use crate::Failure;
use labwire_client::{Client, ClientOptions};
use labwire_protocol::{is_valid_name, parse_line, Message};
use std::time::Duration;

/// Where the commands go.
#[derive(Clone, Debug)]
pub struct Target {
    pub address: String,
    /// True for the monitor, false for a daemon (`--daemon`).
    pub monitor: bool,
    pub token: Option<String>,
    pub timeout: Duration,
}

impl Target {
    pub fn from_cli(cli: &Cli) -> Result<Target, Failure> {
        let token = match &cli.token_file {
            Some(path) => Some(read_token(path)?),
            None => None,
        };
        let (address, monitor) = match &cli.daemon {
            Some(daemon) => (daemon.clone(), false),
            None => (cli.monitor.clone(), true),
        };
        Ok(Target {
            address,
            monitor,
            token,
            timeout: Duration::from_secs_f64(cli.timeout),
        })
    }

    pub fn what(&self) -> &'static str {
        if self.monitor {
            "monitor"
        } else {
            "daemon"
        }
    }

    /// Connect, and authenticate when a token was given. Requests may take up to
    /// `request_timeout`.
    pub async fn connect_with(&self, request_timeout: Duration) -> Result<Client, Failure> {
        let options = ClientOptions {
            request_timeout,
            connect_timeout: self.timeout,
            ..ClientOptions::default()
        };
        let client = Client::connect(self.address.as_str(), options)
            .await
            .map_err(|err| {
                Failure::Unreachable(format!(
                    "cannot connect to the {} at {}: {err}",
                    self.what(),
                    self.address
                ))
            })?;
        if let Some(token) = &self.token {
            let reply = request(&client, Message::new("auth").kwarg("token", token)).await?;
            if reply.is_error() {
                return Err(Failure::Refused(Box::new(reply)));
            }
        }
        Ok(client)
    }

    pub async fn connect(&self) -> Result<Client, Failure> {
        self.connect_with(self.timeout).await
    }
}

/// One request; an `error` reply is `Ok` (the caller decides), a lost connection is not.
pub async fn request(client: &Client, message: Message) -> Result<Message, Failure> {
    client
        .request(message)
        .await
        .map_err(|err| Failure::Unreachable(format!("{}: {err}", client.peer_addr())))
}

fn read_token(path: &std::path::Path) -> Result<String, Failure> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        Failure::Usage(format!("{}: cannot read token file: {err}", path.display()))
    })?;
    match text.trim() {
        "" => Err(Failure::Usage(format!(
            "{}: token file is empty",
            path.display()
        ))),
        token => Ok(token.to_string()),
    }
}

/// A request from shell words: the first is the command, a word `key=value` (a valid key
/// before its first `=`) is a keyword argument, any other word a positional one. The
/// shell has already removed the quoting, so `name="cold finger"` arrives as one word and
/// is sent as the value `cold finger`. One word holding blanks is read as a whole line
/// (`labwire send psu1 'set_name ch=1 name="cold finger"'`).
pub fn request_from_words(words: &[String]) -> Result<Message, Failure> {
    let (name, rest) = words
        .split_first()
        .ok_or_else(|| Failure::Usage("no command given".into()))?;
    if rest.is_empty() && name.contains([' ', '\t']) {
        return parse_line(name).map_err(|err| Failure::Usage(format!("{name:?}: {err}")));
    }
    if !is_valid_name(name) {
        return Err(Failure::Usage(format!(
            "{name:?} is not a command name (letters, digits, '_', '-', '.')"
        )));
    }
    let mut message = Message::new(name.clone());
    append_words(&mut message, rest);
    Ok(message)
}

/// Add shell words to `message` as its arguments (see [`request_from_words`]).
pub fn append_words(message: &mut Message, words: &[String]) {
    for word in words {
        match word.split_once('=') {
            Some((key, value)) if is_valid_name(key) => message.set(key, value),
            _ => message.args.push(word.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn words_become_positional_and_keyword_arguments() {
        let m = request_from_words(&words(&["set_name", "ch=1", "name=cold finger", "x"])).unwrap();
        assert_eq!(m.name, "set_name");
        assert_eq!(m.get("name"), Some("cold finger"));
        assert_eq!(m.args, ["x"]);
        assert_eq!(m.to_string(), "set_name x ch=1 name=\"cold finger\"");
        let m = request_from_words(&words(&["wait", "psu1.ch1_output==1"])).unwrap();
        assert_eq!(m.get("psu1.ch1_output"), Some("=1"));
        let m = request_from_words(&words(&["x", "=a", "a b=c"])).unwrap();
        assert_eq!(m.args, ["=a", "a b=c"]);
    }

    #[test]
    fn one_word_with_blanks_is_a_line() {
        let m = request_from_words(&words(&["set_name ch=1 name=\"cold finger\""])).unwrap();
        assert_eq!(m.get("name"), Some("cold finger"));
        assert!(request_from_words(&words(&["set_name \"open"])).is_err());
        assert!(request_from_words(&words(&["x=1 y"])).is_err());
        assert!(request_from_words(&words(&["a=b"])).is_err());
    }
}
