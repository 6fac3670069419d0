//! A frame as the daemon keeps and serves it: a FITS file whose header is made before the
//! readout starts (everything in it is known by then) and whose pixels are streamed in,
//! block by block, straight from the controller's FETCH into the file's buffer.

use bytes::Bytes;
use labwire_fits::{Header, Value};
use std::time::SystemTime;

/// What kind of frame, as `IMAGETYP` writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageType {
    Object,
    Bias,
    Dark,
    Flat,
}

impl ImageType {
    pub fn fits_name(self) -> &'static str {
        match self {
            ImageType::Object => "object",
            ImageType::Bias => "bias",
            ImageType::Dark => "dark",
            ImageType::Flat => "flat",
        }
    }

    /// Whether this kind of frame is taken with the shutter open.
    pub fn shutter_opens(self) -> bool {
        matches!(self, ImageType::Object | ImageType::Flat)
    }
}

/// A region of the sensor in unbinned pixels, from the bottom-left corner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Roi {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

/// Keywords the daemon writes itself; `set_keywords` may not replace them.
pub const OWN_KEYWORDS: &[&str] = &[
    "DATE-OBS", "EXPTIME", "EXPREQ", "IMAGETYP", "OBJECT", "INSTRUME", "SHUTTER", "FRAMEID",
    "XBINNING", "YBINNING", "ROIX", "ROIY", "ROIWIDTH", "ROIHEIGH", "CCD-TEMP", "SET-TEMP",
    "BACKTEMP", "ORIGIN",
];

/// Whether `key=value` may go into a frame's header from `set_keywords`.
pub fn check_keyword(key: &str, value: &str) -> Result<(), String> {
    let (normal, _) = labwire_fits::normalize_keyword(key).map_err(|e| e.to_string())?;
    if labwire_fits::is_reserved(&normal) || OWN_KEYWORDS.contains(&normal.as_str()) {
        return Err(format!("keyword {key} is written by the camera itself"));
    }
    labwire_fits::Card::new(key, keyword_value(value), None)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A `set_keywords` value as FITS sees it: a whole number, a real number, or text.
pub fn keyword_value(text: &str) -> Value {
    if let Ok(n) = text.parse::<i64>() {
        return Value::Integer(n);
    }
    match labwire_protocol::parse_number(text) {
        Some(x) => Value::Real(x),
        None => Value::Text(text.to_string()),
    }
}

/// Everything a frame's header says, gathered when its readout starts.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameMeta {
    pub id: u64,
    pub instrument: String,
    pub started: SystemTime,
    /// As measured by the controller's timestamps.
    pub exptime: f64,
    pub requested_exptime: f64,
    pub imagetype: ImageType,
    pub shutter_open: bool,
    pub object: String,
    pub roi: Roi,
    pub bin_x: usize,
    pub bin_y: usize,
    pub ccd_temperature: Option<f64>,
    pub cooler_setpoint: Option<f64>,
    pub backplane_temp: Option<f64>,
    /// From `set_keywords`, in the order given.
    pub keywords: Vec<(String, String)>,
}

impl FrameMeta {
    pub fn date_obs(&self) -> String {
        let text = labwire_time::rfc3339_millis(self.started);
        text.trim_end_matches('Z').to_string()
    }

    /// The header cards after the structural ones; also how many supplied values had
    /// to be cut or cleaned to fit a card.
    pub fn header(&self) -> (Header, usize) {
        let mut header = Header::new();
        let mut changed = 0;
        let mut put = |key: &str, value: Value, comment: &str| {
            let comment = (!comment.is_empty()).then_some(comment);
            // Every keyword here is a valid one; a value cut to fit is counted.
            if let Ok(true) = header.push(key, value, comment) {
                changed += 1;
            }
        };
        let optional = |x: Option<f64>| x.map_or(Value::Undefined, Value::Real);
        put(
            "DATE-OBS",
            Value::Text(self.date_obs()),
            "UTC start of exposure",
        );
        put(
            "EXPTIME",
            Value::Real(self.exptime),
            "s, from the controller's timestamps",
        );
        put(
            "EXPREQ",
            Value::Real(self.requested_exptime),
            "s, as requested",
        );
        put(
            "IMAGETYP",
            Value::Text(self.imagetype.fits_name().into()),
            "object, bias, dark or flat",
        );
        put("OBJECT", Value::Text(self.object.clone()), "");
        put(
            "INSTRUME",
            Value::Text(self.instrument.clone()),
            "labwire ccd daemon name",
        );
        put("ORIGIN", Value::Text("labwire".into()), "");
        put(
            "SHUTTER",
            Value::Text(if self.shutter_open { "open" } else { "closed" }.into()),
            "",
        );
        put(
            "FRAMEID",
            Value::Integer(self.id as i64),
            "frame_id of the daemon",
        );
        put("XBINNING", Value::Integer(self.bin_x as i64), "");
        put("YBINNING", Value::Integer(self.bin_y as i64), "");
        put(
            "ROIX",
            Value::Integer(self.roi.x as i64),
            "first column, unbinned, from 0",
        );
        put(
            "ROIY",
            Value::Integer(self.roi.y as i64),
            "first row, unbinned, from 0",
        );
        put(
            "ROIWIDTH",
            Value::Integer(self.roi.width as i64),
            "unbinned columns",
        );
        put(
            "ROIHEIGH",
            Value::Integer(self.roi.height as i64),
            "unbinned rows",
        );
        put(
            "CCD-TEMP",
            optional(self.ccd_temperature),
            "degC at readout",
        );
        put(
            "SET-TEMP",
            optional(self.cooler_setpoint),
            "degC cooler setpoint",
        );
        put(
            "BACKTEMP",
            optional(self.backplane_temp),
            "degC controller backplane",
        );
        for (key, value) in &self.keywords {
            put(key, keyword_value(value), "");
        }
        (header, changed)
    }
}

/// A frame read out completely, ready to serve.
#[derive(Clone, Debug)]
pub struct StoredFrame {
    pub meta: FrameMeta,
    pub width: usize,
    pub height: usize,
    pub fits: Bytes,
}

impl StoredFrame {
    /// `get_frame`'s reply kwargs.
    pub fn kwargs(&self) -> Vec<(String, String)> {
        vec![
            ("id".into(), self.meta.id.to_string()),
            ("format".into(), "fits".into()),
            ("width".into(), self.width.to_string()),
            ("height".into(), self.height.to_string()),
            (
                "exptime".into(),
                labwire_protocol::format_number(self.meta.exptime),
            ),
            ("imagetype".into(), self.meta.imagetype.fits_name().into()),
            ("date_obs".into(), self.meta.date_obs()),
        ]
    }
}
