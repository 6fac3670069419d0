//! The [`Service`] a server puts behind its built-ins, and [`DeviceService`], the one
//! every device daemon runs: status from the cache, commands through the hardware task.

use crate::device::{CommandSpec, Device, Error};
use crate::hardware::{self, HardwareConfig, Job};
use crate::status::StatusCache;
use labwire_protocol::{parse_line, ErrorCode, Message};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What a server does beyond the built-ins (`get_id`, `help`, `auth`, `exit`,
/// `subscribe`): a device daemon is one service, the monitor's command port another.
pub trait Service: Send + Sync + 'static {
    /// `type=` in the `id` reply.
    fn kind(&self) -> &str;

    /// The service's own commands (routed to [`Service::handle`]), for `help`.
    fn commands(&self) -> &[CommandSpec];

    /// Write the reply to `get_status` (terminator included). The TCP server sends
    /// these bytes as they are: this is the fast path a poller hits.
    fn write_status(&self, out: &mut Vec<u8>, request: &Message);

    /// The reply to `get_status` as a message, for callers that are not a connection
    /// (the monitor's web page). The default reads back [`Service::write_status`];
    /// a service that holds its status as values can build the message directly.
    fn status_reply(&self, request: &Message) -> Message {
        let mut out = Vec::new();
        self.write_status(&mut out, request);
        let text = String::from_utf8_lossy(&out);
        parse_line(text.trim_end()).unwrap_or_else(|err| {
            Error::new(ErrorCode::Internal, format!("status line: {err}")).to_reply(request)
        })
    }

    /// The synopsis `help` shows for `get_status` (e.g. `[format=json]`).
    fn status_synopsis(&self) -> &'static str {
        ""
    }

    /// Whether `command` takes a payload (`bytes=N`). Payloads of other commands are
    /// refused and skipped unread, so nobody can make a server buffer data it never uses.
    fn accepts_payload(&self, _command: &str) -> bool {
        false
    }

    /// Pre-encoded event lines for `subscribe <topic>`; `None` for an unknown topic.
    fn subscribe(&self, topic: &str) -> Option<broadcast::Receiver<Arc<str>>>;

    /// Answer one of [`Service::commands`]. `peer` is the requesting connection. The
    /// future is dropped, unfinished, when that connection closes.
    fn handle(&self, request: Message, peer: SocketAddr) -> impl Future<Output = Message> + Send;

    /// A connection opened (`true`) or closed (`false`).
    fn connection_changed(&self, _peer: SocketAddr, _open: bool) {}
}

/// A device daemon as a [`Service`]: status from the cache, commands through the
/// hardware task's queue.
pub struct DeviceService {
    kind: &'static str,
    commands: Vec<CommandSpec>,
    jobs: mpsc::Sender<Job>,
    status: StatusCache,
}

const RECONNECT: CommandSpec = CommandSpec {
    name: "reconnect",
    synopsis: "(drop the hardware link and connect again now)",
};

impl DeviceService {
    /// Start `device`'s hardware task on `tracker` (it stops with `shutdown`) and return
    /// the service that talks to it.
    pub fn start<D: Device>(
        device: D,
        hardware: HardwareConfig,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> DeviceService {
        let status = StatusCache::new();
        let (jobs, job_queue) = mpsc::channel(64);
        let mut commands = device.commands().to_vec();
        commands.push(RECONNECT);
        let service = DeviceService {
            kind: device.kind(),
            commands,
            jobs,
            status: status.clone(),
        };
        tracker.spawn(hardware::run(device, status, hardware, job_queue, shutdown));
        service
    }

    pub fn status(&self) -> &StatusCache {
        &self.status
    }
}

fn stopped(request: &Message) -> Message {
    Error::new(ErrorCode::Internal, "the hardware task has stopped").to_reply(request)
}

impl Service for DeviceService {
    fn kind(&self) -> &str {
        self.kind
    }

    fn commands(&self) -> &[CommandSpec] {
        &self.commands
    }

    fn write_status(&self, out: &mut Vec<u8>, request: &Message) {
        self.status.write_status_reply(out, request.tag.as_deref());
    }

    fn subscribe(&self, topic: &str) -> Option<broadcast::Receiver<Arc<str>>> {
        match topic {
            "status" => Some(self.status.subscribe()),
            "log" => Some(crate::logbus::subscribe()),
            _ => None,
        }
    }

    async fn handle(&self, request: Message, _peer: SocketAddr) -> Message {
        let (reply_to, reply) = oneshot::channel();
        let job = if request.name == RECONNECT.name {
            Job::Reconnect(request.clone(), reply_to)
        } else {
            Job::Command(request.clone(), reply_to)
        };
        if self.jobs.send(job).await.is_err() {
            return stopped(&request);
        }
        reply.await.unwrap_or_else(|_| stopped(&request))
    }
}
