//! The monitor's poller and command service through its library API, against a real
//! daemon binary in simulation (build the binaries first: `cargo build --workspace
//! --bins`). The monitor binary end to end is in the top-level `tests/` package.

use labwire_protocol::parse_line;
use labwire_testkit::{eventually, Simulated, TempDir, WAIT};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn token_file(dir: &Path, secret: &str) -> String {
    let path = dir.join("token");
    std::fs::write(&path, secret).unwrap();
    path.to_string_lossy().into_owned()
}

/// Issue 8.7: a daemon with its own token was never polled (`forbidden` every second,
/// yet listed as connected). With the client's token the monitor authenticates on the
/// poll and relay connections; without it, or with a wrong one, the client is shown as
/// not connected with the reason, logged once. Through the library API until monitor.ini
/// has `token_file` (the lead wires it: `ClientConfig::token`).
#[tokio::test]
async fn a_daemon_with_a_token_is_polled_with_it_and_refusals_are_explained_once() {
    use labwire_daemon::server::Service;
    use labwire_monitor::hub::{Hub, SlotSpec};
    use labwire_monitor::poller::{self, PollSettings};
    use labwire_monitor::service::MonitorService;
    let dir = TempDir::new("monitor-token");
    let secret = token_file(dir.path(), "s3cret-lab");
    let g = Simulated::start(
        "gauge",
        &["--poll-interval", "0.1", "--token-file", &secret],
    );
    let spec = |name: &str, token: Option<&str>| SlotSpec {
        name: name.into(),
        address: g.addr.to_string(),
        token: token.map(String::from),
    };
    let hub = Hub::new(
        "m".into(),
        [
            spec("right", Some("s3cret-lab")),
            spec("wrong", Some("guess")),
            spec("none", None),
        ],
        None,
        Duration::from_secs(60),
    );
    let mut hub_logs = hub.subscribe_log();
    let refusals = Arc::new(Mutex::new(Vec::new()));
    let kept = refusals.clone();
    tokio::spawn(async move {
        while let Ok(line) = hub_logs.recv().await {
            if line.contains("refused the monitor") {
                kept.lock().unwrap().push(line.to_string());
            }
        }
    });
    let shutdown = tokio_util::sync::CancellationToken::new();
    for slot in hub.slots() {
        tokio::spawn(poller::run(
            hub.clone(),
            slot.clone(),
            PollSettings::with_interval(Duration::from_millis(100)),
            shutdown.clone(),
        ));
    }
    let right = hub.slot("right").unwrap().clone();
    eventually(WAIT, "polled with the token", || async {
        let view = right.view();
        (view.connected && view.vars.iter().any(|(k, _)| k == "pressure")).then_some(())
    })
    .await;
    let service = MonitorService::new(hub.clone(), false);
    let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let relayed = service
        .handle(parse_line("send right get_status").unwrap(), peer)
        .await;
    assert_eq!(relayed.name, "status", "relayed with the token: {relayed}");

    for (name, why) in [("wrong", "wrong token"), ("none", "forbidden")] {
        let slot = hub.slot(name).unwrap().clone();
        let reason = eventually(WAIT, &format!("{name} refused"), || async {
            slot.view().reason
        })
        .await;
        assert!(reason.contains(why), "{name}: {reason}");
        assert!(!slot.view().connected, "{name}");
        let json = hub.status_json();
        assert_eq!(json["clients"][name]["connected"], false);
        assert!(json["clients"][name]["reason"]
            .as_str()
            .is_some_and(|r| r.contains(why)));
        let refused = service
            .handle(
                parse_line(&format!("send {name} get_status")).unwrap(),
                peer,
            )
            .await;
        assert_eq!(refused.error_code(), Some("not_connected"), "{refused}");
    }
    let clients = service.handle(parse_line("clients").unwrap(), peer).await;
    assert_eq!(clients.get("right"), Some("1"), "{clients}");
    assert!(clients.get("none.reason").is_some(), "{clients}");
    // Several retries later, each refusal is still logged once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let refusals = refusals.lock().unwrap().clone();
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    shutdown.cancel();
}
