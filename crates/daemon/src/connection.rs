//! One client connection. It decodes every request already buffered, appends the replies
//! to one write buffer and writes them with one call, so pipelined requests cost one read
//! and one write per batch; before a request that may take a while goes to the service,
//! earlier replies are sent. Replies leave in request order, one per request.
//!
//! While the service works on a request the connection keeps reading: a peer that closes
//! cancels its pending request (the future is dropped) and frees its slot. A read of
//! end-of-stream may be a half-close from a peer still waiting for its reply, so the
//! connection then probes with blank lines (which every reader skips): the write fails
//! once the peer is really gone.

use crate::device::Error;
use crate::dispatch::{self, Caller, Route};
use crate::room::Membership;
use crate::server::Shared;
use crate::service::Service;
use bytes::{Bytes, BytesMut};
use labwire_protocol::encode::TextSink;
use labwire_protocol::{ErrorCode, FrameError, FrameRefusal, LineCodec, Message, PayloadPolicy};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, OwnedSemaphorePermit};
use tracing::{debug, info, warn};

const INITIAL_READ_CAPACITY: usize = 1024;
/// A read buffer grown past this by one long line is given back when idle.
const SHRINK_ABOVE: usize = 64 * 1024;
/// While a request is pending, read ahead at most this much.
const READ_AHEAD: usize = 64 * 1024;
/// How often a half-closed peer is probed while its request is pending.
const PROBE_EVERY: Duration = Duration::from_millis(200);
/// A reply's payload longer than this is written from its own buffer, not copied.
const COPY_PAYLOAD_UP_TO: usize = 64 * 1024;

/// Whether the loop goes on after a request.
#[derive(PartialEq)]
enum Flow {
    Continue,
    Close,
}

/// The payload budget held by the request being read, until it is answered.
type HeldBudget = Arc<Mutex<Option<OwnedSemaphorePermit>>>;

pub(crate) struct Connection<S: Service> {
    shared: Arc<Shared<S>>,
    peer: SocketAddr,
    member: Membership,
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    codec: LineCodec,
    inbuf: BytesMut,
    held_budget: HeldBudget,
    authenticated: bool,
    failed_auths: u32,
    status_updates: Option<broadcast::Receiver<Arc<str>>>,
    log_lines: Option<broadcast::Receiver<Arc<str>>>,
    out: Vec<u8>,
    /// Large payloads of the replies in `out`, each with the length `out` had when it was
    /// queued: they are written from their own buffer (a camera frame), never copied.
    payloads: Vec<(usize, Bytes)>,
}

impl<S: Service> Connection<S> {
    pub(crate) fn new(
        shared: Arc<Shared<S>>,
        stream: TcpStream,
        peer: SocketAddr,
        member: Membership,
    ) -> Self {
        let (reader, writer) = stream.into_split();
        let held_budget = HeldBudget::default();
        let codec = LineCodec::new(shared.config.max_line, shared.config.max_payload)
            .with_payload_policy(payload_policy(&shared, &member, &held_budget));
        Connection {
            authenticated: shared.config.token.is_none(),
            shared,
            peer,
            member,
            reader,
            writer,
            codec,
            inbuf: BytesMut::with_capacity(INITIAL_READ_CAPACITY),
            held_budget,
            failed_auths: 0,
            status_updates: None,
            log_lines: None,
            out: Vec::new(),
            payloads: Vec::new(),
        }
    }

