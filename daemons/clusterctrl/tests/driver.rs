//! The drivers against the register-level simulator: every command on every board type
//! (and the refusals of what a board lacks, with nothing written), STATUS codes as
//! errors, busy boards waited out and stuck ones given up on, orders and the factory-order
//! rule, the HAT's first configuration, and EEPROM saves across a simulator restart.

use labwire_clusterctrl::board::BoardType;
use labwire_clusterctrl::bus::{BusError, I2cBus, SimBus};
use labwire_clusterctrl::cli::check_orders;
use labwire_clusterctrl::cluster::{BoardRef, Cluster, HubState, PiRef, Slot};
use labwire_clusterctrl::ctrl::{cmd, Ctrl, CtrlError, BUSY_LIMIT};
use labwire_clusterctrl::hat::Hat;
use labwire_protocol::ErrorCode;
use labwire_sim::clusterctrl::{BoardKind, HatVersion, SimBoard, SimHat};
use labwire_testkit::TempDir;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The simulator's bus, keeping every write transfer it carried.
struct Recording {
    inner: SimBus,
    writes: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl I2cBus for Recording {
    fn write(&mut self, address: u8, bytes: &[u8]) -> Result<(), BusError> {
        self.writes.lock().unwrap().push(bytes.to_vec());
        self.inner.write(address, bytes)
    }
    fn read(&mut self, address: u8, buffer: &mut [u8]) -> Result<(), BusError> {
        self.inner.read(address, buffer)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

type Writes = Arc<Mutex<Vec<Vec<u8>>>>;

fn connected(kind: BoardKind) -> (SimBoard, Ctrl, Writes) {
    let board = SimBoard::new(kind, None);
    let writes = Writes::default();
    let bus = Recording {
        inner: SimBus::new(board.clone(), kind.name()),
        writes: writes.clone(),
    };
    let mut ctrl = Ctrl::new(Box::new(bus));
    ctrl.connect().expect("the simulated board answers");
    (board, ctrl, writes)
}

/// Writes that set something (a lone register byte only moves the pointer).
fn settings(writes: &Writes) -> Vec<Vec<u8>> {
    writes
        .lock()
        .unwrap()
        .iter()
        .filter(|write| write.len() > 1)
        .cloned()
        .collect()
}

#[test]
fn every_board_identifies_itself() {
    for kind in BoardKind::ALL {
        let (_board, ctrl, _) = connected(kind);
        let identity = ctrl.identity().unwrap();
        assert_eq!(identity.board.name(), kind.name());
        assert_eq!(identity.max_pi, kind.max_pi());
        assert_eq!(identity.order, 20);
        assert_eq!(identity.firmware, (1, 4));
        assert_eq!(usize::from(identity.adcs), kind.adc_types().len());
    }
}

#[test]
fn power_on_off_and_read_back_on_every_board() {
    for kind in BoardKind::ALL {
        let (board, mut ctrl, _) = connected(kind);
        for pi in 1..=kind.max_pi() {
            ctrl.set_power(pi, true).unwrap();
            assert!(
                board.snapshot().power[usize::from(pi - 1)],
                "{kind:?} pi {pi}"
            );
            assert!(ctrl.power(pi).unwrap());
        }
        ctrl.set_power(1, false).unwrap();
        assert!(!board.snapshot().power[0]);
        assert!(!ctrl.power(1).unwrap());
        ctrl.set_alert(true).unwrap();
        assert!(board.snapshot().alert);
        ctrl.set_alert(false).unwrap();
        assert!(!board.snapshot().alert);
    }
}

#[test]
fn leds_fans_usbboot_and_hubs_where_a_board_has_them() {
    for kind in BoardKind::ALL {
        let (board, mut ctrl, _) = connected(kind);
        let type_ = ctrl.identity().unwrap().board;
        ctrl.set_led(None, false).unwrap();
        let off = board.snapshot();
        assert!(!off.pwr_led && off.led.iter().all(|on| !on), "{kind:?}");
        ctrl.set_led(None, true).unwrap();
        let on = board.snapshot();
        assert!(on.pwr_led, "{kind:?}");
        assert!(
            on.power.iter().all(|on| !on),
            "{kind:?}: all LEDs on powered a Pi"
        );
        ctrl.set_power(1, true).unwrap();
        ctrl.set_led(Some(1), false).unwrap();
        assert!(!board.snapshot().led[0], "{kind:?}");
        ctrl.set_led(Some(1), true).unwrap();
        assert!(board.snapshot().led[0], "{kind:?}");

        if type_.has_fan() {
            ctrl.set_fan(true).unwrap();
            assert!(board.snapshot().fan);
            if type_.has_fan_status() {
                assert_eq!(ctrl.fan_status().unwrap(), Some((true, true)));
            }
            ctrl.set_fan(false).unwrap();
            assert!(!board.snapshot().fan);
        } else {
            assert!(matches!(ctrl.set_fan(true), Err(CtrlError::Lacks(_))));
        }
        if type_.has_usbboot() {
            ctrl.set_usbboot(1, false).unwrap();
            assert_eq!(ctrl.usbboot(1).unwrap(), Some(false));
            assert!(!board.snapshot().usbboot[0]);
            ctrl.set_usbboot(1, true).unwrap();
            assert_eq!(ctrl.usbboot(1).unwrap(), Some(true));
        } else {
            assert_eq!(ctrl.usbboot(1).unwrap(), None);
            assert!(matches!(
                ctrl.set_usbboot(1, true),
                Err(CtrlError::Lacks(_))
            ));
        }
        if type_.has_hub() {
            let before = board.snapshot().hub_cycles;
            ctrl.cycle_hub().unwrap();
            assert_eq!(board.snapshot().hub_cycles, before + 1);
            assert!(
                board.snapshot().hub,
                "the hub is back on when the command is done"
            );
        } else {
            assert!(matches!(ctrl.cycle_hub(), Err(CtrlError::Lacks(_))));
        }
    }
}

#[test]
fn readings_orders_saves_and_reset_on_every_board() {
    for kind in BoardKind::ALL {
        let (board, mut ctrl, _) = connected(kind);
        let temperature = ctrl
            .temperature()
            .unwrap()
            .expect("every AVR has its sensor");
        assert!((temperature - 31.5).abs() < 1.0, "{kind:?}: {temperature}");
        for n in 1..=ctrl.identity().unwrap().adcs {
            assert!(ctrl.adc_voltage(n).unwrap().is_some(), "{kind:?} ADC {n}");
        }
        ctrl.set_order(5).unwrap();
        assert_eq!(ctrl.read_order().unwrap(), 5);
        assert_eq!(
            board.saved_order(),
            20,
            "{kind:?}: SET_ORDER alone saves nothing"
        );
        ctrl.save(cmd::SAVEORDER).unwrap();
        assert_eq!(board.saved_order(), 5);
        ctrl.set_power(1, true).unwrap();
        ctrl.save(cmd::SAVEPOS).unwrap();
        assert!(board.saved_power()[0], "{kind:?}");
        ctrl.save(cmd::SAVELED).unwrap();
        ctrl.save(cmd::SAVE).unwrap();
        ctrl.save(cmd::SAVEDEFAULTS).unwrap();
        assert_eq!(board.saved_order(), 20);
        assert!(!board.saved_power()[0]);
        ctrl.reset().unwrap();
        assert_eq!(board.snapshot().resets, 1);
        assert_eq!(
            ctrl.identity().unwrap().order,
            20,
            "{kind:?}: rebooted from defaults"
        );
    }
}

#[test]
fn what_a_board_lacks_is_refused_before_anything_is_written() {
    let (board, mut ctrl, writes) = connected(BoardKind::Phat);
    writes.lock().unwrap().clear();
    let before = board.snapshot();
    assert!(matches!(
        ctrl.set_usbboot(1, true),
        Err(CtrlError::Lacks(_))
    ));
    assert!(matches!(ctrl.set_fan(true), Err(CtrlError::Lacks(_))));
    assert!(matches!(
        ctrl.save(cmd::SAVEUSBBOOT),
        Err(CtrlError::Lacks(_))
    ));
    assert!(matches!(ctrl.set_power(3, true), Err(CtrlError::Lacks(_))));
    assert!(matches!(
        ctrl.set_led(Some(0), true),
        Err(CtrlError::Lacks(_))
    ));
    assert!(matches!(ctrl.adc_voltage(1), Err(CtrlError::Lacks(_))));
    assert_eq!(settings(&writes), Vec::<Vec<u8>>::new());
    assert_eq!(board.snapshot(), before);

    let (_stack, mut stack, writes) = connected(BoardKind::Stack);
    writes.lock().unwrap().clear();
    assert!(matches!(stack.cycle_hub(), Err(CtrlError::Lacks(_))));
    assert!(matches!(
        stack.set_usbboot(2, true),
        Err(CtrlError::Lacks(_))
    ));
    assert_eq!(settings(&writes), Vec::<Vec<u8>>::new());
}

#[test]
fn status_codes_become_errors() {
    let (_board, mut ctrl, _) = connected(BoardKind::Triple);
    let status = |result: Result<[u8; 8], CtrlError>| match result {
        Err(CtrlError::Status { status, .. }) => status,
        other => panic!("expected a STATUS error, got {other:?}"),
    };
    assert_eq!(status(ctrl.command(cmd::SET_ORDER, &[0])), 1);
    assert_eq!(status(ctrl.command(cmd::GET_PSTATUS, &[9])), 2);
    assert_eq!(
        status(ctrl.command(0x90, &[])),
        3,
        "PING is not implemented"
    );
    assert_eq!(status(ctrl.command(cmd::GET_DATA, &[9])), 1);
    let message = CtrlError::Status {
        command: 0x90,
        status: 3,
    }
    .to_string();
    assert!(message.contains("unknown command"), "{message}");
    // A bad Pi on ON is a silent no-op: STATUS 0.
    ctrl.command(cmd::ON, &[9]).unwrap();
}

#[test]
fn temperature_and_adc_voltages_by_adc_type() {
    let (_board, mut ctrl, _) = connected(BoardKind::Stack);
    let temperature = ctrl.temperature().unwrap().unwrap();
    assert!((temperature - 31.5).abs() < 1.0, "{temperature}");
    let five = ctrl.adc_voltage(1).unwrap().unwrap();
    let vin = ctrl.adc_voltage(2).unwrap().unwrap();
    assert!((five - 5.1).abs() < 0.01, "type 1: {five}");
    assert!((vin - 12.0).abs() < 0.04, "type 2 (VIN): {vin}");
}

#[test]
fn a_busy_board_is_waited_for_and_a_stuck_one_given_up_on() {
    let (board, mut ctrl, _) = connected(BoardKind::Triple);
    // HUB_CYCLE keeps the board busy 100 ms; start one behind the driver's back.
    let mut raw = SimBus::new(board.clone(), "triple");
    raw.write(0x20, &[0x0C, 10]).unwrap();
    raw.write(0x20, &[0x0D, cmd::HUB_CYCLE]).unwrap();
    assert_eq!(
        raw.write(0x20, &[0x0D]),
        Err(BusError::Nak),
        "busy NAKs writes"
    );
    ctrl.set_power(2, true).expect("waited out the busy board");
    assert!(board.snapshot().power[1]);
    assert_eq!(ctrl.i2c_errors, 0, "busy NAKs waited out are no errors");

    board.set_stuck_busy(true);
    raw.write(0x20, &[0x0D, cmd::ALERT_ON]).unwrap();
    let started = Instant::now();
    assert!(matches!(
        ctrl.set_power(1, true),
        Err(CtrlError::Busy { .. })
    ));
    let waited = started.elapsed();
    assert!(
        waited >= BUSY_LIMIT && waited < BUSY_LIMIT * 2,
        "{waited:?}"
    );
    assert!(!board.snapshot().power[0]);
}

#[test]
fn a_vanished_or_naking_board_is_a_bus_error() {
    let (board, mut ctrl, _) = connected(BoardKind::APlus6);
    board.set_plugged(false);
    assert!(matches!(
        ctrl.power(1),
        Err(CtrlError::Bus(BusError::Gone(_)))
    ));
    board.set_plugged(true);
    ctrl.connect().unwrap();
    // A NAK cannot be told from a busy board: waited out, then given up on.
    board.set_naks(true);
    assert!(matches!(ctrl.connect(), Err(CtrlError::Busy { .. })));
    board.set_naks(false);
    ctrl.connect().unwrap();
    assert!(ctrl.i2c_errors >= 2);
}

#[test]
fn eeprom_saves_survive_a_simulator_restart() {
    let dir = TempDir::new("clusterctrl-eeprom");
    let file = dir.path().join("triple.eeprom");
    let board = SimBoard::new(BoardKind::Triple, Some(file.clone()));
    let mut ctrl = Ctrl::new(Box::new(SimBus::new(board.clone(), "triple")));
    ctrl.connect().unwrap();
    ctrl.set_power(2, true).unwrap();
    ctrl.set_usbboot(3, false).unwrap();
    ctrl.set_order(7).unwrap();
    ctrl.save(cmd::SAVE).unwrap();
    ctrl.set_power(1, true).unwrap(); // not saved
    drop((ctrl, board));

    let again = SimBoard::new(BoardKind::Triple, Some(file.clone()));
    let snapshot = again.snapshot();
    assert_eq!(
        snapshot.power,
        vec![false, true, false],
        "the Triple restores at once"
    );
    assert_eq!(snapshot.usbboot, vec![true, true, false]);
    let mut ctrl = Ctrl::new(Box::new(SimBus::new(again.clone(), "triple")));
    assert_eq!(ctrl.connect().unwrap().order, 7);

    ctrl.save(cmd::SAVEDEFAULTS).unwrap();
    drop((ctrl, again));
    let factory = SimBoard::new(BoardKind::Triple, Some(file));
    assert_eq!(factory.saved_order(), 20);
    assert_eq!(factory.snapshot().power, vec![false; 3]);
}

#[test]
fn reset_reboots_from_the_eeprom() {
    let (board, mut ctrl, _) = connected(BoardKind::Single);
    ctrl.set_power(1, true).unwrap();
    ctrl.reset().unwrap();
    assert_eq!(board.snapshot().resets, 1);
    assert!(!board.snapshot().power[0], "power was never saved");
    assert!(
        ctrl.identity().is_some(),
        "identified again after the reset"
    );
}

fn cluster(hat: Option<SimHat>, boards: &[SimBoard], keep_order: bool) -> Cluster {
    let hat = hat.map(|hat| {
        let version = hat.version();
        Hat::new(Box::new(SimBus::new(hat, "hat")), version)
    });
    let ctrls = boards
        .iter()
        .map(|board| Ctrl::new(Box::new(SimBus::new(board.clone(), board.kind().name()))))
        .collect();
    Cluster::new(hat, ctrls, keep_order, Duration::from_millis(40))
}

#[test]
fn factory_order_boards_get_free_orders_saved_unless_kept() {
    let stack = SimBoard::new(BoardKind::Stack, None);
    let triple = SimBoard::new(BoardKind::Triple, None);
    let single = SimBoard::new(BoardKind::Single, None);
    single.set_order(1);
    let mut both = cluster(
        None,
        &[stack.clone(), triple.clone(), single.clone()],
        false,
    );
    let changed = both.connect().unwrap();
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert_eq!((stack.saved_order(), triple.saved_order()), (2, 3));
    assert_eq!(single.snapshot().order, 1);
    assert_eq!(
        both.board_types(),
        [BoardType::Single, BoardType::Stack, BoardType::Triple],
        "sorted by order"
    );

    let fresh = SimBoard::new(BoardKind::Phat, None);
    let mut kept = cluster(None, std::slice::from_ref(&fresh), true);
    assert!(kept.connect().unwrap().is_empty());
    assert_eq!(fresh.snapshot().order, 20);
}

#[test]
fn two_boards_with_one_order_are_refused() {
    let a = SimBoard::new(BoardKind::Stack, None);
    let b = SimBoard::new(BoardKind::Triple, None);
    a.set_order(5);
    b.set_order(5);
    let mut buses: Vec<Box<dyn I2cBus>> = vec![
        Box::new(SimBus::new(a.clone(), "stack")),
        Box::new(SimBus::new(b.clone(), "triple")),
    ];
    let message = check_orders(&mut buses, false).unwrap_err();
    assert!(message.contains("both have order 5"), "{message}");
    let err = cluster(None, &[a.clone(), b.clone()], false)
        .connect()
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::DeviceError);

    // Two factory boards are no conflict: each gets its own order...
    let c = SimBoard::new(BoardKind::Stack, None);
    let d = SimBoard::new(BoardKind::Stack, None);
    let mut factory: Vec<Box<dyn I2cBus>> = vec![
        Box::new(SimBus::new(c.clone(), "stack")),
        Box::new(SimBus::new(d.clone(), "stack")),
    ];
    check_orders(&mut factory, false).unwrap();
    // ...unless they are to keep it.
    assert!(check_orders(&mut factory, true).is_err());
}

#[test]
fn pis_are_numbered_hat_first_then_boards_in_order() {
    let hat = SimHat::new(HatVersion::from_name("hat-v3").unwrap());
    let stack = SimBoard::new(BoardKind::Stack, None);
    let triple = SimBoard::new(BoardKind::Triple, None);
    stack.set_order(9);
    triple.set_order(4);
    let mut cluster = cluster(Some(hat.clone()), &[stack.clone(), triple.clone()], false);
    cluster.connect().unwrap();
    assert_eq!(cluster.slots().len(), 4 + 3 + 5);
    let resolve = |cluster: &Cluster, text: &str| cluster.resolve(PiRef::parse(text).unwrap());
    assert_eq!(resolve(&cluster, "2"), Ok(Slot::Hat(2)));
    assert_eq!(
        resolve(&cluster, "5"),
        Ok(Slot::Board(0, 1)),
        "the Triple (order 4)"
    );
    assert_eq!(
        resolve(&cluster, "8"),
        Ok(Slot::Board(1, 1)),
        "the Stack (order 9)"
    );
    assert_eq!(resolve(&cluster, "9.5"), Ok(Slot::Board(1, 5)));
    assert_eq!(resolve(&cluster, "hat.4"), Ok(Slot::Hat(4)));
    assert_eq!(
        resolve(&cluster, "13").unwrap_err().code,
        ErrorCode::OutOfRange
    );
    assert_eq!(
        resolve(&cluster, "4.4").unwrap_err().code,
        ErrorCode::OutOfRange
    );
    assert_eq!(
        resolve(&cluster, "5.1").unwrap_err().code,
        ErrorCode::BadArgument
    );

    cluster
        .power(resolve(&cluster, "8").unwrap(), true)
        .unwrap();
    assert!(stack.snapshot().power[0]);
    cluster
        .power(resolve(&cluster, "hat.3").unwrap(), true)
        .unwrap();
    assert!(hat.snapshot().power[2]);
}

#[test]
fn power_all_one_pi_a_delay_apart_and_refused_when_too_long() {
    let hat = SimHat::new(HatVersion::from_name("hat-v2.0").unwrap());
    let phat = SimBoard::new(BoardKind::Phat, None);
    let mut cluster = cluster(Some(hat.clone()), std::slice::from_ref(&phat), false);
    cluster.connect().unwrap();
    cluster.power(Slot::Hat(2), true).unwrap();
    let started = Instant::now();
    assert_eq!(cluster.power_all(true).unwrap(), 5, "the Pis that were off");
    assert!(started.elapsed() >= Duration::from_millis(4 * 40));
    assert_eq!(hat.snapshot().power, [true; 4]);
    assert_eq!(phat.snapshot().power, vec![true, true]);
    assert!(
        !hat.snapshot().alert && !phat.snapshot().alert,
        "ALERT off when done"
    );
    assert_eq!(cluster.power_all(false).unwrap(), 6);
    assert_eq!(hat.snapshot().power, [false; 4]);

    let slow_hat = SimHat::new(HatVersion::from_name("hat-v3").unwrap());
    let mut slow = Cluster::new(
        Some(Hat::new(
            Box::new(SimBus::new(slow_hat.clone(), "hat")),
            slow_hat.version(),
        )),
        Vec::new(),
        false,
        Duration::from_secs(4),
    );
    slow.connect().unwrap();
    assert_eq!(
        slow.power_all(true).unwrap_err().code,
        ErrorCode::OutOfRange
    );
    assert_eq!(slow_hat.snapshot().power, [false; 4], "nothing switched");
}

#[test]
fn cluster_commands_and_their_refusals() {
    let hat = SimHat::new(HatVersion::from_name("hat-v2.5").unwrap());
    let aplus = SimBoard::new(BoardKind::APlus6, None);
    let triple = SimBoard::new(BoardKind::Triple, None);
    let mut cluster = cluster(Some(hat.clone()), &[aplus.clone(), triple.clone()], false);
    cluster.connect().unwrap();
    let (aplus_order, triple_order) = (aplus.snapshot().order, triple.snapshot().order);

    cluster.alert(None, true).unwrap();
    assert!(hat.snapshot().alert && aplus.snapshot().alert && triple.snapshot().alert);
    cluster
        .alert(Some(BoardRef::Order(triple_order)), false)
        .unwrap();
    assert!(!triple.snapshot().alert && aplus.snapshot().alert);
    assert_eq!(
        cluster.fan(None, true).unwrap(),
        1,
        "the A+6 alone has a fan"
    );
    assert!(aplus.snapshot().fan);
    let refused = cluster.fan(Some(BoardRef::Order(triple_order)), true);
    assert_eq!(refused.unwrap_err().code, ErrorCode::BadArgument);

    cluster.hub(Some(BoardRef::Hat), HubState::Off).unwrap();
    assert!(!hat.snapshot().hub);
    cluster.hub(None, HubState::On).unwrap();
    assert!(hat.snapshot().hub);
    let on_ctrl = cluster.hub(Some(BoardRef::Order(aplus_order)), HubState::On);
    assert_eq!(on_ctrl.unwrap_err().code, ErrorCode::BadArgument);
    cluster.hub(None, HubState::Reset).unwrap();
    assert_eq!(aplus.snapshot().hub_cycles, 1);
    assert_eq!(triple.snapshot().hub_cycles, 1);
    assert!(hat.snapshot().hub);

    cluster.led(None, false).unwrap();
    assert!(!hat.snapshot().led && !aplus.snapshot().pwr_led);
    assert_eq!(
        cluster.led(Some(Slot::Hat(1)), true).unwrap_err().code,
        ErrorCode::BadArgument
    );
    assert_eq!(
        cluster.usbboot(Slot::Board(0, 1), true).unwrap_err().code,
        ErrorCode::BadArgument,
        "the A+6 has no usbboot"
    );
    cluster.usbboot(Slot::Board(1, 2), false).unwrap();
    assert!(!triple.snapshot().usbboot[1]);

    assert_eq!(cluster.save(None, cmd::SAVEUSBBOOT).unwrap(), 1);
    assert_eq!(cluster.save(None, cmd::SAVE).unwrap(), 2);
    assert_eq!(
        cluster
            .save(Some(BoardRef::Hat), cmd::SAVE)
            .unwrap_err()
            .code,
        ErrorCode::BadArgument
    );
    assert_eq!(
        cluster
            .set_order(aplus_order, triple_order)
            .unwrap_err()
            .code,
        ErrorCode::BadArgument
    );
    cluster.set_order(aplus_order, 200).unwrap();
    assert_eq!(aplus.snapshot().order, 200);
    assert_eq!(
        aplus.saved_order(),
        aplus_order,
        "not saved until save what=order"
    );
    assert_eq!(cluster.resolve(PiRef::Number(5)), Ok(Slot::Board(0, 1)));
    assert_eq!(cluster.board_types()[0], BoardType::Triple, "sorted again");
}

#[test]
fn the_hat_is_configured_once_and_keeps_pis_that_are_on() {
    let hat = SimHat::new(HatVersion::from_name("hat-v3.1").unwrap()).without_pullup_register();
    hat.power_up_with_pos_link_cut(true);
    let mut driver = Hat::new(Box::new(SimBus::new(hat.clone(), "hat")), hat.version());
    driver.connect().unwrap();
    assert!(!driver.pullup_register);
    let snapshot = hat.snapshot();
    assert!(snapshot.configured && snapshot.hub && snapshot.write_protect);
    assert_eq!(snapshot.power, [true; 4], "Pis that were on stay on");
    driver.set_power(2, false).unwrap();
    // A restart finds the pins configured and changes nothing.
    let mut again = Hat::new(Box::new(SimBus::new(hat.clone(), "hat")), hat.version());
    again.connect().unwrap();
    assert_eq!(hat.snapshot().power, [true, false, true, true]);
    assert!(!again.set_led(true).unwrap(), "no LED switch on v3");

    let fresh = SimHat::new(HatVersion::from_name("hat-v2.0").unwrap());
    let mut v20 = Hat::new(Box::new(SimBus::new(fresh.clone(), "hat")), fresh.version());
    v20.connect().unwrap();
    assert!(v20.pullup_register);
    let state = v20.state().unwrap();
    assert_eq!(state.power, [false; 4]);
    assert!(state.hub && state.led == Some(true) && !state.alert);
}
