//! The daemon in-process over the line protocol, on a simulated ClusterHAT v3, Stack and
//! Triple: every command, every bad argument (answered, the hardware unchanged), the
//! status variables, and a board that vanishes or NAKs and comes back by itself.

use labwire_clusterctrl::bus::SimBus;
use labwire_clusterctrl::cluster::Cluster;
use labwire_clusterctrl::ctrl::Ctrl;
use labwire_clusterctrl::device::ClusterDevice;
use labwire_clusterctrl::hat::Hat;
use labwire_daemon::hardware::HardwareConfig;
use labwire_daemon::{Daemon, ServerConfig};
use labwire_sim::clusterctrl::firmware::BoardSnapshot;
use labwire_sim::clusterctrl::xra1200::HatSnapshot;
use labwire_sim::clusterctrl::{BoardKind, HatVersion, SimBoard, SimHat};
use labwire_testkit::Session;
use std::time::Duration;
use tokio::net::TcpListener;

struct Rig {
    hat: SimHat,
    stack: SimBoard,
    triple: SimBoard,
}

impl Rig {
    fn new() -> Rig {
        let stack = SimBoard::new(BoardKind::Stack, None);
        let triple = SimBoard::new(BoardKind::Triple, None);
        stack.set_order(3);
        triple.set_order(8);
        Rig {
            hat: SimHat::new(HatVersion::from_name("hat-v3").unwrap()),
            stack,
            triple,
        }
    }

    fn cluster(&self) -> Cluster {
        self.cluster_with_delay(Duration::from_millis(20))
    }

    fn cluster_with_delay(&self, power_delay: Duration) -> Cluster {
        let hat = Hat::new(
            Box::new(SimBus::new(self.hat.clone(), "hat")),
            self.hat.version(),
        );
        let boards = [&self.stack, &self.triple]
            .into_iter()
            .map(|board| Ctrl::new(Box::new(SimBus::new(board.clone(), board.kind().name()))))
            .collect();
        Cluster::new(Some(hat), boards, false, power_delay)
    }

    /// What the hardware shows (not whether a poll's command is in flight right now).
    fn snapshot(&self) -> (HatSnapshot, BoardSnapshot, BoardSnapshot) {
        let settled = |board: &SimBoard| BoardSnapshot {
            busy: false,
            ..board.snapshot()
        };
        (
            self.hat.snapshot(),
            settled(&self.stack),
            settled(&self.triple),
        )
    }
}

struct Bench {
    daemon: Daemon,
    client: Session,
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
    }
}

impl Bench {
    async fn start(rig: &Rig) -> Bench {
        Bench::start_with(rig.cluster(), Duration::from_secs(8)).await
    }

