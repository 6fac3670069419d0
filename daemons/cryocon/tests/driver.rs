//! The driver against the Cryo-con simulator over loopback TCP: every setting, every
//! fault, and the controller gone and back.

use std::time::Duration;

use labwire_cryocon::{Cryocon, LoopType, Model, NoReading, TempUnit};
use labwire_protocol::ErrorCode;
use labwire_sim::cryocon::{
    self, CryoconControl, CryoconOptions, HeaterError, Model as SimModel, SensorState,
};
use labwire_sim::{Fault, SimHandle};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_millis(600);

/// A controller with stages held at 100 K and exact readings.
async fn steady(model: SimModel) -> SimHandle<CryoconControl> {
    let handle = cryocon::spawn(
        "127.0.0.1:0".parse().unwrap(),
        CryoconOptions {
            model,
            noise_kelvin: 0.0,
            reset_duration: Duration::from_millis(1500),
            ..CryoconOptions::default()
        },
    )
    .await
    .unwrap();
    handle.control().hold(true);
    for input in ['A', 'B', 'C', 'D'].into_iter().take(model.inputs()) {
        handle.control().set_temperature(input, 100.0);
    }
    handle
}

async fn connect(sim: &SimHandle<CryoconControl>) -> Cryocon<TcpStream> {
    Cryocon::connect(&sim.local_addr().to_string(), TIMEOUT)
        .await
        .expect("connect")
}

#[tokio::test]
async fn identifies_and_polls_a_24c_in_two_lines() {
    let sim = steady(SimModel::Cryocon24C).await;
    let mut driver = connect(&sim).await;
    let id = driver.identity().clone();
    assert_eq!(id.model, Model::Cryocon24C);
    assert_eq!(
        (id.serial.as_str(), id.firmware.as_str()),
        ("204683", "1.01A")
    );
    let before = sim.control().lines_received();
    let poll = driver.poll().await.unwrap();
    assert_eq!(sim.control().lines_received() - before, 2);
    assert_eq!(poll.inputs.len(), 4);
    assert_eq!(poll.loops.len(), 4);
    for input in &poll.inputs {
        assert_eq!(input.temperature, Some(100.0));
        assert_eq!(input.unit, TempUnit::Kelvin);
        assert_eq!(input.alarm, "--");
    }
    assert!(!poll.control);
    let l1 = poll.loop_status(1).unwrap();
    assert_eq!(
        (l1.source, l1.loop_type, l1.range.as_str()),
        ('A', LoopType::Man, "LOW")
    );
    assert_eq!((l1.unit, l1.load_ohms), (TempUnit::Kelvin, Some(50)));
    assert!(l1.heater_ok());
    assert_eq!(poll.loop_status(3).unwrap().range, "5V");
    assert_eq!(sim.control().pacing_violations(), 0);
}

#[tokio::test]
async fn a_22c_polls_in_one_line() {
    let sim = steady(SimModel::Cryocon22C).await;
    let mut driver = connect(&sim).await;
    assert_eq!(driver.model(), Model::Cryocon22C);
    let before = sim.control().lines_received();
    let poll = driver.poll().await.unwrap();
    assert_eq!(sim.control().lines_received() - before, 1);
    assert_eq!((poll.inputs.len(), poll.loops.len()), (2, 2));
    // Loops and inputs the 22C lacks are refused before anything is sent.
    let before = sim.control().lines_received();
    let err = driver.set_setpoint(3, 100.0).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::BadArgument);
    let err = driver.set_source(1, 'C').await.unwrap_err();
    assert_eq!(err.code, ErrorCode::BadArgument);
    assert_eq!(sim.control().lines_received(), before);
}

