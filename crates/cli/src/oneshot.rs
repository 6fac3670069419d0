//! The commands that are one request and its reply: `send`, `wait`, and writing a line to
//! the monitor's log. The reply is printed as the server sent it (coloured, or as JSON);
//! an `error` reply is a failure, so the exit status says it.

use crate::output::{line, to_json};
use crate::target::{append_words, request, request_from_words};
use crate::{Context, Failure};
use labwire_protocol::{format_number, Message};
use std::time::Duration;

/// How long the monitor waits when `wait` names no timeout.
const MONITOR_WAIT_DEFAULT: f64 = 60.0;

pub async fn send(context: &Context, words: &[String]) -> Result<(), Failure> {
    let message = if context.target.monitor {
        let (client, command) = match words {
            [client, rest @ ..] if !rest.is_empty() => (client, rest),
            _ => {
                return Err(Failure::Usage(
                    "usage: labwire send <client> <command> [arguments...]".into(),
                ))
            }
        };
        let relayed = request_from_words(command)?;
        let mut message = Message::new("send").arg(client.clone()).arg(relayed.name);
        message.args.extend(relayed.args);
        message.kwargs.extend(relayed.kwargs);
        message
    } else {
        request_from_words(words)?
    };
    let client = context.target.connect().await?;
    show_reply(context, request(&client, message).await?)
}

pub async fn wait(context: &Context, condition: &str, timeout: Option<f64>) -> Result<(), Failure> {
    if !context.target.monitor {
        return Err(Failure::Usage(
            "wait is a command of the monitor, not of a daemon: drop --daemon".into(),
        ));
    }
    let mut message = Message::new("wait");
    append_words(&mut message, &[condition.to_string()]);
    if let Some(seconds) = timeout {
        message.set("timeout", format_number(seconds));
    }
    let waited = timeout.unwrap_or(MONITOR_WAIT_DEFAULT);
    let client = context
        .target
        .connect_with(context.target.timeout + Duration::from_secs_f64(waited))
        .await?;
    show_reply(context, request(&client, message).await?)
}

pub async fn write_log(context: &Context, level: &str, words: &[String]) -> Result<(), Failure> {
    if !context.target.monitor {
        return Err(Failure::Usage(
            "a daemon's log is read-only: write to the monitor's log (drop --daemon)".into(),
        ));
    }
    if words.is_empty() {
        return Err(Failure::Usage(
            "usage: labwire log <debug|info|warning|error> <message...>".into(),
        ));
    }
    // One positional argument keeps the message exactly, `=` and all.
    let message = Message::new("log").arg(level).arg(words.join(" "));
    let client = context.target.connect().await?;
    show_reply(context, request(&client, message).await?)
}

/// Print a reply on stdout; an `error` reply becomes the failure the exit status shows.
pub fn show_reply(context: &Context, reply: Message) -> Result<(), Failure> {
    if reply.is_error() {
        return Err(Failure::Refused(Box::new(reply)));
    }
    if context.json {
        println!("{}", to_json(&reply));
    } else {
        println!("{}", line(&reply, context.colour));
    }
    Ok(())
}