    async fn start_with(cluster: Cluster, operation_timeout: Duration) -> Bench {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = ServerConfig {
            name: "clusterctrl".into(),
            hardware: HardwareConfig {
                poll_interval: Duration::from_millis(50),
                operation_timeout,
                backoff_initial: Duration::from_millis(20),
                backoff_max: Duration::from_millis(200),
            },
            ..ServerConfig::default()
        };
        let daemon = Daemon::start(listener, config, ClusterDevice::new(cluster));
        let client = Session::open(daemon.local_addr()).await;
        let bench = Bench { daemon, client };
        bench
            .status_where("connected", |s| s.get("hw_connected") == Some("1"))
            .await;
        bench
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_on_all_may_take_longer_than_the_device_timeout() {
    // 12 Pis 150 ms apart pace themselves for 1.65 s, far past a 300 ms device timeout:
    // the sequence is allowed its pacing and answers once every Pi is on.
    let rig = Rig::new();
    let bench = Bench::start_with(
        rig.cluster_with_delay(Duration::from_millis(150)),
        Duration::from_millis(300),
    )
    .await;
    let started = std::time::Instant::now();
    let all = bench.answered("power_on pi=all").await;
    assert_eq!(all.get("count"), Some("12"), "{all}");
    assert!(started.elapsed() >= Duration::from_millis(11 * 150));
    let (hat, stack, triple) = rig.snapshot();
    assert_eq!(hat.power, [true; 4]);
    assert!(stack.power.iter().chain(&triple.power).all(|on| *on));
    assert!(!stack.alert && !triple.alert, "ALERT off when done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_over_the_line_protocol() {
    let rig = Rig::new();
    let bench = Bench::start(&rig).await;

    bench.answered("power_on pi=2").await;
    assert!(rig.hat.snapshot().power[1]);
    bench.answered("power_on pi=5").await;
    assert!(
        rig.stack.snapshot().power[0],
        "pi 5 is the Stack's first (order 3)"
    );
    bench.answered("power_on pi=8.3").await;
    assert!(rig.triple.snapshot().power[2]);
    bench.answered("power_off pi=hat.2").await;
    assert!(!rig.hat.snapshot().power[1]);
    let all = bench.answered("power_on pi=all").await;
    assert_eq!(all.get("count"), Some("10"), "{all}");
    assert_eq!(rig.hat.snapshot().power, [true; 4]);
    assert!(rig.stack.snapshot().power.iter().all(|on| *on));
    assert!(
        !rig.stack.snapshot().alert,
        "ALERT lit meanwhile, off when done"
    );
    bench.answered("power_off pi=all").await;
    assert!(!rig.triple.snapshot().power.iter().any(|on| *on));

    bench.answered("alert state=on").await;
    assert!(rig.hat.snapshot().alert && rig.triple.snapshot().alert);
    bench.answered("alert state=off board=8").await;
    assert!(!rig.triple.snapshot().alert && rig.stack.snapshot().alert);
    bench.answered("alert state=off board=hat").await;
    assert!(!rig.hat.snapshot().alert);

    bench.answered("led state=off").await;
    assert!(!rig.stack.snapshot().pwr_led);
    bench.answered("led state=on").await;
    bench.answered("led state=off pi=10").await;
    assert!(!rig.triple.snapshot().led[0]);

    bench.answered("fan state=on").await;
    assert!(rig.stack.snapshot().fan);
    bench.answered("fan state=off board=3").await;
    assert!(!rig.stack.snapshot().fan);

    bench.answered("hub state=off").await;
    assert!(!rig.hat.snapshot().hub);
    bench.answered("hub state=on board=hat").await;
    assert!(rig.hat.snapshot().hub);
    bench.answered("hub state=reset board=8").await;
    assert_eq!(rig.triple.snapshot().hub_cycles, 1);

    bench.answered("usbboot pi=8.1 state=off").await;
    assert!(!rig.triple.snapshot().usbboot[0]);
    bench.answered("power_on pi=11").await;
    bench.answered("save what=power board=8").await;
    assert_eq!(rig.triple.saved_power(), vec![false, true, false]);
    bench.answered("set_order board=8 order=2").await;
    bench.answered("save what=order board=2").await;
    assert_eq!(rig.triple.saved_order(), 2);
    let status = bench
        .status_where("the Triple first", |s| s.get("board1_order") == Some("2"))
        .await;
    assert_eq!(status.get("board1_type"), Some("triple"));
    assert_eq!(
        status.get("pi6_power"),
        Some("1"),
        "pi 6 is now the Triple's second"
    );
    bench.answered("save what=all").await;
    bench.answered("save what=usbboot").await;
    bench.answered("save what=led board=3").await;
    bench.answered("save_defaults board=3").await;
    assert_eq!(rig.stack.saved_order(), 20);
    bench.answered("reset board=2").await;
    assert_eq!(rig.triple.snapshot().resets, 1);
    assert_eq!(
        rig.triple.snapshot().power,
        vec![false, true, false],
        "as saved"
    );
    bench.answered("reconnect").await;
    bench
        .status_where("back", |s| s.get("hw_connected") == Some("1"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_are_refused_and_change_nothing() {
    let rig = Rig::new();
    let bench = Bench::start(&rig).await;
    bench.answered("power_on pi=1").await;
    let before = rig.snapshot();
    let cases = [
        ("power_on", "missing_argument"),
        ("power_on pi=0", "out_of_range"),
        ("power_on pi=13", "out_of_range"),
        ("power_on pi=x", "bad_argument"),
        ("power_on pi=3.6", "out_of_range"),
        ("power_on pi=4.1", "bad_argument"),
        ("power_on pi=hat.5", "out_of_range"),
        ("power_off pi=1 extra=1", "bad_argument"),
        ("alert state=maybe", "bad_argument"),
        ("alert state=on board=0", "out_of_range"),
        ("alert state=on board=77", "bad_argument"),
        ("led state=on pi=hat.1", "bad_argument"),
        ("led state=on pi=99", "out_of_range"),
        ("fan state=on board=8", "bad_argument"),
        ("fan state=on board=hat", "bad_argument"),
        ("hub state=on board=8", "bad_argument"),
        ("hub state=reset board=3", "bad_argument"),
        ("hub state=sideways", "bad_argument"),
        ("usbboot pi=5 state=on", "bad_argument"),
        ("usbboot pi=1 state=on", "bad_argument"),
        ("usbboot pi=9", "missing_argument"),
        ("set_order board=3 order=8", "bad_argument"),
        ("set_order board=3 order=0", "out_of_range"),
        ("set_order board=3 order=256", "out_of_range"),
        ("set_order order=4", "missing_argument"),
        ("save what=everything", "bad_argument"),
        ("save what=usbboot board=3", "bad_argument"),
        ("save what=all board=hat", "bad_argument"),
        ("save_defaults board=hat", "bad_argument"),
        ("reset board=4", "bad_argument"),
    ];
    for (line, code) in cases {
        let reply = bench.call(line).await;
        assert_eq!(reply.error_code(), Some(code), "{line} -> {reply}");
        assert!(
            reply.error_message().is_some_and(|m| !m.is_empty()),
            "{reply}"
        );
    }
    assert_eq!(
        rig.snapshot(),
        before,
        "refused requests changed the hardware"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_variables_of_every_pi_and_board() {
    let rig = Rig::new();
    let bench = Bench::start(&rig).await;
    bench.answered("power_on pi=9").await;
    bench.answered("fan state=on").await;
    let status = bench
        .status_where("pi 9 and the fan on", |s| {
            s.get("pi9_power") == Some("1") && s.get("board1_fan") == Some("1")
        })
        .await;
    let get = |key: &str| {
        status
            .get(key)
            .unwrap_or_else(|| panic!("no {key}: {status}"))
    };
    assert_eq!(get("npis"), "12");
    assert_eq!(get("pi1_power"), "0");
    assert_eq!(get("pi1_usbboot"), "", "no usbboot on the HAT");
    assert_eq!(get("pi5_usbboot"), "", "no usbboot on the Stack");
    assert_eq!(get("pi10_usbboot"), "1", "the Triple's factory usbboot");
    assert_eq!(get("nboards"), "2");
    assert_eq!(get("board1_type"), "stack");
    assert_eq!(get("board1_order"), "3");
    assert_eq!(get("board1_firmware"), "1.4");
    assert_eq!(get("board1_maxpi"), "5");
    assert_eq!(get("board1_fan"), "1");
    assert_eq!(get("board2_fan"), "", "the Triple has no fan");
    let temperature: f64 = get("board2_temperature").parse().unwrap();
    assert!((temperature - 31.5).abs() < 1.0);
    let vin: f64 = get("board1_adc2_voltage").parse().unwrap();
    assert!((vin - 12.0).abs() < 0.05, "{vin}");
    assert!(
        status.get("board2_adc2_voltage").is_none(),
        "the Triple has one ADC"
    );
    assert_eq!(get("hat_version"), "hat-v3.0");
    assert_eq!(get("hat_led"), "");
    assert_eq!(get("hub"), "1");
    assert_eq!(get("alert"), "0");
    assert_eq!(get("i2c_errors"), "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_vanishing_or_naking_comes_back_by_itself() {
    let rig = Rig::new();
    let bench = Bench::start(&rig).await;
    bench.answered("power_on pi=8.1").await;
    rig.triple.set_plugged(false);
    bench
        .status_where("link down", |s| s.get("hw_connected") == Some("0"))
        .await;
    let refused = bench.call("power_on pi=2").await;
    assert_eq!(refused.error_code(), Some("not_connected"));
    rig.triple.set_plugged(true);
    let back = bench
        .status_where("back by itself", |s| s.get("hw_connected") == Some("1"))
        .await;
    // Its order was never saved: it came back at the factory order, and got the lowest
    // free one, which sorts it first.
    assert_eq!(back.get("board1_type"), Some("triple"), "{back}");
    assert_eq!(back.get("board1_order"), Some("1"));
    assert_eq!(rig.triple.saved_order(), 1);
    assert_eq!(
        back.get("pi5_power"),
        Some("0"),
        "replugged: booted from its EEPROM"
    );
    assert!(back.get("i2c_errors").is_some_and(|n| n != "0"));

    rig.stack.set_naks(true);
    bench
        .status_where("NAKs: down", |s| s.get("hw_connected") == Some("0"))
        .await;
    rig.stack.set_naks(false);
    bench
        .status_where("NAKs over: up", |s| s.get("hw_connected") == Some("1"))
        .await;
    bench.answered("power_on pi=3.1").await;
    assert!(rig.stack.snapshot().power[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_stuck_busy_times_out_and_recovers_once_free() {
    let rig = Rig::new();
    let bench = Bench::start(&rig).await;
    rig.stack.set_stuck_busy(true);
    // The next poll meets the busy board, gives up after 3 s, and the link goes down.
    bench
        .status_where("link down", |s| s.get("hw_connected") == Some("0"))
        .await;
    let reply = bench.call("power_on pi=3.2").await;
    assert_eq!(reply.error_code(), Some("not_connected"), "{reply}");
    assert!(!rig.stack.snapshot().power[1]);
    rig.stack.set_stuck_busy(false);
    bench
        .status_where("free again", |s| s.get("hw_connected") == Some("1"))
        .await;
    bench.answered("power_on pi=3.2").await;
    assert!(rig.stack.snapshot().power[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_conflict_made_by_another_tool_drops_the_link_until_fixed() {
    let rig = Rig::new();
    let bench = Bench::start(&rig).await;
    rig.triple.set_order(3);
    bench
        .status_where("link down", |s| s.get("hw_connected") == Some("0"))
        .await;
    let reply = bench.call("power_on pi=5").await;
    assert_eq!(reply.error_code(), Some("not_connected"), "{reply}");
    rig.triple.set_order(8);
    bench
        .status_where("fixed", |s| s.get("hw_connected") == Some("1"))
        .await;
}
