//! The framework over real loopback TCP, speaking raw protocol bytes, with a small device
//! whose hardware link the test can cut.

use labwire_daemon::dispatch::{self, Caller, Identity};
use labwire_daemon::hardware::HardwareConfig;
use labwire_daemon::server::serve;
use labwire_daemon::{
    Args, CommandSpec, Daemon, Device, Error, Kwargs, ServerConfig, Service, StatusBuilder,
};
use labwire_protocol::{parse_line, Message};
use labwire_testkit::LineConn;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Hardware shared between the test and the device: a setpoint and a link switch.
#[derive(Clone, Default)]
struct Bench {
    online: Arc<AtomicBool>,
    setpoint: Arc<AtomicU64>,
    writes: Arc<AtomicU64>,
}

struct Heater {
    bench: Bench,
    connected: bool,
}

enum Command {
    Set(f64),
    /// Takes `delay` milliseconds, like a slow instrument.
    Read(u64),
}

impl Device for Heater {
    type Command = Command;
    fn kind(&self) -> &'static str {
        "heater"
    }
    fn commands(&self) -> &'static [CommandSpec] {
        &[
            CommandSpec {
                name: "set",
                synopsis: "value=<0-10 W>",
            },
            CommandSpec {
                name: "read",
                synopsis: "",
            },
        ]
    }
    fn parse_command(&self, request: &Message) -> Result<Command, Error> {
        let mut args = Args::new(request);
        let command = match request.name.as_str() {
            "set" => Command::Set(args.number_in("value", 0.0..=10.0, "W")?),
            _ => Command::Read(
                args.optional("delay")
                    .map(|ms| ms.parse().map_err(|_| Error::bad_argument("delay in ms")))
                    .transpose()?
                    .unwrap_or(0),
            ),
        };
        args.finish()?;
        Ok(command)
    }
    async fn connect(&mut self) -> Result<(), Error> {
        if self.bench.online.load(Ordering::SeqCst) {
            self.connected = true;
            Ok(())
        } else {
            Err(Error::not_connected("bench unplugged"))
        }
    }
    async fn disconnect(&mut self) {
        self.connected = false;
    }
    async fn poll(&mut self, status: &mut StatusBuilder) -> Result<(), Error> {
        if !self.bench.online.load(Ordering::SeqCst) {
            return Err(Error::not_connected("bench unplugged"));
        }
        let watts = f64::from_bits(self.bench.setpoint.load(Ordering::SeqCst));
        status.number("power", watts).text("label", "bench heater");
        Ok(())
    }
    async fn execute(&mut self, command: Command) -> Result<Kwargs, Error> {
        if !self.bench.online.load(Ordering::SeqCst) {
            return Err(Error::not_connected("bench unplugged"));
        }
        match command {
            Command::Set(watts) => {
                self.bench.setpoint.store(watts.to_bits(), Ordering::SeqCst);
                self.bench.writes.fetch_add(1, Ordering::SeqCst);
                Ok(vec![("value".into(), watts.to_string())])
            }
            Command::Read(delay) => {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                Ok(vec![])
            }
        }
    }
}

struct Harness {
    daemon: Option<Daemon>,
    addr: std::net::SocketAddr,
    bench: Bench,
}

async fn start(config: ServerConfig) -> Harness {
    let bench = Bench::default();
    bench.online.store(true, Ordering::SeqCst);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ServerConfig {
        name: "heater1".into(),
        hardware: HardwareConfig {
            poll_interval: Duration::from_millis(50),
            backoff_initial: Duration::from_millis(20),
            backoff_max: Duration::from_millis(100),
            ..HardwareConfig::default()
        },
        ..config
    };
    let device = Heater {
        bench: bench.clone(),
        connected: false,
    };
    let daemon = Daemon::start(listener, config, device);
    let addr = daemon.local_addr();
    Harness {
        daemon: Some(daemon),
        addr,
        bench,
    }
}

