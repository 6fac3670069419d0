//! The daemon in-process over the line protocol, against the simulated controller: every
//! command, every bad argument (the controller never sees a line), units, the model
//! before the first connection, and the controller going away and coming back.

use labwire_cryocon::alarms::AlarmSettings;
use labwire_cryocon::commands::SetpointLimits;
use labwire_cryocon::device::{Clock, Config, Controller};
use labwire_cryocon::{Model, ReportUnit};
use labwire_daemon::hardware::HardwareConfig;
use labwire_daemon::{Daemon, ServerConfig};
use labwire_protocol::Message;
use labwire_sim::cryocon::{self, CryoconControl, CryoconOptions, HeaterError, LoopType};
use labwire_sim::{Fault, SimHandle};
use labwire_testkit::{number, Session};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpListener;

struct Bench {
    sim: SimHandle<CryoconControl>,
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
        self.sim.shutdown();
    }
}

/// A state file of its own for each bench, in the system's temporary directory.
fn scratch_state() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let path = std::env::temp_dir().join(format!(
        "labwire-cryocon-test-{}-{n}.state",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    path
}

/// A wall clock running `scale` times faster than real time from now on.
fn accelerated(scale: f64) -> Clock {
    let (wall, start) = (SystemTime::now(), Instant::now());
    Arc::new(move || wall + start.elapsed().mul_f64(scale))
}

struct Options {
    model: cryocon::Model,
    expected_model: Option<Model>,
    unit: ReportUnit,
    limits: SetpointLimits,
    poll_interval: Duration,
    /// The controller is switched off when the daemon starts.
    offline: bool,
    alarms: AlarmSettings,
    /// Simulated seconds per real second, for the controller and the daemon's clock.
    time_scale: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            model: cryocon::Model::Cryocon24C,
            expected_model: None,
            unit: ReportUnit::Kelvin,
            limits: SetpointLimits::default(),
            poll_interval: Duration::from_millis(50),
            offline: false,
            alarms: AlarmSettings::default(),
            time_scale: 1.0,
        }
    }
}

