//! State that survives a restart, with the real `labwire-psu` against a simulated supply
//! this test owns: `set_name` is saved, shown again after a restart (unless the command
//! line names that output), and a restart never changes the supply's settings.

use labwire_protocol::Message;
use labwire_sim::e36300::{self, PsuControl, PsuOptions};
use labwire_sim::SimHandle;
use labwire_testkit::{binary, connect, status_where, Process, TempDir, WAIT};
use std::net::SocketAddr;

fn online(s: &Message) -> bool {
    s.get("hw_connected") == Some("1") && s.get("idn_model").is_some()
}

fn start_psu(sim: &SimHandle<PsuControl>, state: &str, extra: &[&str]) -> Process {
    let device = sim.local_addr().to_string();
    let mut args = vec![
        "--state-file",
        state,
        "--device",
        &device,
        "--listen",
        "127.0.0.1:0",
        "--poll-interval",
        "0.1",
    ];
    args.extend_from_slice(extra);
    Process::start(binary("labwire-psu"), &args)
}

/// What a restart must leave alone: every setting of every output.
fn settings(sim: &SimHandle<PsuControl>) -> Vec<(f64, f64, bool, f64, bool)> {
    (1..=3)
        .map(|ch| {
            let c = sim.control().channel(ch);
            (
                c.voltage_set,
                c.current_set,
                c.output,
                c.ovp_level,
                c.ocp_enabled,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_survive_a_restart_and_the_supply_is_left_alone() {
    let sim = e36300::spawn(SocketAddr::from(([127, 0, 0, 1], 0)), PsuOptions::default())
        .await
        .expect("simulator");
    let dir = TempDir::new("state-psu-names");
    let state_path = dir.path().join("psu.state");
    let state = state_path.to_str().unwrap();

    let mut psu = start_psu(&sim, state, &[]);
    let c = connect(psu.addr).await;
    status_where(&c, "online", online).await;
    for (line, reply) in [
        (
            "set_voltage ch=2 value=3.5",
            "ok set_voltage ch=2 value=3.5",
        ),
        ("output ch=2 state=on", "ok output ch=2 state=on"),
        (
            "set_name ch=2 name=\"bias rail\"",
            "ok set_name ch=2 name=\"bias rail\"",
        ),
    ] {
        assert_eq!(c.call(line).await.unwrap().to_line(), reply);
    }
    let saved = std::fs::read_to_string(&state_path).expect("set_name saved the names");
    assert!(saved.contains("bias rail"), "{saved}");
    drop(c);
    assert!(psu.terminate(WAIT).expect("SIGTERM stops it").success());

    let before = settings(&sim);
    let mut psu = start_psu(&sim, state, &[]);
    let c = connect(psu.addr).await;
    let status = status_where(&c, "online", online).await;
    assert_eq!(status.get("ch2_name"), Some("bias rail"));
    assert_eq!(status.get("ch1_name"), Some("ch1"));
    assert_eq!(status.get("ch2_output"), Some("1"));
    assert_eq!(settings(&sim), before, "a restart changed the supply");
    drop(c);
    psu.kill();

    // A name on the command line wins at start; the file is not rewritten by starting.
    let mut psu = start_psu(&sim, state, &["--channel-name", "2=det"]);
    let c = connect(psu.addr).await;
    let status = status_where(&c, "online", online).await;
    assert_eq!(status.get("ch2_name"), Some("det"));
    assert_eq!(std::fs::read_to_string(&state_path).unwrap(), saved);
    assert_eq!(settings(&sim), before, "a restart changed the supply");
    drop(c);
    assert!(psu.terminate(WAIT).expect("SIGTERM stops it").success());
    sim.shutdown();
}
