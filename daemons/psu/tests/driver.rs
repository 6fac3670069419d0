//! The SCPI driver against the in-process E36300 simulator over real TCP: every setting,
//! the state read, the error queue, and every fault the simulator can inject.

use labwire_protocol::ErrorCode;
use labwire_psu::driver::{ChannelState, Mode, Model, E36300};
use labwire_sim::e36300::{self, PsuControl, PsuOptions};
use labwire_sim::{Fault, SimHandle};
use labwire_testkit::FakeDaemon;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::time::Instant;

const TIMEOUT: Duration = Duration::from_millis(500);

async fn sim(model: &str) -> SimHandle<PsuControl> {
    let options = PsuOptions {
        model: model.parse().unwrap(),
        ..PsuOptions::default()
    };
    let sim = e36300::spawn(SocketAddr::from(([127, 0, 0, 1], 0)), options)
        .await
        .expect("simulator starts");
    sim.control().set_noise(false);
    sim
}

async fn connect(sim: &SimHandle<PsuControl>) -> E36300 {
    E36300::connect(&sim.local_addr().to_string(), TIMEOUT)
        .await
        .expect("driver connects")
}

async fn connect_err(sim: &SimHandle<PsuControl>, timeout: Duration) -> labwire_daemon::Error {
    match E36300::connect(&sim.local_addr().to_string(), timeout).await {
        Ok(_) => panic!("connect should fail under {:?}", sim.fault()),
        Err(err) => err,
    }
}

async fn state(supply: &mut E36300, ch: usize) -> ChannelState {
    supply.read_state().await.expect("state read")[ch - 1]
}

#[tokio::test]
async fn identifies_every_model_and_reads_all_outputs_at_once() {
    for (name, model) in [
        ("e36311a", Model::E36311A),
        ("e36312a", Model::E36312A),
        ("e36313a", Model::E36313A),
    ] {
        let sim = sim(name).await;
        let mut supply = connect(&sim).await;
        let id = supply.identity().clone();
        assert_eq!(id.model, model);
        assert_eq!(id.manufacturer, "Keysight Technologies");
        assert_eq!(id.serial, PsuOptions::default().serial);
        assert_eq!(id.firmware, PsuOptions::default().firmware);
        let outputs = supply.read_state().await.unwrap();
        for (i, out) in outputs.iter().enumerate() {
            let ch = i + 1;
            assert!(!out.output, "{name} ch{ch}");
            assert_eq!(out.mode, Mode::Off);
            // Power-on (*RST) state: 0 V, the current limit at the rating.
            let rating = model.rating(ch);
            let rated = Some(rating.current_max);
            assert_eq!((out.voltage_set, out.current_set), (Some(0.0), rated));
            // The protection sits at 110 % of the rating, signed like it.
            let expected = 1.1 * (rating.voltage_min + rating.voltage_max);
            let level = out.ovp_level.unwrap();
            assert!((level - expected).abs() < 1e-6, "{name} ch{ch}: {level}");
            assert!(!out.ovp_tripped && !out.ocp_enabled && !out.ocp_tripped);
        }
        sim.shutdown();
    }
}

#[tokio::test]
async fn every_setting_reaches_the_instrument() {
    let sim = sim("e36313a").await;
    let control = sim.control();
    let mut supply = connect(&sim).await;

    assert_eq!(supply.set_voltage(1, 5.25).await.unwrap(), 5.25);
    assert_eq!(control.voltage_set(1), 5.25);
    assert_eq!(supply.set_current(2, 0.75).await.unwrap(), 0.75);
    assert_eq!(control.current_set(2), 0.75);
    assert_eq!(supply.set_ovp(1, 5.9).await.unwrap(), 5.9);
    assert_eq!(control.channel(1).ovp_level, 5.9);
    assert!(supply.set_ocp(3, true).await.unwrap());
    assert!(control.channel(3).ocp_enabled);
    assert!(!supply.set_ocp(3, false).await.unwrap());
    assert!(!control.channel(3).ocp_enabled);

    supply.set_current(1, 1.0).await.unwrap();
    assert!(supply.set_output(1, true).await.unwrap());
    assert!(control.output(1));
    let ch1 = state(&mut supply, 1).await;
    assert!(ch1.output);
    assert_eq!(ch1.voltage, Some(5.25));
    assert_eq!(ch1.current, Some(0.525), "5.25 V into the default 10 ohm");
    assert_eq!(ch1.mode, Mode::ConstantVoltage);
    assert!(!supply.set_output(1, false).await.unwrap());
    assert!(!control.output(1));

    for ch in 1..=3 {
        supply.set_output(ch, true).await.unwrap();
    }
    supply.all_off().await.unwrap();
    assert!((1..=3).all(|ch| !control.output(ch)));
    assert!(control.errors().is_empty());
}

