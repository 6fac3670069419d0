//! The control of the chamber, pure logic on an injected clock (`now` is a monotonic
//! [`Duration`] since any fixed moment), so tests run weeks in microseconds.
//!
//! Two layers:
//! - [`wish`]: on/off control with a hysteresis band around the setpoint. Heat when the
//!   beer is below `setpoint - band` until it reaches the setpoint; cool when above
//!   `setpoint + band` until it reaches the setpoint.
//! - [`Controller`]: the timing rules that protect the hardware, applied to any wish: a
//!   minimum time on for each relay, a minimum time off for the compressor, a dead time
//!   between heating and cooling in either direction. Its private `write` is the ONE
//!   function that switches relays; it takes a [`Drive`], which cannot say "both on",
//!   and it refuses to go from one relay to the other without passing through off.

use crate::relays::{Drive, Lines, RelayLines};
use labwire_daemon::Error;
use std::time::Duration;

/// The timing rules (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub min_cooler_off: Duration,
    pub min_cooler_on: Duration,
    pub min_heater_on: Duration,
    pub dead_time: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            min_cooler_off: Duration::from_secs(300),
            min_cooler_on: Duration::from_secs(120),
            min_heater_on: Duration::from_secs(60),
            dead_time: Duration::from_secs(600),
        }
    }
}

/// What the hysteresis asks for, given what is driven now. `None` for the beer
/// temperature or the setpoint means no control: off.
pub fn wish(current: Drive, beer: Option<f64>, setpoint: Option<f64>, band: f64) -> Drive {
    let (Some(beer), Some(setpoint)) = (beer, setpoint) else {
        return Drive::Off;
    };
    match current {
        Drive::Heat if beer < setpoint => Drive::Heat,
        Drive::Cool if beer > setpoint => Drive::Cool,
        _ if beer < setpoint - band => Drive::Heat,
        _ if beer > setpoint + band => Drive::Cool,
        _ => Drive::Off,
    }
}

/// The relays' history and the rules; owns the only path to [`RelayLines::write`].
#[derive(Clone, Debug)]
pub struct Controller {
    timing: Timing,
    drive: Drive,
    /// When `drive` became what it is.
    since: Duration,
    /// When the heater / the cooler last went off.
    heater_off_at: Duration,
    cooler_off_at: Duration,
}

