//! The controller's state: backplane and modules, power, the configuration lines, the
//! timing core's parameters, the exposure in progress, the frame buffer and the log.
//! Time advances lazily: whoever looks first after an exposure or readout ends moves
//! the state on (and makes the frame's pixels).

use super::sensor::{Exposure, Scene};
use super::ArchonOptions;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The address of frame buffer 1, as the controller reports it (`BUF1BASE`).
pub const BUF1_BASE: u64 = 0xA000_0000;
/// The heater module's slot.
pub const HEATER_MODULE: usize = 2;
/// Bytes per FETCH block.
pub const BLOCK: usize = 1024;

/// What the timing core is doing.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Phase {
    Idle,
    Exposing { until: Instant, exposure: Exposure },
    Reading { until: Instant, exposure: Exposure },
}

/// The last completed frame.
#[derive(Clone, Debug)]
pub(crate) struct Frame {
    pub number: u64,
    pub width: usize,
    pub height: usize,
    pub data: Arc<Vec<u8>>,
    pub shutter_open_ticks: u64,
    pub shutter_close_ticks: u64,
    pub readout_start_ticks: u64,
}

pub(crate) struct Controller {
    pub options: ArchonOptions,
    epoch: Instant,
    pub power: u8,
    pub params: BTreeMap<String, i64>,
    pub config: Vec<String>,
    pub phase: Phase,
    pub frame: Option<Frame>,
    frames_made: u64,
    pub log: VecDeque<String>,
    status_count: u64,
    ccd_temp_c: f64,
    heater_target_c: f64,
    last_thermal: Instant,
    pub scene: Scene,
    pub locked: u8,
    pub shutter_open_ticks: u64,
    pub shutter_close_ticks: u64,
}

/// The timing-core parameters the lab's timing script takes, with their defaults.
pub const PARAMETERS: &[(&str, i64)] = &[
    ("Exposures", 0),
    ("IntMS", 0),
    ("OpenShutter", 1),
    ("AbortExposure", 0),
    ("ROIX", 0),
    ("ROIY", 0),
    ("ROIWidth", 0),
    ("ROIHeight", 0),
    ("BinX", 1),
    ("BinY", 1),
];

impl Controller {
    pub fn new(options: ArchonOptions, now: Instant) -> Controller {
        let mut params: BTreeMap<String, i64> = PARAMETERS
            .iter()
            .map(|(name, value)| (name.to_string(), *value))
            .collect();
        params.insert("ROIWidth".into(), options.sensor.width as i64);
        params.insert("ROIHeight".into(), options.sensor.height as i64);
        let config = vec![
            format!("LINECOUNT={}", options.sensor.height),
            format!("PIXELCOUNT={}", options.sensor.width),
            format!("MOD{HEATER_MODULE}/HEATERAENABLE=1"),
            format!(
                "MOD{HEATER_MODULE}/HEATERATARGET={:.3}",
                options.initial_ccd_temp_c
            ),
            format!("MOD{HEATER_MODULE}/HEATERASENSOR=0"),
        ];
        Controller {
            ccd_temp_c: options.initial_ccd_temp_c,
            heater_target_c: options.initial_ccd_temp_c,
            options,
            epoch: now,
            power: 4,
            params,
            config,
            phase: Phase::Idle,
            frame: None,
            frames_made: 0,
            log: VecDeque::from(["archon simulator started".to_string()]),
            status_count: 0,
            last_thermal: now,
            scene: Scene::default(),
            locked: 0,
            shutter_open_ticks: 0,
            shutter_close_ticks: 0,
        }
    }

    /// The 100 MHz timer.
    pub fn ticks(&self, at: Instant) -> u64 {
        (at.saturating_duration_since(self.epoch).as_nanos() / 10) as u64
    }

    fn push_log(&mut self, message: String) {
        // The real controller keeps a bounded log too.
        if self.log.len() >= 32 {
            self.log.pop_front();
        }
        self.log.push_back(message);
    }

    pub fn ccd_temp_c(&self) -> f64 {
        self.ccd_temp_c
    }

    pub fn heater_target_c(&self) -> f64 {
        self.heater_target_c
    }

    pub fn set_ccd_temp(&mut self, temp_c: f64) {
        self.ccd_temp_c = temp_c;
    }

