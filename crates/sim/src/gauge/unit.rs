//! The six display units of a TPG 36x (`UNI` codes 0-5) and what a reading looks like in
//! each: a pressure converted from mbar, or, in Volt mode, the gauge's signal voltage.

use std::fmt;

/// Display unit, with its `UNI` code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Unit {
    /// `UNI` 0 (the TPG calls it "mbar/bar").
    #[default]
    Mbar,
    /// `UNI` 1.
    Torr,
    /// `UNI` 2.
    Pa,
    /// `UNI` 3: mTorr.
    Micron,
    /// `UNI` 4: numerically the same as mbar.
    Hpa,
    /// `UNI` 5: the gauge's analog signal instead of a pressure.
    Volt,
}

impl Unit {
    pub const ALL: [Unit; 6] = [
        Unit::Mbar,
        Unit::Torr,
        Unit::Pa,
        Unit::Micron,
        Unit::Hpa,
        Unit::Volt,
    ];

    /// The `UNI` code.
    pub fn code(self) -> u8 {
        match self {
            Unit::Mbar => 0,
            Unit::Torr => 1,
            Unit::Pa => 2,
            Unit::Micron => 3,
            Unit::Hpa => 4,
            Unit::Volt => 5,
        }
    }

    /// The unit for a `UNI` code; `None` above 5.
    pub fn from_code(code: u8) -> Option<Unit> {
        Unit::ALL.get(usize::from(code)).copied()
    }

    /// What the controller shows for a true pressure of `mbar` in this unit.
    pub fn from_mbar(self, mbar: f64) -> f64 {
        match self {
            Unit::Mbar | Unit::Hpa => mbar,
            Unit::Torr => mbar * (760.0 / 1013.25),
            Unit::Pa => mbar * 100.0,
            Unit::Micron => mbar * (760.0e3 / 1013.25),
            Unit::Volt => signal_volts(mbar),
        }
    }
}

/// The signal of a Compact FullRange gauge (PKR 251/261 characteristic,
/// p = 10^((U - 6.8) / 0.6) mbar), clamped to its output range. The simulator uses it for
/// every gauge type: Volt mode only has to show a voltage that follows the pressure.
pub fn signal_volts(mbar: f64) -> f64 {
    (6.8 + 0.6 * mbar.log10()).clamp(0.0, 10.0)
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unit::Mbar => "mbar",
            Unit::Torr => "Torr",
            Unit::Pa => "Pa",
            Unit::Micron => "Micron",
            Unit::Hpa => "hPa",
            Unit::Volt => "V",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_stop_at_five() {
        for (code, unit) in Unit::ALL.iter().enumerate() {
            assert_eq!(unit.code() as usize, code);
            assert_eq!(Unit::from_code(code as u8), Some(*unit));
        }
        assert_eq!(Unit::from_code(6), None);
    }

    #[test]
    fn conversions() {
        assert_eq!(Unit::Pa.from_mbar(1.0), 100.0);
        assert_eq!(Unit::Hpa.from_mbar(2.5), 2.5);
        assert!((Unit::Torr.from_mbar(1013.25) - 760.0).abs() < 1e-9);
        assert!((Unit::Micron.from_mbar(1.0) - 750.061_68).abs() < 1e-3);
        assert!((Unit::Volt.from_mbar(1.0e-3) - 5.0).abs() < 1e-12);
        assert_eq!(Unit::Volt.from_mbar(1.0e-30), 0.0);
    }
}
