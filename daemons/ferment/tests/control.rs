//! The timing rules and the never-both-on guarantee under every order of requests:
//! proptest drives the controller with random sequences of wishes, forced offs, probe
//! readings and clock steps (weeks of simulated time in microseconds), and checks the
//! relays' whole history against the rules.

use labwire_daemon::Error;
use labwire_ferment::control::{wish, Controller, Timing};
use labwire_ferment::relays::{Drive, Lines, RelayLines};
use proptest::prelude::*;
use std::time::Duration;

/// Lines that record each write with the time the test says it is.
#[derive(Default)]
struct Recorder {
    now: Duration,
    writes: Vec<(Duration, Drive)>,
}

impl RelayLines for Recorder {
    fn open(&mut self) -> Result<Lines, Error> {
        Ok(Drive::Off.lines())
    }
    fn read(&mut self) -> Result<Lines, Error> {
        Ok(self.writes.last().map_or(Drive::Off, |w| w.1).lines())
    }
    fn write(&mut self, drive: Drive) -> Result<(), Error> {
        self.writes.push((self.now, drive));
        Ok(())
    }
    fn close(&mut self) {}
}

#[derive(Clone, Debug)]
enum Step {
    Want(Drive),
    ForceOff,
    /// The hysteresis with this beer temperature and setpoint (None: no probe).
    Control(Option<f64>, f64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        prop_oneof![Just(Drive::Off), Just(Drive::Heat), Just(Drive::Cool)].prop_map(Step::Want),
        Just(Step::ForceOff),
        (proptest::option::of(0.0..30.0f64), 5.0..25.0f64).prop_map(|(b, s)| Step::Control(b, s)),
    ]
}

fn found() -> impl Strategy<Value = Lines> {
    (any::<bool>(), any::<bool>()).prop_map(|(heater, cooler)| Lines { heater, cooler })
}

/// The relays' history (starting with what was found) must obey every rule.
fn check_history(timing: Timing, found: Drive, writes: &[(Duration, Drive)]) {
    // (time, drive) at each change, from the adoption at time 0.
    let mut changes = vec![(Duration::ZERO, found)];
    for &(at, drive) in writes {
        if drive != changes.last().unwrap().1 {
            changes.push((at, drive));
        }
    }
    let mut heater_off = Duration::ZERO;
    let mut cooler_off = Duration::ZERO;
    for pair in changes.windows(2) {
        let ((since, from), (at, to)) = (pair[0], pair[1]);
        assert!(
            !matches!(
                (from, to),
                (Drive::Heat, Drive::Cool) | (Drive::Cool, Drive::Heat)
            ),
            "{from:?} -> {to:?} at {at:?} without passing through off"
        );
        match from {
            Drive::Heat => heater_off = at,
            Drive::Cool => cooler_off = at,
            Drive::Off => {}
        }
        if to == Drive::Cool {
            assert!(
                at - cooler_off >= timing.min_cooler_off,
                "compressor short-cycled at {at:?}"
            );
            assert!(
                at - heater_off >= timing.dead_time,
                "cooling {at:?} too soon after heating"
            );
        }
        if to == Drive::Heat {
            assert!(
                at - cooler_off >= timing.dead_time,
                "heating {at:?} too soon after cooling"
            );
        }
        let _ = since;
    }
}

/// The same sequences, with the minimum on times: an off that was not forced comes no
/// sooner than the minimum on time.
fn check_min_on(timing: Timing, found: Drive, log: &[(Duration, Drive, bool)]) {
    let mut current = (Duration::ZERO, found);
    for &(at, drive, forced) in log {
        if drive != current.1 {
            let min_on = match current.1 {
                Drive::Heat => timing.min_heater_on,
                Drive::Cool => timing.min_cooler_on,
                Drive::Off => Duration::ZERO,
            };
            assert!(
                forced || at - current.0 >= min_on,
                "{:?} cut short at {at:?}",
                current.1
            );
            current = (at, drive);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_order_of_requests_breaks_the_rules(
        found in found(),
        steps in proptest::collection::vec((step(), 0u64..900), 1..200),
        band in 0.1..2.0f64,
    ) {
        let timing = Timing::default();
        let mut lines = Recorder::default();
        let mut controller = Controller::adopt(timing, found, Duration::ZERO);
        let start = controller.drive();
        let mut log = Vec::new();
        for (step, seconds) in steps {
            lines.now += Duration::from_secs(seconds);
            let now = lines.now;
            let forced = match step {
                Step::Want(drive) => { controller.apply(now, drive, &mut lines).unwrap(); false }
                Step::ForceOff => { controller.switch_off(now, &mut lines).unwrap(); true }
                Step::Control(beer, setpoint) => {
                    let wanted = wish(controller.drive(), beer, Some(setpoint), band);
                    if beer.is_none() {
                        controller.switch_off(now, &mut lines).unwrap();
                        true
                    } else {
                        controller.apply(now, wanted, &mut lines).unwrap();
                        false
                    }
                }
            };
            log.push((now, controller.drive(), forced));
            prop_assert!(controller.cooler_wait(now) <= timing.dead_time + timing.min_heater_on);
        }
        check_history(timing, start, &lines.writes);
        check_min_on(timing, start, &log);
    }
}

#[test]
fn the_checker_itself_catches_a_short_cycle() {
    // A history that breaks the compressor rule must fail the check (the test can fail).
    let timing = Timing::default();
    let bad = [
        (Duration::from_secs(700), Drive::Cool),
        (Duration::from_secs(900), Drive::Off),
        (Duration::from_secs(960), Drive::Cool),
    ];
    let caught = std::panic::catch_unwind(|| check_history(timing, Drive::Off, &bad));
    assert!(caught.is_err());
    let direct = [
        (Duration::from_secs(700), Drive::Heat),
        (Duration::from_secs(800), Drive::Cool),
    ];
    assert!(std::panic::catch_unwind(|| check_history(timing, Drive::Off, &direct)).is_err());
}

#[test]
fn found_both_on_the_first_drive_switches_both_off() {
    let mut lines = Recorder::default();
    let both = Lines {
        heater: true,
        cooler: true,
    };
    let mut controller = Controller::adopt(Timing::default(), both, Duration::ZERO);
    assert_eq!(
        controller.drive(),
        Drive::Off,
        "both on is no drive of ours"
    );
    controller
        .apply(Duration::ZERO, Drive::Heat, &mut lines)
        .unwrap();
    assert_eq!(lines.writes, vec![(Duration::ZERO, Drive::Off)]);
}
