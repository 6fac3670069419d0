//! The STATus subsystem as far as clients read it: each output's questionable instrument
//! summary condition, the instrument's own CV/CC report.

use std::time::Instant;

use super::commands::Outcome;
use super::params::no_params;
use super::{Instrument, HEADER_SUFFIX_OUT_OF_RANGE};

impl Instrument {
    /// `STAT:QUES:INST:ISUM<n>:COND?`: the CV/CC bits of output `n`, from its load.
    pub(super) fn instrument_summary_condition_query(
        &mut self,
        output: usize,
        params: &[&str],
        _: Instant,
    ) -> Outcome {
        no_params(params)?;
        let channel = output
            .checked_sub(1)
            .and_then(|i| self.channels.get(i))
            .ok_or(HEADER_SUFFIX_OUT_OF_RANGE)?;
        let (_, _, mode) = channel.operating_point();
        Ok(Some(format!("{:+}", mode.condition_bits())))
    }
}