    pub(crate) async fn serve(mut self) {
        debug!("connection opened");
        self.shared.service.connection_changed(self.peer, true);
        let shutdown = self.shared.shutdown.clone();
        let evicted = self.member.entry.evicted.clone();
        'connection: loop {
            loop {
                let item =
                    match tokio_util::codec::Decoder::decode(&mut self.codec, &mut self.inbuf) {
                        Ok(Some(item)) => item,
                        Ok(None) => break,
                        Err(_) => break 'connection,
                    };
                if self.respond(item).await == Flow::Close {
                    let _ = self.flush().await;
                    break 'connection;
                }
            }
            if self.flush().await.is_err() {
                break;
            }
            if self.inbuf.is_empty() && self.inbuf.capacity() > SHRINK_ABOVE {
                self.inbuf = BytesMut::with_capacity(INITIAL_READ_CAPACITY);
            }
            tokio::select! {
                read = self.reader.read_buf(&mut self.inbuf) => match read {
                    Ok(0) | Err(_) => {
                        // A last request without terminator still gets its answer.
                        if let Ok(Some(item)) = tokio_util::codec::Decoder::decode_eof(&mut self.codec, &mut self.inbuf) {
                            self.respond(item).await;
                            let _ = self.flush().await;
                        }
                        break;
                    }
                    Ok(_) => {}
                },
                line = next_event(&mut self.status_updates) => self.out.extend_from_slice(line.as_bytes()),
                line = next_event(&mut self.log_lines) => self.out.extend_from_slice(line.as_bytes()),
                _ = evicted.cancelled() => {
                    self.say_evicted().await;
                    break;
                }
                _ = shutdown.cancelled() => break,
            }
        }
        self.shared.service.connection_changed(self.peer, false);
        debug!("connection closed");
    }

    async fn say_evicted(&mut self) {
        let limit = self.shared.config.max_connections;
        info!("closed to make room for a new connection");
        let text = format!(
            "closed to make room: the server is full (limit {limit}) and this connection \
             sent no request for the longest time"
        );
        self.reply(&Message::error_reply(None, None, ErrorCode::Busy, text));
        let _ = self.flush().await;
    }

    /// Write the replies gathered so far.
    async fn flush(&mut self) -> std::io::Result<()> {
        let mut written = 0;
        for (at, payload) in std::mem::take(&mut self.payloads) {
            self.writer.write_all(&self.out[written..at]).await?;
            self.writer.write_all(&payload).await?;
            written = at;
        }
        if written < self.out.len() {
            self.writer.write_all(&self.out[written..]).await?;
        }
        self.out.clear();
        Ok(())
    }

    fn reply(&mut self, message: &Message) {
        labwire_protocol::encode::write_message(&mut self.out, message);
        self.out.push_text("\n");
        match &message.payload {
            Some(payload) if payload.len() > COPY_PAYLOAD_UP_TO => {
                self.payloads.push((self.out.len(), payload.clone()));
            }
            Some(payload) => self.out.extend_from_slice(payload),
            None => {}
        }
    }

    fn fail(&mut self, request: &Message, code: ErrorCode, text: impl Into<String>) {
        self.reply(&Error::new(code, text).to_reply(request));
    }

    async fn respond(&mut self, item: Result<Message, FrameError>) -> Flow {
        self.member.entry.touch();
        let request = match item {
            Ok(request) => request,
            Err(err) => {
                self.reply(&err.to_reply());
                return if err.fatal {
                    Flow::Close
                } else {
                    Flow::Continue
                };
            }
        };
        let has_payload = request.payload.is_some();
        let shared = self.shared.clone();
        let caller = Caller {
            peer: self.peer,
            authenticated: self.authenticated,
            connection: true,
        };
        let flow =
            match dispatch::route(&shared.service, shared.config.identity(), &request, caller) {
                Route::Status => {
                    shared.service.write_status(&mut self.out, &request);
                    Flow::Continue
                }
                Route::Reply(reply) => {
                    self.reply(&reply);
                    Flow::Continue
                }
                Route::Service => self.run_service(&shared.service, request).await,
                Route::Connection => match request.name.as_str() {
                    "auth" => self.auth(&request).await,
                    "exit" => self.exit(&request),
                    _ => self.subscribe(&request),
                },
            };
        if has_payload {
            self.held_budget.lock().expect("budget lock").take();
        }
        flow
    }

    /// Await the service's reply while watching the peer: `Close` when it went away.
    async fn run_service(&mut self, service: &S, request: Message) -> Flow {
        // The service may take a while (hardware, `wait`): earlier replies go first.
        if self.flush().await.is_err() {
            return Flow::Close;
        }
        let entry = self.member.entry.clone();
        entry.busy.store(true, Ordering::Relaxed);
        let pending = service.handle(request, self.peer);
        tokio::pin!(pending);
        let mut peer_done = false;
        let mut probe = tokio::time::interval(PROBE_EVERY);
        let outcome = loop {
            tokio::select! {
                reply = &mut pending => break Some(reply),
                read = self.reader.read_buf(&mut self.inbuf), if !peer_done && self.inbuf.len() < READ_AHEAD => match read {
                    Ok(0) => peer_done = true,
                    Err(_) => break None,
                    Ok(_) => {}
                },
                _ = probe.tick(), if peer_done => {
                    if self.writer.write_all(b"\n").await.is_err() {
                        break None;
                    }
                }
                _ = self.shared.shutdown.cancelled() => break None,
            }
        };
        entry.busy.store(false, Ordering::Relaxed);
        match outcome {
            Some(reply) => {
                self.reply(&reply);
                Flow::Continue
            }
            None => {
                debug!("peer gone: its pending request is cancelled");
                Flow::Close
            }
        }
    }

    async fn auth(&mut self, request: &Message) -> Flow {
        let Some(expected) = self.shared.config.token.clone() else {
            self.reply(&Message::ok_reply(request));
            return Flow::Continue;
        };
        match request.get("token") {
            None => self.fail(request, ErrorCode::MissingArgument, "auth needs token="),
            Some(given) if crate::auth::constant_time_eq(given.as_bytes(), expected.as_bytes()) => {
                self.authenticated = true;
                self.member
                    .entry
                    .token_holder
                    .store(true, Ordering::Relaxed);
                self.reply(&Message::ok_reply(request));
            }
            Some(_) => {
                self.failed_auths += 1;
                warn!(failures = self.failed_auths, "wrong token");
                let answer_at = self.shared.auth.answer_at(self.failed_auths);
                if self.flush().await.is_err() {
                    return Flow::Close;
                }
                tokio::time::sleep_until(answer_at).await;
                self.fail(request, ErrorCode::Forbidden, "wrong token");
            }
        }
        Flow::Continue
    }

    fn subscribe(&mut self, request: &Message) -> Flow {
        let on = request.name == "subscribe";
        let topic = request.args.first().map(String::as_str).unwrap_or("");
        let receiver = self.shared.service.subscribe(topic);
        let slot = match topic {
            "status" => &mut self.status_updates,
            "log" => &mut self.log_lines,
            _ => {
                let text = format!("{} needs a topic: status or log", request.name);
                self.fail(request, ErrorCode::BadArgument, text);
                return Flow::Continue;
            }
        };
        if receiver.is_none() {
            let text = format!("topic {topic:?} is not offered here");
            self.fail(request, ErrorCode::BadArgument, text);
            return Flow::Continue;
        }
        *slot = if on { receiver } else { None };
        let subscribed = self.status_updates.is_some() || self.log_lines.is_some();
        self.member
            .entry
            .subscribed
            .store(subscribed, Ordering::Relaxed);
        self.reply(&Message::ok_reply(request));
        Flow::Continue
    }

    fn exit(&mut self, request: &Message) -> Flow {
        let allowed = if self.shared.config.token.is_some() {
            self.authenticated
        } else {
            self.peer.ip().is_loopback()
        };
        if !allowed {
            let text = "exit needs an authenticated connection, or no token and a loopback peer";
            self.fail(request, ErrorCode::Forbidden, text);
            return Flow::Continue;
        }
        info!("exit requested");
        self.reply(&Message::ok_reply(request));
        self.shared.shutdown.cancel();
        Flow::Close
    }
}

