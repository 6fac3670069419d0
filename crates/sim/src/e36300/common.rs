//! IEEE 488.2 common commands (`*IDN?`, `*RST`, the status registers) and the SYSTem
//! subsystem (error queue, SCPI version).

use std::time::Instant;

use super::commands::Outcome;
use super::params::{no_params, parse_register};
use super::{Instrument, SCPI_VERSION};
use crate::scpi::{error_message, format_error};

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
