//! The TPG 361/362 simulator over real loopback TCP, byte for byte as a driver sees it.

use std::time::Duration;

use labwire_sim::gauge::{
    self, GaugeControl, GaugeOptions, GaugeType, Interface, Model, Unit, AYT_ANSWER, FIRMWARE,
    GAUGE_TYPE,
};
use labwire_sim::{Fault, SimHandle};
use labwire_testkit::{any_port, LineConn};

const ACK: &[u8] = b"\x06\r\n";
const NAK: &[u8] = b"\x15\r\n";

/// A gauge held at `mbar` without noise, so answers are exact.
async fn steady_gauge(mbar: f64) -> SimHandle<GaugeControl> {
    steady(mbar, GaugeOptions::default()).await
}

/// As [`steady_gauge`], started with `options`.
async fn steady(mbar: f64, options: GaugeOptions) -> SimHandle<GaugeControl> {
    let handle = gauge::spawn(
        any_port(),
        GaugeOptions {
            initial_pressure_mbar: mbar,
            ..options
        },
    )
    .await
    .unwrap();
    handle.control().hold();
    handle.control().set_noise(0.0);
    handle.control().set_pressure_mbar(mbar);
    handle
}

/// One mnemonic exchange: message, ACK, ENQ, data line (returned without CR LF).
async fn ask(client: &mut LineConn, mnemonic: &str) -> String {
    client.send(format!("{mnemonic}\r\n").as_bytes()).await;
    assert_eq!(client.read_until(b"\r\n").await, ACK, "ACK for {mnemonic}");
    enq(client).await
}

async fn enq(client: &mut LineConn) -> String {
    client.send(b"\x05").await;
    let line = client.read_until(b"\r\n").await;
    String::from_utf8(line[..line.len() - 2].to_vec()).unwrap()
}

/// `<status>,<sign><d>.<dddd>E<sign><dd>`, returning status and value.
fn parse_measurement(line: &str) -> (u8, f64) {
    let (status, value) = line.split_once(',').expect("status,value");
    let bytes = value.as_bytes();
    assert_eq!(value.len(), 11, "{line}");
    assert!(matches!(bytes[0], b'+' | b'-'), "{line}");
    assert_eq!(bytes[2], b'.', "{line}");
    assert_eq!(bytes[7], b'E', "{line}");
    assert!(matches!(bytes[8], b'+' | b'-'), "{line}");
    (status.parse().unwrap(), value.parse().unwrap())
}

#[tokio::test]
async fn ack_enq_exchange_and_repeated_enq() {
    let gauge = steady_gauge(1.23e-3).await;
    let mut client = LineConn::connect(gauge.local_addr()).await;
    assert_eq!(ask(&mut client, "PR1").await, "0,+1.2300E-03");
    // A further ENQ sends the same request's data again.
    assert_eq!(enq(&mut client).await, "0,+1.2300E-03");
    assert_eq!(ask(&mut client, "TID").await, GAUGE_TYPE);
    assert_eq!(ask(&mut client, "PNR").await, FIRMWARE);
    assert_eq!(ask(&mut client, "ERR").await, "0000");
    assert!(ask(&mut client, "AYT").await.starts_with("TPG 361,"));
    // CR alone ends a message too, and spaces are ignored.
    client.send(b"P R1\r").await;
    assert_eq!(client.read_until(b"\r\n").await, ACK);
    assert_eq!(enq(&mut client).await, "0,+1.2300E-03");
}

#[tokio::test]
async fn nak_on_unknown_mnemonic_and_bad_arguments_sets_the_error_word() {
    let gauge = steady_gauge(1.0).await;
    let mut client = LineConn::connect(gauge.local_addr()).await;
    client.send(b"XYZ\r\n").await;
    assert_eq!(client.read_until(b"\r\n").await, NAK);
    // ENQ without a valid request answers the error word: syntax error.
    assert_eq!(enq(&mut client).await, "0001");
    client.send(b"UNI,7\r\n").await;
    assert_eq!(client.read_until(b"\r\n").await, NAK);
    assert_eq!(ask(&mut client, "ERR").await, "0011");
    // Reading ERR reset it.
    assert_eq!(ask(&mut client, "ERR").await, "0000");
    assert_eq!(gauge.control().unit(), Unit::Mbar);
}

