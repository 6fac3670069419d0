//! The Cryo-con 24C/22C simulator over real loopback TCP, as a driver sees it.

use std::time::Duration;

use labwire_sim::cryocon::{
    self, CryoconControl, CryoconOptions, DisplayUnit, HeaterError, LoopType, Model, SensorState,
};
use labwire_sim::{Fault, SimHandle};
use labwire_testkit::{any_port, LineConn};

/// A controller whose stages are held still and read without noise.
async fn steady(model: Model) -> SimHandle<CryoconControl> {
    let handle = cryocon::spawn(
        any_port(),
        CryoconOptions {
            model,
            noise_kelvin: 0.0,
            reset_duration: Duration::from_millis(1000),
            ..CryoconOptions::default()
        },
    )
    .await
    .unwrap();
    let control = handle.control();
    control.hold(true);
    for input in ['A', 'B', 'C', 'D'].into_iter().take(model.inputs()) {
        control.set_temperature(input, 100.0);
    }
    handle
}

/// One request line and its reply without CR LF.
async fn ask(client: &mut LineConn, line: &str) -> String {
    let reply = client.query(line).await;
    reply.strip_suffix('\r').unwrap_or(&reply).to_string()
}

#[tokio::test]
async fn identity_of_both_models() {
    let c24 = steady(Model::Cryocon24C).await;
    let mut client = LineConn::connect(c24.local_addr()).await;
    assert_eq!(ask(&mut client, "*IDN?").await, "Cryo-con,24C,204683,1.01A");
    let c22 = steady(Model::Cryocon22C).await;
    let mut client = LineConn::connect(c22.local_addr()).await;
    assert_eq!(ask(&mut client, "*idn?").await, "Cryo-con,22C,204683,1.01A");
}

#[tokio::test]
async fn replies_end_with_cr_lf() {
    let sim = steady(Model::Cryocon24C).await;
    let mut client = LineConn::connect(sim.local_addr()).await;
    client.send(b"CONT?\n").await;
    assert_eq!(client.read_until(b"\n").await, b"OFF\r\n");
}

#[tokio::test]
async fn inputs_single_list_units_and_forms() {
    let sim = steady(Model::Cryocon24C).await;
    let mut client = LineConn::connect(sim.local_addr()).await;
    assert_eq!(ask(&mut client, "INPut? A").await, "100.0000");
    assert_eq!(ask(&mut client, "input a:temperature?").await, "100.0000");
    assert_eq!(
        ask(&mut client, "INP? CHB;:INP? 3").await,
        "100.0000;100.0000"
    );
    assert_eq!(
        ask(&mut client, "INP? a,b,c,d").await,
        "100.0000;100.0000;100.0000;100.0000"
    );
    client.send_line("INPut A:UNITs C").await;
    assert_eq!(ask(&mut client, "INP? A").await, "-173.1500");
    assert_eq!(ask(&mut client, "INP A:UNIT?").await, "C");
    client.send_line("input a,b,c,d:units f").await;
    assert_eq!(ask(&mut client, "INP A,B:UNITS?").await, "F;F");
    assert_eq!(sim.control().unit('D'), DisplayUnit::F);
    client.send_line("INP B:UNIT K").await;
    assert_eq!(ask(&mut client, "INP? B").await, "100.0000");
    // Neither short nor long form, or not a unit: refused.
    assert_eq!(ask(&mut client, "INPU? A").await, "NAK");
    assert_eq!(ask(&mut client, "INP A:UNIT X;UNIT?").await, "NAK;F");
}

#[tokio::test]
async fn sensor_faults_and_alarms() {
    let sim = steady(Model::Cryocon24C).await;
    let control = sim.control();
    let mut client = LineConn::connect(sim.local_addr()).await;
    assert_eq!(ask(&mut client, "INP A:ALAR?").await, "--");
    control.set_sensor('A', SensorState::Unplugged);
    control.set_sensor('B', SensorState::OutOfCurve);
    control.set_alarm_limits('C', None, Some(90.0));
    control.set_alarm_limits('D', Some(120.0), None);
    assert_eq!(
        ask(&mut client, "INP? A,B,C,D").await,
        "-------;.......;100.0000;100.0000"
    );
    assert_eq!(ask(&mut client, "INP A,B,C,D:ALARM?").await, "SF;SF;HI;LO");
    control.set_sensor('A', SensorState::Ok);
    assert_eq!(ask(&mut client, "INP? A").await, "100.0000");
    // Beyond the calibration curve without any fault.
    control.set_temperature('C', 900.0);
    assert_eq!(ask(&mut client, "INP? C").await, ".......");
}