impl Controller {
    /// Take over relays found in `found` at `now`. Nothing is known of their past, so
    /// a relay found off is treated as having just gone off (the compressor waits its
    /// minimum off time, the other relay its dead time), and one found on as having
    /// just come on. Both found on is no state of ours: the first drive switches them off.
    pub fn adopt(timing: Timing, found: Lines, now: Duration) -> Self {
        Controller {
            timing,
            drive: found.drive().unwrap_or(Drive::Off),
            since: now,
            heater_off_at: now,
            cooler_off_at: now,
        }
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// What is driven now.
    pub fn drive(&self) -> Drive {
        self.drive
    }

    /// What the timing rules let the relays go to from now, given the `wanted` drive.
    pub fn permitted(&self, now: Duration, wanted: Drive) -> Drive {
        if wanted == self.drive {
            return wanted;
        }
        let on_for = now.saturating_sub(self.since);
        let held = match self.drive {
            Drive::Heat => on_for < self.timing.min_heater_on,
            Drive::Cool => on_for < self.timing.min_cooler_on,
            Drive::Off => false,
        };
        if held {
            return self.drive;
        }
        let may_start = match wanted {
            Drive::Off => true,
            Drive::Heat => self.heater_wait(now).is_zero(),
            Drive::Cool => self.cooler_wait(now).is_zero(),
        };
        if may_start {
            wanted
        } else {
            Drive::Off
        }
    }

    /// How long until the compressor may start (zero while it runs).
    pub fn cooler_wait(&self, now: Duration) -> Duration {
        match self.drive {
            Drive::Cool => Duration::ZERO,
            Drive::Heat => {
                let heater_left = self
                    .timing
                    .min_heater_on
                    .saturating_sub(now.saturating_sub(self.since));
                (heater_left + self.timing.dead_time).max(self.left(
                    now,
                    self.cooler_off_at,
                    self.timing.min_cooler_off,
                ))
            }
            Drive::Off => self
                .left(now, self.cooler_off_at, self.timing.min_cooler_off)
                .max(self.left(now, self.heater_off_at, self.timing.dead_time)),
        }
    }

    /// How long until the heater may start, once nothing holds the cooler on.
    fn heater_wait(&self, now: Duration) -> Duration {
        match self.drive {
            Drive::Heat => Duration::ZERO,
            Drive::Cool => self.timing.dead_time,
            Drive::Off => self.left(now, self.cooler_off_at, self.timing.dead_time),
        }
    }

    fn left(&self, now: Duration, from: Duration, wait: Duration) -> Duration {
        wait.saturating_sub(now.saturating_sub(from))
    }

    /// Drive the relays toward `wanted` as far as the timing rules allow; answers what
    /// is driven afterwards.
    pub fn apply(
        &mut self,
        now: Duration,
        wanted: Drive,
        lines: &mut dyn RelayLines,
    ) -> Result<Drive, Error> {
        let permitted = self.permitted(now, wanted);
        self.write(now, permitted, lines)?;
        Ok(self.drive)
    }

    /// Both relays off now, whatever the minimum on times say: the probe is lost, the
    /// mode is off, a line misbehaves, or the daemon is stopping.
    pub fn switch_off(&mut self, now: Duration, lines: &mut dyn RelayLines) -> Result<(), Error> {
        self.write(now, Drive::Off, lines)
    }

    /// The one function that switches relays. From heating to cooling or back it goes
    /// through off and waits the dead time, whoever asked.
    fn write(&mut self, now: Duration, to: Drive, lines: &mut dyn RelayLines) -> Result<(), Error> {
        let to = match (self.drive, to) {
            (Drive::Heat, Drive::Cool) | (Drive::Cool, Drive::Heat) => Drive::Off,
            (Drive::Off, Drive::Cool) if !self.cooler_wait(now).is_zero() => Drive::Off,
            (Drive::Off, Drive::Heat) if !self.heater_wait(now).is_zero() => Drive::Off,
            _ => to,
        };
        // Written every time, not only on a change: a line someone else flipped is put back.
        lines.write(to)?;
        if to != self.drive {
            if self.drive == Drive::Heat {
                self.heater_off_at = now;
            }
            if self.drive == Drive::Cool {
                self.cooler_off_at = now;
            }
            self.drive = to;
            self.since = now;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines that remember every drive written, with its time.
    #[derive(Default)]
    struct Recorder {
        writes: Vec<Drive>,
    }

    impl RelayLines for Recorder {
        fn open(&mut self) -> Result<Lines, Error> {
            Ok(Drive::Off.lines())
        }
        fn read(&mut self) -> Result<Lines, Error> {
            Ok(self.writes.last().copied().unwrap_or(Drive::Off).lines())
        }
        fn write(&mut self, drive: Drive) -> Result<(), Error> {
            self.writes.push(drive);
            Ok(())
        }
        fn close(&mut self) {}
    }

    const MIN: Duration = Duration::from_secs(60);

    fn at(minutes: u64) -> Duration {
        MIN * minutes as u32
    }

    #[test]
    fn the_band_decides_heat_cool_and_rest() {
        let w = |current, beer| wish(current, Some(beer), Some(18.0), 0.5);
        assert_eq!(w(Drive::Off, 17.4), Drive::Heat);
        assert_eq!(w(Drive::Off, 17.6), Drive::Off, "inside the band");
        assert_eq!(
            w(Drive::Heat, 17.9),
            Drive::Heat,
            "heats up to the setpoint"
        );
        assert_eq!(w(Drive::Heat, 18.0), Drive::Off);
        assert_eq!(w(Drive::Off, 18.6), Drive::Cool);
        assert_eq!(
            w(Drive::Cool, 18.1),
            Drive::Cool,
            "cools down to the setpoint"
        );
        assert_eq!(w(Drive::Cool, 18.0), Drive::Off);
        assert_eq!(
            wish(Drive::Heat, None, Some(18.0), 0.5),
            Drive::Off,
            "no probe"
        );
        assert_eq!(
            wish(Drive::Cool, Some(25.0), None, 0.5),
            Drive::Off,
            "no setpoint"
        );
    }

    #[test]
    fn the_compressor_waits_its_minimum_off_time_and_runs_its_minimum_on_time() {
        let mut lines = Recorder::default();
        let mut c = Controller::adopt(Timing::default(), Drive::Off.lines(), at(0));
        assert_eq!(
            c.cooler_wait(at(0)),
            Timing::default().dead_time,
            "unknown past"
        );
        assert_eq!(c.apply(at(9), Drive::Cool, &mut lines).unwrap(), Drive::Off);
        assert_eq!(c.cooler_wait(at(9)), MIN);
        assert_eq!(
            c.apply(at(10), Drive::Cool, &mut lines).unwrap(),
            Drive::Cool
        );
        assert_eq!(
            c.apply(at(11), Drive::Off, &mut lines).unwrap(),
            Drive::Cool,
            "min on"
        );
        assert_eq!(c.apply(at(12), Drive::Off, &mut lines).unwrap(), Drive::Off);
        assert_eq!(c.cooler_wait(at(12)), at(5));
        assert_eq!(
            c.apply(at(16), Drive::Cool, &mut lines).unwrap(),
            Drive::Off
        );
        assert_eq!(
            c.apply(at(17), Drive::Cool, &mut lines).unwrap(),
            Drive::Cool
        );
        c.switch_off(at(17), &mut lines).unwrap();
        assert_eq!(
            c.drive(),
            Drive::Off,
            "a forced off ignores the minimum on time"
        );
    }

    #[test]
    fn heating_and_cooling_are_a_dead_time_apart() {
        let mut lines = Recorder::default();
        let mut c = Controller::adopt(Timing::default(), Drive::Heat.lines(), at(0));
        assert_eq!(c.drive(), Drive::Heat, "found heating: left heating");
        assert_eq!(c.apply(at(5), Drive::Cool, &mut lines).unwrap(), Drive::Off);
        assert_eq!(c.cooler_wait(at(5)), at(10));
        assert_eq!(
            c.apply(at(14), Drive::Cool, &mut lines).unwrap(),
            Drive::Off
        );
        assert_eq!(
            c.apply(at(15), Drive::Cool, &mut lines).unwrap(),
            Drive::Cool
        );
        assert_eq!(
            c.apply(at(20), Drive::Heat, &mut lines).unwrap(),
            Drive::Off
        );
        assert_eq!(
            c.apply(at(29), Drive::Heat, &mut lines).unwrap(),
            Drive::Off
        );
        assert_eq!(
            c.apply(at(30), Drive::Heat, &mut lines).unwrap(),
            Drive::Heat
        );
        assert!(lines.writes.windows(2).all(|w| !matches!(
            (w[0], w[1]),
            (Drive::Heat, Drive::Cool) | (Drive::Cool, Drive::Heat)
        )));
    }
}
