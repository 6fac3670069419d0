//! Tab completion for the interactive session, from what the server says about itself:
//! command names and argument synopses from `help` (a client's through `send <client>
//! help`), client names from `clients`, variables from `get_status`, alarms from
//! `alarms`. The words already typed are read with the protocol's own parser.

use labwire_client::synopsis::{self, Argument};
use labwire_client::Client;
use labwire_protocol::{parse_line, Message};
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::Helper;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::runtime::Handle;

/// A completion must not make a person wait on a slow server.
const ASK_WITHIN: Duration = Duration::from_millis(800);

/// The words the session itself answers (not sent to the server).
pub const LOCAL_COMMANDS: &[&str] = &["quit"];

/// A server's commands: name -> synopsis, in `help` order.
type Commands = Arc<Vec<(String, String)>>;

pub struct Completion {
    runtime: Handle,
    client: Client,
    monitor: bool,
    /// `help` of the server (key "") and of the monitor's clients (key: client name).
    help: Mutex<HashMap<String, Commands>>,
}

impl Completion {
    pub fn new(runtime: Handle, client: Client, monitor: bool) -> Self {
        Completion {
            runtime,
            client,
            monitor,
            help: Mutex::new(HashMap::new()),
        }
    }

    fn ask(&self, request: Message) -> Option<Message> {
        let reply = self
            .runtime
            // The timer must be made inside the runtime: this thread is not one of its own.
            .block_on(async {
                tokio::time::timeout(ASK_WITHIN, self.client.request(request)).await
            })
            .ok()?
            .ok()?;
        (!reply.is_error()).then_some(reply)
    }

    /// The commands of the server (`None`) or of one of the monitor's clients.
    fn commands(&self, client: Option<&str>) -> Commands {
        let key = client.unwrap_or_default().to_string();
        if let Some(known) = self.help.lock().expect("help cache").get(&key) {
            return known.clone();
        }
        let request = match client {
            Some(client) => Message::new("send").arg(client).arg("help"),
            None => Message::new("help"),
        };
        let Some(reply) = self.ask(request) else {
            return Commands::default();
        };
        let commands: Commands = Arc::new(reply.kwargs);
        self.help
            .lock()
            .expect("help cache")
            .insert(key, commands.clone());
        commands
    }