async fn bench_with(options: Options) -> Bench {
    let sim_options = CryoconOptions {
        model: options.model,
        noise_kelvin: 0.0,
        time_scale: options.time_scale,
        ..CryoconOptions::default()
    };
    let sim = cryocon::spawn(SocketAddr::from(([127, 0, 0, 1], 0)), sim_options)
        .await
        .expect("simulator");
    if options.offline {
        sim.set_fault(Fault::Offline);
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ServerConfig {
        name: "cryo1".into(),
        hardware: HardwareConfig {
            poll_interval: options.poll_interval,
            operation_timeout: Duration::from_secs(4),
            backoff_initial: Duration::from_millis(20),
            backoff_max: Duration::from_millis(200),
        },
        ..ServerConfig::default()
    };
    let device_config = Config {
        address: sim.local_addr().to_string(),
        timeout: Duration::from_millis(400),
        unit: options.unit,
        expected_model: options.expected_model,
        limits: options.limits,
        alarms: options.alarms,
    };
    let state = labwire_daemon::StateFile::open(scratch_state()).unwrap();
    let device =
        Controller::with_state(device_config, state, accelerated(options.time_scale)).unwrap();
    let daemon = Daemon::start(listener, config, device);
    let client = Session::open(daemon.local_addr()).await;
    Bench {
        sim,
        daemon,
        client,
    }
}

async fn bench(options: Options) -> Bench {
    let b = bench_with(options).await;
    b.status_where("connected", connected).await;
    b
}

fn connected(s: &Message) -> bool {
    s.get("hw_connected") == Some("1") && s.get("temp_a").is_some()
}

impl Bench {
    fn control(&self) -> &CryoconControl {
        self.sim.control()
    }
}

#[tokio::test]
async fn every_command_reaches_the_controller_and_shows_in_the_status() {
    let b = bench(Options::default()).await;
    let sim = b.control();
    let status = b.call("get_status").await;
    assert_eq!(status.get("unit"), Some("K"));
    assert_eq!(status.get("idn_model"), Some("24C"));
    assert_eq!(status.get("idn_serial"), Some("204683"));
    assert_eq!(status.get("idn_firmware"), Some("1.01A"));
    assert_eq!(status.get("control"), Some("0"));
    for input in ["a", "b", "c", "d"] {
        assert!((number(&status, &format!("temp_{input}")) - 295.0).abs() < 1.0);
        assert_eq!(status.get(&format!("alarm_state_{input}")), Some("--"));
    }
    for n in 1..=4 {
        for var in [
            "setpoint",
            "source",
            "type",
            "range",
            "heater",
            "ramp",
            "rate",
            "pgain",
            "igain",
            "dgain",
            "heater_status",
        ] {
            let key = format!("loop{n}_{var}");
            assert!(status.get(&key).is_some(), "{key} missing in {status}");
        }
    }

    b.ok("set_type loop=1 type=PID", "ok set_type loop=1 type=pid")
        .await;
    assert_eq!(sim.loop_type(1), LoopType::Pid);
    b.ok(
        "set_setpoint loop=1 value=150.5",
        "ok set_setpoint loop=1 value=150.5",
    )
    .await;
    assert!((sim.setpoint_kelvin(1) - 150.5).abs() < 1e-9);
    b.ok("set_range 1 mid", "ok set_range loop=1 range=mid")
        .await;
    b.ok(
        "set_pid loop=1 p=20 i=5.5 d=0.5",
        "ok set_pid loop=1 p=20 i=5.5 d=0.5",
    )
    .await;
    b.ok("set_ramp loop=1 rate=2.5", "ok set_ramp loop=1 rate=2.5")
        .await;
    b.ok("set_source loop=2 input=c", "ok set_source loop=2 input=c")
        .await;
    b.ok("set_type loop=2 type=man", "ok set_type loop=2 type=man")
        .await;
    b.ok(
        "set_manual loop=2 power=12.5",
        "ok set_manual loop=2 power=12.5",
    )
    .await;
    b.ok("control state=on", "ok control state=on").await;
    assert!(sim.control_engaged());
    let status = b
        .status_where("the settings", |s| {
            s.get("control") == Some("1") && s.get("loop2_source") == Some("c")
        })
        .await;
    assert_eq!(number(&status, "loop1_setpoint"), 150.5);
    assert_eq!(status.get("loop1_type"), Some("pid"));
    assert_eq!(status.get("loop1_range"), Some("mid"));
    assert_eq!(number(&status, "loop1_pgain"), 20.0);
    assert_eq!(number(&status, "loop1_igain"), 5.5);
    assert_eq!(number(&status, "loop1_dgain"), 0.5);
    assert_eq!(number(&status, "loop1_rate"), 2.5);
    assert_eq!(number(&status, "loop2_heater"), 12.5);
    b.ok(
        "set_type loop=1 type=rampp",
        "ok set_type loop=1 type=rampp",
    )
    .await;
    b.ok(
        "set_setpoint loop=1 value=200",
        "ok set_setpoint loop=1 value=200",
    )
    .await;
    b.status_with("loop1_ramp", "on").await;
    b.ok("control state=off", "ok control state=off").await;
    assert!(!sim.control_engaged());
    b.ok("reconnect", "ok reconnect hw_connected=1").await;
    let help = b.call("help").await.to_line();
    for command in [
        "set_setpoint",
        "set_source",
        "set_type",
        "set_range",
        "set_pid",
        "set_ramp",
        "set_manual",
        "control",
    ] {
        assert!(help.contains(command), "{command} not in {help}");
    }
}

#[tokio::test]
async fn temperatures_are_reported_and_taken_in_celsius() {
    let b = bench(Options {
        unit: ReportUnit::Celsius,
        limits: SetpointLimits {
            min: Some(-150.0),
            max: Some(30.0),
        },
        ..Options::default()
    })
    .await;
    b.control().hold(true);
    b.control().set_temperature('A', 173.15);
    let status = b
        .status_where("A at -100 C", |s| {
            s.get("temp_a")
                .and_then(labwire_protocol::parse_number)
                .is_some_and(|t| (t + 100.0).abs() < 0.01)
        })
        .await;
    assert_eq!(status.get("unit"), Some("C"));
    b.ok(
        "set_setpoint loop=1 value=-100",
        "ok set_setpoint loop=1 value=-100",
    )
    .await;
    assert!((b.control().setpoint_kelvin(1) - 173.15).abs() < 1e-6);
    b.status_with("loop1_setpoint", "-100").await;
    let message = b
        .refused("set_setpoint loop=1 value=-160", "out_of_range")
        .await;
    assert!(message.contains("-150 C"), "{message}");
    b.refused("set_setpoint loop=1 value=31", "out_of_range")
        .await;

    // Someone at the front panel shows input A in Fahrenheit: the daemon still reports
    // and takes Celsius, converting to what the controller uses now.
    front_panel(&b.sim, "INP A:UNIT F").await;
    b.status_where("loop 1 read in F", |s| {
        s.get("loop1_setpoint") == Some("-100")
    })
    .await;
    b.ok(
        "set_setpoint loop=1 value=-90",
        "ok set_setpoint loop=1 value=-90",
    )
    .await;
    assert!((b.control().setpoint_kelvin(1) - 183.15).abs() < 1e-3);
    assert_eq!(b.control().unit('A'), cryocon::DisplayUnit::F);
}

/// A line sent to the controller by someone else (its front panel, another program).
async fn front_panel(sim: &SimHandle<CryoconControl>, line: &str) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let stream = tokio::net::TcpStream::connect(sim.local_addr())
        .await
        .unwrap();
    let (read, mut write) = stream.into_split();
    write
        .write_all(format!("{line};*OPC?\n").as_bytes())
        .await
        .unwrap();
    let mut reply = String::new();
    BufReader::new(read).read_line(&mut reply).await.unwrap();
}

