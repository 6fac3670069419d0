//! The E363xx SCPI simulators over real loopback TCP, as a driver sees them.

use std::time::Duration;

use labwire_sim::e36300::{self, Mode, Model, PsuControl, PsuOptions};
use labwire_sim::{Fault, SimHandle};
use labwire_testkit::{any_port, LineConn};

async fn psu(model: Model) -> SimHandle<PsuControl> {
    e36300::spawn(
        any_port(),
        PsuOptions {
            model,
            ..PsuOptions::default()
        },
    )
    .await
    .unwrap()
}

fn number(reply: &str) -> f64 {
    reply
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {reply:?}"))
}

async fn expect_no_error(client: &mut LineConn) {
    assert_eq!(client.query("SYST:ERR?").await, "+0,\"No error\"");
}

#[tokio::test]
async fn idn_names_model_serial_and_firmware() {
    let handle = e36300::spawn(
        any_port(),
        PsuOptions {
            model: Model::E36312A,
            serial: "MY12345678".into(),
            firmware: "2.1.0".into(),
            seed: 5,
        },
    )
    .await
    .unwrap();
    let mut client = LineConn::connect(handle.local_addr()).await;
    assert_eq!(
        client.query("*IDN?").await,
        "Keysight Technologies,E36312A,MY12345678,2.1.0"
    );
    let default = psu(Model::E36313A).await;
    let mut client = LineConn::connect(default.local_addr()).await;
    assert!(client
        .query("*idn?")
        .await
        .starts_with("Keysight Technologies,E36313A,"));
}

#[tokio::test]
async fn short_long_and_mixed_case_headers_are_the_same_command() {
    let handle = psu(Model::E36313A).await;
    let mut client = LineConn::connect(handle.local_addr()).await;
    client
        .send_line("SOURce:VOLTage:LEVel:IMMediate:AMPLitude 1.5,(@1)")
        .await;
    assert_eq!(client.query("VOLT? (@1)").await, "+1.50000000E+00");
    assert_eq!(client.query("voltage? (@1)").await, "+1.50000000E+00");
    assert_eq!(
        client.query(":sour:Volt:lev? (@1)").await,
        "+1.50000000E+00"
    );
    client.send_line("curr 250 mA,(@1)").await;
    assert_eq!(client.query("SOUR:CURR? (@1)").await, "+2.50000000E-01");
    client.send_line("OUTPut:STATe ON,(@1)").await;
    assert_eq!(client.query("outp? (@1)").await, "1");
    let short = number(&client.query("MEAS:VOLT? (@1)").await);
    let long = number(&client.query("MEASure:SCALar:VOLTage:DC? (@1)").await);
    assert!((short - 1.5).abs() < 0.01 && (long - 1.5).abs() < 0.01);
    // Neither a prefix longer than the short form nor a made-up word is a header.
    client.send_line("VOLTA 1,(@1)").await;
    assert_eq!(client.query("SYST:ERR?").await, "-113,\"Undefined header\"");
    expect_no_error(&mut client).await;
}

#[tokio::test]
async fn chained_queries_answer_on_one_line() {
    let handle = psu(Model::E36313A).await;
    let mut client = LineConn::connect(handle.local_addr()).await;
    client.send_line("VOLT 5,(@1);CURR 1,(@1)").await;
    assert_eq!(
        client.query("*OPC?;VOLT? (@1);CURR? (@1);*OPC?").await,
        "1;+5.00000000E+00;+1.00000000E+00;1"
    );
    // A leading colon returns to the root; a relative header stays in the subsystem.
    handle.control().set_noise(false);
    client.send_line("OUTP ON,(@1)").await;
    assert_eq!(
        client.query("MEAS:VOLT? (@1);CURR? (@1);:OUTP? (@1)").await,
        "+5.00000000E+00;+5.00000000E-01;1"
    );
    // Commands alone produce no reply: the next reply is the next query's.
    client.send_line("VOLT 2,(@1);VOLT 3,(@2)").await;
    assert_eq!(
        client.query("VOLT? (@1:2)").await,
        "+2.00000000E+00,+3.00000000E+00"
    );
    expect_no_error(&mut client).await;
}

