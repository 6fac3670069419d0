//! Temperature units: the controller reads in each input's display unit; the daemon
//! reports in kelvin or degrees Celsius.

use std::fmt;
use std::str::FromStr;

/// A display unit of the controller (`INPut x:UNITs K|C|F|S`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TempUnit {
    Kelvin,
    Celsius,
    Fahrenheit,
    /// The sensor's own unit (volts or ohms): not a temperature, never converted.
    Sensor,
}

const ZERO_CELSIUS_K: f64 = 273.15;

impl TempUnit {
    /// The letter the controller uses.
    pub fn letter(self) -> &'static str {
        match self {
            TempUnit::Kelvin => "K",
            TempUnit::Celsius => "C",
            TempUnit::Fahrenheit => "F",
            TempUnit::Sensor => "S",
        }
    }

    /// The unit named by a `UNITs?` reply or a value suffix; `None` for anything else.
    pub fn from_letter(text: &str) -> Option<TempUnit> {
        match text.trim() {
            "K" | "k" => Some(TempUnit::Kelvin),
            "C" | "c" => Some(TempUnit::Celsius),
            "F" | "f" => Some(TempUnit::Fahrenheit),
            "S" | "s" => Some(TempUnit::Sensor),
            _ => None,
        }
    }

    pub fn is_temperature(self) -> bool {
        self != TempUnit::Sensor
    }

    /// `value` in this unit as kelvin; `None` for sensor units.
    pub fn to_kelvin(self, value: f64) -> Option<f64> {
        match self {
            TempUnit::Kelvin => Some(value),
            TempUnit::Celsius => Some(value + ZERO_CELSIUS_K),
            TempUnit::Fahrenheit => Some((value - 32.0) / 1.8 + ZERO_CELSIUS_K),
            TempUnit::Sensor => None,
        }
    }

    /// Kelvin as this unit; `None` for sensor units.
    pub fn from_kelvin(self, kelvin: f64) -> Option<f64> {
        match self {
            TempUnit::Kelvin => Some(kelvin),
            TempUnit::Celsius => Some(kelvin - ZERO_CELSIUS_K),
            TempUnit::Fahrenheit => Some((kelvin - ZERO_CELSIUS_K) * 1.8 + 32.0),
            TempUnit::Sensor => None,
        }
    }

    /// Size of one degree of this unit in kelvin (for rates and bands).
    fn degree_kelvin(self) -> Option<f64> {
        match self {
            TempUnit::Kelvin | TempUnit::Celsius => Some(1.0),
            TempUnit::Fahrenheit => Some(1.0 / 1.8),
            TempUnit::Sensor => None,
        }
    }
}

impl fmt::Display for TempUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.letter())
    }
}

/// A temperature from one unit to another; `None` when either is a sensor unit (a
/// sensor reading to itself is returned as is).
pub fn convert(value: f64, from: TempUnit, to: TempUnit) -> Option<f64> {
    if from == to {
        return Some(value);
    }
    to.from_kelvin(from.to_kelvin(value)?)
}

/// A temperature difference or rate (per minute, per second, ...) between units.
pub fn convert_difference(delta: f64, from: TempUnit, to: TempUnit) -> Option<f64> {
    if from == to {
        return Some(delta);
    }
    Some(delta * from.degree_kelvin()? / to.degree_kelvin()?)
}

/// The unit a daemon reports temperatures in (`--unit k|c`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReportUnit {
    #[default]
    Kelvin,
    Celsius,
}

impl ReportUnit {
    pub fn temp_unit(self) -> TempUnit {
        match self {
            ReportUnit::Kelvin => TempUnit::Kelvin,
            ReportUnit::Celsius => TempUnit::Celsius,
        }
    }

    /// The `unit` status value: `K` or `C`.
    pub fn name(self) -> &'static str {
        self.temp_unit().letter()
    }
}

impl FromStr for ReportUnit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "k" | "kelvin" => Ok(ReportUnit::Kelvin),
            "c" | "celsius" => Ok(ReportUnit::Celsius),
            _ => Err(format!("unknown unit {s:?}: expected k or c")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-9;
        assert!(close(
            convert(-100.0, TempUnit::Celsius, TempUnit::Kelvin),
            173.15
        ));
        assert!(close(
            convert(32.0, TempUnit::Fahrenheit, TempUnit::Celsius),
            0.0
        ));
        assert!(close(
            convert(77.0, TempUnit::Kelvin, TempUnit::Fahrenheit),
            -321.07
        ));
        assert_eq!(convert(1.2, TempUnit::Sensor, TempUnit::Kelvin), None);
        assert_eq!(convert(1.2, TempUnit::Kelvin, TempUnit::Sensor), None);
        assert_eq!(convert(1.2, TempUnit::Sensor, TempUnit::Sensor), Some(1.2));
        assert!(close(
            convert_difference(9.0, TempUnit::Fahrenheit, TempUnit::Kelvin),
            5.0
        ));
        assert!(close(
            convert_difference(5.0, TempUnit::Celsius, TempUnit::Kelvin),
            5.0
        ));
        assert_eq!("C".parse::<ReportUnit>(), Ok(ReportUnit::Celsius));
        assert!("f".parse::<ReportUnit>().is_err());
    }
}
