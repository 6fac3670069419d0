//! The daemon in-process over the line protocol, against a simulator whose state and
//! faults the test controls: every command, every bad argument (the instrument is left
//! untouched), and the supply going away and coming back.

use labwire_client::{Client, ClientOptions};
use labwire_daemon::hardware::HardwareConfig;
use labwire_daemon::{Daemon, ServerConfig};
use labwire_protocol::Message;
use labwire_psu::device::{Config, Limits, Psu};
use labwire_psu::driver::Model;
use labwire_sim::e36300::{self, ChannelSnapshot, PsuControl, PsuOptions};
use labwire_sim::{Fault, SimHandle};
use labwire_testkit::{number, Session};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// A daemon and the simulated supply behind it; both stop when the test ends.
struct Bench {
    sim: SimHandle<PsuControl>,
    daemon: Daemon,
    client: Session,
    model: e36300::Model,
}

impl std::ops::Deref for Bench {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.client
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        self.daemon.shutdown_token().cancel();
        self.sim.shutdown();
    }
}

async fn spawn_sim(listen: SocketAddr, model: e36300::Model) -> SimHandle<PsuControl> {
    let options = PsuOptions {
        model,
        ..PsuOptions::default()
    };
    let sim = e36300::spawn(listen, options).await.expect("simulator");
    sim.control().set_noise(false);
    sim
}

async fn bench(model: &str, limits: Limits) -> Bench {
    let model: e36300::Model = model.parse().unwrap();
    let sim = spawn_sim(SocketAddr::from(([127, 0, 0, 1], 0)), model).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ServerConfig {
        name: "psu1".into(),
        hardware: HardwareConfig {
            poll_interval: Duration::from_millis(50),
            operation_timeout: Duration::from_secs(3),
            backoff_initial: Duration::from_millis(20),
            backoff_max: Duration::from_millis(200),
        },
        ..ServerConfig::default()
    };
    let device = Psu::new(Config {
        address: sim.local_addr().to_string(),
        timeout: Duration::from_millis(300),
        expected_model: None,
        limits,
        names: Default::default(),
    });
    let daemon = Daemon::start(listener, config, device);
    let client = Session::open(daemon.local_addr()).await;
    let bench = Bench {
        sim,
        daemon,
        client,
        model,
    };
    bench.status_where("connected", connected).await;
    bench
}

fn connected(s: &Message) -> bool {
    s.get("hw_connected") == Some("1") && s.get("ch1_output").is_some()
}

fn offline(s: &Message) -> bool {
    s.get("hw_connected") == Some("0")
}

impl Bench {
    fn control(&self) -> &PsuControl {
        self.sim.control()
    }

    fn snapshot(&self) -> Vec<ChannelSnapshot> {
        (1..=3).map(|ch| self.control().channel(ch)).collect()
    }

    fn heal_and_time(&self) -> Instant {
        self.sim.set_fault(Fault::None);
        Instant::now()
    }
}