#[tokio::test]
async fn unit_change_is_reflected_in_pr1() {
    let gauge = steady_gauge(1.0).await;
    let mut client = LineConn::connect(gauge.local_addr()).await;
    assert_eq!(ask(&mut client, "UNI").await, "0");
    assert_eq!(ask(&mut client, "PR1").await, "0,+1.0000E+00");
    assert_eq!(ask(&mut client, "UNI,1").await, "1");
    assert_eq!(gauge.control().unit(), Unit::Torr);
    // A logarithmic gauge (the PKR) resolves three digits: 0.75006 Torr prints as 7.50.
    assert_eq!(ask(&mut client, "PR1").await, "0,+7.5000E-01");
    assert_eq!(ask(&mut client, "UNI,2").await, "2");
    assert_eq!(ask(&mut client, "PR1").await, "0,+1.0000E+02");
    // The unit belongs to the gauge, not to the connection.
    let mut other = LineConn::connect(gauge.local_addr()).await;
    assert_eq!(ask(&mut other, "UNI").await, "2");
}

#[tokio::test]
async fn initial_unit_option_applies() {
    let gauge = gauge::spawn(
        any_port(),
        GaugeOptions {
            initial_pressure_mbar: 2.0,
            unit: Unit::Pa,
            seed: 9,
            ..GaugeOptions::default()
        },
    )
    .await
    .unwrap();
    let mut client = LineConn::connect(gauge.local_addr()).await;
    assert_eq!(ask(&mut client, "UNI").await, "2");
    let (status, pa) = parse_measurement(&ask(&mut client, "PR1").await);
    assert_eq!(status, 0);
    // Noise and drift are a few percent at most over a test's lifetime.
    assert!((150.0..250.0).contains(&pa), "{pa}");
}

#[tokio::test]
async fn status_codes_other_than_ok_carry_no_pressure() {
    let gauge = steady_gauge(5.0e-4).await;
    let mut client = LineConn::connect(gauge.local_addr()).await;
    for status in 3..=6 {
        gauge.control().set_sensor_status(status);
        // "No sensor" carries the manual's `2.0000E-2`, the others zero.
        let value = if status == 5 {
            "+2.0000E-02"
        } else {
            "+0.0000E+00"
        };
        assert_eq!(ask(&mut client, "PR1").await, format!("{status},{value}"));
    }
    gauge.control().set_sensor_status(0);
    assert_eq!(ask(&mut client, "PR1").await, "0,+5.0000E-04");
}

#[tokio::test]
async fn pressure_pumps_down_and_stays_positive() {
    let gauge = steady_gauge(1.0e-2).await;
    gauge.control().set_noise(0.05);
    gauge
        .control()
        .set_pump_down(1.0e-6, Duration::from_millis(200));
    let mut client = LineConn::connect(gauge.local_addr()).await;
    let (_, first) = parse_measurement(&ask(&mut client, "PR1").await);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, later) = parse_measurement(&ask(&mut client, "PR1").await);
    assert!(first > 0.0 && later > 0.0);
    // 400 ms is two time constants: about five of the eight decades are gone.
    assert!(later < first / 100.0, "{first} -> {later}");
    assert!(gauge.control().pressure_mbar() < 1.0e-3);
}

#[tokio::test]
async fn continuous_mode_streams_until_any_byte_arrives() {
    let gauge = steady_gauge(3.0e-5).await;
    let mut client = LineConn::connect(gauge.local_addr()).await;
    client.send(b"COM,0\r\n").await;
    assert_eq!(client.read_until(b"\r\n").await, ACK);
    for _ in 0..3 {
        let line = client.read_until(b"\r\n").await;
        assert_eq!(line, b"0,+3.0000E-05\r\n");
    }
    // ETX stops the stream (and, as any input would, is then handled: it clears the
    // input buffer). Lines already under way may still arrive, then nothing more.
    client.send(b"\x03").await;
    let in_flight = client.drain_for(Duration::from_millis(250)).await;
    assert!(in_flight.len() <= 2 * 15, "{in_flight:?}");
    client.expect_silence().await;
    // The connection is back in request/answer mode.
    assert_eq!(ask(&mut client, "PR1").await, "0,+3.0000E-05");
}