    fn reply_keys(&self, request: Message, keep: impl Fn(&str) -> bool) -> Vec<String> {
        self.ask(request)
            .map(|reply| {
                reply
                    .kwargs
                    .into_iter()
                    .map(|(key, _)| key)
                    .filter(|key| keep(key))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn clients(&self) -> Vec<String> {
        self.reply_keys(Message::new("clients"), |key| !key.contains('.'))
    }

    fn variables(&self) -> Vec<String> {
        self.reply_keys(Message::new("get_status"), |key| key.contains('.'))
    }

    fn alarms(&self) -> Vec<String> {
        let mut alarms = self.reply_keys(Message::new("alarms"), |key| key != "n");
        alarms.push("all".into());
        alarms
    }

    /// Where the word being completed starts in `line`, and its candidates.
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<Pair>) {
        let before = &line[..pos];
        let start = before.rfind([' ', '\t']).map_or(0, |i| i + 1);
        let word = &before[start..];
        let head = before[..start].trim();
        // A tag alone (`@7 `) is followed by a command name, like an empty line.
        let typed = if head.is_empty() || (head.starts_with('@') && !head.contains([' ', '\t'])) {
            None
        } else {
            match parse_line(head) {
                Ok(typed) => Some(typed),
                // Inside an open quote, or after a malformed word: nothing to offer.
                Err(_) => return (start, Vec::new()),
            }
        };
        let candidates = match typed {
            None => {
                let mut names: Vec<String> =
                    self.commands(None).iter().map(|(n, _)| n.clone()).collect();
                names.extend(LOCAL_COMMANDS.iter().map(|c| c.to_string()));
                words(&names, word)
            }
            Some(typed) => self.arguments(&typed, word),
        };
        (start, candidates)
    }

    fn arguments(&self, typed: &Message, word: &str) -> Vec<Pair> {
        let positional = typed.args.len();
        let only_positional_so_far = typed.kwargs.is_empty();
        match typed.name.as_str() {
            "send" if self.monitor && positional == 0 && only_positional_so_far => {
                words(&self.clients(), word)
            }
            "send" if self.monitor && positional == 1 => {
                let names: Vec<String> = self
                    .commands(Some(&typed.args[0]))
                    .iter()
                    .map(|(n, _)| n.clone())
                    .collect();
                words(&names, word)
            }
            "send" if self.monitor => {
                let commands = self.commands(Some(&typed.args[0]));
                let relayed = Message {
                    name: typed.args[1].clone(),
                    args: typed.args[2..].to_vec(),
                    kwargs: typed.kwargs.clone(),
                    ..Message::default()
                };
                arguments_of(&commands, &relayed, word)
            }
            "wait" if self.monitor && positional == 0 => {
                // No blank after a variable: the operator comes next.
                prefixed(&self.variables(), word, "")
            }
            "ack" if self.monitor && positional == 0 => words(&self.alarms(), word),
            "help" if positional == 0 => {
                let names: Vec<String> =
                    self.commands(None).iter().map(|(n, _)| n.clone()).collect();
                words(&names, word)
            }
            _ => arguments_of(&self.commands(None), typed, word),
        }
    }
}

/// Keys not given yet (`ch=`), the values of the argument at this position, or, after
/// `key=`, that key's values.
fn arguments_of(commands: &Commands, typed: &Message, word: &str) -> Vec<Pair> {
    let Some((_, synopsis)) = commands.iter().find(|(name, _)| *name == typed.name) else {
        return Vec::new();
    };
    let arguments = synopsis::arguments(synopsis);
    if let Some((key, _)) = word.split_once('=') {
        let values: Vec<String> = arguments
            .iter()
            .find(|a| a.key.as_deref() == Some(key))
            .map(|a| a.choices().iter().map(|c| format!("{key}={c}")).collect())
            .unwrap_or_default();
        return words(&values, word);
    }
    // Positional values fill the synopsis in order, after the keyed ones given.
    let given = typed.args.len();
    let unused: Vec<&Argument> = arguments
        .iter()
        .filter(|a| a.key.as_deref().is_none_or(|key| typed.get(key).is_none()))
        .collect();
    let mut candidates = Vec::new();
    if let Some(here) = unused.get(given) {
        candidates.extend(words(&here.choices(), word));
    }
    let keys: Vec<String> = unused
        .iter()
        .filter_map(|a| a.key.as_ref().map(|key| format!("{key}=")))
        .collect();
    candidates.extend(prefixed(&keys, word, ""));
    candidates
}

/// Whole words: a blank follows them.
fn words(names: &[String], word: &str) -> Vec<Pair> {
    prefixed(names, word, " ")
}

fn prefixed(names: &[String], word: &str, after: &str) -> Vec<Pair> {
    let mut seen = std::collections::HashSet::new();
    names
        .iter()
        .filter(|name| name.starts_with(word) && seen.insert(name.as_str()))
        .map(|name| Pair {
            display: name.clone(),
            replacement: format!("{name}{after}"),
        })
        .collect()
}

/// The session's rustyline helper: completion only.
pub struct SessionHelper(pub Completion);

impl Completer for SessionHelper {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        Ok(self.0.candidates(line, pos))
    }
}

impl Hinter for SessionHelper {
    type Hint = String;
}
impl Highlighter for SessionHelper {}
impl Validator for SessionHelper {}
impl Helper for SessionHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands(list: &[(&str, &str)]) -> Commands {
        Arc::new(
            list.iter()
                .map(|(n, s)| (n.to_string(), s.to_string()))
                .collect(),
        )
    }

    fn replacements(pairs: Vec<Pair>) -> Vec<String> {
        pairs.into_iter().map(|p| p.replacement).collect()
    }

    #[test]
    fn keys_then_values() {
        let psu = commands(&[("output", "ch=<1-3> state=<on|off>")]);
        let typed = parse_line("output").unwrap();
        assert_eq!(
            replacements(arguments_of(&psu, &typed, "")),
            ["1 ", "2 ", "3 ", "ch=", "state="]
        );
        let typed = parse_line("output ch=1").unwrap();
        assert_eq!(replacements(arguments_of(&psu, &typed, "st")), ["state="]);
        assert_eq!(
            replacements(arguments_of(&psu, &typed, "state=o")),
            ["state=on ", "state=off "]
        );
        let typed = parse_line("output 2").unwrap();
        assert_eq!(
            replacements(arguments_of(&psu, &typed, "o")),
            ["on ", "off "]
        );
        let typed = parse_line("bogus").unwrap();
        assert!(arguments_of(&psu, &typed, "").is_empty());
    }
}