    /// Move everything on to `now`.
    pub fn advance(&mut self, now: Instant) {
        let dt = now
            .saturating_duration_since(self.last_thermal)
            .as_secs_f64();
        self.last_thermal = now;
        let tau = self.options.thermal_tau_s.max(1e-3);
        self.ccd_temp_c += (self.heater_target_c - self.ccd_temp_c) * (1.0 - (-dt / tau).exp());
        loop {
            match &self.phase {
                Phase::Exposing { until, exposure } if *until <= now => {
                    let exposure = exposure.clone();
                    self.shutter_close_ticks = self.ticks(*until);
                    let readout = Duration::from_secs_f64(exposure.readout_s);
                    self.phase = Phase::Reading {
                        until: *until + readout,
                        exposure,
                    };
                }
                Phase::Reading { until, exposure } if *until <= now => {
                    let exposure = exposure.clone();
                    let readout_start = *until - Duration::from_secs_f64(exposure.readout_s);
                    self.frames_made += 1;
                    let seed = self.options.seed ^ self.frames_made.wrapping_mul(0x9E37_79B9);
                    // The buffer is overwritten: the old frame goes before the new one is
                    // made, so the controller holds one frame (a FETCH still sending the
                    // old one keeps its own reference until it is done).
                    self.frame = None;
                    let data = self.options.sensor.frame(&exposure, seed);
                    self.frame = Some(Frame {
                        number: self.frames_made,
                        width: exposure.out_width(),
                        height: exposure.out_height(),
                        data: Arc::new(data),
                        shutter_open_ticks: self.shutter_open_ticks,
                        shutter_close_ticks: self.shutter_close_ticks,
                        readout_start_ticks: self.ticks(readout_start),
                    });
                    self.phase = Phase::Idle;
                }
                _ => break,
            }
        }
    }

    pub fn system(&self) -> String {
        // Slots: 1 driver, 2 heater, 3 LV bias, 4 HV bias, 5-6 AD.
        let types = [(1, 1), (2, 11), (3, 9), (4, 8), (5, 2), (6, 2)];
        let present: u32 = types.iter().map(|(slot, _)| 1u32 << (slot - 1)).sum();
        let mut text = format!(
            "BACKPLANE_TYPE=1 BACKPLANE_REV=4 BACKPLANE_VERSION=1.0.1104 \
             BACKPLANE_ID=0078F5C1427AF054 POWER_ID=000000E73C20 MOD_PRESENT={present:X}"
        );
        for slot in 1..=12 {
            let kind = types
                .iter()
                .find(|(s, _)| *s == slot)
                .map_or(0, |(_, kind)| *kind);
            text.push_str(&format!(
                " MOD{slot}_TYPE={kind} MOD{slot}_REV=0 MOD{slot}_VERSION=1.0.1104"
            ));
        }
        text
    }

    pub fn status(&mut self) -> String {
        self.status_count += 1;
        let on = self.power == 4;
        let volts = |v: f64| if on { v } else { 0.0 };
        let mut text = format!(
            "VALID=1 COUNT={} LOG={} POWER={} POWERGOOD={} OVERHEAT=0 BACKPLANE_TEMP={:.3} \
             P2V5_V={:.3} P5V_V={:.3} P6V_V={:.3} N6V_V={:.3} P17V_V={:.3} N17V_V={:.3} \
             P35V_V={:.3} N35V_V={:.3}",
            self.status_count,
            self.log.len(),
            self.power,
            u8::from(on),
            28.125,
            2.555,
            4.997,
            volts(5.933),
            volts(-6.046),
            volts(16.955),
            volts(-17.08),
            volts(34.945),
            volts(-34.9),
        );
        for slot in 1..=6 {
            text.push_str(&format!(
                " MOD{slot}/TEMP={:.3}",
                26.0 + slot as f64 * 0.125
            ));
        }
        let heater = HEATER_MODULE;
        let output = ((self.ccd_temp_c - self.heater_target_c) * -0.5 + 1.0).clamp(0.0, 10.0);
        text.push_str(&format!(
            " MOD{heater}/TEMPA={:.3} MOD{heater}/TEMPB=-273.150 MOD{heater}/HEATERAOUTPUT={output:.3}",
            self.ccd_temp_c
        ));
        text
    }

    pub fn frame_text(&self, now: Instant) -> String {
        let mut text = format!("TIMER={:016X} RBUF=1 WBUF=1", self.ticks(now));
        let reading = matches!(self.phase, Phase::Reading { .. });
        for buffer in 1..=3u64 {
            let frame = self.frame.as_ref().filter(|_| buffer == 1);
            let (number, width, height, complete) = match frame {
                Some(f) => (f.number, f.width, f.height, !reading),
                None => (0, 0, 0, false),
            };
            let base = BUF1_BASE + (buffer - 1) * 0x2000_0000;
            text.push_str(&format!(
                " BUF{buffer}SAMPLE=0 BUF{buffer}COMPLETE={} BUF{buffer}MODE=0 BUF{buffer}BASE={base} \
                 BUF{buffer}FRAME={number} BUF{buffer}WIDTH={width} BUF{buffer}HEIGHT={height}",
                u8::from(complete)
            ));
            let (ts, re, fe) = frame.map_or((0, 0, 0), |f| {
                (
                    f.readout_start_ticks,
                    f.shutter_open_ticks,
                    f.shutter_close_ticks,
                )
            });
            text.push_str(&format!(
                " BUF{buffer}TIMESTAMP={ts:016X} BUF{buffer}RETIMESTAMP={re:016X} BUF{buffer}FETIMESTAMP={fe:016X}"
            ));
        }
        text
    }