#[tokio::test]
async fn every_command_reaches_the_supply_and_shows_in_the_status() {
    let b = bench("e36313a", Limits::default()).await;
    let sim = b.control();

    let status = b.call("get_status").await;
    assert_eq!(status.get("idn_model"), Some("E36313A"));
    assert_eq!(status.get("idn_serial"), Some("MY59000001"));
    assert_eq!(status.get("idn_firmware"), Some("1.0.4-1.0.4-1.00"));
    for ch in 1..=3 {
        for var in [
            "name",
            "output",
            "voltage_set",
            "current_set",
            "voltage",
            "current",
            "mode",
            "ovp_level",
            "ovp_tripped",
            "ocp_enabled",
            "ocp_tripped",
        ] {
            let key = format!("ch{ch}_{var}");
            assert!(status.get(&key).is_some(), "{key} missing in {status}");
        }
    }
    assert_eq!(status.get("ch2_name"), Some("ch2"));
    assert_eq!(status.get("ch1_mode"), Some("off"));
    assert_eq!(number(&status, "ch1_ovp_level"), 6.6);

    b.ok("set_voltage ch=1 value=5", "ok set_voltage ch=1 value=5")
        .await;
    assert_eq!(sim.voltage_set(1), 5.0);
    b.ok("set_current 1 0.25", "ok set_current ch=1 value=0.25")
        .await;
    assert_eq!(sim.current_set(1), 0.25);
    b.ok("output ch=1 state=on", "ok output ch=1 state=on")
        .await;
    assert!(sim.output(1));
    // 5 V into 10 ohm wants 0.5 A: the 0.25 A limit holds the output at 2.5 V.
    let status = b.status_with("ch1_mode", "cc").await;
    assert_eq!(status.get("ch1_output"), Some("1"));
    assert_eq!(number(&status, "ch1_voltage_set"), 5.0);
    assert_eq!(number(&status, "ch1_current_set"), 0.25);
    assert_eq!(number(&status, "ch1_voltage"), 2.5);
    assert_eq!(number(&status, "ch1_current"), 0.25);
    sim.set_load_ohms(1, 100.0);
    let status = b.status_with("ch1_mode", "cv").await;
    assert_eq!(number(&status, "ch1_voltage"), 5.0);
    assert_eq!(number(&status, "ch1_current"), 0.05);

    b.ok("set_ovp ch=1 value=5.5", "ok set_ovp ch=1 value=5.5")
        .await;
    assert_eq!(sim.channel(1).ovp_level, 5.5);
    b.status_with("ch1_ovp_level", "5.5").await;
    b.ok("set_ocp ch=1 state=on", "ok set_ocp ch=1 state=on")
        .await;
    assert!(sim.channel(1).ocp_enabled);
    b.status_with("ch1_ocp_enabled", "1").await;

    // A short circuit: current limit, then the over-current protection trips.
    sim.set_load_ohms(1, 0.0);
    let status = b.status_with("ch1_ocp_tripped", "1").await;
    assert_eq!(status.get("ch1_output"), Some("0"));
    assert_eq!(status.get("ch1_mode"), Some("off"));
    let message = b.refused("output ch=1 state=on", "device_error").await;
    assert!(
        message.contains("-221,\"Settings conflict\"")
            && message.contains("over-current protection tripped")
            && message.contains("clear_protection ch=1"),
        "{message}"
    );
    sim.set_load_ohms(1, 100.0);
    b.ok(
        "clear_protection ch=1",
        "ok clear_protection ch=1 ovp_tripped=0 ocp_tripped=0",
    )
    .await;
    assert!(!sim.ocp_tripped(1) && !sim.output(1));
    b.status_with("ch1_ocp_tripped", "0").await;
    b.ok("set_ocp ch=1 state=off", "ok set_ocp ch=1 state=off")
        .await;
    assert!(!sim.channel(1).ocp_enabled);

    // Over-voltage: the protection below the setpoint trips when switched on.
    b.ok("set_voltage ch=2 value=12", "ok set_voltage ch=2 value=12")
        .await;
    b.ok("set_current ch=2 value=2", "ok set_current ch=2 value=2")
        .await;
    b.ok("set_ovp ch=2 value=10", "ok set_ovp ch=2 value=10")
        .await;
    b.refused("output ch=2 state=on", "device_error").await;
    assert!(sim.ovp_tripped(2));
    b.status_with("ch2_ovp_tripped", "1").await;
    b.ok(
        "clear_protection 2",
        "ok clear_protection ch=2 ovp_tripped=0 ocp_tripped=0",
    )
    .await;

    b.ok("output ch=1 state=on", "ok output ch=1 state=on")
        .await;
    b.ok("output ch=3 state=on", "ok output ch=3 state=on")
        .await;
    b.ok("output ch=3 state=off", "ok output ch=3 state=off")
        .await;
    assert!(!sim.output(3));
    b.ok("output ch=3 state=on", "ok output ch=3 state=on")
        .await;
    b.ok("all_off", "ok all_off outputs=off").await;
    assert!((1..=3).all(|ch| !sim.output(ch)));
    b.status_where("all off", |s| {
        (1..=3).all(|ch| s.get(&format!("ch{ch}_mode")) == Some("off"))
    })
    .await;

    b.ok(
        "set_name ch=2 name=\"heater bias\"",
        "ok set_name ch=2 name=\"heater bias\"",
    )
    .await;
    b.status_with("ch2_name", "heater bias").await;

    b.ok("reconnect", "ok reconnect hw_connected=1").await;
    let help = b.call("help").await;
    for command in [
        "set_voltage",
        "set_current",
        "output",
        "all_off",
        "set_ovp",
        "set_ocp",
        "clear_protection",
        "set_name",
        "reconnect",
    ] {
        assert!(help.get(command).is_some(), "{command} missing in {help}");
    }
    assert!(help.get("set_voltage").unwrap().contains("<V>"));
    assert!(help.get("set_current").unwrap().contains("<A>"));
    assert!(sim.errors().is_empty());
}