async fn wait_for(conn: &mut LineConn, key: &str, want: &str) -> Message {
    for _ in 0..200 {
        let status = conn.ask("get_status").await;
        if status.get(key) == Some(want) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{key} never became {want}");
}

#[tokio::test]
async fn builtins_answer_one_reply_each_with_tags() {
    let h = start(ServerConfig::default()).await;
    let mut c = LineConn::connect(h.addr).await;
    let id = c.ask("@a1 get_id").await;
    assert_eq!(id.tag.as_deref(), Some("a1"));
    assert_eq!(id.name, "id");
    assert_eq!(id.get("name"), Some("heater1"));
    assert_eq!(id.get("type"), Some("heater"));
    assert_eq!(id.get("protocol"), Some("1"));
    assert!(id.get("version").is_some());

    let status = wait_for(&mut c, "hw_connected", "1").await;
    assert_eq!(status.get("power"), Some("0"));
    assert_eq!(status.get("errors"), Some("0"));
    assert!(status.get("status_age").unwrap().parse::<f64>().unwrap() < 5.0);

    let help = c.ask("help").await;
    for command in [
        "get_id",
        "get_status",
        "help",
        "exit",
        "set",
        "read",
        "subscribe",
    ] {
        assert!(help.get(command).is_some(), "help lists {command}");
    }
    assert_eq!(help.get("set"), Some("value=<0-10 W>"));
    let one = c.ask("help set").await;
    assert_eq!(one.kwargs.len(), 1);

    let untagged = c.ask("set value=2.5").await;
    assert_eq!(untagged.to_line(), "ok set value=2.5");
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let h = start(ServerConfig::default()).await;
    let mut c = LineConn::connect(h.addr).await;
    let mut batch = String::new();
    for i in 0..200 {
        match i % 4 {
            0 => batch.push_str(&format!("@p{i} get_status\n")),
            1 => batch.push_str(&format!("@p{i} set value={}\n", i % 10)),
            2 => batch.push_str(&format!("@p{i} nonsense\n")),
            _ => batch.push_str(&format!("@p{i} get_id\n")),
        }
    }
    c.send(batch.as_bytes()).await;
    for i in 0..200 {
        let reply = parse_line(&c.line().await).unwrap();
        assert_eq!(reply.tag, Some(format!("p{i}")));
        let expected = ["status", "ok", "error", "id"][i % 4];
        assert_eq!(reply.name, expected, "reply {i}");
    }
}

#[tokio::test]
async fn bad_lines_get_clear_errors_and_the_connection_lives_on() {
    let h = start(ServerConfig::default()).await;
    let mut c = LineConn::connect(h.addr).await;

    c.send(b"@u1 get_\xff\xfestatus\n").await;
    let reply = parse_line(&c.line().await).unwrap();
    assert_eq!(
        (reply.tag.as_deref(), reply.error_code()),
        (Some("u1"), Some("bad_encoding"))
    );

    let reply = c.ask("@q1 set value=\"open").await;
    assert_eq!(reply.error_code(), Some("parse"));
    assert_eq!(reply.tag.as_deref(), Some("q1"));
    assert!(
        reply.args.is_empty(),
        "no command named for an unparsable line"
    );
    assert!(reply.error_message().unwrap().contains("unclosed"));

    let reply = c.ask("frobnicate now").await;
    assert_eq!(
        reply.to_line().split(' ').take(3).collect::<Vec<_>>(),
        ["error", "frobnicate", "code=unknown_command"]
    );

    assert_eq!(c.ask("get_id").await.name, "id");
}

#[tokio::test]
async fn invalid_arguments_never_reach_the_hardware() {
    let h = start(ServerConfig::default()).await;
    let mut c = LineConn::connect(h.addr).await;
    wait_for(&mut c, "hw_connected", "1").await;
    assert_eq!(c.ask("set value=4").await.name, "ok");
    let writes = h.bench.writes.load(Ordering::SeqCst);
    for (request, code) in [
        ("set", "missing_argument"),
        ("set value=11", "out_of_range"),
        ("set value=-1", "out_of_range"),
        ("set value=abc", "bad_argument"),
        ("set value=nan", "bad_argument"),
        ("set value=1 colour=red", "bad_argument"),
        ("set 1 2", "bad_argument"),
    ] {
        let reply = c.ask(request).await;
        assert_eq!(reply.error_code(), Some(code), "{request}");
        assert_eq!(reply.args, ["set"], "{request}");
    }
    assert_eq!(
        h.bench.writes.load(Ordering::SeqCst),
        writes,
        "no write reached the device"
    );
    let status = wait_for(&mut c, "power", "4").await;
    assert_eq!(
        status.get("errors"),
        Some("0"),
        "refused arguments are not hardware errors"
    );
}

#[tokio::test]
async fn one_mebibyte_line_is_refused_with_bounded_memory() {
    let h = start(ServerConfig::default()).await;
    let mut c = LineConn::connect(h.addr).await;
    let chunk = vec![b'x'; 64 * 1024];
    c.send(b"@big set value=").await;
    for _ in 0..16 {
        c.send(&chunk).await;
    }
    c.send(b"\n@after get_id\n").await;
    let reply = parse_line(&c.line().await).unwrap();
    assert_eq!(reply.error_code(), Some("line_too_long"));
    assert_eq!(reply.tag.as_deref(), Some("big"));
    let next = parse_line(&c.line().await).unwrap();
    assert_eq!(
        (next.tag.as_deref(), next.name.as_str()),
        (Some("after"), "id")
    );
}

#[tokio::test]
async fn status_stays_reported_while_the_hardware_is_away() {
    let h = start(ServerConfig::default()).await;
    let mut c = LineConn::connect(h.addr).await;
    assert_eq!(c.ask("set value=7").await.name, "ok");
    wait_for(&mut c, "power", "7").await;

    h.bench.online.store(false, Ordering::SeqCst);
    let status = wait_for(&mut c, "hw_connected", "0").await;
    assert_eq!(
        status.get("power"),
        Some("7"),
        "stale values are still reported"
    );
    assert!(status.get("errors").unwrap().parse::<u64>().unwrap() >= 1);
    let reply = c.ask("set value=1").await;
    assert_eq!(reply.error_code(), Some("not_connected"));
    let reply = c.ask("set value=99").await;
    assert_eq!(
        reply.error_code(),
        Some("out_of_range"),
        "validation comes first"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let age: f64 = c
        .ask("get_status")
        .await
        .get("status_age")
        .unwrap()
        .parse()
        .unwrap();
    assert!(age >= 0.2, "status_age grows while offline: {age}");

    h.bench.online.store(true, Ordering::SeqCst);
    wait_for(&mut c, "hw_connected", "1").await;
    assert_eq!(c.ask("set value=1").await.name, "ok");
}

#[tokio::test]
async fn reconnect_command_reports_the_outcome() {
    let h = start(ServerConfig::default()).await;
    let mut c = LineConn::connect(h.addr).await;
    wait_for(&mut c, "hw_connected", "1").await;
    let reply = c.ask("@r reconnect").await;
    assert_eq!(reply.to_line(), "@r ok reconnect hw_connected=1");
    h.bench.online.store(false, Ordering::SeqCst);
    let reply = c.ask("reconnect").await;
    assert_eq!(reply.error_code(), Some("not_connected"));
    assert!(reply.error_message().unwrap().contains("unplugged"));
}

#[tokio::test]
async fn subscribers_get_updates_between_replies() {
    let h = start(ServerConfig::default()).await;
    let mut c = LineConn::connect(h.addr).await;
    wait_for(&mut c, "hw_connected", "1").await;
    assert_eq!(c.ask("subscribe status").await.to_line(), "ok subscribe");
    assert_eq!(
        c.ask("subscribe weather").await.error_code(),
        Some("bad_argument")
    );
    c.send(b"set value=3\n").await;
    let mut saw_reply = false;
    let mut saw_update = false;
    for _ in 0..20 {
        let line = parse_line(&c.line().await).unwrap();
        match line.name.as_str() {
            "ok" => saw_reply = true,
            "update" => {
                assert_eq!(line.tag, None, "events are untagged");
                if line.get("power") == Some("3") {
                    saw_update = true;
                }
            }
            other => panic!("unexpected line {other}"),
        }
        if saw_reply && saw_update {
            break;
        }
    }
    assert!(saw_reply && saw_update);
}

#[tokio::test]
async fn client_disconnecting_mid_request_harms_nobody() {
    let h = start(ServerConfig::default()).await;
    {
        let mut c = LineConn::connect(h.addr).await;
        c.send(b"set value=5\nget_status\n@half set val").await;
    }
    {
        let mut c = LineConn::connect(h.addr).await;
        c.send(b"@x set value=\"unterminated").await;
    }
    let mut c = LineConn::connect(h.addr).await;
    let status = wait_for(&mut c, "power", "5").await;
    assert_eq!(status.get("hw_connected"), Some("1"));
}

#[tokio::test]
async fn a_thousand_concurrent_connections() {
    let h = start(ServerConfig::default()).await;
    let mut conns = Vec::new();
    for _ in 0..1000 {
        conns.push(TcpStream::connect(h.addr).await.unwrap());
    }
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, stream)| {
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                w.write_all(format!("@c{i} get_id\n").as_bytes())
                    .await
                    .unwrap();
                let mut line = String::new();
                BufReader::new(r).read_line(&mut line).await.unwrap();
                line.starts_with(&format!("@c{i} id "))
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        if timeout(Duration::from_secs(20), task)
            .await
            .unwrap()
            .unwrap()
        {
            ok += 1;
        }
    }
    assert_eq!(ok, 1000);
}

#[tokio::test]
async fn connections_over_the_limit_are_told_so() {
    let h = start(ServerConfig {
        max_connections: 2,
        ..ServerConfig::default()
    })
    .await;
    let mut a = LineConn::connect(h.addr).await;
    let mut b = LineConn::connect(h.addr).await;
    assert_eq!(a.ask("get_id").await.name, "id");
    assert_eq!(b.ask("get_id").await.name, "id");
    let mut third = TcpStream::connect(h.addr).await.unwrap();
    let mut text = String::new();
    timeout(Duration::from_secs(5), third.read_to_string(&mut text))
        .await
        .unwrap()
        .unwrap();
    let reply = parse_line(text.trim_end()).unwrap();
    assert_eq!(reply.error_code(), Some("busy"));
    drop(a);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        LineConn::connect(h.addr).await.ask("get_id").await.name,
        "id"
    );
}

