//! What real clients send to an E36300, replayed against the simulator over its socket:
//! the exact lines of PSUDaemon (`psumodels/e36300_series.py`), pymeasure
//! (`KeysightE36312A`, `KeysightE36311A`) and QCoDeS (`Keysight_E36313A`), each with the
//! answer the instrument gives; then the parts of the programming guide those clients and
//! VISA tools lean on: `APPLy` with the output identifiers, `*OPT?`, `*SAV`/`*RCL`,
//! `SYST:REM`/`LOC`, PON after power-on and the `*RST` state.

use labwire_sim::e36300::{self, Model, PsuControl, PsuOptions, Remote};
use labwire_sim::SimHandle;
use labwire_testkit::{any_port, LineConn};

async fn psu(model: Model) -> (SimHandle<PsuControl>, LineConn) {
    let options = PsuOptions {
        model,
        ..PsuOptions::default()
    };
    let sim = e36300::spawn(any_port(), options).await.unwrap();
    sim.control().set_noise(false);
    let conn = LineConn::connect(sim.local_addr()).await;
    (sim, conn)
}

/// Each line as the client writes it, and the answer expected (`None`: a command, which
/// gets none); then the error queue must be empty.
async fn replay(conn: &mut LineConn, exchanges: &[(&str, Option<&str>)]) {
    for (line, expected) in exchanges {
        match expected {
            Some(answer) => assert_eq!(conn.query(line).await, *answer, "{line}"),
            None => conn.send_line(line).await,
        }
    }
    assert_eq!(conn.query("SYST:ERR?").await, "+0,\"No error\"");
}

const IDN: &str = "Keysight Technologies,E36313A,MY59000001,1.0.4-1.0.4-1.00";

#[tokio::test]
async fn psudaemon() {
    let (sim, mut conn) = psu(Model::E36313A).await;
    replay(
        &mut conn,
        &[
            ("*IDN?", Some(IDN)),
            ("volt 5, (@1)", None),
            ("curr 0.25, (@1)", None),
            ("outp 1, (@1)", None),
            ("volt? (@1)", Some("+5.00000000E+00")),
            ("curr? (@1)", Some("+2.50000000E-01")),
            ("outp? (@1)", Some("1")),
            // The default 10 ohm load takes 0.5 A at 5 V: the 0.25 A limit holds it.
            ("meas:volt? (@1)", Some("+2.50000000E+00")),
            ("meas:curr? (@1)", Some("+2.50000000E-01")),
            ("outp 0, (@1)", None),
            ("outp? (@1)", Some("0")),
        ],
    )
    .await;
    assert!(!sim.control().output(1));
}

#[tokio::test]
async fn pymeasure() {
    let (sim, mut conn) = psu(Model::E36312A).await;
    replay(
        &mut conn,
        &[
            ("*IDN?", Some(&IDN.replace("E36313A", "E36312A"))),
            ("*CLS", None),
            ("VOLT 1.5, (@1)", None),
            ("VOLT? (@1)", Some("+1.50000000E+00")),
            ("CURR 0.5, (@3)", None),
            ("CURR? (@3)", Some("+5.00000000E-01")),
            ("OUTPut 1, (@1)", None),
            ("OUTPut? (@1)", Some("1")),
            ("MEASure:VOLTage? (@1)", Some("+1.50000000E+00")),
            ("MEAS:CURRent? (@1)", Some("+1.50000000E-01")),
            ("SYST:ERR?", Some("+0,\"No error\"")),
        ],
    )
    .await;
    assert_eq!(sim.control().current_set(3), 0.5);
    // pymeasure's E36311A: output 3 is the negative one.
    let (_sim, mut e36311a) = psu(Model::E36311A).await;
    replay(
        &mut e36311a,
        &[
            ("VOLT -5, (@3)", None),
            ("VOLT? (@3)", Some("-5.00000000E+00")),
            ("OUTPut 1, (@3)", None),
            ("MEASure:VOLTage? (@3)", Some("-5.00000000E+00")),
            ("MEAS:CURRent? (@3)", Some("-5.00000000E-01")),
        ],
    )
    .await;
}

#[tokio::test]
async fn qcodes() {
    let (_sim, mut conn) = psu(Model::E36313A).await;
    replay(
        &mut conn,
        &[
            ("*IDN?", Some(IDN)),
            // set_cmd 'VOLT {:.8G},(@n)' and 'OUTP {:d},(@n)'.
            ("VOLT 3.3,(@2)", None),
            ("CURR 0.1,(@2)", None),
            ("OUTP 1,(@2)", None),
            ("VOLT? (@2)", Some("+3.30000000E+00")),
            ("CURR? (@2)", Some("+1.00000000E-01")),
            ("OUTP? (@2)", Some("1")),
            ("MEAS:VOLT? (@2)", Some("+1.00000000E+00")),
            ("MEAS:CURR? (@2)", Some("+1.00000000E-01")),
        ],
    )
    .await;
}