#[tokio::test]
async fn loop_settings_and_the_path_rule() {
    let sim = steady(Model::Cryocon24C).await;
    let mut client = LineConn::connect(sim.local_addr()).await;
    client
        .send_line("LOOP 1:SOURce B;SETPt 150;TYPe pid;RANGe mid;RATe 5;PGAin 20;IGAin 2.5;DGAin 1")
        .await;
    let reply = ask(
        &mut client,
        "loop 1:sour?;setp?;typ?;rang?;rate?;pga?;iga?;dga?;ramp?;load?",
    )
    .await;
    assert_eq!(
        reply,
        "CHB;150.000K;PID  ;MID;5.00;20.000;2.500;1.000;OFF;50"
    );
    // `;:` returns to the root; without it `CONT?` would be LOOP 1:CONT?.
    assert_eq!(
        ask(&mut client, "LOOP 1:SETP?;:CONT?").await,
        "150.000K;OFF"
    );
    assert_eq!(ask(&mut client, "LOOP 1:SETP?;CONT?").await, "150.000K;NAK");
    assert_eq!(sim.control().loop_type(1), LoopType::Pid);
    // The setpoint is in the units of the loop's source.
    client.send_line("INP B:UNITS C").await;
    assert_eq!(ask(&mut client, "LOOP 1:SETPT?").await, "-123.150C");
    assert_eq!(
        ask(&mut client, "LOOP 1:SETPT -100;SETPT?").await,
        "-100.000C"
    );
    assert!((sim.control().setpoint_kelvin(1) - 173.15).abs() < 1e-9);
    // Range names differ per loop.
    assert_eq!(ask(&mut client, "LOOP 2:RANG MID;RANG?").await, "NAK;LOW");
    assert_eq!(ask(&mut client, "LOOP 2:RANG HI;RANG?").await, "HI ");
    assert_eq!(ask(&mut client, "LOOP 3:RANG 10V;RANG?").await, "10V");
    // LOAD is loop 1 only; values are checked.
    assert_eq!(ask(&mut client, "LOOP 1:LOAD 25;LOAD?").await, "25");
    assert_eq!(ask(&mut client, "LOOP 1:LOAD 30;LOAD?").await, "NAK;25");
    assert_eq!(ask(&mut client, "LOOP 2:LOAD?").await, "NAK");
    assert_eq!(ask(&mut client, "LOOP 1:PGA 1001;PGA?").await, "NAK;20.000");
    assert_eq!(
        ask(&mut client, "LOOP 1:PMAN 55.5;PMANUAL?").await,
        "55.500"
    );
    assert_eq!(ask(&mut client, "LOOP 1:MAXPWR 80;MAXP?").await, "80.0");
    // No loop 5, no input E.
    assert_eq!(ask(&mut client, "LOOP 5:SETP?").await, "NAK");
    assert_eq!(ask(&mut client, "LOOP 1:SOUR E;SOUR?").await, "NAK;CHB");
}

#[tokio::test]
async fn setpoint_refused_above_maxset() {
    let sim = steady(Model::Cryocon24C).await;
    let mut client = LineConn::connect(sim.local_addr()).await;
    assert_eq!(
        ask(&mut client, "LOOP 1:MAXSET 200;MAXS?;SETP 150;SETP?").await,
        "200.000K;150.000K"
    );
    assert_eq!(
        ask(&mut client, "LOOP 1:SETP 250;SETP?").await,
        "NAK;150.000K"
    );
    assert_eq!(
        ask(&mut client, "LOOP 1:SETP nan;SETP?").await,
        "NAK;150.000K"
    );
}