#[tokio::test]
async fn token_guards_commands_and_exit() {
    let mut h = start(ServerConfig {
        token: Some("s3cret".into()),
        ..ServerConfig::default()
    })
    .await;
    let mut c = LineConn::connect(h.addr).await;
    assert_eq!(c.ask("get_id").await.name, "id", "get_id is open");
    assert_eq!(c.ask("help").await.name, "help", "help is open");
    assert_eq!(c.ask("get_status").await.error_code(), Some("forbidden"));
    let refused = c.ask("exit").await;
    assert_eq!(refused.error_code(), Some("forbidden"));
    assert_eq!(refused.args, ["exit"]);
    assert_eq!(
        c.ask("auth token=guess").await.error_code(),
        Some("forbidden")
    );
    assert_eq!(
        c.ask("get_id").await.name,
        "id",
        "the daemon is still running"
    );

    assert_eq!(c.ask("auth token=s3cret").await.to_line(), "ok auth");
    assert_eq!(c.ask("get_status").await.name, "status");
    assert_eq!(c.ask("exit").await.to_line(), "ok exit");
    let daemon = h.daemon.take().unwrap();
    timeout(Duration::from_secs(5), daemon.wait())
        .await
        .expect("daemon stops");
    assert!(TcpStream::connect(h.addr).await.is_err(), "listener closed");
}