#[tokio::test]
async fn constant_current_follows_the_load() {
    let sim = sim("e36312a").await;
    let control = sim.control();
    let mut supply = connect(&sim).await;
    supply.set_voltage(2, 10.0).await.unwrap();
    supply.set_current(2, 0.5).await.unwrap();
    supply.set_output(2, true).await.unwrap();
    control.set_load_ohms(2, 100.0);
    let cv = state(&mut supply, 2).await;
    assert_eq!(cv.mode, Mode::ConstantVoltage);
    assert_eq!((cv.voltage, cv.current), (Some(10.0), Some(0.1)));
    control.set_load_ohms(2, 4.0);
    let cc = state(&mut supply, 2).await;
    assert_eq!(cc.mode, Mode::ConstantCurrent);
    assert_eq!((cc.voltage, cc.current), (Some(2.0), Some(0.5)));
    assert_eq!(e36300::Mode::ConstantCurrent, control.mode(2));
    // The mode is the instrument's own report: a source driving the output above its
    // setpoint leaves it unregulated, which no reading-based guess would tell.
    control.set_external_voltage(2, Some(12.0));
    let unregulated = state(&mut supply, 2).await;
    assert_eq!(unregulated.mode, Mode::Unregulated);
    assert_eq!(unregulated.voltage, Some(12.0));
    control.set_external_voltage(2, None);
    assert_eq!(state(&mut supply, 2).await.mode, Mode::ConstantCurrent);
}

#[tokio::test]
async fn protections_trip_switch_off_and_clear() {
    let sim = sim("e36313a").await;
    let control = sim.control();
    let mut supply = connect(&sim).await;

    // Over-voltage: a setpoint above the protection level trips as soon as it is on.
    supply.set_voltage(2, 12.0).await.unwrap();
    supply.set_current(2, 2.0).await.unwrap();
    supply.set_ovp(2, 10.0).await.unwrap();
    assert!(
        !supply.set_output(2, true).await.unwrap(),
        "tripped at once"
    );
    let ch2 = state(&mut supply, 2).await;
    assert!(ch2.ovp_tripped && !ch2.output);
    assert_eq!(supply.tripped(2).await.unwrap(), (true, false));
    let refused = supply.set_output(2, true).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::DeviceError);
    assert!(
        refused.message.contains("-221,\"Settings conflict\""),
        "{}",
        refused.message
    );
    supply.set_ovp(2, 20.0).await.unwrap();
    supply.clear_protection(2).await.unwrap();
    assert!(!control.ovp_tripped(2));
    assert!(!control.output(2), "clearing does not switch the output on");
    assert!(supply.set_output(2, true).await.unwrap());

    // Over-current: a short circuit puts the output in CC, which trips after the delay.
    supply.set_voltage(1, 5.0).await.unwrap();
    supply.set_current(1, 1.0).await.unwrap();
    supply.set_ocp(1, true).await.unwrap();
    control.set_load_ohms(1, 0.0);
    supply.set_output(1, true).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ch1 = state(&mut supply, 1).await;
    assert!(ch1.ocp_tripped && !ch1.output && ch1.ocp_enabled);
    assert_eq!(ch1.mode, Mode::Off);
    supply.clear_protection(1).await.unwrap();
    assert_eq!(supply.tripped(1).await.unwrap(), (false, false));
    assert!(control.output(2), "output 2 was never touched");
}

