use super::*;

fn psu(model: Model) -> Instrument {
    let mut instrument = Instrument::new(&PsuOptions {
        model,
        ..PsuOptions::default()
    });
    instrument.noise = false;
    instrument
}

fn run(instrument: &mut Instrument, line: &str) -> Option<String> {
    instrument.execute_line(line, Instant::now())
}

fn next_error(instrument: &mut Instrument) -> String {
    run(instrument, "SYST:ERR?").unwrap()
}

#[test]
fn model_names_parse_case_insensitively() {
    assert_eq!("e36313a".parse::<Model>(), Ok(Model::E36313A));
    assert_eq!("E36311A".parse::<Model>(), Ok(Model::E36311A));
    assert!("e3631a".parse::<Model>().is_err());
    for model in Model::ALL {
        assert_eq!(model.to_string().parse::<Model>(), Ok(model));
        assert_eq!(model.channel_count(), 3);
    }
    assert_eq!(Model::E36311A.ratings()[2].max_voltage, -25.0);
    assert_eq!(Model::E36313A.ratings()[0].max_current, 10.0);
}

#[test]
fn relative_headers_follow_the_tree_path() {
    let mut p = psu(Model::E36313A);
    run(&mut p, "VOLT 5,(@1);CURR 1,(@1);OUTP ON,(@1)");
    assert_eq!(next_error(&mut p), "+0,\"No error\"");
    // MEAS:CURR? after MEAS:VOLT? is relative: it becomes MEAS:MEAS:CURR?.
    assert_eq!(
        run(&mut p, "MEAS:VOLT? (@1);MEAS:CURR? (@1)").as_deref(),
        Some("+5.00000000E+00")
    );
    assert_eq!(next_error(&mut p), "-113,\"Undefined header\"");
    assert_eq!(
        run(&mut p, "MEAS:VOLT? (@1);CURR? (@1);:OUTP? (@1)").as_deref(),
        Some("+5.00000000E+00;+5.00000000E-01;1")
    );
    assert_eq!(next_error(&mut p), "+0,\"No error\"");
}

#[test]
fn command_errors_discard_the_rest_but_execution_errors_do_not() {
    let mut p = psu(Model::E36313A);
    run(&mut p, "VOLT 99,(@1);VOLT 2,(@2)");
    assert_eq!(p.channels[1].voltage_set, 2.0);
    assert_eq!(next_error(&mut p), "-222,\"Data out of range\"");
    run(&mut p, "VOLT abc,(@1);VOLT 3,(@2)");
    assert_eq!(p.channels[1].voltage_set, 2.0);
    assert_eq!(next_error(&mut p), "-104,\"Data type error\"");
}

#[test]
fn parameter_shape_errors() {
    let mut p = psu(Model::E36313A);
    for (line, code) in [
        ("VOLT", "-109"),
        ("VOLT (@1)", "-109"),
        ("VOLT 1,2", "-104"),
        ("VOLT 1,(@1),3", "-108"),
        ("*RST 1", "-108"),
        ("VOLT 1,(@4)", "-222"),
        ("VOLT 1,(@1", "-102"),
        ("VOLT 5 Q,(@1)", "-131"),
        ("INST:SEL CH4", "-224"),
        ("INST:NSEL 0", "-222"),
        ("APPL CH1", "-109"),
        ("VOLT? 3,(@1)", "-224"),
    ] {
        assert_eq!(run(&mut p, line), None, "{line}");
        let error = next_error(&mut p);
        assert!(error.starts_with(code), "{line}: {error}");
    }
    assert_eq!(next_error(&mut p), "+0,\"No error\"");
}

#[test]
fn error_queue_overflow_keeps_19_and_marks_the_last() {
    let mut p = psu(Model::E36313A);
    for _ in 0..25 {
        run(&mut p, "FOO");
    }
    assert_eq!(p.errors.len(), ERROR_QUEUE_CAPACITY);
    for _ in 0..ERROR_QUEUE_CAPACITY - 1 {
        assert_eq!(next_error(&mut p), "-113,\"Undefined header\"");
    }
    assert_eq!(next_error(&mut p), "-350,\"Queue overflow\"");
    assert_eq!(next_error(&mut p), "+0,\"No error\"");
}

