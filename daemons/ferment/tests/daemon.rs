//! The daemon in-process over the line protocol, against the simulated chamber (its
//! plant clock stopped, so the test sets the temperatures) and a clock the test moves:
//! every command and bad argument, the relays taken over as they were found, profiles
//! across a restart, each alarm, and never both relays on whatever the commands.

use labwire_daemon::hardware::HardwareConfig;
use labwire_daemon::{Daemon, Device, ServerConfig, StateFile, StatusBuilder};
use labwire_ferment::control::Timing;
use labwire_ferment::device::{Clock, Config, Ferment};
use labwire_ferment::probe::W1Bus;
use labwire_ferment::sim::SimulatedChip;
use labwire_protocol::Message;
use labwire_sim::ferment::{
    self, FermentControl, FermentOptions, FermentSim, Probe, ProbeFault, Relay, Temperatures,
};
use labwire_testkit::{Session, TempDir};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;

/// A clock the test moves; monotonic and wall time move together.
#[derive(Clone)]
struct ManualClock(Arc<Mutex<Duration>>);

impl ManualClock {
    fn new() -> Self {
        ManualClock(Arc::default())
    }
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

/// 2026-12-01T00:00:00Z
const EPOCH: Duration = Duration::from_secs(1_796_083_200);

impl Clock for ManualClock {
    fn monotonic(&self) -> Duration {
        *self.0.lock().unwrap()
    }
    fn wall(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + EPOCH + *self.0.lock().unwrap()
    }
}

fn config() -> Config {
    Config {
        beer_probe: ferment::BEER_PROBE.into(),
        chamber_probe: Some(ferment::CHAMBER_PROBE.into()),
        setpoints: -5.0..=40.0,
        timing: Timing::default(),
        settle_timeout: Duration::from_secs(3600),
        high_limit: 30.0,
        low_limit: -2.0,
        band: 0.5,
    }
}

fn chamber() -> FermentSim {
    ferment::spawn(FermentOptions {
        speed: 0.0,
        ..FermentOptions::default()
    })
    .expect("simulated chamber")
}

fn device(control: &FermentControl, clock: &ManualClock, state: &Path) -> Ferment {
    Ferment::new(
        config(),
        Box::new(SimulatedChip::new(control.clone())),
        Arc::new(W1Bus::new(control.w1_dir())),
        Box::new(clock.clone()),
        StateFile::open(state).unwrap(),
    )
    .expect("device")
}

fn set_beer(control: &FermentControl, beer: f64) {
    control
        .set_temperatures(Temperatures {
            beer,
            chamber: beer,
        })
        .unwrap();
}

/// A daemon over the line protocol on the simulated chamber.
struct Bench {
    daemon: Option<Daemon>,
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
        if let Some(daemon) = &self.daemon {
            daemon.shutdown_token().cancel();
        }
    }
}

impl Bench {
    async fn start(control: &FermentControl, clock: &ManualClock, state: &Path) -> Bench {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = ServerConfig {
            name: "ferment".into(),
            hardware: HardwareConfig {
                poll_interval: Duration::from_millis(30),
                operation_timeout: Duration::from_secs(3),
                backoff_initial: Duration::from_millis(20),
                backoff_max: Duration::from_millis(200),
            },
            ..ServerConfig::default()
        };
        let daemon = Daemon::start(listener, config, device(control, clock, state));
        let client = Session::open(daemon.local_addr()).await;
        let bench = Bench {
            daemon: Some(daemon),
            client,
        };
        bench
            .status_where("connected", |s| s.get("hw_connected") == Some("1"))
            .await;
        bench
    }

    /// Stop as on SIGTERM, and wait until the device has let go.
    async fn stop(mut self) {
        let daemon = self.daemon.take().expect("running");
        daemon.shutdown_token().cancel();
        daemon.wait().await;
    }

    /// A few polls later (at 30 ms each), so what was changed before has been seen.
    async fn settled(&self) -> Message {
        tokio::time::sleep(Duration::from_millis(150)).await;
        self.call("get_status").await
    }
}

fn state_path(dir: &TempDir) -> PathBuf {
    dir.path().join("ferment.state")
}

