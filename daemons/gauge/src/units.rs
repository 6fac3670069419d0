//! The six display units of a TPG 36x (`UNI` codes 0-5). Five are pressures the daemon
//! converts to mbar; in Volt mode the controller shows its gauge's signal instead, which
//! is no pressure at all.

/// A display unit of the controller, with its `UNI` code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Mbar,
    Torr,
    Pa,
    /// mTorr.
    Micron,
    Hpa,
    /// The gauge's analog signal, in volts.
    Volt,
}

/// 1 Torr = 101325/760 Pa exactly.
const MBAR_PER_TORR: f64 = 1013.25 / 760.0;

impl Unit {
    /// The words `set_unit` takes, in `UNI` code order.
    pub const CHOICES: [(&'static str, Unit); 6] = [
        ("mbar", Unit::Mbar),
        ("torr", Unit::Torr),
        ("pa", Unit::Pa),
        ("micron", Unit::Micron),
        ("hpa", Unit::Hpa),
        ("volt", Unit::Volt),
    ];

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

    /// The unit of a `UNI` answer (`"4"`, surrounding blanks allowed).
    pub fn from_code(code: &str) -> Option<Unit> {
        let code: usize = code.trim().parse().ok()?;
        Unit::CHOICES.get(code).map(|(_, unit)| *unit)
    }

    /// The word reported in `unit` and taken by `set_unit`.
    pub fn name(self) -> &'static str {
        Unit::CHOICES[usize::from(self.code())].0
    }

    /// What a reading in this unit is multiplied by to give mbar; `None` in Volt mode,
    /// whose reading is a voltage.
    pub fn to_mbar(self) -> Option<f64> {
        match self {
            Unit::Mbar | Unit::Hpa => Some(1.0),
            Unit::Torr => Some(MBAR_PER_TORR),
            Unit::Pa => Some(0.01),
            Unit::Micron => Some(MBAR_PER_TORR * 1.0e-3),
            Unit::Volt => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_names_and_choices_agree() {
        for (code, (word, unit)) in Unit::CHOICES.iter().enumerate() {
            assert_eq!(usize::from(unit.code()), code);
            assert_eq!(unit.name(), *word);
            assert_eq!(Unit::from_code(&format!(" {code}\r")), Some(*unit));
        }
        for bad in ["6", "-1", "", "x", "1.0", "00x"] {
            assert_eq!(Unit::from_code(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn factors_to_mbar() {
        let mbar = |unit: Unit, value: f64| value * unit.to_mbar().unwrap();
        assert_eq!(mbar(Unit::Hpa, 2.5), 2.5);
        assert_eq!(mbar(Unit::Pa, 250.0), 2.5);
        assert!((mbar(Unit::Torr, 760.0) - 1013.25).abs() < 1e-9);
        assert!((mbar(Unit::Micron, 760.0e3) - 1013.25).abs() < 1e-9);
        assert_eq!(Unit::Volt.to_mbar(), None);
    }
}
