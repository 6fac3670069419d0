//! IEEE 488.2 common commands (`*IDN?`, `*RST`, the status registers) and the SYSTem
//! subsystem (error queue, SCPI version).

use std::time::Instant;

use super::commands::Outcome;
use super::params::{no_params, parse_register, single_param};
use super::{Instrument, Remote, LAST_STATE_LOCATION, OPTIONS, SCPI_VERSION};
use crate::scpi::{self, error_message, format_error, parse_numeric, Numeric};

impl Instrument {
    pub(super) fn identify_query(&mut self, params: &[&str], _: Instant) -> Outcome {
        no_params(params)?;
        Ok(Some(format!(
            "Keysight Technologies,{},{},{}",
            self.model.idn_model(),
            self.serial,
            self.firmware
        )))
    }

    pub(super) fn reset(&mut self, params: &[&str], _: Instant) -> Outcome {
        no_params(params)?;
        self.channels.iter_mut().for_each(|channel| channel.reset());
        self.selected = 0;
        Ok(None)
    }

    pub(super) fn options_query(&mut self, params: &[&str], _: Instant) -> Outcome {
        no_params(params)?;
        Ok(Some(OPTIONS.to_string()))
    }

    /// `*SAV <n>`: each output's settings and the selected output, in location n.
    pub(super) fn save(&mut self, params: &[&str], _: Instant) -> Outcome {
        let location = state_location(params)?;
        let settings = self.channels.iter().map(|c| c.settings()).collect();
        self.saved[location] = (settings, self.selected);
        Ok(None)
    }

    /// `*RCL <n>`: the settings saved in location n (at first the *RST state).
    pub(super) fn recall(&mut self, params: &[&str], _: Instant) -> Outcome {
        let location = state_location(params)?;
        let (settings, selected) = self.saved[location].clone();
        for (channel, saved) in self.channels.iter_mut().zip(&settings) {
            channel.recall(saved);
        }
        self.selected = selected;
        Ok(None)
    }

    /// `*TRG`: nothing is armed on a supply driven by immediate settings.
    pub(super) fn trigger(&mut self, params: &[&str], _: Instant) -> Outcome {
        no_params(params)?;
        Ok(None)
    }

    pub(super) fn system_remote(&mut self, params: &[&str], _: Instant) -> Outcome {
        no_params(params)?;
        self.remote = Remote::Remote;
        Ok(None)
    }

    pub(super) fn system_local(&mut self, params: &[&str], _: Instant) -> Outcome {
        no_params(params)?;
        self.remote = Remote::Local;
        Ok(None)
    }

    pub(super) fn system_remote_with_lock(&mut self, params: &[&str], _: Instant) -> Outcome {
        no_params(params)?;
        self.remote = Remote::RemoteWithLock;
        Ok(None)
    }

    pub(super) fn clear_status(&mut self, params: &[&str], _: Instant) -> Outcome {
        no_params(params)?;
        self.errors.clear();
        self.esr = 0;
        Ok(None)
    }

    pub(super) fn operation_complete(&mut self, params: &[&str], _: Instant) -> Outcome {
        no_params(params)?;
        // Every command completes before the next is parsed.
        self.esr |= 0x01;
        Ok(None)
    }

    pub(super) fn operation_complete_query(&mut self, params: &[&str], _: Instant) -> Outcome {
        no_params(params)?;
        Ok(Some("1".to_string()))
    }

    pub(super) fn event_status_query(&mut self, params: &[&str], _: Instant) -> Outcome {
        no_params(params)?;
        Ok(Some(format!("{:+}", std::mem::take(&mut self.esr))))
    }

    pub(super) fn event_status_enable(&mut self, params: &[&str], _: Instant) -> Outcome {
        self.ese = parse_register(params)?;
        Ok(None)
    }

    pub(super) fn event_status_enable_query(&mut self, params: &[&str], _: Instant) -> Outcome {
        no_params(params)?;
        Ok(Some(format!("{:+}", self.ese)))
    }

    pub(super) fn service_request_enable(&mut self, params: &[&str], _: Instant) -> Outcome {
        self.sre = parse_register(params)?;
        Ok(None)
    }

    pub(super) fn service_request_enable_query(&mut self, params: &[&str], _: Instant) -> Outcome {
        no_params(params)?;
        Ok(Some(format!("{:+}", self.sre)))
    }

    pub(super) fn status_byte_query(&mut self, params: &[&str], _: Instant) -> Outcome {
        no_params(params)?;
        Ok(Some(format!("{:+}", self.status_byte())))
    }

    /// The status byte without MAV, which depends on the reader's own output queue.
    pub(super) fn status_byte(&self) -> u8 {
        let mut stb = 0u8;
        if !self.errors.is_empty() {
            stb |= 0x04;
        }
        if self.esr & self.ese != 0 {
            stb |= 0x20;
        }
        if stb & self.sre & !0x40 != 0 {
            stb |= 0x40;
        }
        stb
    }

    pub(super) fn wait(&mut self, params: &[&str], _: Instant) -> Outcome {
        no_params(params)?;
        Ok(None)
    }

    pub(super) fn self_test_query(&mut self, params: &[&str], _: Instant) -> Outcome {
        no_params(params)?;
        Ok(Some("+0".to_string()))
    }

    pub(super) fn system_error_query(&mut self, params: &[&str], _: Instant) -> Outcome {
        no_params(params)?;
        Ok(Some(match self.errors.pop_front() {
            Some((code, message)) => format_error(code, &message),
            None => format_error(0, error_message(0)),
        }))
    }

    pub(super) fn system_version_query(&mut self, params: &[&str], _: Instant) -> Outcome {
        no_params(params)?;
        Ok(Some(SCPI_VERSION.to_string()))
    }
}

/// A `*SAV`/`*RCL` location, 0 to [`LAST_STATE_LOCATION`].
fn state_location(params: &[&str]) -> Result<usize, i32> {
    match parse_numeric(single_param(params)?, "")? {
        Numeric::Value(v)
            if v.fract() == 0.0 && (0.0..=LAST_STATE_LOCATION as f64).contains(&v) =>
        {
            Ok(v as usize)
        }
        Numeric::Value(_) => Err(scpi::DATA_OUT_OF_RANGE),
        _ => Err(scpi::DATA_TYPE_ERROR),
    }
}