#[tokio::test]
async fn bad_arguments_are_refused_before_the_controller_sees_a_line() {
    // No regular polls: every line the controller receives comes from a command.
    let b = bench(Options {
        model: cryocon::Model::Cryocon22C,
        limits: SetpointLimits {
            min: Some(20.0),
            max: Some(320.0),
        },
        poll_interval: Duration::from_secs(3600),
        ..Options::default()
    })
    .await;
    let lines = b.control().lines_received();
    for (line, code) in [
        ("set_setpoint loop=3 value=100", "out_of_range"),
        ("set_setpoint loop=0 value=100", "out_of_range"),
        ("set_setpoint loop=x value=100", "bad_argument"),
        ("set_setpoint loop=1", "missing_argument"),
        ("set_setpoint value=100", "missing_argument"),
        ("set_setpoint loop=1 value=nan", "bad_argument"),
        ("set_setpoint loop=1 value=inf", "bad_argument"),
        ("set_setpoint loop=1 value=hot", "bad_argument"),
        ("set_setpoint loop=1 value=10", "out_of_range"),
        ("set_setpoint loop=1 value=321", "out_of_range"),
        ("set_setpoint loop=1 value=100 extra", "bad_argument"),
        ("set_setpoint loop=1 value=100 unit=c", "bad_argument"),
        ("set_source loop=1 input=c", "bad_argument"),
        ("set_source loop=1 input=ab", "bad_argument"),
        ("set_source loop=1", "missing_argument"),
        ("set_type loop=1 type=scale", "bad_argument"),
        ("set_type loop=1 type=warp", "bad_argument"),
        ("set_type loop=2", "missing_argument"),
        ("set_range loop=1 range=10v", "bad_argument"),
        ("set_range loop=2 range=mid", "bad_argument"),
        ("set_pid loop=1 p=1 i=1", "missing_argument"),
        ("set_pid loop=1 p=-1 i=1 d=1", "out_of_range"),
        ("set_pid loop=1 p=1 i=1001 d=1", "out_of_range"),
        ("set_pid loop=1 p=1 i=1 d=nan", "bad_argument"),
        ("set_ramp loop=1 rate=101", "out_of_range"),
        ("set_ramp loop=1 rate=-0.1", "out_of_range"),
        ("set_manual loop=1 power=100.5", "out_of_range"),
        ("set_manual loop=2 power=-3", "out_of_range"),
        ("control state=maybe", "bad_argument"),
        ("control", "missing_argument"),
        ("control state=on now", "bad_argument"),
    ] {
        b.refused(line, code).await;
    }
    assert_eq!(
        b.control().lines_received(),
        lines,
        "a refused command reached the controller"
    );
    assert!(!b.control().control_engaged());
    assert_eq!(b.control().loop_type(1), LoopType::Man);
}

#[tokio::test]
async fn without_the_model_loops_wait_for_the_identification() {
    let b = bench_with(Options {
        offline: true,
        ..Options::default()
    })
    .await;
    let message = b.refused("set_type loop=1 type=pid", "not_connected").await;
    assert!(message.contains("--model"), "{message}");
    // What needs no model is still checked.
    b.refused("set_type loop=5 type=pid", "out_of_range").await;
    b.refused("control state=maybe", "bad_argument").await;
    b.refused("control state=on", "not_connected").await;
    b.sim.set_fault(Fault::None);
    b.status_where("connected", connected).await;
    b.ok("set_type loop=4 type=pid", "ok set_type loop=4 type=pid")
        .await;
}