#[tokio::test]
async fn the_negative_output_of_the_e36311a() {
    let sim = sim("e36311a").await;
    let control = sim.control();
    let mut supply = connect(&sim).await;
    assert_eq!(supply.set_voltage(3, -12.0).await.unwrap(), -12.0);
    supply.set_current(3, 1.0).await.unwrap();
    supply.set_output(3, true).await.unwrap();
    control.set_load_ohms(3, 100.0);
    let ch3 = state(&mut supply, 3).await;
    assert_eq!(ch3.voltage, Some(-12.0));
    assert_eq!(ch3.current, Some(-0.12), "the current carries the sign");
    assert_eq!(ch3.mode, Mode::ConstantVoltage);
    control.set_load_ohms(3, 10.0);
    let ch3 = state(&mut supply, 3).await;
    assert_eq!((ch3.voltage, ch3.current), (Some(-10.0), Some(-1.0)));
    assert_eq!(ch3.mode, Mode::ConstantCurrent);
    assert_eq!(supply.set_ovp(3, -20.0).await.unwrap(), -20.0);
    // The instrument itself refuses a positive setpoint there.
    let err = supply.set_voltage(3, 5.0).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::DeviceError);
    assert!(err.message.contains("-222"), "{}", err.message);
    assert_eq!(control.voltage_set(3), -12.0);
}

#[tokio::test]
async fn refused_settings_carry_the_instruments_message_and_change_nothing() {
    let sim = sim("e36313a").await;
    let control = sim.control();
    let mut supply = connect(&sim).await;
    supply.set_voltage(1, 3.0).await.unwrap();
    let err = supply.set_voltage(1, 30.0).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::DeviceError);
    assert_eq!(
        err.message,
        "the supply reported -222,\"Data out of range\" after VOLT 30,(@1)"
    );
    assert_eq!(control.voltage_set(1), 3.0);
    let err = supply.setting("VOLT:BOGUS 1,(@1)").await.unwrap_err();
    assert!(
        err.message.contains("-113,\"Undefined header\""),
        "{}",
        err.message
    );
    assert!(control.errors().is_empty(), "the queue was read out");
    // The link is still in step.
    assert_eq!(supply.set_voltage(1, 4.0).await.unwrap(), 4.0);
}

#[tokio::test]
async fn queued_instrument_errors_fail_the_next_setting() {
    let sim = sim("e36313a").await;
    let control = sim.control();
    // Errors from before the connection are drained, not blamed on our settings.
    control.push_error(-350, "Queue overflow");
    let mut supply = connect(&sim).await;
    assert!(control.errors().is_empty());
    supply.set_voltage(1, 1.0).await.unwrap();

    control.push_error(301, "Output 2 \"hot\"");
    control.push_error(-310, "System error");
    let err = supply.set_current(2, 0.5).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::DeviceError);
    assert_eq!(
        err.message,
        "the supply reported +301,\"Output 2 \"\"hot\"\"\", -310,\"System error\" after CURR 0.5,(@2)"
    );
    assert!(control.errors().is_empty());
    assert_eq!(supply.set_current(2, 0.5).await.unwrap(), 0.5);
}

/// An instrument that answers `*IDN?` with `idn` and nothing else.
fn fake_instrument(idn: &'static str) -> FakeDaemon {
    FakeDaemon::serve(move |stream| async move {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line == "*IDN?" {
                write
                    .write_all(format!("{idn}\n").as_bytes())
                    .await
                    .unwrap();
            }
        }
    })
}

#[tokio::test]
async fn unknown_models_are_refused_by_name() {
    let fake = fake_instrument("Keysight Technologies,E36103B,MY1,1.0");
    let addr = fake.addr;
    let err = E36300::connect(&addr.to_string(), TIMEOUT)
        .await
        .err()
        .expect("refused");
    assert_eq!(err.code, ErrorCode::DeviceError);
    assert!(err.message.contains("\"E36103B\""), "{}", err.message);
    assert!(err.message.contains("E36313A"), "{}", err.message);

    let fake = fake_instrument("hello");
    let addr = fake.addr;
    let err = E36300::connect(&addr.to_string(), TIMEOUT)
        .await
        .err()
        .expect("refused");
    assert_eq!(err.code, ErrorCode::DeviceError);
}

