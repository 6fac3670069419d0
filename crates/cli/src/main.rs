//! `labwire`, the command-line client of the monitor (default 127.0.0.1:7100) or, with
//! `--daemon HOST:PORT`, of one daemon. Built on `labwire-client`; every line it reads or
//! writes goes through `labwire-protocol`. The reference is `docs/cli.md`.
//!
//! Layout:
//! - [`cli`]: the command line (clap).
//! - [`target`]: the server, connecting and authenticating, requests from shell words.
//! - [`output`]: replies coloured by kind, JSON for scripts, aligned tables.
//! - [`status`]: `labwire status [client]`.
//! - [`oneshot`]: `send`, `wait` and `log <level> <message>`: one request, its reply.
//! - [`watch`]: `labwire watch`, a live table from `subscribe status`.
//! - [`follow`]: `labwire log -f`, the log as it comes; [`stored_log`]: `labwire log`,
//!   the stored log through the monitor's `logs`.
//! - [`history`] and [`http`]: `labwire history`, from the monitor's web port.
//! - [`repl`] and [`complete`]: `labwire` alone, the interactive session and its tab
//!   completion from `help` (read by `labwire_client::synopsis`).
//!
//! Exit status: 0 success, 1 an `error` reply (or another failure), 2 a bad command line,
//! 3 the server could not be reached or the connection was lost.

mod cli;
mod complete;
mod follow;
mod history;
mod http;
mod oneshot;
mod output;
mod repl;
mod status;
mod stored_log;
mod target;
mod watch;

use clap::Parser;
use cli::{Cli, Command};
use labwire_protocol::Message;
use std::process::ExitCode;
use target::Target;

/// Why a command did not succeed; each kind has its exit status.
#[derive(Debug)]
pub enum Failure {
    /// The command line (or a file it names) is wrong: exit 2.
    Usage(String),
    /// The server answered `error ...`: the reply is printed, exit 1.
    Refused(Box<Message>),
    /// Something else went wrong (an unknown client, a web port answering 404): exit 1.
    Failed(String),
    /// No connection, or it was lost: exit 3.
    Unreachable(String),
}

/// What every command needs.
pub struct Context {
    pub target: Target,
    pub json: bool,
    pub colour: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let colour = output::use_colour(cli.colour) && !cli.json;
    let outcome = Target::from_cli(&cli).and_then(|target| {
        let context = Context {
            target,
            json: cli.json,
            colour,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|err| Failure::Failed(format!("cannot start the runtime: {err}")))?;
        match cli.command {
            None => repl::run(&context.target, colour, &runtime),
            Some(command) => runtime.block_on(run(&context, command)),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Refused(reply)) => {
            if cli.json {
                println!("{}", output::to_json(&reply));
            } else {
                println!("{}", output::line(&reply, colour));
            }
            ExitCode::from(1)
        }
        Err(Failure::Failed(message)) => {
            eprintln!("labwire: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(message)) => {
            eprintln!("labwire: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Unreachable(message)) => {
            eprintln!("labwire: {message}");
            ExitCode::from(3)
        }
    }
}

async fn run(context: &Context, command: Command) -> Result<(), Failure> {
    match command {
        Command::Status { client } => status::run(context, client.as_deref()).await,
        Command::Send { words } => oneshot::send(context, &words).await,
        Command::Wait { condition, timeout } => oneshot::wait(context, &condition, timeout).await,
        Command::Watch { filters } => watch::run(context, &filters).await,
        Command::Log {
            follow: true,
            write_level: None,
            filters,
            ..
        } if filters.is_empty() => follow::run(context).await,
        Command::Log {
            follow: false,
            write_level: Some(level),
            message,
            filters,
        } if filters.is_empty() => oneshot::write_log(context, &level, &message).await,
        Command::Log {
            follow: false,
            write_level: None,
            filters,
            ..
        } => stored_log::run(context, &filters).await,
        Command::Log {
            follow: true,
            write_level: None,
            ..
        } => Err(Failure::Usage(
            "log -f follows every line as it comes; --source, --level, --text, --from, --to \
             and --limit are for the stored log (leave -f out)"
                .into(),
        )),
        Command::Log { follow: true, .. } => Err(Failure::Usage(
            "log -f follows the log; to write a line leave -f out".into(),
        )),
        Command::Log { .. } => Err(Failure::Usage(
            "writing a line takes no filters: `labwire log <level> <message...>`".into(),
        )),
        Command::History {
            vars,
            from,
            to,
            csv,
            limit,
            http,
        } => {
            history::run(
                context,
                history::Query {
                    vars: &vars,
                    from: from.as_deref(),
                    to: to.as_deref(),
                    csv,
                    limit,
                    http: http.as_deref(),
                },
            )
            .await
        }
    }
}
