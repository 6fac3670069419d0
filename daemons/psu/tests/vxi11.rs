//! The driver and the binary over VXI-11 against the simulator's portmapper and core
//! channel (the same simulated instrument serves the SCPI socket too): identification,
//! the state read, settings seen from the socket side, faults, a wrong device name, and
//! the daemon given `vxi11://` and `TCPIP::...::INSTR` addresses.

use labwire_daemon::transport::{DeviceAddress, InstrumentLink};
use labwire_protocol::ErrorCode;
use labwire_psu::driver::{Model, E36300};
use labwire_sim::e36300::{self, PsuControl, PsuOptions, Vxi11Handle};
use labwire_sim::{Fault, SimHandle};
use labwire_testkit::{connect as client, status_where, Process, TempDir};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_millis(500);
const PSU: &str = env!("CARGO_BIN_EXE_labwire-psu");

async fn sims() -> (SimHandle<PsuControl>, Vxi11Handle) {
    let local = SocketAddr::from(([127, 0, 0, 1], 0));
    let socket = e36300::spawn(local, PsuOptions::default())
        .await
        .expect("simulator");
    socket.control().set_noise(false);
    let vxi11 = e36300::spawn_vxi11(socket.control(), local, 1)
        .await
        .expect("VXI-11 side");
    (socket, vxi11)
}

fn address(vxi11: &Vxi11Handle) -> String {
    DeviceAddress::vxi11(vxi11.portmapper_addr(), "inst0").to_string()
}

/// One line over the simulator's SCPI socket.
async fn over_socket(sim: &SimHandle<PsuControl>, line: &str) -> String {
    let mut stream = TcpStream::connect(sim.local_addr()).await.unwrap();
    stream
        .write_all(format!("{line}\n").as_bytes())
        .await
        .unwrap();
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).await.unwrap();
    answer.trim_end().to_string()
}

#[tokio::test]
async fn the_driver_works_over_vxi11_as_over_the_socket() {
    let (socket, vxi11) = sims().await;
    let mut supply = E36300::connect(&address(&vxi11), TIMEOUT)
        .await
        .expect("connects over VXI-11");
    assert_eq!(supply.model(), Model::E36313A);
    assert_eq!(supply.set_voltage(2, 12.5).await.unwrap(), 12.5);
    assert_eq!(supply.set_current(2, 0.5).await.unwrap(), 0.5);
    assert!(supply.set_output(2, true).await.unwrap());
    let state = supply.read_state().await.unwrap()[1];
    assert_eq!(
        state.voltage,
        Some(5.0),
        "10 ohm load at 0.5 A: current limited"
    );
    assert_eq!(state.current, Some(0.5));
    // The same instrument, seen over its socket.
    assert_eq!(over_socket(&socket, "VOLT? (@2)").await, "+1.25000000E+01");
    assert_eq!(socket.control().current_set(2), 0.5);
    // A setting the instrument refuses comes back in its words, over VXI-11 too.
    let err = supply.set_voltage(1, 60.0).await.unwrap_err();
    assert!(err.message.contains("-222"), "{}", err.message);
    supply.close().await.expect("DESTROY_LINK");
}

#[tokio::test]
async fn vxi11_faults_are_timeouts_and_lost_links() {
    let (_socket, vxi11) = sims().await;
    let mut supply = E36300::connect(&address(&vxi11), TIMEOUT).await.unwrap();
    vxi11.set_fault(Fault::Silent);
    let err = supply.read_state().await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Timeout, "{err}");
    vxi11.set_fault(Fault::Garbage);
    let err = supply.read_state().await.unwrap_err();
    assert_eq!(err.code, ErrorCode::DeviceError, "{err}");
    vxi11.set_fault(Fault::Offline);
    let err = E36300::connect(&address(&vxi11), TIMEOUT)
        .await
        .err()
        .unwrap();
    assert_eq!(err.code, ErrorCode::NotConnected, "{err}");
    vxi11.set_fault(Fault::None);
    let mut again = E36300::connect(&address(&vxi11), TIMEOUT).await.unwrap();
    again.read_state().await.expect("healed");
}

#[tokio::test]
async fn an_unknown_device_or_portmapper_is_refused() {
    let (_socket, vxi11) = sims().await;
    let wrong = DeviceAddress::vxi11(vxi11.portmapper_addr(), "gpib0,5");
    let err = InstrumentLink::connect(&wrong, TIMEOUT)
        .await
        .err()
        .unwrap();
    assert_eq!(err.code, ErrorCode::NotConnected);
    assert!(err.message.contains("gpib0,5"), "{}", err.message);
    // The core channel is not a portmapper: GETPORT there is an unknown program.
    let core = DeviceAddress::vxi11(vxi11.core_addr(), "inst0");
    let err = InstrumentLink::connect(&core, TIMEOUT).await.err().unwrap();
    assert!(err.message.contains("portmapper"), "{}", err.message);
}

#[tokio::test]
async fn a_query_without_answer_times_out_and_the_link_goes_on() {
    let (_socket, vxi11) = sims().await;
    let link = DeviceAddress::vxi11(vxi11.portmapper_addr(), "inst0");
    let mut link = InstrumentLink::connect(&link, TIMEOUT).await.unwrap();
    // An unknown query is never answered: DEVICE_READ waits out io_timeout.
    let err = link.query("NOPE?\n").await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Timeout);
    assert_eq!(
        link.query("SYST:ERR?\n").await.unwrap(),
        "-113,\"Undefined header\""
    );
    // No LF at all: the END flag ends the message.
    assert_eq!(link.query("*OPC?").await.unwrap(), "1");
    link.close().await.unwrap();
}

fn online(s: &labwire_protocol::Message) -> bool {
    s.get("hw_connected") == Some("1") && s.get("ch1_mode").is_some()
}

/// The daemon binary, given each VXI-11 address form, drives the simulator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_takes_vxi11_addresses() {
    let (socket, vxi11) = sims().await;
    let dir = TempDir::new("psu-vxi11");
    let state = dir.path().join("psu.state");
    let url = format!("vxi11://127.0.0.1:{}", vxi11.portmapper_addr().port());
    let mut daemon = Process::start(
        PSU,
        &[
            "--state-file",
            state.to_str().unwrap(),
            "--device",
            &url,
            "--listen",
            "127.0.0.1:0",
            "--poll-interval",
            "0.2",
            "--device-timeout",
            "0.5",
        ],
    );
    let c = client(daemon.addr).await;
    status_where(&c, "online over VXI-11", online).await;
    let reply = c.call("set_voltage ch=3 value=7.5").await.unwrap();
    assert_eq!(reply.to_line(), "ok set_voltage ch=3 value=7.5");
    assert_eq!(socket.control().voltage_set(3), 7.5);
    vxi11.set_fault(Fault::Offline);
    status_where(&c, "offline", |s| s.get("hw_connected") == Some("0")).await;
    vxi11.set_fault(Fault::None);
    status_where(&c, "back", online).await;
    daemon.terminate(Duration::from_secs(5));
}
