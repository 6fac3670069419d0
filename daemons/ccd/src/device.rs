//! The labwire `Device` for an Archon: connect (SYSTEM, and the configuration line of the
//! heater target, read only), poll (STATUS with its log entries fetched, FRAME, and the
//! readout once the controller's buffer holds the frame), and the commands.
//!
//! Exposure states: `idle`, `exposing` (until the requested time has passed), `reading`
//! (until the controller reports the new buffer complete and the daemon has fetched it).
//! A readout that fails half-way discards the frame: only whole frames are ever kept.
//! At most two frames are in memory: the last one served by `get_frame` and the one
//! being read out.

use crate::commands::{self, Command, ExposeRequest, Limits, COMMANDS};
use crate::frame::{FrameMeta, Roi, StoredFrame};
use crate::link::{parse_pairs, ArchonLink, BLOCK};
use bytes::Bytes;
use labwire_daemon::{CommandSpec, Device, Error, Kwargs, Outcome, StateFile, StatusBuilder};
use labwire_protocol::{ErrorCode, Message};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};
use tracing::{info, warn};

/// Configuration lines read at connect while looking for the heater target.
const MAX_CONFIG_SCAN: usize = 4096;
/// Log entries fetched per poll at most (the rest wait for the next poll).
const MAX_LOG_PER_POLL: usize = 16;
/// Header bytes a frame's buffer is made with room for: 20 FITS blocks, 720 cards, the
/// monitor's keywords of a lab of many devices included.
const HEADER_ROOM: usize = 20 * labwire_fits::BLOCK;

#[derive(Clone, Debug)]
pub struct Config {
    pub address: String,
    pub timeout: Duration,
    /// `INSTRUME` in the frames' headers: the daemon's name.
    pub instrument: String,
    pub limits: Limits,
}

/// What survives a restart: frame ids keep counting, and the readout settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Saved {
    pub last_frame_id: u64,
    pub roi: Option<(usize, usize, usize, usize)>,
    pub binning: (usize, usize),
}

/// An exposure started and not yet read out.
struct Pending {
    meta: FrameMeta,
    began: Instant,
    /// The highest BUFnFRAME before the exposure started.
    baseline: u64,
    /// The frame's file, its memory made resident while the shutter is open, so the
    /// readout only copies pixels in (see [`resident_buffer`]).
    buffer: Vec<u8>,
}

/// A buffer of `len` bytes whose pages are all mapped: writing the zeros makes the kernel
/// map them now, where a fresh allocation would take a page fault per 4 KiB in the middle
/// of the readout (half the daemon's work in it, measured). The previous frame is still
/// held, so this is the second frame's worth, the most the daemon ever holds.
async fn resident_buffer(len: usize) -> Vec<u8> {
    // `vec![0; len]` would be calloc's untouched pages, the faults still to come.
    #[allow(clippy::slow_vector_initialization)]
    let made = tokio::task::spawn_blocking(move || {
        let mut buffer = Vec::with_capacity(len);
        buffer.resize(len, 0);
        buffer
    });
    made.await.unwrap_or_default()
}

/// Where the cooler's setpoint lives in the controller's configuration.
#[derive(Clone, Debug)]
struct Heater {
    module: usize,
    line: Option<usize>,
    setpoint: Option<f64>,
}

pub struct Camera {
    config: Config,
    state: StateFile,
    link: Option<ArchonLink>,
    heater: Option<Heater>,
    roi: Roi,
    bin: (usize, usize),
    keywords: Vec<(String, String)>,
    pending: Option<Pending>,
    last: Option<StoredFrame>,
    last_frame_id: u64,
    last_status: BTreeMap<String, String>,
    last_readout: Option<(f64, usize)>,
    readout_error: Option<String>,
}

impl Camera {
    pub fn new(config: Config, state: StateFile) -> Result<Camera, String> {
        let saved: Option<Saved> = state.load()?;
        let full = Roi {
            x: 0,
            y: 0,
            width: config.limits.sensor_width,
            height: config.limits.sensor_height,
        };
        let roi = saved
            .as_ref()
            .and_then(|s| s.roi)
            .map(|(x, y, width, height)| Roi {
                x,
                y,
                width,
                height,
            })
            .filter(|r| {
                r.x + r.width <= config.limits.sensor_width
                    && r.y + r.height <= config.limits.sensor_height
                    && r.width > 0
                    && r.height > 0
            })
            .unwrap_or(full);
        Ok(Camera {
            state,
            link: None,
            heater: None,
            roi,
            bin: saved.as_ref().map_or((1, 1), |s| s.binning),
            keywords: Vec::new(),
            pending: None,
            last: None,
            last_frame_id: saved.map_or(0, |s| s.last_frame_id),
            last_status: BTreeMap::new(),
            last_readout: None,
            readout_error: None,
            config,
        })
    }

