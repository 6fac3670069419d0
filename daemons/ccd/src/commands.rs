//! The daemon's commands, validated before anything is sent to the controller.

use crate::frame::{ImageType, Roi};
use labwire_daemon::{Args, CommandSpec, Error};
use labwire_protocol::Message;

/// Longest exposure accepted, seconds (the timing core counts milliseconds in 32 bits).
pub const MAX_EXPTIME: f64 = 86_400.0;
/// Most keywords `set_keywords` keeps for the next frames.
pub const MAX_KEYWORDS: usize = 512;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "expose",
        synopsis:
            "exptime=<s> [imagetype=object|bias|dark|flat] [shutter=open|closed] [object=<text>]",
    },
    CommandSpec {
        name: "abort",
        synopsis: "(discard the exposure or readout in progress)",
    },
    CommandSpec {
        name: "set_roi",
        synopsis: "x=<px> y=<px> width=<px> height=<px> (unbinned sensor pixels)",
    },
    CommandSpec {
        name: "set_binning",
        synopsis: "x=<1-16> y=<1-16>",
    },
    CommandSpec {
        name: "set_cooler",
        synopsis: "setpoint=<degC>",
    },
    CommandSpec {
        name: "get_frame",
        synopsis: "[id=<frame id>] (the FITS file follows as a bytes= payload)",
    },
    CommandSpec {
        name: "set_keywords",
        synopsis: "key=value ... (FITS keywords for the next frames; clear=1 forgets them)",
    },
];

#[derive(Clone, Debug, PartialEq)]
pub struct ExposeRequest {
    pub exptime: f64,
    pub imagetype: ImageType,
    pub shutter_open: bool,
    pub object: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Expose(ExposeRequest),
    Abort,
    SetRoi(Roi),
    SetBinning(usize, usize),
    SetCooler(f64),
    GetFrame(Option<u64>),
    SetKeywords {
        clear: bool,
        keywords: Vec<(String, String)>,
    },
}

/// Sensor size and cooler limits the commands are checked against.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub sensor_width: usize,
    pub sensor_height: usize,
    pub min_setpoint: f64,
    pub max_setpoint: f64,
}

pub fn parse(request: &Message, limits: &Limits) -> Result<Command, Error> {
    let mut args = Args::new(request);
    let command = match request.name.as_str() {
        "expose" => {
            let exptime = args.number_in("exptime", 0.0..=MAX_EXPTIME, "s")?;
            let imagetype = if request.get("imagetype").is_some() {
                args.choice(
                    "imagetype",
                    &[
                        ("object", ImageType::Object),
                        ("bias", ImageType::Bias),
                        ("dark", ImageType::Dark),
                        ("flat", ImageType::Flat),
                    ],
                )?
            } else {
                ImageType::Object
            };
            let shutter_open = match args.optional("shutter") {
                None => imagetype.shutter_opens(),
                Some(word) if word.eq_ignore_ascii_case("open") => true,
                Some(word) if word.eq_ignore_ascii_case("closed") => false,
                Some(word) => {
                    return Err(Error::bad_argument(format!(
                        "shutter={word:?}: expected open or closed"
                    )))
                }
            };
            if imagetype == ImageType::Bias && exptime != 0.0 {
                return Err(Error::bad_argument("a bias frame has exptime=0"));
            }
            if shutter_open && !imagetype.shutter_opens() {
                return Err(Error::bad_argument(format!(
                    "a {} frame is taken with the shutter closed",
                    imagetype.fits_name()
                )));
            }
            let object = args.optional("object").unwrap_or("").to_string();
            if object.len() > 68 {
                return Err(Error::bad_argument("object= is longer than 68 characters"));
            }
            Command::Expose(ExposeRequest {
                exptime,
                imagetype,
                shutter_open,
                object,
            })
        }
        "abort" => Command::Abort,
        "set_roi" => {
            let x = args.integer_in("x", 0..=limits.sensor_width as i64 - 1)? as usize;
            let y = args.integer_in("y", 0..=limits.sensor_height as i64 - 1)? as usize;
            let width = args.integer_in("width", 1..=(limits.sensor_width - x) as i64)? as usize;
            let height = args.integer_in("height", 1..=(limits.sensor_height - y) as i64)? as usize;
            Command::SetRoi(Roi {
                x,
                y,
                width,
                height,
            })
        }
        "set_binning" => {
            let x = args.integer_in("x", 1..=16)? as usize;
            let y = args.integer_in("y", 1..=16)? as usize;
            Command::SetBinning(x, y)
        }
        "set_cooler" => Command::SetCooler(args.number_in(
            "setpoint",
            limits.min_setpoint..=limits.max_setpoint,
            "degC",
        )?),
        "get_frame" => Command::GetFrame(match args.optional("id") {
            None => None,
            Some(text) => Some(
                text.parse()
                    .map_err(|_| Error::bad_argument(format!("id={text:?} is not a frame id")))?,
            ),
        }),
        "set_keywords" => return parse_keywords(request),
        other => return Err(Error::bad_argument(format!("unknown command {other}"))),
    };
    args.finish()?;
    Ok(command)
}

fn parse_keywords(request: &Message) -> Result<Command, Error> {
    if let Some(extra) = request.args.first() {
        return Err(Error::bad_argument(format!(
            "set_keywords takes key=value pairs, not {extra:?}"
        )));
    }
    let mut clear = false;
    let mut keywords = Vec::new();
    for (key, value) in &request.kwargs {
        if key == "clear" {
            clear = match value.as_str() {
                "1" => true,
                "0" => false,
                _ => return Err(Error::bad_argument("clear= is 0 or 1")),
            };
            continue;
        }
        crate::frame::check_keyword(key, value).map_err(Error::bad_argument)?;
        keywords.push((key.clone(), value.clone()));
    }
    if keywords.len() > MAX_KEYWORDS {
        return Err(Error::out_of_range(format!(
            "{} keywords; at most {MAX_KEYWORDS}",
            keywords.len()
        )));
    }
    Ok(Command::SetKeywords { clear, keywords })
}