#[tokio::test]
async fn every_setting_is_written_and_confirmed() {
    let sim = steady(SimModel::Cryocon24C).await;
    let control = sim.control();
    let mut driver = connect(&sim).await;
    assert_eq!(driver.set_source(1, 'b').await.unwrap(), 'B');
    assert_eq!(
        driver.set_type(1, LoopType::Pid).await.unwrap(),
        LoopType::Pid
    );
    assert_eq!(driver.set_range(1, "mid").await.unwrap(), "MID");
    assert_eq!(driver.set_range(3, "10V").await.unwrap(), "10V");
    assert_eq!(driver.set_setpoint(1, 150.25).await.unwrap(), 150.25);
    assert_eq!(
        driver.set_pid(1, 20.0, 2.5, 0.125).await.unwrap(),
        (20.0, 2.5, 0.125)
    );
    assert_eq!(driver.set_ramp_rate(1, 5.0).await.unwrap(), 5.0);
    assert_eq!(driver.set_manual_power(2, 12.5).await.unwrap(), 12.5);
    assert_eq!(driver.set_max_power(1, 80.0).await.unwrap(), 80.0);
    assert_eq!(driver.set_max_setpoint(1, 300.0).await.unwrap(), 300.0);
    assert_eq!(driver.set_load(1, 25).await.unwrap(), 25);
    assert!(driver.set_control(true).await.unwrap());
    assert!(control.control_engaged());
    assert_eq!(
        driver.set_input_unit('B', TempUnit::Celsius).await.unwrap(),
        TempUnit::Celsius
    );
    let poll = driver.poll().await.unwrap();
    let l1 = poll.loop_status(1).unwrap();
    assert_eq!(
        (l1.source, l1.unit, l1.range.as_str()),
        ('B', TempUnit::Celsius, "MID")
    );
    assert!((l1.setpoint - (150.25 - 273.15)).abs() < 1e-3);
    assert_eq!((l1.pgain, l1.igain, l1.dgain), (20.0, 2.5, 0.125));
    assert_eq!(
        (l1.rate, l1.max_power_pct, l1.load_ohms),
        (5.0, 80.0, Some(25))
    );
    let b = poll.input('B').unwrap().temperature.unwrap();
    assert!((b - (100.0 - 273.15)).abs() < 1e-3, "{b}");
    assert!(poll.control);
    // Setpoints are now in degrees C: -100 C is 173.15 K inside the controller.
    driver.set_setpoint(1, -100.0).await.unwrap();
    assert!((control.setpoint_kelvin(1) - 173.15).abs() < 1e-9);
    assert!(!driver.set_control(false).await.unwrap());
    assert_eq!(sim.control().pacing_violations(), 0);
}

#[tokio::test]
async fn bad_values_are_refused_before_sending() {
    let sim = steady(SimModel::Cryocon24C).await;
    let mut driver = connect(&sim).await;
    let before = sim.control().lines_received();
    let cases = [
        driver.set_setpoint(5, 1.0).await,
        driver.set_setpoint(1, f64::NAN).await,
        driver.set_ramp_rate(1, 101.0).await,
        driver.set_manual_power(1, -1.0).await,
        driver.set_max_power(1, f64::INFINITY).await,
        driver.set_pid(1, 1001.0, 0.0, 0.0).await.map(|t| t.0),
        driver.set_range(2, "MID").await.map(|_| 0.0),
        driver.set_load(2, 50).await.map(f64::from),
        driver.set_load(1, 30).await.map(f64::from),
        driver.set_source(1, 'E').await.map(|_| 0.0),
    ];
    for (i, case) in cases.iter().enumerate() {
        let err = case.as_ref().unwrap_err();
        assert!(
            matches!(err.code, ErrorCode::BadArgument | ErrorCode::OutOfRange),
            "case {i}: {err}"
        );
    }
    let err = driver
        .exchange(&format!("LOOP 1:SETP?;{}", "x".repeat(250)))
        .await;
    assert_eq!(err.unwrap_err().code, ErrorCode::BadArgument);
    assert_eq!(sim.control().lines_received(), before);
}

#[tokio::test]
async fn a_setpoint_above_maxset_is_a_device_error() {
    let sim = steady(SimModel::Cryocon24C).await;
    let mut driver = connect(&sim).await;
    driver.set_max_setpoint(1, 200.0).await.unwrap();
    let err = driver.set_setpoint(1, 250.0).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::DeviceError);
    assert!(err.message.contains("refused"), "{err}");
    assert_eq!(sim.control().setpoint_kelvin(1), 295.0);
}

#[tokio::test]
async fn sensor_faults_are_no_readings() {
    let sim = steady(SimModel::Cryocon24C).await;
    let control = sim.control();
    control.set_sensor('A', SensorState::Unplugged);
    control.set_sensor('B', SensorState::OutOfCurve);
    control.set_alarm_limits('C', None, Some(90.0));
    let mut driver = connect(&sim).await;
    let poll = driver.poll().await.unwrap();
    let a = poll.input('A').unwrap();
    assert_eq!(
        (a.temperature, a.no_reading),
        (None, Some(NoReading::SensorFault))
    );
    assert_eq!(a.alarm, "SF");
    let b = poll.input('B').unwrap();
    assert_eq!(
        (b.temperature, b.no_reading),
        (None, Some(NoReading::OutOfCurve))
    );
    assert_eq!(poll.input('C').unwrap().alarm, "HI");
    control.set_sensor('A', SensorState::Ok);
    assert_eq!(
        driver.poll().await.unwrap().input('A').unwrap().temperature,
        Some(100.0)
    );
}

