//! `labwire log -f`: the log lines of `subscribe log` as they come, until Ctrl-C.

use crate::output::{log_line, to_json};
use crate::target::request;
use crate::{Context, Failure};
use labwire_protocol::Message;

pub async fn run(context: &Context) -> Result<(), Failure> {
    let client = context.target.connect().await?;
    let mut events = client
        .take_events()
        .expect("a new connection has its events");
    let reply = request(&client, Message::new("subscribe").arg("log")).await?;
    if reply.is_error() {
        return Err(Failure::Refused(Box::new(reply)));
    }
    // One Ctrl-C listener for the whole loop: a new one each turn would miss a SIGINT
    // that arrives while a line is being printed (the handler is installed, so the signal
    // no longer stops the process by itself).
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            _ = &mut interrupted => return Ok(()),
            event = events.recv() => match event {
                Some(event) if event.name == "log" => {
                    if context.json {
                        println!("{}", to_json(&event));
                    } else {
                        println!("{}", log_line(&event, context.colour));
                    }
                }
                Some(_) => {}
                None => return Err(Failure::Unreachable(format!(
                    "the {} at {} closed the connection", context.target.what(), context.target.address
                ))),
            }
        }
    }
}
