//! The three models, their channel ratings, and how a simulator starts.

use std::fmt;
use std::str::FromStr;

/// One output's rating. `max_voltage` is negative for a negative output (CH3 of the
/// E36311A), whose settings then run from 0 down to `PROGRAMMABLE_MARGIN * max_voltage`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChannelRating {
    pub max_voltage: f64,
    pub max_current: f64,
}

const fn rating(max_voltage: f64, max_current: f64) -> ChannelRating {
    ChannelRating {
        max_voltage,
        max_current,
    }
}

const E36311A: [ChannelRating; 3] = [rating(6.0, 5.0), rating(25.0, 1.0), rating(-25.0, 1.0)];
const E36312A: [ChannelRating; 3] = [rating(6.0, 5.0), rating(25.0, 1.0), rating(25.0, 1.0)];
const E36313A: [ChannelRating; 3] = [rating(6.0, 10.0), rating(25.0, 2.0), rating(25.0, 2.0)];

/// The simulated models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Model {
    E36311A,
    E36312A,
    #[default]
    E36313A,
}

impl Model {
    pub const ALL: [Model; 3] = [Model::E36311A, Model::E36312A, Model::E36313A];

    /// The model field of `*IDN?`.
    pub fn idn_model(&self) -> &'static str {
        match self {
            Model::E36311A => "E36311A",
            Model::E36312A => "E36312A",
            Model::E36313A => "E36313A",
        }
    }

    /// Ratings of CH1, CH2, CH3.
    pub fn ratings(&self) -> &'static [ChannelRating] {
        match self {
            Model::E36311A => &E36311A,
            Model::E36312A => &E36312A,
            Model::E36313A => &E36313A,
        }
    }

    pub fn channel_count(&self) -> usize {
        self.ratings().len()
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.idn_model())
    }
}

/// Why a model name was not understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseModelError(String);

impl fmt::Display for ParseModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown model {:?}: expected e36311a, e36312a or e36313a",
            self.0
        )
    }
}

impl std::error::Error for ParseModelError {}

impl FromStr for Model {
    type Err = ParseModelError;

    /// `e36313a`, `E36313A`, ... (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Model::ALL
            .into_iter()
            .find(|m| m.idn_model().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParseModelError(s.to_string()))
    }
}

/// How a supply simulator starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PsuOptions {
    pub model: Model,
    /// Serial number field of `*IDN?`.
    pub serial: String,
    /// Firmware field of `*IDN?`.
    pub firmware: String,
    /// Seed of the measurement noise (and of junk bytes), for reproducible runs.
    pub seed: u64,
}

impl Default for PsuOptions {
    fn default() -> Self {
        PsuOptions {
            model: Model::E36313A,
            serial: "MY59000001".to_string(),
            firmware: "1.0.4-1.0.4-1.00".to_string(),
            seed: 1,
        }
    }
}