#[tokio::test]
async fn an_expected_model_is_known_before_the_first_connection_and_enforced() {
    let b = bench_with(Options {
        offline: true,
        model: cryocon::Model::Cryocon24C,
        expected_model: Some(Model::Cryocon22C),
        ..Options::default()
    })
    .await;
    let message = b.refused("set_type loop=3 type=pid", "out_of_range").await;
    assert!(message.contains("22C"), "{message}");
    let message = b.refused("set_type loop=1 type=pid", "not_connected").await;
    assert!(message.contains("offline"), "{message}");
    b.sim.set_fault(Fault::None);
    let message = b.refused("reconnect", "not_connected").await;
    assert!(
        message.contains("22C") && message.contains("24C"),
        "{message}"
    );
    assert_eq!(b.call("get_status").await.get("hw_connected"), Some("0"));
    assert_eq!(b.control().loop_type(1), LoopType::Man, "nothing was set");
}

#[tokio::test]
async fn an_offline_controller_is_reported_and_found_again() {
    let b = bench(Options::default()).await;
    b.ok(
        "set_setpoint loop=1 value=120",
        "ok set_setpoint loop=1 value=120",
    )
    .await;
    b.status_with("loop1_setpoint", "120").await;
    b.sim.set_fault(Fault::Offline);
    let status = b
        .status_where("offline", |s| s.get("hw_connected") == Some("0"))
        .await;
    assert_eq!(
        status.get("loop1_setpoint"),
        Some("120"),
        "last values stay"
    );
    assert!(number(&status, "errors") >= 1.0);
    let message = b
        .refused("set_setpoint loop=1 value=130", "not_connected")
        .await;
    assert!(message.contains("offline"), "{message}");
    b.refused("reconnect", "not_connected").await;
    b.sim.set_fault(Fault::None);
    b.status_where("back", connected).await;
    b.ok(
        "set_setpoint loop=1 value=130",
        "ok set_setpoint loop=1 value=130",
    )
    .await;
    assert!((b.control().setpoint_kelvin(1) - 130.0).abs() < 1e-9);
}

#[tokio::test]
async fn a_garbling_or_silent_controller_drops_the_link_and_recovers() {
    let b = bench(Options::default()).await;
    for fault in [Fault::Garbage, Fault::Silent] {
        b.sim.set_fault(fault);
        b.status_where("offline", |s| s.get("hw_connected") == Some("0"))
            .await;
        b.sim.set_fault(Fault::None);
        b.status_where("back", connected).await;
    }
}

#[tokio::test]
async fn sensor_and_heater_faults_show_as_empty_readings_and_texts() {
    let b = bench(Options::default()).await;
    b.control().set_sensor('B', cryocon::SensorState::Unplugged);
    b.control().set_heater_error(1, HeaterError::Open);
    let status = b.status_with("alarm_state_b", "SF").await;
    assert_eq!(status.get("temp_b"), Some(""), "no reading is no number");
    let status = b.status_with("loop1_heater_status", "Htr Open").await;
    assert_eq!(status.get("loop1_heater"), Some("0"));
}