#[tokio::test]
async fn bad_arguments_are_refused_and_the_supply_is_untouched() {
    let limits = Limits {
        max_voltage: [Some(5.5), None, Some(12.0)],
        max_current: [None, Some(0.5), None],
    };
    let b = bench("e36311a", limits).await;
    assert_eq!(b.model, e36300::Model::E36311A);
    b.ok("set_voltage ch=1 value=3", "ok set_voltage ch=1 value=3")
        .await;
    b.ok("set_voltage ch=3 value=-5", "ok set_voltage ch=3 value=-5")
        .await;
    b.ok(
        "set_current ch=2 value=0.2",
        "ok set_current ch=2 value=0.2",
    )
    .await;
    let before = b.snapshot();
    let names_before = b.status_with("ch1_voltage_set", "3").await;

    for (line, code) in [
        ("set_voltage ch=1 value=5.6", "out_of_range"), // --max-voltage 1=5.5
        ("set_voltage ch=1 value=-1", "out_of_range"),
        ("set_voltage ch=2 value=25.5", "out_of_range"), // rating
        ("set_voltage ch=2 value=-0.1", "out_of_range"),
        ("set_voltage ch=3 value=5", "out_of_range"), // the negative output
        ("set_voltage ch=3 value=-12.5", "out_of_range"), // --max-voltage 3=12
        ("set_voltage ch=4 value=1", "out_of_range"),
        ("set_voltage ch=0 value=1", "out_of_range"),
        ("set_voltage ch=one value=1", "bad_argument"),
        ("set_voltage ch=1 value=nan", "bad_argument"),
        ("set_voltage ch=1 value=inf", "bad_argument"),
        ("set_voltage ch=1 value=1e999", "bad_argument"),
        ("set_voltage ch=1 value=5V", "bad_argument"),
        ("set_voltage ch=1", "missing_argument"),
        ("set_voltage value=1", "missing_argument"),
        ("set_voltage ch=1 value=1 volts=2", "bad_argument"),
        ("set_voltage 1 1 1", "bad_argument"),
        ("set_current ch=1 value=5.1", "out_of_range"), // rating 5 A
        ("set_current ch=2 value=0.6", "out_of_range"), // --max-current 2=0.5
        ("set_current ch=3 value=-0.5", "out_of_range"),
        ("set_current ch=3 value=", "bad_argument"),
        ("output ch=1 state=maybe", "bad_argument"),
        ("output ch=1 state=", "bad_argument"),
        ("output ch=9 state=on", "out_of_range"),
        ("output state=on", "missing_argument"),
        ("all_off 1", "bad_argument"),
        ("all_off ch=1", "bad_argument"),
        ("set_ovp ch=1 value=6.7", "out_of_range"),
        ("set_ovp ch=3 value=20", "out_of_range"), // negative output
        ("set_ovp ch=3 value=-28", "out_of_range"),
        ("set_ovp ch=2 value=-1", "out_of_range"),
        ("set_ocp ch=1 state=sometimes", "bad_argument"),
        ("set_ocp ch=4 state=on", "out_of_range"),
        ("clear_protection", "missing_argument"),
        ("clear_protection ch=1.5", "bad_argument"),
        ("set_name ch=1 name=\"\"", "bad_argument"),
        ("set_name ch=1 name=\"two\\nlines\"", "bad_argument"),
        ("set_name ch=4 name=x", "out_of_range"),
        ("set_name ch=1", "missing_argument"),
        ("set_voltages ch=1 value=1", "unknown_command"),
    ] {
        b.refused(line, code).await;
        assert_eq!(b.snapshot(), before, "{line} changed the supply");
    }
    let long_name = format!("set_name ch=1 name={}", "n".repeat(65));
    b.refused(&long_name, "bad_argument").await;
    assert!(
        b.control().errors().is_empty(),
        "nothing was sent to refuse"
    );
    let after = b.status_where("a fresh poll", connected).await;
    for ch in 1..=3 {
        let key = format!("ch{ch}_name");
        assert_eq!(after.get(&key), names_before.get(&key));
    }
    assert_eq!(
        number(&after, "errors"),
        0.0,
        "refusals are not hardware errors"
    );
    // The edges themselves are allowed.
    b.ok(
        "set_voltage ch=1 value=5.5",
        "ok set_voltage ch=1 value=5.5",
    )
    .await;
    b.ok(
        "set_voltage ch=3 value=-12",
        "ok set_voltage ch=3 value=-12",
    )
    .await;
    b.ok("set_ovp ch=3 value=-27.5", "ok set_ovp ch=3 value=-27.5")
        .await;
}