/// Buffer a payload only for a command that takes one, from a connection allowed to
/// send it, within the server's byte budget; the budget is held until the request is
/// answered.
fn payload_policy<S: Service>(
    shared: &Arc<Shared<S>>,
    member: &Membership,
    held: &HeldBudget,
) -> PayloadPolicy {
    let shared = shared.clone();
    let entry = member.entry.clone();
    let held = held.clone();
    let open = shared.config.token.is_none();
    Box::new(move |request, len| {
        let refuse = |code, message: String| Err(FrameRefusal { code, message });
        if !open && !entry.token_holder.load(Ordering::Relaxed) {
            return refuse(
                ErrorCode::Forbidden,
                "authenticate first with: auth token=<secret>".into(),
            );
        }
        if !shared.service.accepts_payload(&request.name) {
            let text = format!(
                "{} takes no payload; its {len} bytes were skipped",
                request.name
            );
            return refuse(ErrorCode::BadArgument, text);
        }
        let permit = u32::try_from(len)
            .ok()
            .and_then(|n| shared.payload_budget.clone().try_acquire_many_owned(n).ok());
        match permit {
            Some(permit) => {
                *held.lock().expect("budget lock") = Some(permit);
                Ok(())
            }
            None => refuse(
                ErrorCode::Busy,
                format!(
                    "no room for {len} payload bytes now (budget {} bytes for all connections); \
                     its bytes were skipped, try again later",
                    shared.config.payload_budget
                ),
            ),
        }
    })
}

/// The next event line, or never when not subscribed. A lagging subscriber skips lines.
async fn next_event(receiver: &mut Option<broadcast::Receiver<Arc<str>>>) -> Arc<str> {
    let Some(rx) = receiver else {
        return std::future::pending().await;
    };
    loop {
        match rx.recv().await {
            Ok(line) => return line,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => {
                *receiver = None;
                return std::future::pending().await;
            }
        }
    }
}