#[tokio::test]
async fn oversized_payload_closes_the_connection() {
    let h = start(ServerConfig {
        max_payload: 16,
        ..ServerConfig::default()
    })
    .await;
    let mut c = LineConn::connect(h.addr).await;
    c.send(b"@f upload bytes=1000\n").await;
    let reply = parse_line(&c.line().await).unwrap();
    assert_eq!(reply.error_code(), Some("out_of_range"));
    assert_eq!(
        c.read_to_close().await,
        b"",
        "connection closed after an unrecoverable payload"
    );
    assert_eq!(
        LineConn::connect(h.addr).await.ask("get_id").await.name,
        "id"
    );
}

/// Regression: replies were written once per batch, so a slow command held back the
/// replies to requests that came before it in the same packet.
#[tokio::test]
async fn a_slow_command_does_not_hold_back_earlier_replies() {
    let h = start(ServerConfig::default()).await;
    let mut c = LineConn::connect(h.addr).await;
    wait_for(&mut c, "hw_connected", "1").await;
    c.send(b"@first get_id\n@slow read delay=3000\n").await;
    let first = c
        .line_within(Duration::from_secs(1))
        .await
        .expect("the first reply does not wait for the slow one");
    assert!(first.starts_with("@first id "), "{first}");
    let slow = c.line().await;
    assert!(slow.starts_with("@slow ok read"), "{slow}");
}