#[tokio::test]
async fn twenty_two_c_has_two_inputs_and_loops() {
    let sim = steady(Model::Cryocon22C).await;
    let mut client = LineConn::connect(sim.local_addr()).await;
    assert_eq!(ask(&mut client, "INP? A,B").await, "100.0000;100.0000");
    assert_eq!(ask(&mut client, "INP? C").await, "NAK");
    assert_eq!(ask(&mut client, "INP? 2").await, "NAK");
    assert_eq!(ask(&mut client, "LOOP 2:TYPE?").await, "MAN  ");
    assert_eq!(ask(&mut client, "LOOP 3:TYPE?").await, "NAK");
}

#[tokio::test]
async fn control_stop_and_manual_heating() {
    let sim = steady(Model::Cryocon24C).await;
    let control = sim.control();
    let mut client = LineConn::connect(sim.local_addr()).await;
    client.send_line("LOOP 1:TYPE MAN;RANGE HI;PMAN 40").await;
    assert_eq!(ask(&mut client, "LOOP 1:OUTP?;HTRR?").await, "  0.0;  0.0%");
    assert_eq!(ask(&mut client, "CONTROL;CONTROL?").await, "ON ");
    assert_eq!(
        ask(&mut client, "LOOP 1:OUTP?;HTRR?;ERR?").await,
        " 40.0; 40.0%;--Htr OK--"
    );
    assert!((control.heater_watts(1) - 20.0).abs() < 1e-9);
    control.set_heater_error(1, HeaterError::Open);
    assert_eq!(
        ask(&mut client, "LOOP 1:OUTP?;HTRR?;ERR?").await,
        " 40.0;  0.0%;Htr Open"
    );
    assert_eq!(control.heater_watts(1), 0.0);
    assert_eq!(ask(&mut client, "STOP;CONT?").await, "OFF");
    assert!(!control.control_engaged());
}

#[tokio::test]
async fn pid_and_ramp_run_inside_the_controller() {
    let sim = cryocon::spawn(
        any_port(),
        CryoconOptions {
            initial_kelvin: 77.0,
            time_scale: 600.0,
            ..CryoconOptions::default()
        },
    )
    .await
    .unwrap();
    let control = sim.control();
    let mut client = LineConn::connect(sim.local_addr()).await;
    client
        .send_line("LOOP 1:SOUR A;TYPE RAMPP;RANGE HI;RATE 10;SETPT 77;:CONTROL")
        .await;
    client.send_line("LOOP 1:SETPT 173.15").await;
    assert_eq!(ask(&mut client, "LOOP 1:RAMP?").await, "ON ");
    // About 10 simulated minutes of ramp plus settling; a bounded wait.
    let mut settled = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if !control.ramping(1) && (control.temperature('A') - 173.15).abs() < 0.2 {
            settled = true;
            break;
        }
    }
    assert!(settled, "stage at {} K", control.temperature('A'));
    assert_eq!(ask(&mut client, "LOOP 1:RAMP?").await, "OFF");
}

