//! Monitors of monitors: three real monitor binaries in a chain, `top` polling `middle`
//! polling `bottom`, and `bottom` polling the bench's fleet of a thousand daemons
//! (`labwire-bench fleet`). Bottom's status is far past the line limit, so each upper
//! monitor follows the one below by subscription and paged status; the top one shows
//! every fleet value as `middle.bottom.fleet<k>.<key>` within two poll intervals, stores
//! and plots them, and a command sent at the top reaches a fleet daemon through both.

use labwire_client::Client;
use labwire_protocol::Message;
use labwire_testkit::{binary, connect, eventually, start_monitor, Process, TempDir};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

const FLEET: usize = 1000;
/// The poll interval of all three monitors (the fleet's own is 1 s too).
const POLL: Duration = Duration::from_secs(1);
/// Starting a thousand daemons and three monitors, and connecting them all.
const START: Duration = Duration::from_secs(90);

/// The whole status of a monitor, page by page.
async fn status(client: &Client) -> Message {
    let status = client.paged_status().await.expect("a paged status");
    assert_eq!(status.name, "status", "{}", status.to_line());
    status
}

fn write_monitor(dir: &Path, name: &str, top_level: &str, clients: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.ini"));
    let text = format!(
        "name = {name}\n{top_level}poll_interval = {}\n{clients}",
        POLL.as_secs_f64()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn client_block(name: &str, addr: SocketAddr) -> String {
    format!("\n[{name}]\nhost = 127.0.0.1\nport = {}\n", addr.port())
}

/// GET `path` from the web server: the status and the body.
async fn get(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    use http_body_util::{BodyExt, Empty};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<bytes::Bytes>>();
    let response = client
        .get(format!("http://{addr}{path}").parse().unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body.to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_monitors_in_a_chain_over_a_thousand_daemons() {
    tokio::time::timeout(Duration::from_secs(300), chain())
        .await
        .expect("the chain test did not finish within 300 s");
}

async fn chain() {
    let dir = TempDir::new("monitors-of-monitors");
    let fleet_ini = dir.path().join("fleet.ini");
    let fleet = Process::start(
        binary("labwire-bench"),
        &[
            "fleet",
            "--count",
            &FLEET.to_string(),
            "--config-out",
            fleet_ini.to_str().unwrap(),
            "--seconds",
            "600",
        ],
    );
    fleet
        .stdout_line("fleet: ", START)
        .expect("the fleet writes its monitor.ini");
    // The fleet's configuration lists every daemon; bottom adds only its name.
    let fleet_clients = std::fs::read_to_string(&fleet_ini).unwrap();
    let bottom_ini = dir.path().join("bottom.ini");
    std::fs::write(&bottom_ini, format!("name = bottom\n{fleet_clients}")).unwrap();
    let (bottom, _) = start_monitor(&bottom_ini);
    let middle_ini = write_monitor(
        dir.path(),
        "middle",
        "",
        &client_block("bottom", bottom.addr),
    );
    let (middle, _) = start_monitor(&middle_ini);
    let db = format!("db = {}\n", dir.path().join("top.sqlite").display());
    let top_ini = write_monitor(dir.path(), "top", &db, &client_block("middle", middle.addr));
    let (top, top_http) = start_monitor(&top_ini);

    let bottom_port = connect(bottom.addr).await;
    let top_port = connect(top.addr).await;
    eventually(START, "bottom polling the whole fleet", || async {
        let status = status(&bottom_port).await;
        (status.get("nconnected") == Some(&*FLEET.to_string())).then_some(())
    })
    .await;
    // Bottom's one-line status passes the line limit: only the pages can carry it.
    let one_line = connect(bottom.addr).await.call("get_status").await;
    assert!(
        !matches!(&one_line, Ok(reply) if reply.name == "status"),
        "{one_line:?}"
    );
    let last = format!("middle.bottom.fleet{}.counter", FLEET - 1);
    eventually(START, "top seeing the whole fleet", || async {
        let status = status(&top_port).await;
        (status.get("middle") == Some("1") && status.get(&last).is_some()).then_some(())
    })
    .await;
    let whole = status(&top_port).await;
    println!(
        "top: {} entries, {} bytes in pages",
        whole.kwargs.len(),
        whole.to_line().len()
    );
    let id = top_port.call("get_id").await.unwrap();
    assert_eq!(id.get("type"), Some("monitor"));

    // Every value bottom has now, the top has within two poll intervals.
    let asked = Instant::now();
    let at_bottom = status(&bottom_port).await;
    let counters: Vec<(String, u64)> = (0..FLEET)
        .map(|k| {
            let counter = at_bottom
                .get(&format!("fleet{k}.counter"))
                .unwrap_or_else(|| panic!("bottom has fleet{k}.counter"));
            (
                format!("middle.bottom.fleet{k}.counter"),
                counter.parse().unwrap(),
            )
        })
        .collect();
    let behind = loop {
        let at_top = status(&top_port).await;
        let behind: Vec<&str> = counters
            .iter()
            .filter(|(key, counter)| {
                at_top
                    .get(key)
                    .and_then(|text| text.parse::<u64>().ok())
                    .is_none_or(|seen| seen < *counter)
            })
            .map(|(key, _)| key.as_str())
            .collect();
        if behind.is_empty() || asked.elapsed() >= 2 * POLL {
            break behind;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!(
        "top has all {FLEET} values bottom had after {:.2} s",
        asked.elapsed().as_secs_f64()
    );
    assert!(
        behind.is_empty(),
        "{} of {FLEET} values not at the top {:.2} s after bottom had them: {:?}",
        behind.len(),
        asked.elapsed().as_secs_f64(),
        &behind[..behind.len().min(5)]
    );

    // A command at the top goes through middle and bottom to the daemon.
    let relayed = top_port
        .call("send middle bottom fleet7 set_label text=\"from the top\"")
        .await
        .unwrap();
    assert_eq!(relayed.to_line(), "ok set_label label=\"from the top\"");
    // A lower monitor's own command is relayed as it is.
    let clients = top_port.call("send middle clients").await.unwrap();
    assert_eq!(clients.to_line(), "clients bottom=1");
    let unknown = top_port.call("send middle nosuch x").await.unwrap();
    assert_eq!(unknown.error_code(), Some("unknown_command"), "{unknown}");
    eventually(
        Duration::from_secs(10),
        "the new label at the top",
        || async {
            let status = status(&top_port).await;
            (status.get("middle.bottom.fleet7.label") == Some("from the top")).then_some(())
        },
    )
    .await;

    // Stored and plotted under the lower monitor's name.
    let var = "middle.bottom.fleet7.value";
    let (code, body) = eventually(
        Duration::from_secs(10),
        "fleet7 stored at the top",
        || async {
            let (code, body) =
                get(top_http, &format!("/monitor/history?var={var}&from=-600")).await;
            let rows = String::from_utf8_lossy(&body).lines().count();
            (code == 200 && rows > 2).then_some((code, body))
        },
    )
    .await;
    assert_eq!(code, 200);
    assert!(
        String::from_utf8_lossy(&body).contains(var),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (code, png) = get(top_http, &format!("/monitor/plot?var={var}&from=-600")).await;
    assert_eq!(code, 200);
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    drop((fleet, bottom, middle, top));
}
