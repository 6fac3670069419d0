//! The OUTPut subsystem and the protections' state: switching outputs, the trip flags,
//! OCP on/off and clearing a trip.

use std::time::Instant;

use super::commands::Outcome;
use super::params::{optional_list, value_and_list};
use super::{flag, join_replies, Instrument};
use crate::scpi::{self, parse_bool};

impl Instrument {
    pub(super) fn output(&mut self, params: &[&str], now: Instant) -> Outcome {
        let (value, list) = value_and_list(params)?;
        let on = parse_bool(value)?;
        let mut conflict = false;
        for i in self.targets(list)? {
            let channel = &mut self.channels[i];
            if on && channel.tripped() {
                // A tripped output stays off until OUTP:PROT:CLE.
                conflict = true;
                continue;
            }
            if channel.output != on {
                channel.output = on;
                channel.cc_since = None;
            }
        }
        self.settle(now);
        if conflict {
            return Err(scpi::SETTINGS_CONFLICT);
        }
        Ok(None)
    }

    pub(super) fn output_query(&mut self, params: &[&str], _: Instant) -> Outcome {
        let targets = self.targets(optional_list(params)?)?;
        Ok(Some(join_replies(targets, |i| {
            flag(self.channels[i].output)
        })))
    }

    pub(super) fn output_protection_clear(&mut self, params: &[&str], _: Instant) -> Outcome {
        for i in self.targets(optional_list(params)?)? {
            self.channels[i].ovp_tripped = false;
            self.channels[i].ocp_tripped = false;
        }
        Ok(None)
    }

    pub(super) fn voltage_protection_tripped_query(
        &mut self,
        params: &[&str],
        _: Instant,
    ) -> Outcome {
        let targets = self.targets(optional_list(params)?)?;
        Ok(Some(join_replies(targets, |i| {
            flag(self.channels[i].ovp_tripped)
        })))
    }

    pub(super) fn current_protection_tripped_query(
        &mut self,
        params: &[&str],
        _: Instant,
    ) -> Outcome {
        let targets = self.targets(optional_list(params)?)?;
        Ok(Some(join_replies(targets, |i| {
            flag(self.channels[i].ocp_tripped)
        })))
    }

    pub(super) fn current_protection_state(&mut self, params: &[&str], _: Instant) -> Outcome {
        let (value, list) = value_and_list(params)?;
        let on = parse_bool(value)?;
        for i in self.targets(list)? {
            self.channels[i].ocp_enabled = on;
        }
        Ok(None)
    }

    pub(super) fn current_protection_state_query(
        &mut self,
        params: &[&str],
        _: Instant,
    ) -> Outcome {
        let targets = self.targets(optional_list(params)?)?;
        Ok(Some(join_replies(targets, |i| {
            flag(self.channels[i].ocp_enabled)
        })))
    }
}