    fn link(&mut self) -> Result<&mut ArchonLink, Error> {
        self.link
            .as_mut()
            .ok_or_else(|| Error::not_connected("not connected"))
    }

    async fn save(&self) {
        let saved = Saved {
            last_frame_id: self.last_frame_id,
            roi: Some((self.roi.x, self.roi.y, self.roi.width, self.roi.height)),
            binning: self.bin,
        };
        if let Err(err) = self.state.save(&saved).await {
            warn!("{}", err.message);
        }
    }

    fn number(&self, key: &str) -> Option<f64> {
        self.last_status
            .get(key)
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite())
    }

    fn ccd_temperature(&self) -> Option<f64> {
        let heater = self.heater.as_ref()?;
        self.number(&format!("MOD{}/TEMPA", heater.module))
    }

    fn state_name(&self) -> &'static str {
        match &self.pending {
            None => "idle",
            Some(p) if p.began.elapsed().as_secs_f64() < p.meta.requested_exptime => "exposing",
            Some(_) => "reading",
        }
    }

    async fn highest_frame(&mut self) -> Result<u64, Error> {
        let frame = parse_pairs(&self.link()?.command("FRAME").await?);
        Ok((1..=3)
            .filter_map(|n| frame.get(&format!("BUF{n}FRAME"))?.parse::<u64>().ok())
            .max()
            .unwrap_or(0))
    }

    async fn expose(&mut self, request: ExposeRequest) -> Result<Kwargs, Error> {
        if self.pending.is_some() {
            return Err(Error::new(
                ErrorCode::Busy,
                format!("an exposure is {}; abort it first", self.state_name()),
            ));
        }
        let (bx, by) = self.bin;
        if self.roi.width < bx || self.roi.height < by {
            return Err(Error::bad_argument(format!(
                "the ROI ({}x{}) is smaller than the binning {bx}x{by}",
                self.roi.width, self.roi.height
            )));
        }
        let millis = (request.exptime * 1000.0).round() as i64;
        let roi = self.roi;
        let params = [
            ("IntMS", millis),
            ("OpenShutter", i64::from(request.shutter_open)),
            ("ROIX", roi.x as i64),
            ("ROIY", roi.y as i64),
            ("ROIWidth", roi.width as i64),
            ("ROIHeight", roi.height as i64),
            ("BinX", bx as i64),
            ("BinY", by as i64),
        ];
        for (name, value) in params {
            self.link()?
                .command(&format!("FASTLOADPARAM {name} {value}"))
                .await?;
        }
        let baseline = self.highest_frame().await?;
        self.link()?.command("FASTLOADPARAM Exposures 1").await?;
        let id = self.last_frame_id + 1;
        let heater_setpoint = self.heater.as_ref().and_then(|h| h.setpoint);
        let (width, height) = (roi.width / bx, roi.height / by);
        // The header's room is a guess (its cards come at readout); a longer one grows
        // the buffer then.
        let buffer = resident_buffer(labwire_fits::file_len(HEADER_ROOM, width, height)).await;
        self.pending = Some(Pending {
            meta: FrameMeta {
                id,
                instrument: self.config.instrument.clone(),
                started: SystemTime::now(),
                exptime: request.exptime,
                requested_exptime: request.exptime,
                imagetype: request.imagetype,
                shutter_open: request.shutter_open,
                object: request.object,
                roi,
                bin_x: bx,
                bin_y: by,
                ccd_temperature: self.ccd_temperature(),
                cooler_setpoint: heater_setpoint,
                backplane_temp: self.number("BACKPLANE_TEMP"),
                keywords: self.keywords.clone(),
            },
            began: Instant::now(),
            baseline,
            buffer,
        });
        info!(
            "exposure {id} started: {} s {}",
            request.exptime,
            request.imagetype.fits_name()
        );
        Ok(vec![("frame_id".into(), id.to_string())])
    }

    /// Fetch buffer `n` of `frame` (a parsed FRAME reply) into a FITS file.
    async fn readout(
        &mut self,
        n: usize,
        frame: &BTreeMap<String, String>,
        mut meta: FrameMeta,
        mut file: Vec<u8>,
    ) -> Result<StoredFrame, Error> {
        let field = |key: &str| frame.get(&format!("BUF{n}{key}")).map(String::as_str);
        let integer = |key: &str| -> Result<u64, Error> {
            let text = field(key).unwrap_or("");
            text.parse::<u64>()
                .or_else(|_| u64::from_str_radix(text.trim_start_matches("0x"), 16))
                .map_err(|_| Error::device_error(format!("FRAME has no number BUF{n}{key}")))
        };
        let ticks = |key: &str| field(key).and_then(|t| u64::from_str_radix(t, 16).ok());
        if integer("SAMPLE")? != 0 {
            return Err(Error::device_error(
                "the controller sends 32-bit samples; this daemon reads 16-bit frames",
            ));
        }
        let (width, height) = (integer("WIDTH")? as usize, integer("HEIGHT")? as usize);
        if width == 0 || height == 0 || width * height > 1 << 28 {
            return Err(Error::device_error(format!(
                "buffer {n} holds a {width}x{height} frame"
            )));
        }
        let base = integer("BASE")?;
        if let (Some(open), Some(close)) = (ticks("RETIMESTAMP"), ticks("FETIMESTAMP")) {
            if close > open {
                meta.exptime = (close - open) as f64 / 1e8;
            }
        }
        meta.ccd_temperature = self.ccd_temperature().or(meta.ccd_temperature);
        let (header, changed) = meta.header();
        if changed > 0 {
            warn!(
                "frame {}: {changed} header values cut to fit a card",
                meta.id
            );
        }
        let head = labwire_fits::image_header(&header, width, height)
            .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
        // The whole file at once, filled as the blocks arrive, in the exposure's buffer:
        // it holds zeros only, so what the header and the pixels leave is the data's
        // padding already.
        file.resize(labwire_fits::file_len(head.len(), width, height), 0);
        file[..head.len()].copy_from_slice(&head);
        let data_len = width * height * 2;
        let blocks = data_len.div_ceil(BLOCK);
        let started = Instant::now();
        let link = self.link()?;
        link.command(&format!("LOCK{n}")).await?;
        let mut at = head.len();
        let end = head.len() + data_len;
        link.fetch(base, blocks, |block| {
            let take = (end - at).min(BLOCK);
            labwire_fits::le_to_fits(&mut file[at..at + take], &block[..take]);
            at += take;
        })
        .await?;
        link.command("LOCK0").await?;
        let seconds = started.elapsed().as_secs_f64();
        self.last_readout = Some((seconds, data_len));
        Ok(StoredFrame {
            meta,
            width,
            height,
            fits: Bytes::from(file),
        })
    }

    /// After a FRAME reply: read the pending exposure's frame out once it is there.
    async fn maybe_read_out(&mut self, frame: &BTreeMap<String, String>) -> Result<(), Error> {
        let Some(pending) = &self.pending else {
            return Ok(());
        };
        let ready = (1..=3).find(|n| {
            let get = |key: &str| frame.get(&format!("BUF{n}{key}")).map(String::as_str);
            get("COMPLETE") == Some("1")
                && get("FRAME")
                    .and_then(|f| f.parse::<u64>().ok())
                    .is_some_and(|f| f > pending.baseline)
        });
        let Some(n) = ready else {
            return Ok(());
        };
        let Some(pending) = self.pending.take() else {
            return Ok(());
        };
        let id = pending.meta.id;
        match self.readout(n, frame, pending.meta, pending.buffer).await {
            Ok(stored) => {
                info!(
                    "frame {id} read out: {}x{}, {} bytes of FITS",
                    stored.width,
                    stored.height,
                    stored.fits.len()
                );
                self.last_frame_id = id;
                // The previous frame goes now: never more than two in memory.
                self.last = Some(stored);
                self.readout_error = None;
                self.save().await;
                Ok(())
            }
            Err(err) => {
                warn!("frame {id} discarded: {}", err.message);
                self.readout_error = Some(err.message.clone());
                Err(err)
            }
        }
    }

    async fn set_cooler(&mut self, setpoint: f64) -> Result<Kwargs, Error> {
        let heater = self.heater.clone().ok_or_else(|| {
            Error::device_error("the controller has no heater module for the CCD")
        })?;
        let line = heater.line.ok_or_else(|| {
            Error::device_error(format!(
                "no MOD{}/HEATERATARGET line in the controller's configuration",
                heater.module
            ))
        })?;
        let module = heater.module;
        let link = self.link()?;
        link.command(&format!(
            "WCONFIG{line:04X}MOD{module}/HEATERATARGET={setpoint:.3}"
        ))
        .await?;
        link.command(&format!("APPLYMOD{module}")).await?;
        if let Some(heater) = &mut self.heater {
            heater.setpoint = Some(setpoint);
        }
        info!("cooler setpoint {setpoint} degC");
        Ok(vec![(
            "setpoint".into(),
            labwire_protocol::format_number(setpoint),
        )])
    }

    fn get_frame(&self, id: Option<u64>) -> Result<Outcome, Error> {
        let Some(last) = &self.last else {
            return Err(Error::out_of_range("no frame has been read out yet"));
        };
        if let Some(id) = id {
            if id != last.meta.id {
                return Err(Error::out_of_range(format!(
                    "frame {id} is not kept; the last frame is {}",
                    last.meta.id
                )));
            }
        }
        Ok(Outcome {
            kwargs: last.kwargs(),
            payload: Some(last.fits.clone()),
            name: Some("frame"),
        })
    }

    fn power_name(code: Option<&str>) -> &'static str {
        match code {
            Some("0") => "unknown",
            Some("1") => "not_configured",
            Some("2") => "off",
            Some("3") => "intermediate",
            Some("4") => "on",
            Some("5") => "standby",
            _ => "",
        }
    }

    fn report(&self, status: &mut StatusBuilder) {
        status.text("state", self.state_name());
        match &self.pending {
            Some(p) => {
                let elapsed = p.began.elapsed().as_secs_f64();
                status
                    .number("exposure_elapsed", elapsed.min(p.meta.requested_exptime))
                    .number(
                        "exposure_remaining",
                        (p.meta.requested_exptime - elapsed).max(0.0),
                    );
            }
            None => {
                status
                    .number("exposure_elapsed", 0.0)
                    .number("exposure_remaining", 0.0);
            }
        }
        status.number("frame_id", self.last_frame_id as f64);
        match &self.last {
            Some(frame) => status.text("frame_time", frame.meta.date_obs()),
            None => status.missing("frame_time"),
        };
        let (bx, by) = self.bin;
        status
            .number("width", (self.roi.width / bx) as f64)
            .number("height", (self.roi.height / by) as f64)
            .text("binning", format!("{bx}x{by}"))
            .number("roi_x", self.roi.x as f64)
            .number("roi_y", self.roi.y as f64)
            .number("roi_width", self.roi.width as f64)
            .number("roi_height", self.roi.height as f64)
            .text(
                "power",
                Self::power_name(self.last_status.get("POWER").map(String::as_str)),
            );
        let optional = |status: &mut StatusBuilder, key: &str, value: Option<f64>| {
            match value {
                Some(v) => status.number(key, v),
                None => status.missing(key),
            };
        };
        optional(status, "backplane_temp", self.number("BACKPLANE_TEMP"));
        for module in 1..=16 {
            if let Some(temp) = self.number(&format!("MOD{module}/TEMP")) {
                status.number(format!("mod{module}_temp"), temp);
            }
        }
        optional(status, "ccd_temperature", self.ccd_temperature());
        optional(
            status,
            "cooler_setpoint",
            self.heater.as_ref().and_then(|h| h.setpoint),
        );
        match self.last_readout {
            Some((seconds, bytes)) => {
                status
                    .number("readout_seconds", seconds)
                    .number("readout_mb_per_s", bytes as f64 / seconds.max(1e-9) / 1e6);
            }
            None => {
                status
                    .missing("readout_seconds")
                    .missing("readout_mb_per_s");
            }
        }
        status
            .text(
                "readout_error",
                self.readout_error.clone().unwrap_or_default(),
            )
            .number("keywords", self.keywords.len() as f64);
    }
}