#[tokio::test]
async fn a_profile_runs_through_its_points_on_an_accelerated_clock() {
    // 600 simulated seconds per second: the 20-minute profile takes 2 s.
    let b = bench(Options {
        model: cryocon::Model::Cryocon22C,
        time_scale: 600.0,
        ..Options::default()
    })
    .await;
    let status = b.call("get_status").await;
    assert_eq!(status.get("loop1_profile"), Some("idle"));
    assert_eq!(status.get("loop1_profile_setpoint"), Some(""));
    b.ok(
        "profile_load loop=1 points=\"0s:290, 10m:190, 20m:190\"",
        "ok profile_load loop=1 points=3",
    )
    .await;
    let reply = b.call("profile_status loop=1").await;
    assert_eq!(reply.get("profile"), Some("idle"));
    assert_eq!(reply.get("profile_points"), Some("0s:290,10m:190,20m:190"));
    let lines = b.control().lines_received();
    b.ok("profile_stop loop=1", "ok profile_stop loop=1 profile=idle")
        .await;
    let reply = b.call("profile_start loop=1").await;
    assert_eq!(reply.get("profile"), Some("running"), "{reply}");
    assert!(
        b.control().lines_received() >= lines,
        "profile commands are the daemon's"
    );

    // The controller's setpoint follows the profile between its points.
    let seen_between = std::cell::Cell::new(false);
    let status = b
        .status_where("the profile done", |s| {
            let sim = b.control().setpoint_kelvin(1);
            seen_between.set(seen_between.get() || (sim > 195.0 && sim < 285.0));
            s.get("loop1_profile") == Some("done")
        })
        .await;
    assert!(
        seen_between.get(),
        "no setpoint between the points was sent"
    );
    assert_eq!(status.get("loop1_profile_step"), Some("2"));
    assert_eq!(number(&status, "loop1_profile_setpoint"), 190.0);
    assert_eq!(number(&status, "loop1_profile_elapsed"), 1200.0);
    assert!(status.get("loop1_profile_end").unwrap().ends_with('Z'));
    b.status_with("loop1_setpoint", "190").await;
    assert!((b.control().setpoint_kelvin(1) - 190.0).abs() < 1e-9);
    // A done run does not fight a setpoint set by hand afterwards.
    b.ok(
        "set_setpoint loop=1 value=250",
        "ok set_setpoint loop=1 value=250",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(b.control().setpoint_kelvin(1), 250.0);
}

#[tokio::test]
async fn profile_commands_are_validated_and_guard_the_running_loop() {
    let b = bench(Options {
        model: cryocon::Model::Cryocon22C,
        limits: SetpointLimits {
            min: Some(50.0),
            max: Some(300.0),
        },
        ..Options::default()
    })
    .await;
    for (line, code) in [
        ("profile_load loop=3 points=\"0s:100\"", "out_of_range"),
        ("profile_load loop=1", "missing_argument"),
        ("profile_load loop=1 points=\"\"", "bad_argument"),
        ("profile_load loop=1 points=\"5s:100\"", "bad_argument"),
        (
            "profile_load loop=1 points=\"0s:100,10m:20\"",
            "out_of_range",
        ),
        (
            "profile_load loop=1 points=\"0s:100,10m:301\"",
            "out_of_range",
        ),
        (
            "profile_load loop=1 points=\"0s:100,10:120\"",
            "bad_argument",
        ),
        (
            "profile_load loop=1 points=\"0s:100,10m:nan\"",
            "bad_argument",
        ),
        (
            "profile_load loop=1 points=\"0s:100,1m:110,30s:120\"",
            "bad_argument",
        ),
        ("profile_start loop=1", "bad_argument"),
        ("profile_start loop=1 at=tomorrow", "bad_argument"),
        ("profile_stop loop=9", "out_of_range"),
        ("profile_status", "missing_argument"),
    ] {
        b.refused(line, code).await;
    }
    let too_many: Vec<String> = (0..1001).map(|i| format!("{i}s:100")).collect();
    b.refused(
        &format!("profile_load loop=1 points=\"{}\"", too_many.join(",")),
        "out_of_range",
    )
    .await;
    b.ok(
        "profile_load loop=2 points=\"0s:100,1h:100\"",
        "ok profile_load loop=2 points=2",
    )
    .await;
    let reply = b.call("profile_start loop=2 at=2099-01-01T00:00:00Z").await;
    assert_eq!(reply.get("profile"), Some("waiting"), "{reply}");
    b.status_with("loop2_profile", "waiting").await;
    let message = b
        .refused("set_setpoint loop=2 value=120", "bad_argument")
        .await;
    assert!(message.contains("profile_stop"), "{message}");
    b.refused("profile_load loop=2 points=\"0s:120\"", "bad_argument")
        .await;
    assert_eq!(
        b.control().setpoint_kelvin(2),
        295.0,
        "a waiting run sends nothing"
    );
    b.ok("profile_stop loop=2", "ok profile_stop loop=2 profile=idle")
        .await;
    b.ok(
        "set_setpoint loop=2 value=120",
        "ok set_setpoint loop=2 value=120",
    )
    .await;
}

fn alarm(status: &Message, code: &str) -> (String, String) {
    (
        status
            .get(&format!("alarm_{code}"))
            .unwrap_or("?")
            .to_string(),
        status
            .get(&format!("alarm_{code}_message"))
            .unwrap_or("?")
            .to_string(),
    )
}

async fn raised(b: &Bench, code: &str) -> String {
    let key = format!("alarm_{code}");
    b.status_with(&key, "1").await;
    alarm(&b.call("get_status").await, code).1
}

/// Acknowledged while the cause persists, the alarm stays; once it is gone, it clears.
async fn acknowledge_and_clear(b: &Bench, code: &str, remove_cause: impl FnOnce()) {
    b.ok(&format!("ack_alarm code={code}"), "ok ack_alarm n=1")
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = b.call("get_status").await;
    assert_eq!(
        alarm(&status, code).0,
        "1",
        "{code} cleared with its cause present"
    );
    remove_cause();
    let status = b.status_with(&format!("alarm_{code}"), "0").await;
    assert_eq!(
        alarm(&status, code).1,
        "",
        "{code}'s message stays after it cleared"
    );
}

#[tokio::test]
async fn each_device_alarm_is_raised_acknowledged_and_cleared() {
    let b = bench(Options {
        alarms: AlarmSettings {
            settle_band: 0.5,
            settle_timeout: Duration::from_millis(300),
            high_limit: Some(300.0),
            low_limit: Some(100.0),
        },
        ..Options::default()
    })
    .await;
    let sim = b.control();
    sim.hold(true);
    sim.set_temperature('A', 295.0);
    let status = b.call("get_status").await;
    for code in labwire_cryocon::alarms::CODES {
        assert_eq!(alarm(&status, code), ("0".into(), "".into()), "{code}");
    }
    b.refused("ack_alarm code=nonsense", "bad_argument").await;
    b.refused("ack_alarm", "missing_argument").await;

    sim.set_sensor('A', cryocon::SensorState::Unplugged);
    let message = raised(&b, "sensor_fault").await;
    assert!(message.contains("input A"), "{message}");
    acknowledge_and_clear(&b, "sensor_fault", || {
        sim.set_sensor('A', cryocon::SensorState::Ok)
    })
    .await;

    sim.set_heater_error(2, HeaterError::Overtemp);
    let message = raised(&b, "heater_fault").await;
    assert!(
        message.contains("loop 2") && message.contains("Overtemp"),
        "{message}"
    );
    acknowledge_and_clear(&b, "heater_fault", || {
        sim.set_heater_error(2, HeaterError::Ok)
    })
    .await;

    sim.set_temperature('C', 310.0);
    let message = raised(&b, "high_limit").await;
    assert!(message.contains("input C at 310 K"), "{message}");
    acknowledge_and_clear(&b, "high_limit", || sim.set_temperature('C', 295.0)).await;

    sim.set_temperature('D', 90.0);
    let message = raised(&b, "low_limit").await;
    assert!(message.contains("input D at 90 K"), "{message}");
    acknowledge_and_clear(&b, "low_limit", || sim.set_temperature('D', 295.0)).await;

    // The stage is held at 295 K: a setpoint of 200 K is never reached.
    b.ok(
        "set_setpoint loop=1 value=200",
        "ok set_setpoint loop=1 value=200",
    )
    .await;
    let message = raised(&b, "setpoint_timeout").await;
    assert!(message.contains("loop 1: input A at 29"), "{message}");
    acknowledge_and_clear(&b, "setpoint_timeout", || sim.set_temperature('A', 200.2)).await;

    // A cause that came and went while nobody looked keeps the alarm until acknowledged.
    sim.set_temperature('B', 305.0);
    b.status_with("alarm_high_limit", "1").await;
    sim.set_temperature('B', 295.0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        b.call("get_status").await.get("alarm_high_limit"),
        Some("1")
    );
    b.ok("ack_alarm code=all", "ok ack_alarm n=1").await;
    b.status_with("alarm_high_limit", "0").await;
}

#[tokio::test]
async fn a_profile_catches_up_after_the_controller_was_away() {
    // 60 simulated seconds per second: the 10-minute ramp takes 10 s.
    let b = bench(Options {
        model: cryocon::Model::Cryocon22C,
        time_scale: 60.0,
        ..Options::default()
    })
    .await;
    b.ok(
        "profile_load loop=1 points=\"0s:290,10m:190\"",
        "ok profile_load loop=1 points=2",
    )
    .await;
    b.call("profile_start loop=1").await;
    b.status_with("loop1_profile", "running").await;
    b.sim.set_fault(Fault::Offline);
    b.status_where("offline", |s| s.get("hw_connected") == Some("0"))
        .await;
    let before = b.control().setpoint_kelvin(1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(b.control().setpoint_kelvin(1), before, "nothing reached it");
    b.sim.set_fault(Fault::None);
    // Back: the setpoint is where the profile is now, not where it was left.
    let status = b
        .status_where("caught up", |s| {
            connected(s)
                && s.get("loop1_profile") == Some("running")
                && number(s, "loop1_setpoint") < before - 10.0
        })
        .await;
    let lag = (number(&status, "loop1_setpoint") - number(&status, "loop1_profile_setpoint")).abs();
    assert!(lag < 0.01, "{status}");
}