#[tokio::test]
async fn channel_lists_address_several_channels() {
    let handle = psu(Model::E36313A).await;
    let mut client = LineConn::connect(handle.local_addr()).await;
    client.send_line("VOLT 3,(@1:3)").await;
    client.send_line("VOLT 4,(@2)").await;
    assert_eq!(
        client.query("VOLT? (@1:3)").await,
        "+3.00000000E+00,+4.00000000E+00,+3.00000000E+00"
    );
    assert_eq!(
        client.query("VOLT? (@3,1)").await,
        "+3.00000000E+00,+3.00000000E+00"
    );
    client.send_line("OUTP ON,(@1,3)").await;
    assert_eq!(client.query("OUTP? (@1:3)").await, "1,0,1");
    assert_eq!(client.query("OUTP? (@3:1)").await, "1,0,1");
    let currents = client.query("MEAS:CURR? (@1,2,3)").await;
    assert_eq!(currents.split(',').count(), 3, "{currents}");
    assert_eq!(handle.control().voltage_set(2), 4.0);
    // A channel the model does not have is out of range and changes nothing.
    client.send_line("VOLT 1,(@2,4)").await;
    assert_eq!(
        client.query("SYST:ERR?").await,
        "-222,\"Data out of range\""
    );
    assert_eq!(handle.control().voltage_set(2), 4.0);
}

#[tokio::test]
async fn out_of_range_setting_is_rejected_and_old_value_kept() {
    let handle = psu(Model::E36313A).await;
    let mut client = LineConn::connect(handle.local_addr()).await;
    client.send_line("VOLT 5,(@1)").await;
    client.send_line("VOLT 6.2,(@1)").await;
    assert_eq!(client.query("VOLT? (@1)").await, "+5.00000000E+00");
    assert_eq!(
        client.query("SYST:ERR?").await,
        "-222,\"Data out of range\""
    );
    expect_no_error(&mut client).await;
    // About 103 % of the rating is still programmable.
    client.send_line("VOLT 6.18,(@1);CURR 10.3,(@1)").await;
    expect_no_error(&mut client).await;
    assert_eq!(client.query("VOLT? MAX,(@1)").await, "+6.18000000E+00");
    assert_eq!(client.query("CURR? MAX,(@1)").await, "+1.03000000E+01");
    client.send_line("CURR 11,(@1)").await;
    assert_eq!(
        client.query("SYST:ERR?").await,
        "-222,\"Data out of range\""
    );
    assert_eq!(client.query("CURR? (@1)").await, "+1.03000000E+01");
    client.send_line("CURR -1,(@1)").await;
    assert_eq!(
        client.query("SYST:ERR?").await,
        "-222,\"Data out of range\""
    );
    client.send_line("VOLT MIN,(@1)").await;
    assert_eq!(client.query("VOLT? (@1)").await, "+0.00000000E+00");
    client.send_line("VOLT five,(@1)").await;
    assert_eq!(client.query("SYST:ERR?").await, "-104,\"Data type error\"");
}

#[tokio::test]
async fn unknown_query_gets_no_reply_and_queues_undefined_header() {
    let handle = psu(Model::E36313A).await;
    let mut client = LineConn::connect(handle.local_addr()).await;
    client.send(b"FOO:BAR?\n").await;
    client.expect_silence().await;
    assert_eq!(client.query("SYST:ERR?").await, "-113,\"Undefined header\"");
    // A command header without `?` used as a query is just as unknown.
    client.send(b"OUTP:PROT:CLE? (@1)\n").await;
    client.expect_silence().await;
    client.send_line("FOO 1").await;
    assert_eq!(client.query("SYST:ERR?").await, "-113,\"Undefined header\"");
    assert_eq!(client.query("SYST:ERR?").await, "-113,\"Undefined header\"");
    expect_no_error(&mut client).await;
}