#[tokio::test]
async fn instrument_errors_come_back_as_device_errors() {
    let b = bench("e36312a", Limits::default()).await;
    b.control().push_error(301, "Output 1 overheated");
    let message = b.refused("set_voltage ch=1 value=2", "device_error").await;
    assert_eq!(
        message,
        "the supply reported +301,\"Output 1 overheated\" after VOLT 2,(@1)"
    );
    let status = b
        .status_where("counted", |s| number(s, "errors") >= 1.0)
        .await;
    assert_eq!(status.get("hw_connected"), Some("1"), "the link is fine");
    b.ok("set_voltage ch=1 value=2", "ok set_voltage ch=1 value=2")
        .await;
}

#[tokio::test]
async fn an_offline_supply_is_reported_and_reconnected_on_its_own() {
    let b = bench("e36313a", Limits::default()).await;
    b.ok("set_voltage ch=2 value=7", "ok set_voltage ch=2 value=7")
        .await;
    b.status_with("ch2_voltage_set", "7").await;

    b.sim.set_fault(Fault::Offline);
    let status = b.status_where("offline", offline).await;
    assert_eq!(
        status.get("ch2_voltage_set"),
        Some("7"),
        "the last values stay reported"
    );
    let age = number(&status, "status_age");
    assert!(number(&status, "errors") >= 1.0);
    let message = b.refused("set_voltage ch=2 value=8", "not_connected").await;
    assert!(message.contains("offline"), "{message}");
    b.refused("all_off", "not_connected").await;
    b.refused("reconnect", "not_connected").await;
    b.ok("set_name ch=3 name=probe", "ok set_name ch=3 name=probe")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = b.call("get_status").await;
    assert_eq!(status.get("hw_connected"), Some("0"), "still offline");
    assert!(number(&status, "status_age") > age, "the age keeps growing");

    let healed = b.heal_and_time();
    let status = b
        .status_where("back online with the new name", |s| {
            connected(s) && s.get("ch3_name") == Some("probe")
        })
        .await;
    assert!(
        healed.elapsed() < Duration::from_secs(3),
        "{:?}",
        healed.elapsed()
    );
    assert_eq!(status.get("ch2_voltage_set"), Some("7"));
    assert!(number(&status, "status_age") < 1.0);
    b.ok("set_voltage ch=2 value=8", "ok set_voltage ch=2 value=8")
        .await;
}

#[tokio::test]
async fn a_power_cycled_supply_is_found_again() {
    let mut b = bench("e36313a", Limits::default()).await;
    b.ok("set_voltage ch=1 value=4", "ok set_voltage ch=1 value=4")
        .await;
    let addr = b.sim.local_addr();
    b.sim.shutdown();
    b.sim.stopped().await;
    b.status_where("offline", offline).await;
    b.refused("set_voltage ch=1 value=1", "not_connected").await;

    // Back at the same address, in its power-on state.
    b.sim = spawn_sim(addr, b.model).await;
    let came_back = Instant::now();
    let status = b
        .status_where("reconnected", |s| {
            connected(s) && s.get("ch1_voltage_set") == Some("0")
        })
        .await;
    assert!(came_back.elapsed() < Duration::from_secs(3));
    assert_eq!(status.get("idn_model"), Some("E36313A"));
    b.ok("set_voltage ch=1 value=4", "ok set_voltage ch=1 value=4")
        .await;
    assert_eq!(b.control().voltage_set(1), 4.0);
}

