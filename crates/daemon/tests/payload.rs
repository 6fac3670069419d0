//! A device command answering with a binary payload (`bytes=N` then N raw bytes), over
//! real loopback TCP: small payloads copied into the reply buffer, large ones written
//! from their own buffer, both in request order with the lines around them.

use bytes::Bytes;
use labwire_daemon::server::ServerConfig;
use labwire_daemon::{Args, CommandSpec, Daemon, Device, Error, Kwargs, Outcome, StatusBuilder};
use labwire_protocol::{parse_line, Message};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// Answers `dump size=N` with N bytes counting up from 0 (mod 251, so that no block of
/// the payload repeats at a power-of-two offset).
struct Dumper;

impl Device for Dumper {
    type Command = usize;
    fn kind(&self) -> &'static str {
        "dumper"
    }
    fn commands(&self) -> &'static [CommandSpec] {
        &[CommandSpec {
            name: "dump",
            synopsis: "size=<bytes>",
        }]
    }
    fn parse_command(&self, request: &Message) -> Result<usize, Error> {
        let mut args = Args::new(request);
        let size = args.number_in("size", 0.0..=64e6, "bytes")? as usize;
        args.finish()?;
        Ok(size)
    }
    async fn connect(&mut self) -> Result<(), Error> {
        Ok(())
    }
    async fn disconnect(&mut self) {}
    async fn poll(&mut self, status: &mut StatusBuilder) -> Result<(), Error> {
        status.number("ready", 1.0);
        Ok(())
    }
    async fn execute(&mut self, _size: usize) -> Result<Kwargs, Error> {
        unreachable!("execute_outcome answers every command")
    }
    async fn execute_outcome(&mut self, size: usize) -> Result<Outcome, Error> {
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        Ok(Outcome {
            kwargs: vec![("format".into(), "counting".into())],
            payload: Some(Bytes::from(data)),
        })
    }
}

async fn start() -> Daemon {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ServerConfig {
        name: "dumper1".into(),
        ..ServerConfig::default()
    };
    Daemon::start(listener, config, Dumper)
}

/// The next line, without its LF.
async fn line(conn: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    timeout(Duration::from_secs(10), conn.read_line(&mut line))
        .await
        .expect("a reply in time")
        .expect("read");
    assert!(line.ends_with('\n'), "connection closed after {line:?}");
    line.pop();
    line
}

/// The payload a reply line announces.
async fn payload(conn: &mut BufReader<TcpStream>, header: &str) -> Vec<u8> {
    let message = parse_line(header).unwrap_or_else(|e| panic!("{header:?}: {e:?}"));
    let len: usize = message.get("bytes").expect("bytes=").parse().unwrap();
    let mut payload = vec![0u8; len];
    timeout(Duration::from_secs(10), conn.read_exact(&mut payload))
        .await
        .expect("the payload in time")
        .expect("the whole payload");
    payload
}

#[tokio::test]
async fn payload_replies_small_and_large_keep_their_order() {
    let daemon = start().await;
    let mut conn = BufReader::new(TcpStream::connect(daemon.local_addr()).await.unwrap());
    // Let the hardware task connect first.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for size in [0usize, 10, 3 << 20] {
        let requests = format!("@d{size} dump size={size}\nget_id\n");
        conn.get_mut().write_all(requests.as_bytes()).await.unwrap();
        let header = line(&mut conn).await;
        assert!(
            header.starts_with(&format!("@d{size} ok dump format=counting bytes={size}")),
            "{header}"
        );
        let payload = payload(&mut conn, &header).await;
        assert!(payload
            .iter()
            .enumerate()
            .all(|(i, &b)| b == (i % 251) as u8));
        let id = line(&mut conn).await;
        assert!(id.starts_with("id name=dumper1 type=dumper"), "{id}");
    }
    conn.get_mut().write_all(b"dump size=-1\n").await.unwrap();
    let refused = line(&mut conn).await;
    assert!(refused.contains("code=out_of_range"), "{refused}");
}
