//! `labwire` alone: an interactive session with line editing (rustyline), a history kept
//! across sessions, tab completion ([`crate::complete`]) and replies coloured by kind.
//! Lines are sent as typed; `update`/`log` lines of a `subscribe` are printed above the
//! prompt as they come. `quit` or Ctrl-D leaves; `exit` (which stops the server) asks
//! first; Ctrl-C clears the line, or gives up waiting for a reply.

use crate::complete::{Completion, SessionHelper};
use crate::output::{line, table};
use crate::target::{request, Target};
use crate::Failure;
use labwire_protocol::{parse_line, parse_number, ErrorCode, Message};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{CompletionType, Config, Editor, ExternalPrinter};
use std::path::PathBuf;
use std::time::Duration;
use tokio::runtime::Runtime;

/// Entries kept in the history file.
const HISTORY_SIZE: usize = 2000;
/// A session's connection lets a request wait this long (a `wait` of a week); Ctrl-C gives
/// up sooner, and each request has its own deadline.
const CONNECTION_WAIT: Duration = Duration::from_secs(8 * 86_400);

/// The history file: `$XDG_STATE_HOME/labwire/history`, else
/// `~/.local/state/labwire/history`.
pub fn history_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state"))
        })?;
    Some(state.join("labwire").join("history"))
}

pub fn run(target: &Target, colour: bool, runtime: &Runtime) -> Result<(), Failure> {
    let client = runtime.block_on(target.connect_with(CONNECTION_WAIT))?;
    let id = runtime.block_on(request(&client, Message::new("get_id")))?;
    let name = id.get("name").unwrap_or(target.what()).to_string();
    let kind = id.get("type").unwrap_or(target.what()).to_string();
    let failed = |err: ReadlineError| Failure::Failed(format!("line editor: {err}"));
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .history_ignore_dups(true)
        .and_then(|builder| builder.max_history_size(HISTORY_SIZE))
        .map_err(failed)?
        .build();
    let mut editor: Editor<SessionHelper, DefaultHistory> =
        Editor::with_config(config).map_err(failed)?;
    editor.set_helper(Some(SessionHelper(Completion::new(
        runtime.handle().clone(),
        client.clone(),
        target.monitor,
    ))));
    let history = history_path();
    if let Some(path) = &history {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = editor.load_history(path);
    }
    if let Some(mut events) = client.take_events() {
        let mut printer = editor.create_external_printer().ok();
        runtime.spawn(async move {
            while let Some(event) = events.recv().await {
                let text = line(&event, colour);
                match printer.as_mut() {
                    Some(printer) => {
                        let _ = printer.print(text);
                    }
                    None => println!("{text}"),
                }
            }
        });
    }
    println!(
        "{kind} {name} at {}. Tab completes, `help` lists the commands, quit or Ctrl-D leaves.",
        target.address
    );
    let prompt = format!("{name}> ");
    loop {
        let typed = match editor.readline(&prompt) {
            Ok(typed) => typed,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(err) => return Err(failed(err)),
        };
        let typed = typed.trim();
        if typed.is_empty() {
            continue;
        }
        if typed == "quit" {
            break;
        }
        // Saved at once, so a session that is killed loses nothing it sent.
        let _ = editor.add_history_entry(typed);
        if let Some(path) = &history {
            let _ = editor.append_history(path);
        }
        let message = match parse_line(typed) {
            Ok(message) => message,
            Err(err) => {
                // What a server would answer, without sending it.
                let reply = Message::error_reply(None, None, ErrorCode::Parse, err.to_string());
                println!("{}", line(&reply, colour));
                continue;
            }
        };
        let exit = message.name == "exit";
        if exit
            && !confirm(
                &mut editor,
                &format!("exit stops {kind} {name}. Stop it? [y/N] "),
            )
        {
            println!("not sent (quit or Ctrl-D leaves the session)");
            continue;
        }
        let within = deadline(&message, target.timeout);
        let outcome = runtime.block_on(async {
            tokio::select! {
                reply = tokio::time::timeout(within, client.request(message)) => Some(reply),
                _ = tokio::signal::ctrl_c() => None,
            }
        });
        match outcome {
            None => println!("interrupted: a reply that comes later is ignored"),
            Some(Err(_)) => println!("no reply within {} s", within.as_secs_f64()),
            Some(Ok(Err(err))) => {
                if !client.is_connected() {
                    return Err(Failure::Unreachable(format!(
                        "the connection to {} ended: {err}",
                        target.address
                    )));
                }
                println!("{err}");
            }
            Some(Ok(Ok(reply))) => {
                show(&reply, colour);
                if exit && !reply.is_error() {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// `help` as a table of commands and synopses; any other reply as its line.
fn show(reply: &Message, colour: bool) {
    if reply.name == "help" && reply.args.is_empty() && reply.kwargs.len() > 1 {
        let rows: Vec<Vec<String>> = reply
            .kwargs
            .iter()
            .map(|(command, synopsis)| vec![command.clone(), synopsis.clone()])
            .collect();
        print!("{}", table(&["COMMAND", "ARGUMENTS"], &rows, colour));
    } else {
        println!("{}", line(reply, colour));
    }
}

/// A `wait` may take its own timeout (the monitor's default is 60 s) plus the usual.
fn deadline(message: &Message, usual: Duration) -> Duration {
    if message.name != "wait" {
        return usual;
    }
    let waited = message
        .get("timeout")
        .and_then(parse_number)
        .filter(|seconds| (0.0..=604_800.0).contains(seconds))
        .unwrap_or(60.0);
    usual + Duration::from_secs_f64(waited)
}

fn confirm(editor: &mut Editor<SessionHelper, DefaultHistory>, question: &str) -> bool {
    matches!(
        editor.readline(question).as_deref().map(str::trim),
        Ok("y" | "Y" | "yes")
    )
}