impl Device for Camera {
    type Command = Command;

    fn kind(&self) -> &'static str {
        "ccd"
    }

    fn commands(&self) -> &'static [CommandSpec] {
        COMMANDS
    }

    fn parse_command(&self, request: &Message) -> Result<Command, Error> {
        commands::parse(request, &self.config.limits)
    }

    fn needs_hardware(&self, command: &Command) -> bool {
        matches!(
            command,
            Command::Expose(_) | Command::Abort | Command::SetCooler(_)
        )
    }

    async fn connect(&mut self) -> Result<(), Error> {
        let mut link = ArchonLink::connect(&self.config.address, self.config.timeout).await?;
        let system = parse_pairs(&link.command("SYSTEM").await?);
        if !system.contains_key("BACKPLANE_TYPE") {
            return Err(Error::device_error("SYSTEM reply without BACKPLANE_TYPE"));
        }
        let heater_module = (1..=16).find(|n| {
            matches!(
                system.get(&format!("MOD{n}_TYPE")).map(String::as_str),
                Some("5") | Some("11")
            )
        });
        let mut heater = heater_module.map(|module| Heater {
            module,
            line: None,
            setpoint: None,
        });
        if let Some(heater) = &mut heater {
            let key = format!("MOD{}/HEATERATARGET=", heater.module);
            for index in 0..MAX_CONFIG_SCAN {
                let line = link.command(&format!("RCONFIG{index:04X}")).await?;
                if line.is_empty() {
                    break;
                }
                if let Some(value) = line.strip_prefix(&key) {
                    heater.line = Some(index);
                    heater.setpoint = value.trim().parse().ok();
                    break;
                }
            }
        }
        info!(
            "controller: backplane {}, heater {:?}",
            system.get("BACKPLANE_VERSION").map_or("?", String::as_str),
            heater
        );
        self.heater = heater;
        self.link = Some(link);
        Ok(())
    }

    async fn disconnect(&mut self) {
        self.link = None;
    }

    async fn poll(&mut self, status: &mut StatusBuilder) -> Result<(), Error> {
        let link = self.link()?;
        if !link.is_outstanding("STATUS") {
            let reply = parse_pairs(&link.command("STATUS").await?);
            let entries: usize = reply.get("LOG").and_then(|n| n.parse().ok()).unwrap_or(0);
            for _ in 0..entries.min(MAX_LOG_PER_POLL) {
                let entry = link.command("FETCHLOG").await?;
                info!(target: "archon", "controller log: {entry}");
            }
            self.last_status = reply;
        }
        let link = self.link()?;
        if !link.is_outstanding("FRAME") {
            let frame = parse_pairs(&link.command("FRAME").await?);
            if let Err(err) = self.maybe_read_out(&frame).await {
                self.report(status);
                return Err(err);
            }
        }
        self.report(status);
        Ok(())
    }

    async fn execute(&mut self, command: Command) -> Result<Kwargs, Error> {
        self.execute_outcome(command)
            .await
            .map(|outcome| outcome.kwargs)
    }

    async fn execute_outcome(&mut self, command: Command) -> Result<Outcome, Error> {
        let kwargs = match command {
            Command::Expose(request) => self.expose(request).await?,
            Command::Abort => {
                let aborted = self.pending.is_some();
                if aborted {
                    self.link()?
                        .command("FASTLOADPARAM AbortExposure 1")
                        .await?;
                    self.pending = None;
                    info!("exposure aborted");
                }
                vec![("aborted".into(), u8::from(aborted).to_string())]
            }
            Command::SetRoi(roi) => {
                self.roi = roi;
                self.save().await;
                vec![
                    ("width".into(), (roi.width / self.bin.0).to_string()),
                    ("height".into(), (roi.height / self.bin.1).to_string()),
                ]
            }
            Command::SetBinning(x, y) => {
                self.bin = (x, y);
                self.save().await;
                vec![("binning".into(), format!("{x}x{y}"))]
            }
            Command::SetCooler(setpoint) => self.set_cooler(setpoint).await?,
            Command::GetFrame(id) => return self.get_frame(id),
            Command::SetKeywords { clear, keywords } => {
                if clear {
                    self.keywords.clear();
                }
                for (key, value) in keywords {
                    let normal = labwire_fits::normalize_keyword(&key).map(|k| k.0);
                    self.keywords
                        .retain(|(k, _)| labwire_fits::normalize_keyword(k).map(|k| k.0) != normal);
                    self.keywords.push((key, value));
                }
                if self.keywords.len() > commands::MAX_KEYWORDS {
                    let excess = self.keywords.len() - commands::MAX_KEYWORDS;
                    self.keywords.drain(..excess);
                }
                vec![("keywords".into(), self.keywords.len().to_string())]
            }
        };
        Ok(Outcome::from(kwargs))
    }
}