#[tokio::test]
async fn silent_fault_reads_but_never_answers() {
    let gauge = steady_gauge(1.0).await;
    let mut client = LineConn::connect(gauge.local_addr()).await;
    gauge.set_fault(Fault::Silent);
    client.send(b"PR1\r\n").await;
    client.expect_silence().await;
    client.send(b"\x05").await;
    client.expect_silence().await;
    gauge.set_fault(Fault::None);
    assert_eq!(ask(&mut client, "PR1").await, "0,+1.0000E+00");
}

#[tokio::test]
async fn nak_fault_refuses_every_mnemonic() {
    let gauge = steady_gauge(1.0).await;
    let mut client = LineConn::connect(gauge.local_addr()).await;
    gauge.set_fault(Fault::Nak);
    for mnemonic in ["PR1", "UNI,1", "TID"] {
        client.send(format!("{mnemonic}\r\n").as_bytes()).await;
        assert_eq!(client.read_until(b"\r\n").await, NAK, "{mnemonic}");
    }
    assert_eq!(gauge.control().unit(), Unit::Mbar);
    gauge.set_fault(Fault::None);
    assert_eq!(ask(&mut client, "PR1").await, "0,+1.0000E+00");
}

#[tokio::test]
async fn garbage_fault_answers_junk_lines() {
    let gauge = steady_gauge(1.0).await;
    let mut client = LineConn::connect(gauge.local_addr()).await;
    gauge.set_fault(Fault::Garbage);
    client.send(b"PR1\r\n").await;
    let ack = client.read_until(b"\r\n").await;
    assert_ne!(ack, ACK);
    assert!(!ack[..ack.len() - 2].contains(&0x06), "{ack:?}");
    client.send(b"\x05").await;
    let data = client.read_until(b"\r\n").await;
    assert!(data.len() >= 10, "{data:?}");
    assert_ne!(data, b"0,+1.0000E+00\r\n");
    gauge.set_fault(Fault::None);
    assert_eq!(ask(&mut client, "PR1").await, "0,+1.0000E+00");
}

#[tokio::test]
async fn disconnect_fault_cuts_the_data_line_in_half() {
    let gauge = steady_gauge(1.0).await;
    let mut client = LineConn::connect(gauge.local_addr()).await;
    gauge.set_fault(Fault::Disconnect);
    client.send(b"PR1\r\n").await;
    assert_eq!(client.read_until(b"\r\n").await, ACK);
    client.send(b"\x05").await;
    let partial = client.read_to_close().await;
    let full = b"0,+1.0000E+00\r\n";
    assert!(
        !partial.is_empty() && partial.len() < full.len(),
        "{partial:?}"
    );
    assert_eq!(partial[..], full[..partial.len()]);
    gauge.set_fault(Fault::None);
    let mut again = LineConn::connect(gauge.local_addr()).await;
    assert_eq!(ask(&mut again, "PR1").await, "0,+1.0000E+00");
}

#[tokio::test]
async fn offline_fault_closes_and_refuses_connections() {
    let gauge = steady_gauge(1.0).await;
    let mut existing = LineConn::connect(gauge.local_addr()).await;
    assert_eq!(ask(&mut existing, "PR1").await, "0,+1.0000E+00");
    gauge.set_fault(Fault::Offline);
    assert!(existing.read_to_close().await.is_empty());
    let mut fresh = LineConn::connect(gauge.local_addr()).await;
    assert!(fresh.read_to_close().await.is_empty());
    gauge.set_fault(Fault::None);
    assert_eq!(gauge.fault(), Fault::None);
    let mut back = LineConn::connect(gauge.local_addr()).await;
    assert_eq!(ask(&mut back, "PR1").await, "0,+1.0000E+00");
}

#[tokio::test]
async fn slow_fault_delays_every_answer() {
    let gauge = steady_gauge(1.0).await;
    let mut client = LineConn::connect(gauge.local_addr()).await;
    let delay = Duration::from_millis(250);
    gauge.set_fault(Fault::Slow(delay));
    let started = tokio::time::Instant::now();
    client.send(b"PR1\r\n").await;
    assert_eq!(client.read_until(b"\r\n").await, ACK);
    assert!(started.elapsed() >= delay);
    let started = tokio::time::Instant::now();
    assert_eq!(enq(&mut client).await, "0,+1.0000E+00");
    assert!(started.elapsed() >= delay);
}