#[tokio::test]
async fn error_queue_is_fifo_and_cleared_by_cls() {
    let handle = psu(Model::E36313A).await;
    let mut client = LineConn::connect(handle.local_addr()).await;
    handle.control().push_error(-310, "System error");
    client.send_line("VOLT 100,(@1)").await;
    // A query's answer proves the commands before it were executed.
    assert_eq!(client.query("*OPC?").await, "1");
    assert_eq!(handle.control().errors().len(), 2);
    assert_eq!(client.query("SYST:ERR?").await, "-310,\"System error\"");
    assert_eq!(
        client.query("SYST:ERR?").await,
        "-222,\"Data out of range\""
    );
    expect_no_error(&mut client).await;
    for _ in 0..30 {
        client.send_line("NOPE").await;
    }
    assert_eq!(client.query("*OPC?").await, "1");
    let errors = handle.control().errors();
    assert_eq!(errors.len(), 20);
    assert_eq!(errors.last().unwrap().0, -350);
    client.send_line("*CLS").await;
    expect_no_error(&mut client).await;
    assert_eq!(client.query("SYST:VERS?").await, "1999.0");
}

#[tokio::test]
async fn constant_voltage_then_constant_current_with_a_load() {
    let handle = psu(Model::E36313A).await;
    let control = handle.control();
    let mut client = LineConn::connect(handle.local_addr()).await;
    client
        .send_line("VOLT 5,(@2);CURR 1,(@2);OUTP ON,(@2)")
        .await;
    // 5 V into the default 10 ohms: 0.5 A, below the 1 A limit.
    let volts = number(&client.query("MEAS:VOLT? (@2)").await);
    let amps = number(&client.query("MEAS:CURR? (@2)").await);
    assert!((volts - 5.0).abs() < 0.01, "{volts}");
    assert!((amps - 0.5).abs() < 0.005, "{amps}");
    assert_eq!(control.mode(2), Mode::ConstantVoltage);
    // 2 ohms would draw 2.5 A: the supply limits at 1 A and the voltage sags to 2 V.
    control.set_load_ohms(2, 2.0);
    let volts = number(&client.query("MEAS:VOLT? (@2)").await);
    let amps = number(&client.query("MEAS:CURR? (@2)").await);
    assert!((volts - 2.0).abs() < 0.01, "{volts}");
    assert!((amps - 1.0).abs() < 0.005, "{amps}");
    assert_eq!(control.mode(2), Mode::ConstantCurrent);
    // An open circuit draws nothing.
    control.set_load_ohms(2, f64::INFINITY);
    assert!(number(&client.query("MEAS:CURR? (@2)").await).abs() < 0.001);
    client.send_line("OUTP OFF,(@2)").await;
    assert_eq!(
        client.query("MEAS:VOLT? (@2);:MEAS:CURR? (@2)").await,
        "+0.00000000E+00;+0.00000000E+00"
    );
    assert_eq!(control.mode(2), Mode::Off);
}

#[tokio::test]
async fn measurements_carry_small_noise() {
    let handle = psu(Model::E36313A).await;
    let mut client = LineConn::connect(handle.local_addr()).await;
    client
        .send_line("VOLT 5,(@1);CURR 1,(@1);OUTP ON,(@1)")
        .await;
    let mut readings = Vec::new();
    for _ in 0..10 {
        readings.push(client.query("MEAS:VOLT? (@1)").await);
    }
    let values: Vec<f64> = readings.iter().map(|r| number(r)).collect();
    assert!(values.iter().all(|v| (v - 5.0).abs() < 0.005), "{values:?}");
    readings.dedup();
    assert!(readings.len() > 1, "ten identical readings: {readings:?}");
}