#[tokio::test]
async fn a_silent_supply_times_out_goes_offline_and_recovers() {
    let b = bench("e36313a", Limits::default()).await;
    b.sim.set_fault(Fault::Silent);
    // A timeout, unless a poll already timed out and took the link down.
    let reply = b.call("set_voltage ch=1 value=1").await;
    assert!(
        matches!(reply.error_code(), Some("timeout" | "not_connected")),
        "{reply}"
    );
    assert_eq!(
        b.control().voltage_set(1),
        0.0,
        "a hung supply executes nothing"
    );
    b.status_where("offline", offline).await;
    let healed = b.heal_and_time();
    b.status_where("back", connected).await;
    assert!(healed.elapsed() < Duration::from_secs(3));
    b.ok("set_voltage ch=1 value=1", "ok set_voltage ch=1 value=1")
        .await;
}

#[tokio::test]
async fn a_slow_supply_within_the_timeout_still_works() {
    let b = bench("e36313a", Limits::default()).await;
    b.sim.set_fault(Fault::Slow(Duration::from_millis(100)));
    b.ok(
        "set_voltage ch=1 value=1.5",
        "ok set_voltage ch=1 value=1.5",
    )
    .await;
    let status = b.status_with("ch1_voltage_set", "1.5").await;
    assert_eq!(status.get("hw_connected"), Some("1"));
    // Slower than the 300 ms the driver waits: a timeout, then offline.
    b.sim.set_fault(Fault::Slow(Duration::from_millis(1000)));
    b.status_where("offline", offline).await;
    b.heal_and_time();
    b.status_where("back", connected).await;
}

#[tokio::test]
async fn garbage_and_disconnects_are_survived() {
    let b = bench("e36313a", Limits::default()).await;
    b.sim.set_fault(Fault::Garbage);
    // Whichever comes first, the command or a poll, it is an error, never made up data.
    let reply = b.call("set_current ch=1 value=0.5").await;
    assert!(
        matches!(reply.error_code(), Some("device_error" | "not_connected")),
        "{reply}"
    );
    b.status_where("offline after nonsense", offline).await;
    b.heal_and_time();
    b.status_where("back", connected).await;

    b.sim.set_fault(Fault::Disconnect);
    b.status_where("offline after a disconnect", offline).await;
    let healed = b.heal_and_time();
    b.status_where("back", connected).await;
    assert!(healed.elapsed() < Duration::from_secs(3));
    b.ok(
        "set_current ch=1 value=0.5",
        "ok set_current ch=1 value=0.5",
    )
    .await;
}

#[tokio::test]
async fn the_wrong_model_is_refused_when_one_is_expected() {
    let sim = spawn_sim(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        e36300::Model::E36312A,
    )
    .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let device = Psu::new(Config {
        address: sim.local_addr().to_string(),
        timeout: Duration::from_millis(300),
        expected_model: Some(Model::E36313A),
        limits: Limits::default(),
        names: Default::default(),
    });
    let daemon = Daemon::start(listener, ServerConfig::default(), device);
    let client = Client::connect(daemon.local_addr(), ClientOptions::default())
        .await
        .unwrap();
    let reply = client.call("reconnect").await.unwrap();
    assert_eq!(reply.error_code(), Some("not_connected"), "{reply}");
    let message = reply.error_message().unwrap();
    assert!(
        message.contains("expected an E36313A") && message.contains("E36312A"),
        "{message}"
    );
    // The expected model's ratings apply all the same, before any connection.
    let reply = client.call("set_current ch=1 value=10").await.unwrap();
    assert_eq!(reply.error_code(), Some("not_connected"), "{reply}");
    let reply = client.call("set_current ch=1 value=10.5").await.unwrap();
    assert_eq!(reply.error_code(), Some("out_of_range"), "{reply}");
    daemon.shutdown_token().cancel();
    sim.shutdown();
}
