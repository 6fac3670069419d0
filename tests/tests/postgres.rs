//! The monitor binary keeping its history in PostgreSQL (`db = postgresql://...`): a real
//! server of the test's own (labwire-testkit's `PgServer`), a simulated gauge polled into
//! it, its history, a plot of it and `/metrics` answered from there, and a second monitor
//! on the same database keeping to its own schema.

use labwire_testkit::{PgServer, Simulated, TempDir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The body of `GET path`, and its status line.
fn get(addr: SocketAddr, path: &str) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, answer[split + 4..].to_vec())
}

fn monitor(
    dir: &TempDir,
    name: &str,
    url: &str,
    gauge: &Simulated,
) -> (labwire_testkit::Process, SocketAddr) {
    let config = dir.path().join(format!("{name}.ini"));
    std::fs::write(
        &config,
        format!(
            "name = {name}\npoll_interval = 0.2\nstore_interval = 0.5\ndb = {url}\n\
             [gauge1]\nhost = 127.0.0.1\nport = {}\ntemplate = gauge.html\n\
             [[plots]]\n[[[pressure]]]\nvalues = time, pressure\nyscale = log\n",
            gauge.addr.port()
        ),
    )
    .unwrap();
    labwire_testkit::start_monitor(&config)
}

#[test]
fn a_monitor_keeps_its_history_in_postgresql() {
    let server = PgServer::start("monitor");
    let url = server.create_database("lab");
    let dir = TempDir::new("monitor-postgres");
    let gauge = Simulated::start("gauge", &["--poll-interval", "0.2", "--name", "g1"]);
    let (_north, http) = monitor(&dir, "north", &url, &gauge);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get(http, "/monitor/history?var=gauge1.pressure&from=-60");
        assert!(status.contains("200"), "{status}");
        if String::from_utf8_lossy(&body).lines().count() > 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no history of gauge1.pressure yet"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, png) = get(http, "/monitor/plot/gauge1/pressure?from=-60");
    assert!(status.contains("200"), "{status}");
    assert!(png.starts_with(b"\x89PNG"));
    let (_, metrics) = get(http, "/metrics");
    let metrics = String::from_utf8_lossy(&metrics).into_owned();
    let written = metrics
        .lines()
        .find_map(|l| l.strip_prefix("labwire_store_samples_written_total "))
        .expect("samples written in /metrics");
    assert!(written.trim().parse::<f64>().unwrap() > 0.0, "{written}");

    // A second monitor on the same database has tables of its own.
    let (_south, south_http) = monitor(&dir, "south", &url, &gauge);
    let (_, south_history) = get(
        south_http,
        "/monitor/history?var=gauge1.pressure&from=-3600",
    );
    let north_rows = server.psql("lab", "SELECT count(*) FROM labwire_north.samples");
    assert!(north_rows.trim().parse::<i64>().unwrap() > 0);
    let south_rows: i64 = server
        .psql("lab", "SELECT count(*) FROM labwire_south.samples")
        .trim()
        .parse()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&south_history).lines().count() as i64 <= south_rows + 1,
        "south answers from its own samples"
    );
}