#[tokio::test]
async fn an_open_heater_shows_in_the_poll() {
    let sim = steady(SimModel::Cryocon24C).await;
    let mut driver = connect(&sim).await;
    driver.set_range(1, "HI").await.unwrap();
    driver.set_manual_power(1, 40.0).await.unwrap();
    driver.set_control(true).await.unwrap();
    let l1 = driver.poll().await.unwrap().loops[0].clone();
    assert!(l1.heater_ok());
    assert_eq!((l1.output_pct, l1.heater_pct), (40.0, 40.0));
    sim.control().set_heater_error(1, HeaterError::Open);
    let l1 = driver.poll().await.unwrap().loops[0].clone();
    assert!(!l1.heater_ok(), "{}", l1.heater_status);
    assert_eq!((l1.output_pct, l1.heater_pct), (40.0, 0.0));
    assert_eq!(sim.control().heater_watts(1), 0.0);
}

#[tokio::test]
async fn silent_and_slow_controllers_time_out_and_recover() {
    let sim = steady(SimModel::Cryocon24C).await;
    let mut driver = connect(&sim).await;
    for fault in [Fault::Silent, Fault::Slow(Duration::from_millis(1500))] {
        sim.set_fault(fault);
        let err = driver.poll().await.unwrap_err();
        assert_eq!(err.code, ErrorCode::Timeout, "{fault}");
        assert!(err.breaks_link());
        sim.set_fault(Fault::None);
        // As the daemon does after a link-breaking error: a fresh connection.
        driver = connect(&sim).await;
        driver.poll().await.unwrap();
    }
}

#[tokio::test]
async fn garbage_is_a_device_error() {
    let sim = steady(SimModel::Cryocon24C).await;
    let mut driver = connect(&sim).await;
    sim.set_fault(Fault::Garbage);
    for _ in 0..3 {
        let err = driver.poll().await.unwrap_err();
        assert!(
            matches!(err.code, ErrorCode::DeviceError),
            "garbage gave {err}"
        );
    }
    sim.set_fault(Fault::None);
    driver.poll().await.unwrap();
}

#[tokio::test]
async fn the_controller_gone_and_back() {
    let sim = steady(SimModel::Cryocon24C).await;
    let address = sim.local_addr().to_string();
    let mut driver = connect(&sim).await;
    sim.set_fault(Fault::Offline);
    let err = driver.poll().await.unwrap_err();
    assert!(err.breaks_link(), "{err}");
    let Err(err) = Cryocon::connect(&address, TIMEOUT).await else {
        panic!("connected to an offline controller");
    };
    assert!(err.breaks_link(), "{err}");
    sim.set_fault(Fault::None);
    let mut driver = connect(&sim).await;
    assert_eq!(driver.poll().await.unwrap().inputs.len(), 4);
    // A mid-reply disconnect is a broken link too.
    sim.set_fault(Fault::Disconnect);
    assert!(driver.poll().await.unwrap_err().breaks_link());
    sim.set_fault(Fault::None);
    connect(&sim).await.poll().await.unwrap();
}

#[tokio::test]
async fn a_resetting_controller_times_out() {
    let sim = steady(SimModel::Cryocon24C).await;
    let mut driver = connect(&sim).await;
    driver.exchange("*RST;*OPC?").await.unwrap();
    let err = driver.poll().await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Timeout);
    for _ in 0..40 {
        if !sim.control().resetting() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut driver = connect(&sim).await;
    driver.poll().await.unwrap();
}

#[tokio::test]
async fn the_controller_runs_its_own_ramp() {
    let sim = cryocon::spawn(
        "127.0.0.1:0".parse().unwrap(),
        CryoconOptions {
            initial_kelvin: 77.0,
            time_scale: 600.0,
            ..CryoconOptions::default()
        },
    )
    .await
    .unwrap();
    let mut driver = connect(&sim).await;
    driver.set_setpoint(1, 77.0).await.unwrap();
    driver.set_type(1, LoopType::RampP).await.unwrap();
    driver.set_range(1, "HI").await.unwrap();
    driver.set_ramp_rate(1, 10.0).await.unwrap();
    driver.set_control(true).await.unwrap();
    driver.set_setpoint(1, 120.0).await.unwrap();
    assert!(driver.poll().await.unwrap().loops[0].ramping);
    let mut reached = false;
    for _ in 0..40 {
        let poll = driver.poll().await.unwrap();
        let t = poll.inputs[0].temperature.unwrap();
        if !poll.loops[0].ramping && (t - 120.0).abs() < 0.5 {
            reached = true;
            break;
        }
    }
    assert!(reached, "stage at {} K", sim.control().temperature('A'));
}