#[test]
fn status_registers() {
    let mut p = psu(Model::E36313A);
    // PON: the instrument was just switched on; reading the register clears it.
    assert_eq!(run(&mut p, "*ESR?").as_deref(), Some("+128"));
    assert_eq!(run(&mut p, "*ESR?").as_deref(), Some("+0"));
    run(&mut p, "FOO");
    assert_eq!(run(&mut p, "*STB?").as_deref(), Some("+4"));
    run(&mut p, "*ESE 32");
    assert_eq!(run(&mut p, "*STB?").as_deref(), Some("+36"));
    assert_eq!(run(&mut p, "*ESR?").as_deref(), Some("+32"));
    assert_eq!(run(&mut p, "*ESR?").as_deref(), Some("+0"));
    run(&mut p, "VOLT 100");
    assert_eq!(run(&mut p, "*ESR?").as_deref(), Some("+16"));
    run(&mut p, "*CLS");
    assert_eq!(run(&mut p, "*STB?").as_deref(), Some("+0"));
    run(&mut p, "*OPC");
    assert_eq!(run(&mut p, "*ESR?;*OPC?").as_deref(), Some("+1;1"));
    assert_eq!(run(&mut p, "*ESE?").as_deref(), Some("+32"));
}

#[test]
fn selected_channel_is_the_default_target() {
    let mut p = psu(Model::E36312A);
    // After INST:SEL the path is INST:, so VOLT needs the leading colon.
    run(&mut p, "INST:SEL CH2;VOLT 12");
    assert_eq!(next_error(&mut p), "-113,\"Undefined header\"");
    run(&mut p, "INST:SEL CH2;:VOLT 12;CURR 0.5");
    assert_eq!(p.channels[1].voltage_set, 12.0);
    assert_eq!(p.channels[1].current_set, 0.5);
    assert_eq!(run(&mut p, "INST?").as_deref(), Some("CH2"));
    run(&mut p, "INST:NSEL 3");
    assert_eq!(run(&mut p, "INST:NSEL?").as_deref(), Some("3"));
    assert_eq!(run(&mut p, "VOLT? MAX").as_deref(), Some("+2.57500000E+01"));
    assert_eq!(
        run(&mut p, "APPL? CH2").as_deref(),
        Some("\"+1.20000000E+01,+5.00000000E-01\"")
    );
    run(&mut p, "APPL CH1,3.3,0.2");
    assert_eq!(
        run(&mut p, "APPL? CH1").as_deref(),
        Some("\"+3.30000000E+00,+2.00000000E-01\"")
    );
    // Either value out of range: nothing changes.
    run(&mut p, "APPL CH1,4,9");
    assert_eq!(p.channels[0].voltage_set, 3.3);
    assert_eq!(next_error(&mut p), "-222,\"Data out of range\"");
}

#[test]
fn constant_voltage_and_constant_current() {
    let mut p = psu(Model::E36313A);
    run(&mut p, "VOLT 5,(@2);CURR 1,(@2);OUTP ON,(@2)");
    assert_eq!(
        p.channels[1].operating_point(),
        (5.0, 0.5, Mode::ConstantVoltage)
    );
    p.channels[1].load_ohms = 2.0;
    assert_eq!(
        p.channels[1].operating_point(),
        (2.0, 1.0, Mode::ConstantCurrent)
    );
    p.channels[1].load_ohms = f64::INFINITY;
    assert_eq!(
        p.channels[1].operating_point(),
        (5.0, 0.0, Mode::ConstantVoltage)
    );
    p.channels[1].load_ohms = 0.0;
    assert_eq!(
        p.channels[1].operating_point(),
        (0.0, 1.0, Mode::ConstantCurrent)
    );
    run(&mut p, "OUTP OFF,(@2)");
    assert_eq!(
        run(&mut p, "MEAS:VOLT? (@2);:MEAS:CURR? (@2)").as_deref(),
        Some("+0.00000000E+00;+0.00000000E+00")
    );
}