#[tokio::test]
async fn over_voltage_protection_trips_and_clears() {
    let handle = psu(Model::E36313A).await;
    let mut client = LineConn::connect(handle.local_addr()).await;
    client
        .send_line("VOLT 5,(@1);CURR 1,(@1);VOLT:PROT 4,(@1)")
        .await;
    assert_eq!(client.query("VOLT:PROT? (@1)").await, "+4.00000000E+00");
    client.send_line("OUTP ON,(@1)").await;
    assert_eq!(
        client.query("VOLT:PROT:TRIP? (@1);:OUTP? (@1)").await,
        "1;0"
    );
    assert!(handle.control().ovp_tripped(1));
    // A tripped output cannot be switched on until the protection is cleared.
    client.send_line("OUTP ON,(@1)").await;
    assert_eq!(client.query("OUTP? (@1)").await, "0");
    assert_eq!(
        client.query("SYST:ERR?").await,
        "-221,\"Settings conflict\""
    );
    client.send_line("OUTP:PROT:CLE (@1)").await;
    assert_eq!(client.query("VOLT:PROT:TRIP? (@1)").await, "0");
    assert_eq!(client.query("OUTP? (@1)").await, "0");
    client.send_line("VOLT:PROT 6,(@1)").await;
    client.send_line("OUTP ON,(@1)").await;
    assert_eq!(
        client.query("OUTP? (@1);:VOLT:PROT:TRIP? (@1)").await,
        "1;0"
    );
    // Raising the voltage above the level while on trips at once.
    client.send_line("VOLT:PROT 5.5,(@1);:VOLT 5.8,(@1)").await;
    assert_eq!(
        client.query("OUTP? (@1);:VOLT:PROT:TRIP? (@1)").await,
        "0;1"
    );
    expect_no_error(&mut client).await;
}

#[tokio::test]
async fn over_current_protection_trips_after_its_delay_in_cc() {
    let handle = psu(Model::E36313A).await;
    let mut client = LineConn::connect(handle.local_addr()).await;
    // 5 V into 10 ohms wants 0.5 A; the 0.1 A limit puts both channels in CC.
    client.send_line("VOLT 5,(@1,2);CURR 0.1,(@1,2)").await;
    client
        .send_line("CURR:PROT:DEL 0.05,(@1);STAT ON,(@1);:OUTP ON,(@1,2)")
        .await;
    assert_eq!(client.query("CURR:PROT:STAT? (@1:2)").await, "1,0");
    assert_eq!(client.query("CURR:PROT:DEL? (@1)").await, "+5.00000000E-02");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(client.query("CURR:PROT:TRIP? (@1:2)").await, "1,0");
    // Without OCP the other channel keeps regulating current.
    assert_eq!(client.query("OUTP? (@1:2)").await, "0,1");
    assert!(handle.control().ocp_tripped(1));
    client.send_line("OUTP:PROT:CLE (@1)").await;
    assert_eq!(client.query("CURR:PROT:TRIP? (@1)").await, "0");
    expect_no_error(&mut client).await;
}

#[tokio::test]
async fn rst_turns_outputs_off_voltages_to_zero_and_current_limits_to_the_rating() {
    let handle = psu(Model::E36313A).await;
    let mut client = LineConn::connect(handle.local_addr()).await;
    client
        .send_line("INST:NSEL 2;:VOLT 5;CURR 1;:VOLT:PROT 4;:OUTP ON;:CURR:PROT:STAT ON")
        .await;
    assert_eq!(client.query("VOLT:PROT:TRIP?").await, "1");
    client.send_line("*RST").await;
    assert_eq!(client.query("INST:NSEL?").await, "1");
    assert_eq!(
        client
            .query("OUTP? (@1:3);:VOLT:PROT:TRIP? (@2);:CURR:PROT:STAT? (@2)")
            .await,
        "0,0,0;0;0"
    );
    assert_eq!(
        client.query("VOLT? (@2);CURR? (@2);:VOLT:PROT? (@2)").await,
        "+0.00000000E+00;+2.00000000E+00;+2.75000000E+01"
    );
    // So "set a voltage, switch on" after *RST delivers that voltage.
    client.send_line("VOLT 3.3,(@1);:OUTP ON,(@1)").await;
    handle.control().set_noise(false);
    assert_eq!(client.query("MEAS:VOLT? (@1)").await, "+3.30000000E+00");
    assert_eq!(client.query("CURR:PROT:DEL? (@2)").await, "+2.00000000E-02");
    expect_no_error(&mut client).await;
}