#[tokio::test]
async fn constant_mode_heats_cools_and_keeps_the_compressor_waiting() {
    let dir = TempDir::new("ferment-constant");
    let sim = chamber();
    let control = sim.control();
    let clock = ManualClock::new();
    let bench = Bench::start(&control, &clock, &state_path(&dir)).await;
    set_beer(&control, 22.0);
    bench.answered("set_setpoint value=18").await;
    bench.answered("set_mode mode=constant").await;
    let waiting = bench
        .status_where("cooler waiting", |s| {
            s.get("mode") == Some("constant") && s.get("beer_temperature") == Some("22")
        })
        .await;
    assert_eq!(waiting.get("cooler"), Some("0"), "{waiting}");
    assert_eq!(
        waiting.get("cooler_wait"),
        Some("600"),
        "the dead time of an unknown past"
    );
    clock.advance(Duration::from_secs(600));
    bench
        .status_where("cooling", |s| s.get("cooler") == Some("1"))
        .await;
    assert!(control.driven(Relay::Cooler) && !control.driven(Relay::Heater));

    set_beer(&control, 18.0);
    clock.advance(Duration::from_secs(120));
    let off = bench
        .status_where("at the setpoint", |s| s.get("cooler") == Some("0"))
        .await;
    assert_eq!(off.get("cooler_wait"), Some("300"), "{off}");

    set_beer(&control, 17.0);
    let wait = bench
        .status_where("heat waits the dead time", |s| {
            s.get("beer_temperature") == Some("17")
        })
        .await;
    assert_eq!(wait.get("heater"), Some("0"), "{wait}");
    clock.advance(Duration::from_secs(600));
    bench
        .status_where("heating", |s| s.get("heater") == Some("1"))
        .await;

    bench.answered("set_mode mode=off").await;
    assert!(
        !control.driven(Relay::Heater),
        "mode off switches off at once"
    );
    assert!(!control.both_on_seen());
}

