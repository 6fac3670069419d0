//! MEASure: output voltage and current readbacks, with a few counts of noise.

use super::channel::Quantity;
use super::commands::Outcome;
use super::params::optional_list;
use super::{join_replies, Instrument};
use crate::scpi::format_nr3;

impl Instrument {
    /// `MEAS:VOLT?` / `MEAS:CURR?` over `[<chanlist>]`.
    pub(super) fn measure_query(&mut self, quantity: Quantity, params: &[&str]) -> Outcome {
        let targets = self.targets(optional_list(params)?)?;
        let values: Vec<f64> = targets
            .into_iter()
            .map(|i| {
                let (volts, amps) = self.measure(i);
                if quantity == Quantity::Voltage {
                    volts
                } else {
                    amps
                }
            })
            .collect();
        Ok(Some(join_replies(values, format_nr3)))
    }

    fn measure(&mut self, channel: usize) -> (f64, f64) {
        let (volts, amps, _) = self.channels[channel].operating_point();
        if !self.channels[channel].output || !self.noise {
            return (volts, amps);
        }
        // A few counts of the last digit, as a real readback wanders.
        let v_noise = (0.5e-3 + 1e-5 * volts.abs()) * self.rng.noise();
        let i_noise = (50e-6 + 1e-4 * amps.abs()) * self.rng.noise();
        (volts + v_noise, amps + i_noise)
    }
}