#[tokio::test]
async fn instrument_selection_and_apply() {
    let handle = psu(Model::E36313A).await;
    let mut client = LineConn::connect(handle.local_addr()).await;
    client.send_line("INST:SEL CH3").await;
    assert_eq!(client.query("INST:SEL?").await, "CH3");
    client.send_line("APPL CH2,12,0.5").await;
    assert_eq!(
        client.query("APPL? CH2").await,
        "\"+1.20000000E+01,+5.00000000E-01\""
    );
    client.send_line("VOLT 7").await;
    assert_eq!(client.query("*OPC?").await, "1");
    assert_eq!(handle.control().voltage_set(3), 7.0);
    assert_eq!(handle.control().selected_channel(), 3);
    assert_eq!(
        client.query("APPL? CH3").await,
        "\"+7.00000000E+00,+2.00000000E+00\""
    );
    expect_no_error(&mut client).await;
    // The output identifier is required.
    client.send_line("APPL?").await;
    assert_eq!(
        client.query("SYST:ERR?").await,
        "-109,\"Missing parameter\""
    );
}

#[tokio::test]
async fn e36311a_third_output_is_negative() {
    let handle = psu(Model::E36311A).await;
    handle.control().set_noise(false);
    let mut client = LineConn::connect(handle.local_addr()).await;
    assert!(client.query("*IDN?").await.contains(",E36311A,"));
    client
        .send_line("VOLT -12,(@3);CURR 1,(@3);OUTP ON,(@3)")
        .await;
    expect_no_error(&mut client).await;
    assert_eq!(
        client.query("MEAS:VOLT? (@3);CURR? (@3)").await,
        "-1.00000000E+01;-1.00000000E+00"
    );
    assert_eq!(handle.control().mode(3), Mode::ConstantCurrent);
    client.send_line("VOLT 12,(@3)").await;
    assert_eq!(
        client.query("SYST:ERR?").await,
        "-222,\"Data out of range\""
    );
    client.send_line("VOLT -25.75,(@3)").await;
    expect_no_error(&mut client).await;
    client.send_line("VOLT -26,(@3)").await;
    assert_eq!(
        client.query("SYST:ERR?").await,
        "-222,\"Data out of range\""
    );
    assert_eq!(client.query("VOLT? (@3)").await, "-2.57500000E+01");
    assert_eq!(
        client.query("VOLT? MAX,(@1:3)").await,
        "+6.18000000E+00,+2.57500000E+01,-2.57500000E+01"
    );
    // The positive outputs are ordinary: CH1 only goes to 6 V.
    client.send_line("VOLT 7,(@1)").await;
    assert_eq!(
        client.query("SYST:ERR?").await,
        "-222,\"Data out of range\""
    );
}

#[tokio::test]
async fn state_is_shared_between_connections() {
    let handle = psu(Model::E36313A).await;
    let mut first = LineConn::connect(handle.local_addr()).await;
    let mut second = LineConn::connect(handle.local_addr()).await;
    first.send_line("VOLT 2.5,(@3)").await;
    assert_eq!(first.query("*OPC?").await, "1");
    assert_eq!(second.query("VOLT? (@3)").await, "+2.50000000E+00");
}