#[tokio::test]
async fn starting_keeps_the_relays_as_found_and_stopping_switches_them_off() {
    let dir = TempDir::new("ferment-restart");
    let state = state_path(&dir);
    let sim = chamber();
    let control = sim.control();
    let clock = ManualClock::new();
    std::fs::write(&state, r#"{"mode":"constant","setpoint":18.0,"band":0.5}"#).unwrap();
    // A daemon that died while cooling left the compressor running.
    control.drive(Relay::Cooler, true);
    set_beer(&control, 19.0);
    let bench = Bench::start(&control, &clock, &state).await;
    let status = bench.settled().await;
    assert_eq!(status.get("cooler"), Some("1"), "{status}");
    assert_eq!(status.get("alarm_relay_mismatch"), Some("0"), "{status}");
    assert!(control.driven(Relay::Cooler), "still cooling");
    bench.stop().await;
    assert!(
        !control.driven(Relay::Cooler) && !control.driven(Relay::Heater),
        "off on exit"
    );

    // Found heating with the beer below the setpoint: it goes on heating.
    control.drive(Relay::Heater, true);
    set_beer(&control, 17.0);
    let bench = Bench::start(&control, &clock, &state).await;
    let status = bench.settled().await;
    assert_eq!(
        (status.get("heater"), status.get("cooler")),
        (Some("1"), Some("0")),
        "{status}"
    );
    assert!(control.driven(Relay::Heater));
    bench.stop().await;
}

#[tokio::test]
async fn a_profile_survives_a_restart() {
    let dir = TempDir::new("ferment-profile");
    let state = state_path(&dir);
    let sim = chamber();
    let control = sim.control();
    let clock = ManualClock::new();
    set_beer(&control, 18.0);
    let bench = Bench::start(&control, &clock, &state).await;
    bench
        .answered("profile_load points=0s:18,2d:20,3d:20")
        .await;
    let started = bench
        .answered("profile_start at=2026-11-30T00:00:00Z")
        .await;
    assert_eq!(started.get("mode"), Some("profile"));
    let status = bench
        .status_where("profile running", |s| s.get("profile") == Some("running"))
        .await;
    assert_eq!(
        status.get("setpoint"),
        Some("19"),
        "a day into 18 -> 20 over two: {status}"
    );
    assert_eq!(status.get("profile_end"), Some("2026-12-03T00:00:00Z"));
    bench.stop().await;

    clock.advance(Duration::from_secs(86_400));
    let bench = Bench::start(&control, &clock, &state).await;
    let status = bench
        .status_where("resumed", |s| s.get("profile").is_some())
        .await;
    assert_eq!(status.get("mode"), Some("profile"), "{status}");
    assert_eq!(status.get("profile"), Some("running"));
    assert_eq!(status.get("setpoint"), Some("20"), "two days in: {status}");
    let reply = bench.answered("profile_status").await;
    assert_eq!(reply.get("profile_points"), Some("0s:18,2d:20,3d:20"));
    bench.answered("profile_stop").await;
    let status = bench
        .status_where("stopped", |s| s.get("profile") == Some("idle"))
        .await;
    assert_eq!(
        status.get("setpoint"),
        Some(""),
        "profile mode without a run: no setpoint"
    );
    assert_eq!(status.get("heater"), Some("0"));
    bench.stop().await;
}

#[tokio::test]
async fn bad_commands_are_refused_and_change_nothing() {
    let dir = TempDir::new("ferment-bad");
    let state = state_path(&dir);
    let sim = chamber();
    let control = sim.control();
    let clock = ManualClock::new();
    set_beer(&control, 18.0);
    let bench = Bench::start(&control, &clock, &state).await;
    bench.answered("set_setpoint value=18.5").await;
    bench.answered("set_band value=0.3").await;
    bench.answered("set_mode mode=constant").await;
    let saved = std::fs::read_to_string(&state).unwrap();
    let before = bench.settled().await;
    let refused: &[(&str, &str)] = &[
        ("set_mode", "missing_argument"),
        ("set_mode mode=auto", "bad_argument"),
        ("set_mode mode=profile", "bad_argument"),
        ("set_mode mode=off extra=1", "bad_argument"),
        ("set_setpoint", "missing_argument"),
        ("set_setpoint value=41", "out_of_range"),
        ("set_setpoint value=-5.1", "out_of_range"),
        ("set_setpoint value=nan", "bad_argument"),
        ("set_setpoint value=warm", "bad_argument"),
        ("set_band value=0", "out_of_range"),
        ("set_band value=-1", "out_of_range"),
        ("set_band value=11", "out_of_range"),
        ("set_band value=inf", "bad_argument"),
        ("profile_load", "missing_argument"),
        ("profile_load points=", "bad_argument"),
        ("profile_load points=0s:18,1d:99", "out_of_range"),
        ("profile_load points=1d:18", "bad_argument"),
        ("profile_start", "bad_argument"),
        ("profile_start at=tomorrow", "bad_argument"),
        ("profile_start at=2026-12-24T08:00:00+01:00", "bad_argument"),
        ("profile_stop now=1", "bad_argument"),
        ("ack_alarm", "missing_argument"),
        ("ack_alarm code=fire", "bad_argument"),
    ];
    for (line, code) in refused {
        let reply = bench.call(line).await;
        assert_eq!(reply.error_code(), Some(*code), "{line} -> {reply}");
    }
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        saved,
        "state file untouched"
    );
    let after = bench.settled().await;
    for key in ["mode", "setpoint", "band", "profile", "heater", "cooler"] {
        assert_eq!(before.get(key), after.get(key), "{key}");
    }
    let help = bench.call("help").await.to_line();
    for command in [
        "set_mode",
        "set_setpoint",
        "set_band",
        "profile_load",
        "profile_start",
        "profile_stop",
        "profile_status",
        "ack_alarm",
    ] {
        assert!(help.contains(command), "help lacks {command}: {help}");
    }
    bench.answered("ack_alarm code=all").await;
    bench.answered("profile_status").await;
}