#[tokio::test]
async fn offline_instrument_is_not_connected() {
    let sim = sim("e36313a").await;
    let mut supply = connect(&sim).await;
    sim.set_fault(Fault::Offline);
    let err = supply.read_state().await.unwrap_err();
    assert_eq!(err.code, ErrorCode::NotConnected, "{err}");
    let err = connect_err(&sim, TIMEOUT).await;
    assert_eq!(err.code, ErrorCode::NotConnected, "{err}");
    sim.set_fault(Fault::None);
    connect(&sim).await.read_state().await.unwrap();

    sim.shutdown();
    sim.stopped().await;
    let err = connect_err(&sim, TIMEOUT).await;
    assert_eq!(err.code, ErrorCode::NotConnected, "{err}");
}

#[tokio::test]
async fn silent_instrument_times_out_on_every_read() {
    let sim = sim("e36313a").await;
    let control = sim.control();
    let mut supply = connect(&sim).await;
    sim.set_fault(Fault::Silent);
    let started = Instant::now();
    assert_eq!(
        supply.read_state().await.unwrap_err().code,
        ErrorCode::Timeout
    );
    assert!(started.elapsed() < TIMEOUT * 3);
    assert_eq!(
        supply.set_voltage(1, 2.0).await.unwrap_err().code,
        ErrorCode::Timeout
    );
    assert_eq!(
        control.voltage_set(1),
        0.0,
        "a hung instrument executes nothing"
    );
    assert_eq!(connect_err(&sim, TIMEOUT).await.code, ErrorCode::Timeout);
}

#[tokio::test]
async fn slow_instrument_works_within_the_timeout_and_times_out_beyond() {
    let sim = sim("e36313a").await;
    let mut supply = connect(&sim).await;
    sim.set_fault(Fault::Slow(Duration::from_millis(150)));
    let started = Instant::now();
    assert_eq!(supply.set_voltage(1, 2.0).await.unwrap(), 2.0);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "two answers"
    );
    supply.read_state().await.unwrap();
    sim.set_fault(Fault::Slow(Duration::from_millis(2000)));
    assert_eq!(
        supply.read_state().await.unwrap_err().code,
        ErrorCode::Timeout
    );
}

#[tokio::test]
async fn garbage_is_a_device_error_and_the_link_stays_in_step() {
    let sim = sim("e36313a").await;
    let control = sim.control();
    let mut supply = connect(&sim).await;
    sim.set_fault(Fault::Garbage);
    for _ in 0..5 {
        let err = supply.read_state().await.unwrap_err();
        assert_eq!(err.code, ErrorCode::DeviceError, "{err}");
    }
    let err = supply.set_voltage(1, 2.0).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::DeviceError, "{err}");
    assert_eq!(
        connect_err(&sim, TIMEOUT).await.code,
        ErrorCode::DeviceError
    );
    sim.set_fault(Fault::None);
    let outputs = supply.read_state().await.expect("in step after the junk");
    assert_eq!(outputs[0].voltage_set, Some(control.voltage_set(1)));
    assert_eq!(supply.set_voltage(1, 3.0).await.unwrap(), 3.0);
}

#[tokio::test]
async fn disconnect_mid_answer_is_not_connected() {
    let sim = sim("e36313a").await;
    let mut supply = connect(&sim).await;
    sim.set_fault(Fault::Disconnect);
    let err = supply.read_state().await.unwrap_err();
    assert_eq!(err.code, ErrorCode::NotConnected, "{err}");
    assert_eq!(
        connect_err(&sim, TIMEOUT).await.code,
        ErrorCode::NotConnected
    );
    sim.set_fault(Fault::None);
    connect(&sim).await.read_state().await.unwrap();
}