/// A service whose `hang` never answers and whose `upload` takes a payload.
struct Probe;

const PROBE_COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "hang",
        synopsis: "(never answers)",
    },
    CommandSpec {
        name: "upload",
        synopsis: "bytes=<n> (answers with the payload's length)",
    },
];

impl Service for Probe {
    fn kind(&self) -> &str {
        "probe"
    }
    fn commands(&self) -> &[CommandSpec] {
        PROBE_COMMANDS
    }
    fn write_status(&self, out: &mut Vec<u8>, request: &Message) {
        let reply = Message::new("status")
            .tagged(request.tag.clone())
            .kwarg("x", "1");
        labwire_protocol::encode::write_message(out, &reply);
        out.push(b'\n');
    }
    fn status_synopsis(&self) -> &'static str {
        "[format=json]"
    }
    fn accepts_payload(&self, command: &str) -> bool {
        command == "upload"
    }
    fn subscribe(&self, _topic: &str) -> Option<broadcast::Receiver<Arc<str>>> {
        None
    }
    async fn handle(&self, request: Message, _peer: SocketAddr) -> Message {
        if request.name == "hang" {
            std::future::pending::<()>().await;
        }
        let len = request.payload.as_ref().map_or(0, |p| p.len());
        Message::ok_reply(&request).kwarg("len", len.to_string())
    }
}

/// Serve [`Probe`]; the server stops when the returned token is dropped.
async fn serve_probe(config: ServerConfig) -> (SocketAddr, tokio_util::sync::DropGuard) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = CancellationToken::new();
    let addr = serve(
        listener,
        config,
        Probe,
        shutdown.clone(),
        &TaskTracker::new(),
    );
    (addr, shutdown.drop_guard())
}