#[tokio::test]
async fn each_alarm_is_raised_and_cleared() {
    let dir = TempDir::new("ferment-alarms");
    let sim = chamber();
    let control = sim.control();
    let clock = ManualClock::new();
    set_beer(&control, 18.0);
    let bench = Bench::start(&control, &clock, &state_path(&dir)).await;
    bench.answered("set_setpoint value=18").await;
    bench.answered("set_mode mode=constant").await;

    for fault in [
        ProbeFault::Unplugged,
        ProbeFault::CrcError,
        ProbeFault::PowerOn,
    ] {
        control.set_probe_fault(Probe::Beer, Some(fault)).unwrap();
        let status = bench
            .status_where("probe fault", |s| {
                s.get("alarm_probe_fault") == Some("1") && s.get("beer_temperature") == Some("")
            })
            .await;
        assert_eq!(status.get("heater"), Some("0"), "{fault:?}");
        control.set_probe_fault(Probe::Beer, None).unwrap();
        bench
            .status_where("probe back", |s| s.get("beer_temperature") == Some("18"))
            .await;
        bench.answered("ack_alarm code=probe_fault").await;
        bench
            .status_where("cleared", |s| s.get("alarm_probe_fault") == Some("0"))
            .await;
    }

    set_beer(&control, 31.0);
    bench
        .status_where("high limit", |s| s.get("alarm_high_limit") == Some("1"))
        .await;
    set_beer(&control, -3.0);
    bench
        .status_where("low limit", |s| s.get("alarm_low_limit") == Some("1"))
        .await;
    clock.advance(Duration::from_secs(3600));
    bench
        .status_where("setpoint timeout", |s| {
            s.get("alarm_setpoint_timeout") == Some("1")
        })
        .await;

    control.set_stuck(Relay::Cooler, Some(true));
    let status = bench
        .status_where("stuck relay", |s| {
            s.get("alarm_relay_mismatch") == Some("1")
        })
        .await;
    assert_eq!(
        status.get("heater"),
        Some("0"),
        "nothing else is switched on: {status}"
    );
    assert!(!control.driven(Relay::Heater));
    control.set_stuck(Relay::Cooler, None);
    set_beer(&control, 18.0);
    bench.answered("ack_alarm code=all").await;
    bench
        .status_where("all clear", |s| {
            [
                "probe_fault",
                "high_limit",
                "low_limit",
                "setpoint_timeout",
                "relay_mismatch",
            ]
            .iter()
            .all(|code| s.get(&format!("alarm_{code}")) == Some("0"))
        })
        .await;
}

#[derive(Clone, Debug)]
enum Op {
    Command(&'static str),
    Beer(f64),
    Advance(u64),
    Unplug(bool),
    Poll,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        prop::sample::select(vec![
            "set_mode mode=off",
            "set_mode mode=constant",
            "set_mode mode=profile",
            "set_setpoint value=10",
            "set_setpoint value=18",
            "set_setpoint value=25",
            "set_band value=0.1",
            "set_band value=3",
            "profile_load points=0s:10,1h:25,2h:5",
            "profile_start",
            "profile_stop",
            "ack_alarm code=all",
        ])
        .prop_map(Op::Command),
        (0.0..35.0f64).prop_map(Op::Beer),
        (0u64..1200).prop_map(Op::Advance),
        any::<bool>().prop_map(Op::Unplug),
        Just(Op::Poll),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The whole device, commands in any order between polls: the simulated chamber
    /// never has heater and compressor closed together.
    #[test]
    fn no_command_order_puts_both_relays_on(
        found_heating in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = TempDir::new("ferment-orders");
        let sim = chamber();
        let control = sim.control();
        control.drive(if found_heating { Relay::Heater } else { Relay::Cooler }, true);
        let clock = ManualClock::new();
        let mut device = device(&control, &clock, &state_path(&dir));
        runtime.block_on(async {
            device.connect().await.unwrap();
            for op in ops {
                match op {
                    Op::Command(line) => {
                        let request = labwire_protocol::parse_line(line).unwrap();
                        if let Ok(command) = device.parse_command(&request) {
                            let _ = device.execute(command).await;
                        }
                    }
                    Op::Beer(beer) => set_beer(&control, beer),
                    Op::Advance(seconds) => clock.advance(Duration::from_secs(seconds)),
                    Op::Unplug(gone) => control
                        .set_probe_fault(Probe::Beer, gone.then_some(ProbeFault::Unplugged))
                        .unwrap(),
                    Op::Poll => device.poll(&mut StatusBuilder::new()).await.unwrap(),
                }
                assert!(!control.both_on_seen());
            }
            device.disconnect().await;
        });
        prop_assert!(!control.driven(Relay::Heater) && !control.driven(Relay::Cooler));
        prop_assert!(!control.both_on_seen());
    }
}
