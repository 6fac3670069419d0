//! The fake daemons behave as their docs say, seen through a raw connection.

use labwire_testkit::{ClosedPort, FakeDaemon, LineConn};
use std::time::Duration;

#[tokio::test]
async fn a_legacy_daemon_ignores_tags_and_has_no_protocol() {
    let old = FakeDaemon::legacy();
    let mut c = LineConn::connect(old.addr).await;
    c.send_line("@t1 get_id").await;
    c.expect_silence().await;
    assert_eq!(c.query("get_id").await, "id name=old type=vacuum");
    assert_eq!(c.query("get_status").await, "log Pumping...");
    assert_eq!(c.line().await, "status pressure=1e-2 pump=on");
}

#[tokio::test]
async fn a_slow_daemon_answers_tagged_after_its_delay() {
    let slow = FakeDaemon::slow(Duration::from_millis(50));
    let mut c = LineConn::connect(slow.addr).await;
    let id = c.ask("@a get_id").await;
    assert_eq!(
        (id.tag.as_deref(), id.get("protocol")),
        (Some("a"), Some("1"))
    );
    assert_eq!(c.query("@b frob").await, "@b ok frob");
}

#[tokio::test]
async fn silent_and_garbage_daemons() {
    let silent = FakeDaemon::silent();
    let mut c = LineConn::connect(silent.addr).await;
    c.send_line("get_id").await;
    c.expect_silence().await;

    let garbage = FakeDaemon::garbage();
    let mut c = LineConn::connect(garbage.addr).await;
    c.send_line("get_id").await;
    let junk = c.read_until(b"=junk=\n").await;
    assert!(junk.starts_with(b"\xff\xfe "), "{junk:?}");
}

#[tokio::test]
async fn stopping_closes_every_connection_and_a_closed_port_refuses() {
    let daemon = FakeDaemon::silent();
    let addr = daemon.addr;
    let mut c = LineConn::connect(addr).await;
    daemon.stop().await;
    assert_eq!(c.read_to_close().await, b"");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    let closed = ClosedPort::new();
    assert!(tokio::net::TcpStream::connect(closed.addr).await.is_err());
}