#[test]
fn ocp_trips_after_its_delay() {
    let mut p = psu(Model::E36313A);
    let t0 = Instant::now();
    p.execute_line(
        "VOLT 5,(@1);CURR 0.1,(@1);CURR:PROT:DEL 0.5,(@1);STAT ON,(@1);:OUTP ON,(@1)",
        t0,
    );
    assert_eq!(
        p.execute_line("OUTP? (@1)", t0 + Duration::from_millis(400))
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        p.execute_line(
            "OUTP? (@1);CURR:PROT:TRIP? (@1)",
            t0 + Duration::from_millis(500)
        )
        .as_deref(),
        Some("0;1")
    );
    assert_eq!(
        p.execute_line("CURR:PROT:DEL? (@1)", t0).as_deref(),
        Some("+5.00000000E-01")
    );
    assert_eq!(next_error(&mut p), "+0,\"No error\"");
}

#[test]
fn negative_output_of_the_e36311a() {
    let mut p = psu(Model::E36311A);
    run(&mut p, "VOLT -5,(@3);CURR 1,(@3);OUTP ON,(@3)");
    assert_eq!(
        p.channels[2].operating_point(),
        (-5.0, -0.5, Mode::ConstantVoltage)
    );
    run(&mut p, "VOLT -25.75,(@3)");
    assert_eq!(p.channels[2].voltage_set, -25.75);
    run(&mut p, "VOLT 5,(@3)");
    assert_eq!(next_error(&mut p), "-222,\"Data out of range\"");
    run(&mut p, "VOLT -25.8,(@3)");
    assert_eq!(next_error(&mut p), "-222,\"Data out of range\"");
    assert_eq!(p.channels[2].voltage_set, -25.75);
    assert_eq!(
        run(&mut p, "VOLT? MAX,(@2,3)").as_deref(),
        Some("+2.57500000E+01,-2.57500000E+01")
    );
    assert_eq!(next_error(&mut p), "+0,\"No error\"");
}

#[test]
fn the_regulation_register_follows_the_load() {
    let mut p = psu(Model::E36313A);
    let isum = |p: &mut Instrument| {
        run(
            p,
            "STAT:QUES:INST:ISUM1:COND?;:STATus:QUEStionable:INSTrument:ISUMmary2:CONDition?;\
             :stat:ques:inst:isum3:cond?",
        )
        .unwrap()
    };
    assert_eq!(isum(&mut p), "+0;+0;+0", "all off");
    run(&mut p, "VOLT 5,(@1:3);CURR 1,(@1:3);OUTP ON,(@1,2)");
    p.channels[1].load_ohms = 2.0;
    assert_eq!(isum(&mut p), "+2;+1;+0", "CV, CC (2 ohm at 1 A), off");
    // A source above the setpoint: neither bit holds, so both are set.
    p.channels[0].external_volts = Some(6.2);
    assert_eq!(isum(&mut p), "+3;+1;+0");
    // Above the OVP level (6.6 V on the 6 V output), the protection trips.
    p.channels[0].external_volts = Some(8.0);
    assert_eq!(isum(&mut p), "+0;+1;+0");
    assert!(p.channels[0].ovp_tripped);
    p.channels[0].external_volts = Some(3.0);
    run(&mut p, "OUTP:PROT:CLE (@1);:OUTP ON,(@1)");
    assert_eq!(
        run(
            &mut p,
            "STAT:QUES:INST:ISUM1:COND?;:MEAS:VOLT? (@1);CURR? (@1)"
        )
        .as_deref(),
        Some("+1;+3.00000000E+00;+1.00000000E+00"),
        "pushing the limit into a lower source is CC"
    );
    // No suffix is 1; a suffix past the outputs is -114 and ends the line.
    assert_eq!(
        run(&mut p, "STAT:QUES:INST:ISUM:COND?").as_deref(),
        Some("+1")
    );
    assert_eq!(run(&mut p, "STAT:QUES:INST:ISUM4:COND?;*OPC?"), None);
    assert_eq!(next_error(&mut p), "-114,\"Header suffix out of range\"");
    assert_eq!(run(&mut p, "STAT:QUES:INST:ISUM1:COND? 1"), None);
    assert_eq!(next_error(&mut p), "-108,\"Parameter not allowed\"");
    assert_eq!(run(&mut p, "STAT:QUES1:INST:ISUM1:COND?"), None);
    assert_eq!(next_error(&mut p), "-113,\"Undefined header\"");
}