#[tokio::test]
async fn reset_restores_defaults_and_blocks_remote_access() {
    let sim = steady(Model::Cryocon24C).await;
    let control = sim.control();
    let mut client = LineConn::connect(sim.local_addr()).await;
    client
        .send_line("INP A:UNITS C;:LOOP 1:TYPE PID;:CONTROL")
        .await;
    assert_eq!(ask(&mut client, "CONT?").await, "ON ");
    client.send_line("*RST").await;
    for _ in 0..50 {
        if control.resetting() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(control.resetting());
    client.send_line("*IDN?").await;
    client.expect_silence().await;
    for _ in 0..50 {
        if !control.resetting() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        ask(&mut client, "CONT?;:INP A:UNITS?;:LOOP 1:TYPE?").await,
        "OFF;K;MAN  "
    );
}

#[tokio::test]
async fn bad_lines_answer_nak_and_change_nothing() {
    let sim = steady(Model::Cryocon24C).await;
    let mut client = LineConn::connect(sim.local_addr()).await;
    assert_eq!(ask(&mut client, "FOO?").await, "NAK");
    assert_eq!(ask(&mut client, "LOOP 1:SETP? 5").await, "NAK");
    assert_eq!(ask(&mut client, "LOOP:SETP?").await, "NAK");
    assert_eq!(ask(&mut client, "INP? A:UNIT?").await, "NAK");
    let long = format!("LOOP 1:SETP 10;{}", "x".repeat(300));
    assert_eq!(ask(&mut client, &long).await, "NAK");
    assert_eq!(ask(&mut client, "LOOP 1:SETP?").await, "295.000K");
    client.send(b"\xff\xfe?\n").await;
    assert_eq!(ask(&mut client, "").await, "NAK");
    // Empty units (CCDLab ends its lines with `;`) are fine.
    assert_eq!(
        ask(&mut client, ":loop 1:err?;rang?;").await,
        "--Htr OK--;LOW"
    );
}

#[tokio::test]
async fn pacing_is_counted() {
    let sim = steady(Model::Cryocon24C).await;
    let mut client = LineConn::connect(sim.local_addr()).await;
    // Two lines in one write arrive together, however slow the machine is.
    client.send(b"CONT?\nCONT?\n").await;
    assert_eq!(client.read_until(b"\r\n").await, b"OFF\r\n");
    assert_eq!(client.read_until(b"\r\n").await, b"OFF\r\n");
    assert_eq!(sim.control().pacing_violations(), 1);
    tokio::time::sleep(Duration::from_millis(120)).await;
    ask(&mut client, "CONT?").await;
    assert_eq!(sim.control().pacing_violations(), 1);
    assert_eq!(sim.control().lines_received(), 3);
}

#[tokio::test]
async fn harness_faults_apply() {
    let sim = steady(Model::Cryocon24C).await;
    let mut client = LineConn::connect(sim.local_addr()).await;
    sim.set_fault(Fault::Silent);
    client.send_line("CONT?").await;
    client.expect_silence().await;
    sim.set_fault(Fault::Garbage);
    client.send(b"CONT?\n").await;
    let junk = client.read_until(b"\r\n").await;
    assert_ne!(junk, b"OFF\r\n");
    sim.set_fault(Fault::Slow(Duration::from_millis(50)));
    assert_eq!(ask(&mut client, "CONT?").await, "OFF");
    sim.set_fault(Fault::Offline);
    client.read_to_close().await;
    sim.set_fault(Fault::None);
    let mut client = LineConn::connect(sim.local_addr()).await;
    assert_eq!(ask(&mut client, "CONT?").await, "OFF");
}

#[tokio::test]
async fn noise_follows_the_seed() {
    let mut runs = Vec::new();
    for seed in [7, 7, 8] {
        let sim = cryocon::spawn(
            any_port(),
            CryoconOptions {
                seed,
                ..CryoconOptions::default()
            },
        )
        .await
        .unwrap();
        sim.control().hold(true);
        sim.control().set_temperature('A', 100.0);
        let mut client = LineConn::connect(sim.local_addr()).await;
        let mut readings = Vec::new();
        for _ in 0..5 {
            readings.push(ask(&mut client, "INP? A").await);
        }
        runs.push(readings);
    }
    assert_eq!(runs[0], runs[1]);
    assert_ne!(runs[0], runs[2]);
    assert!(runs[0].iter().any(|r| r != "100.0000"), "{:?}", runs[0]);
}

#[tokio::test]
async fn stages_cool_toward_the_cold_head() {
    let sim = cryocon::spawn(
        any_port(),
        CryoconOptions {
            time_scale: 1200.0,
            ..CryoconOptions::default()
        },
    )
    .await
    .unwrap();
    let control = sim.control();
    assert!(control.temperature('A') > 290.0);
    let mut cold = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if control.temperature('A') < 78.0 {
            cold = true;
            break;
        }
    }
    assert!(cold, "stage at {} K", control.temperature('A'));
    control.set_cold_head(4.2);
    control.hold(true);
    control.set_temperature('B', 4.2);
    assert_eq!(control.temperature('B'), 4.2);
}