    /// Start an exposure with the current parameters (`FASTLOADPARAM Exposures 1`).
    fn start_exposure(&mut self, now: Instant) -> Result<(), ()> {
        if self.phase != Phase::Idle || self.power != 4 {
            return Err(());
        }
        let param = |name: &str| self.params.get(name).copied().unwrap_or(0).max(0) as usize;
        let sensor = &self.options.sensor;
        let (bin_x, bin_y) = (param("BinX").max(1), param("BinY").max(1));
        let roi_x = param("ROIX").min(sensor.width - 1);
        let roi_y = param("ROIY").min(sensor.height - 1);
        let roi_width = param("ROIWidth").clamp(bin_x, sensor.width - roi_x);
        let roi_height = param("ROIHeight").clamp(bin_y, sensor.height - roi_y);
        let exptime_s = param("IntMS") as f64 / 1000.0;
        let pixels = (roi_width / bin_x) * (roi_height / bin_y);
        let exposure = Exposure {
            roi_x,
            roi_y,
            roi_width,
            roi_height,
            bin_x,
            bin_y,
            exptime_s,
            shutter_open: param("OpenShutter") != 0,
            ccd_temp_c: self.ccd_temp_c,
            scene: self.scene,
            readout_s: pixels as f64 / self.options.pixel_rate,
        };
        self.shutter_open_ticks = self.ticks(now);
        self.push_log(format!(
            "exposure started: {exptime_s} s, {}x{} binned {bin_x}x{bin_y}",
            exposure.out_width(),
            exposure.out_height()
        ));
        self.phase = Phase::Exposing {
            until: now + Duration::from_secs_f64(exptime_s),
            exposure,
        };
        Ok(())
    }

    /// One text command (everything but FETCH); `Err` is answered `?xx`.
    pub fn command(&mut self, command: &str, now: Instant) -> Result<String, ()> {
        self.advance(now);
        if let Some(rest) = command.strip_prefix("FASTLOADPARAM ") {
            let (name, value) = rest.split_once(' ').ok_or(())?;
            let value: i64 = value.trim().parse().map_err(|_| ())?;
            if !self.params.contains_key(name) {
                return Err(());
            }
            match name {
                "Exposures" if value > 0 => {
                    self.start_exposure(now)?;
                    return Ok(String::new());
                }
                "AbortExposure" if value > 0 => {
                    if self.phase != Phase::Idle {
                        self.push_log("exposure aborted".into());
                    }
                    self.phase = Phase::Idle;
                    return Ok(String::new());
                }
                _ => {}
            }
            self.params.insert(name.to_string(), value);
            return Ok(String::new());
        }
        if let Some(rest) = command.strip_prefix("WCONFIG") {
            let index: usize = rest
                .get(..4)
                .and_then(|n| usize::from_str_radix(n, 16).ok())
                .ok_or(())?;
            let line = &rest[4..];
            if index > 4096 || !line.contains('=') {
                return Err(());
            }
            if self.config.len() <= index {
                self.config.resize(index + 1, String::new());
            }
            self.config[index] = line.to_string();
            return Ok(String::new());
        }
        if let Some(rest) = command.strip_prefix("RCONFIG") {
            let index = usize::from_str_radix(rest, 16).map_err(|_| ())?;
            return Ok(self.config.get(index).cloned().unwrap_or_default());
        }
        if let Some(rest) = command.strip_prefix("LOCK") {
            let buffer: u8 = rest.parse().map_err(|_| ())?;
            if buffer > 3 {
                return Err(());
            }
            self.locked = buffer;
            return Ok(String::new());
        }
        if let Some(module) = command.strip_prefix("APPLYMOD") {
            let module: usize = module.parse().map_err(|_| ())?;
            if module == HEATER_MODULE {
                self.apply_heater();
            }
            return Ok(String::new());
        }
        match command {
            "SYSTEM" => Ok(self.system()),
            "STATUS" => Ok(self.status()),
            "FRAME" => Ok(self.frame_text(now)),
            "PING" => Ok(String::new()),
            "FETCHLOG" => Ok(self.log.pop_front().unwrap_or_else(|| "(empty)".into())),
            "POWERON" => {
                self.power = 4;
                self.push_log("power on".into());
                Ok(String::new())
            }
            "POWEROFF" => {
                self.power = 2;
                self.push_log("power off".into());
                Ok(String::new())
            }
            "APPLYALL" => {
                self.apply_heater();
                Ok(String::new())
            }
            _ => Err(()),
        }
    }

    fn apply_heater(&mut self) {
        let key = format!("MOD{HEATER_MODULE}/HEATERATARGET=");
        let target = self
            .config
            .iter()
            .find_map(|line| line.strip_prefix(&key))
            .and_then(|value| value.parse::<f64>().ok());
        if let Some(target) = target {
            if target != self.heater_target_c {
                self.push_log(format!("heater A target {target:.2} C"));
            }
            self.heater_target_c = target;
        }
    }
}