#[tokio::test]
async fn shutdown_closes_connections_and_the_port() {
    let gauge = steady_gauge(1.0).await;
    let addr = gauge.local_addr();
    let mut client = LineConn::connect(addr).await;
    assert_eq!(ask(&mut client, "PR1").await, "0,+1.0000E+00");
    gauge.shutdown();
    tokio::time::timeout(labwire_testkit::ANSWER_TIMEOUT, gauge.stopped())
        .await
        .expect("simulator did not stop");
    assert!(client.read_to_close().await.is_empty());
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn spawn_rejects_a_non_positive_initial_pressure() {
    let options = GaugeOptions {
        initial_pressure_mbar: 0.0,
        ..GaugeOptions::default()
    };
    let err = gauge::spawn(any_port(), options).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn every_unit_over_the_wire_with_the_gauges_real_format() {
    let gauge = steady_gauge(1.2345e-3).await;
    let mut client = LineConn::connect(gauge.local_addr()).await;
    // A logarithmic gauge (the PKR): three digits, the 3rd and 4th decimals always 0.
    let expected = [
        "0,+1.2300E-03",
        "0,+9.2600E-04",
        "0,+1.2300E-01",
        "0,+9.2600E-01",
        "0,+1.2300E-03",
        // Volt mode: the FullRange signal, 6.8 V + 0.6 V per decade of mbar.
        "0,+5.0549E+00",
    ];
    for (code, line) in expected.iter().enumerate() {
        assert_eq!(
            ask(&mut client, &format!("UNI,{code}")).await,
            code.to_string()
        );
        assert_eq!(gauge.control().unit(), Unit::from_code(code as u8).unwrap());
        assert_eq!(ask(&mut client, "PR1").await, *line, "UNI {code}");
    }
    // A linear gauge (capacitance) shows all four decimals.
    gauge.control().set_gauge_type(1, GaugeType::Cmr);
    assert_eq!(ask(&mut client, "UNI,0").await, "0");
    assert_eq!(ask(&mut client, "PR1").await, "0,+1.2345E-03");
    assert_eq!(ask(&mut client, "TID").await, "CMR");
}

#[tokio::test]
async fn identity_type_and_error_word() {
    let gauge = steady_gauge(1.0).await;
    let mut client = LineConn::connect(gauge.local_addr()).await;
    assert_eq!(ask(&mut client, "AYT").await, AYT_ANSWER);
    assert_eq!(AYT_ANSWER, "TPG 361,PTG28040,44990000,010100,010100");
    assert_eq!(ask(&mut client, "TID").await, "PKR");
    // A TPG 361 has no second channel: NAK, "no hardware".
    client.send(b"PR2\r\n").await;
    assert_eq!(client.read_until(b"\r\n").await, NAK);
    client.send(b"SEN,1,1\r\n").await;
    assert_eq!(client.read_until(b"\r\n").await, NAK);
    assert_eq!(ask(&mut client, "ERR").await, "0110");
    assert_eq!(ask(&mut client, "ERR").await, "0000");
    // PRX on a 361 is the one pair.
    assert_eq!(ask(&mut client, "PRX").await, "0,+1.0000E+00");
}

#[tokio::test]
async fn tpg362_reads_both_channels_and_switches_sensors() {
    let options = GaugeOptions {
        model: Model::Tpg362,
        ..GaugeOptions::default()
    };
    let gauge = steady(1.0e-3, options).await;
    gauge.control().set_channel_pressure_mbar(2, 5.0e-1);
    let mut client = LineConn::connect(gauge.local_addr()).await;
    assert!(ask(&mut client, "AYT")
        .await
        .starts_with("TPG 362,PTG28290,"));
    assert_eq!(ask(&mut client, "TID").await, "PKR,TPR");
    assert_eq!(ask(&mut client, "PR1").await, "0,+1.0000E-03");
    assert_eq!(ask(&mut client, "PR2").await, "0,+5.0000E-01");
    assert_eq!(ask(&mut client, "PRX").await, "0,+1.0000E-03,0,+5.0000E-01");
    // SEN: 0 cannot be switched (the Pirani), 1 off, 2 on; a 0 argument leaves it.
    assert_eq!(ask(&mut client, "SEN").await, "2,0");
    assert_eq!(ask(&mut client, "SEN,1,0").await, "1,0");
    assert!(!gauge.control().sensor_on(1));
    assert_eq!(ask(&mut client, "PRX").await, "4,+0.0000E+00,0,+5.0000E-01");
    // Switching the Pirani is refused, and refuses the whole message.
    client.send(b"SEN,2,2\r\n").await;
    assert_eq!(client.read_until(b"\r\n").await, NAK);
    assert!(!gauge.control().sensor_on(1), "nothing switched");
    assert_eq!(ask(&mut client, "ERR").await, "0010");
    assert_eq!(ask(&mut client, "SEN,2").await, "2,0");
    assert_eq!(ask(&mut client, "PR1").await, "0,+1.0000E-03");
}

#[tokio::test]
async fn etx_throws_away_half_a_message() {
    let gauge = steady_gauge(1.0).await;
    let mut client = LineConn::connect(gauge.local_addr()).await;
    client.send(b"UNI,").await;
    client.send(b"\x03").await;
    client.expect_silence().await;
    // Without the ETX this would read `UNI,PR1`, a bad parameter.
    assert_eq!(ask(&mut client, "PR1").await, "0,+1.0000E+00");
    assert_eq!(ask(&mut client, "ERR").await, "0000");
}

/// CCDLab's daemon reads the gauge this way: `COM` every second, one line each time,
/// never an ENQ. The first value follows the ACK at once, not after the interval.
#[tokio::test]
async fn continuous_mode_serves_a_client_that_never_sends_enq() {
    let gauge = steady_gauge(7.0e-6).await;
    let mut client = LineConn::connect(gauge.local_addr()).await;
    for _ in 0..3 {
        client.send(b"COM\r\n").await;
        let started = tokio::time::Instant::now();
        assert_eq!(client.read_until(b"\r\n").await, ACK);
        assert_eq!(client.read_until(b"\r\n").await, b"0,+7.0000E-06\r\n");
        assert!(started.elapsed() < Duration::from_millis(500), "at once");
    }
    // Left alone, it goes on every second (COM's default) without any request.
    let started = tokio::time::Instant::now();
    assert_eq!(client.read_until(b"\r\n").await, b"0,+7.0000E-06\r\n");
    assert!(started.elapsed() >= Duration::from_millis(700));
}

#[tokio::test]
async fn continuous_mode_survives_an_lf_in_a_later_packet() {
    let gauge = steady_gauge(7.0e-6).await;
    let mut client = LineConn::connect(gauge.local_addr()).await;
    client.send(b"COM,0\r").await;
    assert_eq!(client.read_until(b"\r\n").await, ACK);
    assert_eq!(client.read_until(b"\r\n").await, b"0,+7.0000E-06\r\n");
    // The LF of that CR LF, late: not a byte that stops the stream.
    client.send(b"\n").await;
    for _ in 0..3 {
        assert_eq!(client.read_until(b"\r\n").await, b"0,+7.0000E-06\r\n");
    }
}

#[tokio::test]
async fn rs485_takes_cr_alone_and_refuses_an_lf() {
    let options = GaugeOptions {
        interface: Interface::Rs485,
        ..GaugeOptions::default()
    };
    let gauge = steady(1.0, options).await;
    let mut client = LineConn::connect(gauge.local_addr()).await;
    client.send(b"PR1\r").await;
    // The answers still end in CR LF.
    assert_eq!(client.read_until(b"\r\n").await, ACK);
    assert_eq!(enq(&mut client).await, "0,+1.0000E+00");
    client.send(b"UNI,4\r\n").await;
    assert_eq!(client.read_until(b"\r\n").await, ACK);
    assert_eq!(client.read_until(b"\r\n").await, NAK, "the LF");
    assert_eq!(gauge.control().unit(), Unit::Hpa, "the CR ended UNI,4");
    client.send(b"ERR\r").await;
    assert_eq!(client.read_until(b"\r\n").await, ACK);
    assert_eq!(enq(&mut client).await, "0001");
}