/// Ask `get_id` on fresh connections until one is served (`true`) or `give_up` passes.
async fn served_within(addr: SocketAddr, give_up: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + give_up;
    while tokio::time::Instant::now() < deadline {
        let mut c = LineConn::connect(addr).await;
        c.send(b"get_id\n").await;
        let line = c.line_within(Duration::from_secs(2)).await;
        if line.is_some_and(|line| line.starts_with("id ")) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Regression (issue 8.2): a peer that sent a never-ending request and closed kept its
/// slot until the request ended, so a few such peers locked everyone out (`busy`).
#[tokio::test]
async fn a_closed_peer_cancels_its_pending_request_and_frees_its_slot() {
    let (addr, _server) = serve_probe(ServerConfig {
        max_connections: 3,
        evict_idle_after: Duration::from_secs(3600),
        ..ServerConfig::default()
    })
    .await;
    for _ in 0..3 {
        let mut c = LineConn::connect(addr).await;
        assert_eq!(c.ask("get_id").await.name, "id");
        c.send(b"hang\n").await;
    }
    assert!(served_within(addr, Duration::from_secs(10)).await);
}

/// Regression (issue 8.5): idle connections filled every slot and newcomers (the
/// monitor reconnecting) were refused until the idle ones went.
#[tokio::test]
async fn a_full_server_closes_the_longest_idle_connection_for_a_newcomer() {
    let (addr, _server) = serve_probe(ServerConfig {
        max_connections: 2,
        evict_idle_after: Duration::from_millis(50),
        ..ServerConfig::default()
    })
    .await;
    let mut oldest = LineConn::connect(addr).await;
    assert_eq!(oldest.ask("get_id").await.name, "id");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut younger = LineConn::connect(addr).await;
    assert_eq!(younger.ask("get_id").await.name, "id");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut newcomer = LineConn::connect(addr).await;
    assert_eq!(newcomer.ask("get_id").await.name, "id", "served, not busy");
    let why = parse_line(&oldest.line().await).unwrap();
    assert_eq!(why.error_code(), Some("busy"));
    assert!(why.get("message").unwrap().contains("make room"), "{why:?}");
    assert_eq!(oldest.read_to_close().await, b"");
    assert_eq!(younger.ask("get_id").await.name, "id", "only one made room");
}

#[tokio::test]
async fn connections_holding_the_token_are_never_closed_for_room() {
    let (addr, _server) = serve_probe(ServerConfig {
        max_connections: 1,
        evict_idle_after: Duration::ZERO,
        token: Some("s3cret".into()),
        ..ServerConfig::default()
    })
    .await;
    let mut holder = LineConn::connect(addr).await;
    assert_eq!(holder.ask("auth token=s3cret").await.to_line(), "ok auth");
    let mut text = String::new();
    let mut refused = TcpStream::connect(addr).await.unwrap();
    timeout(Duration::from_secs(5), refused.read_to_string(&mut text))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        parse_line(text.trim_end()).unwrap().error_code(),
        Some("busy")
    );
    assert_eq!(holder.ask("get_status").await.name, "status");
}

/// Regression (issue 8.6): every payload was buffered whatever its command, so a few
/// connections sending large payloads took hundreds of megabytes.
#[tokio::test]
async fn a_payload_for_a_command_without_one_is_refused_and_skipped() {
    let (addr, _server) = serve_probe(ServerConfig::default()).await;
    let mut c = LineConn::connect(addr).await;
    let mut wire = b"@p get_status bytes=1048576\n".to_vec();
    wire.extend(std::iter::repeat_n(b'\n', 1 << 20));
    wire.extend_from_slice(b"@q get_id\n@r upload bytes=3\nabc");
    c.send(&wire).await;
    let refused = parse_line(&c.line().await).unwrap();
    assert_eq!(refused.tag.as_deref(), Some("p"));
    assert_eq!(refused.error_code(), Some("bad_argument"));
    assert!(refused.get("message").unwrap().contains("takes no payload"));
    let next = parse_line(&c.line().await).unwrap();
    assert_eq!((next.tag.as_deref(), next.name.as_str()), (Some("q"), "id"));
    assert_eq!(c.line().await, "@r ok upload len=3");
}

#[tokio::test]
async fn payloads_beyond_the_shared_budget_are_refused() {
    let (addr, _server) = serve_probe(ServerConfig {
        payload_budget: 10,
        ..ServerConfig::default()
    })
    .await;
    let mut c = LineConn::connect(addr).await;
    c.send(b"@big upload bytes=11\n01234567890@ok upload bytes=10\n0123456789")
        .await;
    assert_eq!(
        parse_line(&c.line().await).unwrap().error_code(),
        Some("busy")
    );
    assert_eq!(c.line().await, "@ok ok upload len=10");
    c.send(b"@again upload bytes=10\n0123456789").await;
    assert_eq!(
        c.line().await,
        "@again ok upload len=10",
        "budget given back"
    );
}

/// Regression (issue 8.7): wrong tokens were answered at once, so guessing was fast.
#[tokio::test]
async fn wrong_tokens_are_answered_ever_later() {
    let (addr, _server) = serve_probe(ServerConfig {
        token: Some("s3cret".into()),
        ..ServerConfig::default()
    })
    .await;
    let mut c = LineConn::connect(addr).await;
    let started = std::time::Instant::now();
    c.send("auth token=guess\n".repeat(6).as_bytes()).await;
    for _ in 0..6 {
        assert_eq!(
            parse_line(&c.line().await).unwrap().error_code(),
            Some("forbidden")
        );
    }
    // The first three are free; the next three wait at least 100 ms each.
    assert!(started.elapsed() >= Duration::from_millis(300));
    let mut other = LineConn::connect(addr).await;
    assert_eq!(
        other.ask("get_id").await.name,
        "id",
        "others are served meanwhile"
    );
    assert_eq!(c.ask("auth token=s3cret").await.to_line(), "ok auth");
}

/// Every command `help` lists is answered (never `unknown_command`); `reconnect` is the
/// device service's and listed once; a probe service has none.
#[tokio::test]
async fn help_lists_exactly_the_commands_that_are_answered() {
    let h = start(ServerConfig::default()).await;
    let mut c = LineConn::connect(h.addr).await;
    let help = c.ask("help").await;
    let names: Vec<_> = help.kwargs.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(names.iter().filter(|n| *n == "reconnect").count(), 1);
    for name in names.iter().filter(|n| *n != "exit") {
        let reply = c.ask(name).await;
        assert_ne!(reply.error_code(), Some("unknown_command"), "{name}");
    }

    let (addr, _server) = serve_probe(ServerConfig::default()).await;
    let mut p = LineConn::connect(addr).await;
    let help = p.ask("help").await;
    assert!(help.get("reconnect").is_none());
    assert_eq!(
        p.ask("reconnect").await.error_code(),
        Some("unknown_command")
    );
}

#[tokio::test]
async fn callers_without_a_connection_get_the_same_dispatch() {
    let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let caller = Caller {
        peer,
        authenticated: true,
        connection: false,
    };
    let identity = Identity {
        name: "probe1",
        version: "9.9",
    };
    let ask = |line: &str| dispatch::answer(&Probe, identity, parse_line(line).unwrap(), caller);
    let id = ask("@i get_id").await;
    assert_eq!(id.get("name"), Some("probe1"));
    assert_eq!(ask("@s get_status").await.to_line(), "@s status x=1");
    let help = ask("help").await;
    assert_eq!(help.get("get_status"), Some("[format=json]"));
    for command in ["get_id", "get_status", "help", "hang", "upload"] {
        assert!(help.get(command).is_some(), "{command}");
    }
    for command in ["auth", "subscribe", "unsubscribe", "exit", "reconnect"] {
        assert!(
            help.get(command).is_none(),
            "{command} is not answered here"
        );
    }
    assert_eq!(
        ask("subscribe status").await.error_code(),
        Some("forbidden")
    );
    assert_eq!(ask("nonsense").await.error_code(), Some("unknown_command"));
    let locked = Caller {
        authenticated: false,
        ..caller
    };
    let refused = dispatch::answer(&Probe, identity, parse_line("upload").unwrap(), locked).await;
    assert_eq!(refused.error_code(), Some("forbidden"));
}
