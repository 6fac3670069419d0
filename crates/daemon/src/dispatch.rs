//! The one routing of a request, for the TCP server and for callers without a connection
//! (the monitor's web page): access control, the built-ins `get_id` and `help`, the
//! service's commands, and `unknown_command`. `get_status` and the service's commands are
//! returned as routes rather than answered, so the server can write the pre-encoded
//! status bytes and watch its peer while a command runs; [`answer`] does the rest for
//! callers that just want the reply.

use crate::device::{CommandSpec, Error};
use crate::service::Service;
use labwire_protocol::{ErrorCode, Message, PROTOCOL_VERSION};
use std::net::SocketAddr;

/// The built-ins every caller answers; `get_status`'s synopsis is the service's.
fn builtin_commands<S: Service>(service: &S) -> [CommandSpec; 3] {
    [
        CommandSpec {
            name: "get_id",
            synopsis: "",
        },
        CommandSpec {
            name: "get_status",
            synopsis: service.status_synopsis(),
        },
        CommandSpec {
            name: "help",
            synopsis: "[<command>]",
        },
    ]
}

/// The built-ins only a connection answers: they change or end the connection.
pub const CONNECTION_COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "auth",
        synopsis: "token=<secret>",
    },
    CommandSpec {
        name: "subscribe",
        synopsis: "<status|log>",
    },
    CommandSpec {
        name: "unsubscribe",
        synopsis: "<status|log>",
    },
    CommandSpec {
        name: "exit",
        synopsis: "",
    },
];

/// Commands allowed before `auth` when a token is configured.
const OPEN_COMMANDS: &[&str] = &["get_id", "help", "auth"];

/// Who answers: `name=` and `version=` of the `id` reply.
#[derive(Clone, Copy, Debug)]
pub struct Identity<'a> {
    pub name: &'a str,
    pub version: &'a str,
}

/// Who is asking.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub peer: SocketAddr,
    /// Holds the token, or none is needed.
    pub authenticated: bool,
    /// A protocol connection, which answers [`CONNECTION_COMMANDS`] itself.
    pub connection: bool,
}

/// Where a request goes.
#[derive(Debug)]
pub enum Route {
    /// Answered already.
    Reply(Message),
    /// `get_status`: [`Service::write_status`] on a connection, else
    /// [`Service::status_reply`].
    Status,
    /// One of [`Service::commands`]: await [`Service::handle`].
    Service,
    /// One of [`CONNECTION_COMMANDS`], from a connection.
    Connection,
}

/// Route `request` from `caller`.
pub fn route<S: Service>(
    service: &S,
    identity: Identity<'_>,
    request: &Message,
    caller: Caller,
) -> Route {
    let name = request.name.as_str();
    if !caller.authenticated && !OPEN_COMMANDS.contains(&name) {
        return Route::Reply(
            Error::new(
                ErrorCode::Forbidden,
                "authenticate first with: auth token=<secret>",
            )
            .to_reply(request),
        );
    }
    match name {
        "get_status" => Route::Status,
        "get_id" => Route::Reply(id_reply(
            request,
            identity.name,
            service.kind(),
            identity.version,
        )),
        "help" => {
            let builtins = builtin_commands(service);
            let own: &[CommandSpec] = match caller.connection {
                true => CONNECTION_COMMANDS,
                false => &[],
            };
            let answered = builtins.iter().chain(own).chain(service.commands());
            Route::Reply(help_reply(request, answered))
        }
        _ if is_connection_command(name) => match caller.connection {
            true => Route::Connection,
            false => Route::Reply(
                Error::new(
                    ErrorCode::Forbidden,
                    format!("{name} belongs to a connection: use the command port"),
                )
                .to_reply(request),
            ),
        },
        _ if service.commands().iter().any(|c| c.name == name) => Route::Service,
        _ => Route::Reply(
            Error::new(
                ErrorCode::UnknownCommand,
                format!("unknown command {name:?}; 'help' lists the commands"),
            )
            .to_reply(request),
        ),
    }
}

/// The reply to `request` for a caller without a connection: routes, then answers
/// `get_status` with [`Service::status_reply`] and service commands with
/// [`Service::handle`].
pub async fn answer<S: Service>(
    service: &S,
    identity: Identity<'_>,
    request: Message,
    caller: Caller,
) -> Message {
    let caller = Caller {
        connection: false,
        ..caller
    };
    match route(service, identity, &request, caller) {
        Route::Reply(reply) => reply,
        Route::Status => service.status_reply(&request),
        Route::Service => service.handle(request, caller.peer).await,
        Route::Connection => unreachable!("not routed without a connection"),
    }
}

fn is_connection_command(name: &str) -> bool {
    CONNECTION_COMMANDS.iter().any(|c| c.name == name)
}

/// The `id` reply to `get_id`.
pub fn id_reply(request: &Message, name: &str, kind: &str, version: &str) -> Message {
    Message::new("id")
        .tagged(request.tag.clone())
        .kwarg("name", name)
        .kwarg("type", kind)
        .kwarg("version", version)
        .kwarg("protocol", PROTOCOL_VERSION.to_string())
}

/// The `help` reply: every command of `commands`, or the one `help <command>` names.
pub fn help_reply<'a>(
    request: &Message,
    commands: impl Iterator<Item = &'a CommandSpec> + Clone,
) -> Message {
    let mut reply = Message::new("help").tagged(request.tag.clone());
    match request.args.first() {
        Some(wanted) => match commands.clone().find(|c| c.name == wanted) {
            Some(spec) => reply.set(spec.name, spec.synopsis),
            None => {
                let text = format!("no command {wanted:?}");
                return Error::bad_argument(text).to_reply(request);
            }
        },
        None => commands.for_each(|spec| reply.set(spec.name, spec.synopsis)),
    }
    reply
}