#[tokio::test]
async fn over_long_line_is_dropped_with_an_error() {
    let handle = psu(Model::E36313A).await;
    let mut client = LineConn::connect(handle.local_addr()).await;
    let long = format!("VOLT 1,(@1);{}\n", "*OPC;".repeat(2000));
    client.send(long.as_bytes()).await;
    assert_eq!(
        client.query("SYST:ERR?").await,
        "-363,\"Input buffer overrun\""
    );
    assert_eq!(client.query("VOLT? (@1)").await, "+0.00000000E+00");
    // CR LF line ends are tolerated.
    client.send(b"*OPC?\r\n").await;
    assert_eq!(client.read_until(b"\n").await, b"1\n");
}

#[tokio::test]
async fn silent_fault_answers_nothing() {
    let handle = psu(Model::E36313A).await;
    let mut client = LineConn::connect(handle.local_addr()).await;
    handle.set_fault(Fault::Silent);
    client.send(b"*IDN?\n").await;
    client.expect_silence().await;
    handle.set_fault(Fault::None);
    assert_eq!(client.query("*OPC?").await, "1");
}

#[tokio::test]
async fn slow_fault_delays_replies() {
    let handle = psu(Model::E36313A).await;
    let mut client = LineConn::connect(handle.local_addr()).await;
    let delay = Duration::from_millis(250);
    handle.set_fault(Fault::Slow(delay));
    let started = tokio::time::Instant::now();
    assert_eq!(client.query("*OPC?").await, "1");
    assert!(started.elapsed() >= delay);
}

#[tokio::test]
async fn garbage_and_nak_faults_send_a_junk_line() {
    for fault in [Fault::Garbage, Fault::Nak] {
        let handle = psu(Model::E36313A).await;
        let mut client = LineConn::connect(handle.local_addr()).await;
        handle.set_fault(fault);
        client.send(b"*IDN?\n").await;
        let junk = client.read_until(b"\n").await;
        assert!(junk.len() >= 9, "{fault}: {junk:?}");
        assert!(!junk.starts_with(b"Keysight"), "{fault}: {junk:?}");
        // Commands still execute; only answers are mangled.
        client.send_line("VOLT 1,(@1)").await;
        handle.set_fault(Fault::None);
        assert_eq!(client.query("VOLT? (@1)").await, "+1.00000000E+00");
    }
}

#[tokio::test]
async fn disconnect_fault_closes_mid_reply() {
    let handle = psu(Model::E36313A).await;
    let mut client = LineConn::connect(handle.local_addr()).await;
    handle.set_fault(Fault::Disconnect);
    // Commands have no answer, so the connection survives them.
    client.send_line("VOLT 1,(@1)").await;
    client.send(b"*IDN?\n").await;
    let partial = client.read_to_close().await;
    let full = b"Keysight Technologies,E36313A,MY59000001,1.0.4-1.0.4-1.00\n";
    assert!(
        !partial.is_empty() && partial.len() < full.len(),
        "{partial:?}"
    );
    assert_eq!(partial[..], full[..partial.len()]);
    handle.set_fault(Fault::None);
    let mut again = LineConn::connect(handle.local_addr()).await;
    assert_eq!(again.query("VOLT? (@1)").await, "+1.00000000E+00");
}

#[tokio::test]
async fn offline_fault_closes_and_refuses_then_recovers() {
    let handle = psu(Model::E36313A).await;
    let mut existing = LineConn::connect(handle.local_addr()).await;
    assert_eq!(existing.query("*OPC?").await, "1");
    handle.set_fault(Fault::Offline);
    assert!(existing.read_to_close().await.is_empty());
    let mut refused = LineConn::connect(handle.local_addr()).await;
    assert!(refused.read_to_close().await.is_empty());
    handle.set_fault(Fault::None);
    let mut back = LineConn::connect(handle.local_addr()).await;
    assert_eq!(back.query("*OPC?").await, "1");
}
