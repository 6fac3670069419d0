//! Which channel is selected (INSTrument), and the channel settings: `APPLy` and the
//! SOURce levels (voltage, current, OVP level, OCP delay).

use std::time::Instant;

use super::channel::Quantity;
use super::commands::Outcome;
use super::params::{bound_and_list, no_params, single_param, value_and_list, Bound};
use super::{join_replies, Instrument};
use crate::scpi::{self, format_nr3, parse_numeric, Numeric};

impl Instrument {
    pub(super) fn select(&mut self, params: &[&str], _: Instant) -> Outcome {
        self.selected = self.channel_keyword(single_param(params)?)?;
        Ok(None)
    }

    pub(super) fn select_query(&mut self, params: &[&str], _: Instant) -> Outcome {
        no_params(params)?;
        Ok(Some(format!("CH{}", self.selected + 1)))
    }

    pub(super) fn select_number(&mut self, params: &[&str], _: Instant) -> Outcome {
        let which = single_param(params)?;
        let count = self.channels.len();
        self.selected = match parse_numeric(which, "")? {
            Numeric::Min | Numeric::Def => 0,
            Numeric::Max => count - 1,
            Numeric::Value(v) if v.round() >= 1.0 && v.round() <= count as f64 => {
                v.round() as usize - 1
            }
            Numeric::Value(_) => return Err(scpi::DATA_OUT_OF_RANGE),
        };
        Ok(None)
    }

    pub(super) fn select_number_query(&mut self, params: &[&str], _: Instant) -> Outcome {
        no_params(params)?;
        Ok(Some((self.selected + 1).to_string()))
    }

    pub(super) fn apply(&mut self, params: &[&str], _: Instant) -> Outcome {
        let (which, volts, amps) = match params {
            [] | [_] => return Err(scpi::MISSING_PARAMETER),
            [which, volts] => (which, volts, None),
            [which, volts, amps] => (which, volts, Some(amps)),
            _ => return Err(scpi::PARAMETER_NOT_ALLOWED),
        };
        let index = self.channel_keyword(which)?;
        let volts_arg = parse_numeric(volts, Quantity::Voltage.unit())?;
        let amps_arg = amps
            .map(|a| parse_numeric(a, Quantity::Current.unit()))
            .transpose()?;
        let channel = &mut self.channels[index];
        // Both values are checked before either is applied.
        let volts = channel.resolve(Quantity::Voltage, volts_arg)?;
        let amps = amps_arg
            .map(|a| channel.resolve(Quantity::Current, a))
            .transpose()?;
        channel.voltage_set = volts;
        if let Some(amps) = amps {
            channel.current_set = amps;
        }
        Ok(None)
    }

    pub(super) fn apply_query(&mut self, params: &[&str], _: Instant) -> Outcome {
        // The output identifier is required (`APPLy? P6V|P25V|N25V|CH1|CH2|CH3`).
        let index = match params {
            [] => return Err(scpi::MISSING_PARAMETER),
            [which] => self.channel_keyword(which)?,
            _ => return Err(scpi::PARAMETER_NOT_ALLOWED),
        };
        let channel = &self.channels[index];
        Ok(Some(format!(
            "\"{},{}\"",
            format_nr3(channel.voltage_set),
            format_nr3(channel.current_set)
        )))
    }

    /// `<value>[,<chanlist>]`: every target is checked before any is changed.
    pub(super) fn set_setting(&mut self, quantity: Quantity, params: &[&str]) -> Outcome {
        let (value, list) = value_and_list(params)?;
        let arg = parse_numeric(value, quantity.unit())?;
        let targets = self.targets(list)?;
        let values = targets
            .iter()
            .map(|&i| self.channels[i].resolve(quantity, arg))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, value) in targets.into_iter().zip(values) {
            self.channels[i].set(quantity, value);
        }
        Ok(None)
    }

    /// `[MIN|MAX][,<chanlist>]`: the setting, or its limit, per target.
    pub(super) fn setting_query(&mut self, quantity: Quantity, params: &[&str]) -> Outcome {
        let (bound, list) = bound_and_list(params)?;
        let targets = self.targets(list)?;
        Ok(Some(join_replies(targets, |i| {
            let channel = &self.channels[i];
            let (min, max, _) = channel.limits(quantity);
            format_nr3(match bound {
                None => channel.get(quantity),
                Some(Bound::Min) => min,
                Some(Bound::Max) => max,
            })
        })))
    }
}