#[tokio::test]
async fn apply_with_output_identifiers() {
    let (sim, mut conn) = psu(Model::E36311A).await;
    replay(
        &mut conn,
        &[
            ("APPL P6V,5.0,1.0", None),
            ("APPL? P6V", Some("\"+5.00000000E+00,+1.00000000E+00\"")),
            ("APPLy P25V,20", None),
            ("APPL? CH2", Some("\"+2.00000000E+01,+1.00000000E+00\"")),
            ("APPL N25V,-12,0.2", None),
            ("APPL? n25v", Some("\"-1.20000000E+01,+2.00000000E-01\"")),
            ("APPL P6V,MAX,MIN", None),
            ("APPL? P6V", Some("\"+6.18000000E+00,+0.00000000E+00\"")),
            ("APPL P6V,DEF,DEF", None),
            ("APPL? P6V", Some("\"+0.00000000E+00,+5.00000000E+00\"")),
            ("INST:SEL P25V", None),
            ("INST:SEL?", Some("CH2")),
            ("INST:NSEL 3", None),
            ("INST:NSEL?", Some("3")),
        ],
    )
    .await;
    assert_eq!(sim.control().voltage_set(3), -12.0);
    for (bad, code) in [
        ("APPL P12V,1", "-224"),
        ("APPL?", "-109"),
        ("APPL P6V,7", "-222"),
    ] {
        conn.send_line(bad).await;
        let error = conn.query("SYST:ERR?").await;
        assert!(error.starts_with(code), "{bad}: {error}");
    }
}

#[tokio::test]
async fn options_saved_states_remote_and_power_on() {
    let (sim, mut conn) = psu(Model::E36313A).await;
    replay(
        &mut conn,
        &[
            // Switched on just now: PON, bit 7, until read.
            ("*ESR?", Some("+128")),
            ("*ESR?", Some("+0")),
            ("*OPT?", Some("0")),
            ("SYST:REM", None),
            ("VOLT 4,(@1);:CURR 1.5,(@1);:VOLT:PROT 5,(@1)", None),
            ("INST:NSEL 2", None),
            ("*SAV 3", None),
            ("*RST", None),
            (
                "VOLT? (@1);CURR? (@1)",
                Some("+0.00000000E+00;+1.00000000E+01"),
            ),
            ("*RCL 3", None),
            (
                "VOLT? (@1);CURR? (@1);:VOLT:PROT? (@1);:INST:NSEL?",
                Some("+4.00000000E+00;+1.50000000E+00;+5.00000000E+00;2"),
            ),
            // A location never saved holds the *RST state.
            ("*RCL 9", None),
            ("VOLT? (@1)", Some("+0.00000000E+00")),
            // *RST leaves the status registers alone: no PON again.
            ("*ESR?", Some("+0")),
        ],
    )
    .await;
    assert_eq!(sim.control().remote(), Remote::Remote);
    replay(&mut conn, &[("SYST:LOC", None)]).await;
    assert_eq!(sim.control().remote(), Remote::Local);
    replay(&mut conn, &[("SYSTem:RWLock", None), ("*TRG", None)]).await;
    assert_eq!(sim.control().remote(), Remote::RemoteWithLock);
    for (bad, code) in [("*SAV 10", "-222"), ("*RCL", "-109"), ("*SAV 1.5", "-222")] {
        conn.send_line(bad).await;
        let error = conn.query("SYST:ERR?").await;
        assert!(error.starts_with(code), "{bad}: {error}");
    }
}

#[tokio::test]
async fn after_rst_a_voltage_and_output_on_deliver_that_voltage() {
    let (_sim, mut conn) = psu(Model::E36312A).await;
    replay(
        &mut conn,
        &[
            ("*RST", None),
            (
                "CURR? (@1:3)",
                Some("+5.00000000E+00,+1.00000000E+00,+1.00000000E+00"),
            ),
            ("VOLT 3.3,(@1)", None),
            ("OUTP ON,(@1)", None),
            ("MEAS:VOLT? (@1)", Some("+3.30000000E+00")),
            ("STAT:QUES:INST:ISUM1:COND?", Some("+2")),
        ],
    )
    .await;
}
