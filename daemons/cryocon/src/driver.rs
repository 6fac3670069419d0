//! The Cryo-con driver over a byte link: identification, the poll, and settings that
//! are written and read back in the same line (`LOOP 1:SETPt 150;SETPt?`), so every
//! request line gets a reply and a refused or altered value is noticed at once.
//!
//! All traffic goes through [`Cryocon::exchange`], the one place that keeps the
//! manual's 0.1 s between requests (counted from the previous reply, so network delays
//! can only lengthen the gap the controller sees) and bounds every read.

use std::time::Duration;

use labwire_daemon::transport::{ByteStream, Link, TcpLink};
use labwire_daemon::Error;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::debug;

use crate::model::Model;
use crate::poll::{parse_poll_reply, poll_requests, Poll, MAX_LINE};
use crate::reply::{
    is_refusal, parse_idn, parse_input, parse_loop_type, parse_number, parse_on_off, split_fields,
    Identity, LoopType, ParseError,
};
use crate::units::TempUnit;

/// The controller's TCP port.
pub const DEFAULT_PORT: u16 = 5000;
/// The least time between the end of one exchange and the next request.
pub const PACING: Duration = Duration::from_millis(100);
/// Limits of the loop settings, as the manual gives them.
pub const MAX_GAIN: f64 = 1000.0;
pub const MAX_RATE: f64 = 100.0;

impl From<ParseError> for Error {
    fn from(err: ParseError) -> Self {
        Error::device_error(err.to_string())
    }
}

/// A connected, identified controller.
pub struct Cryocon<S: ByteStream> {
    link: Link<S>,
    identity: Identity,
    last_exchange: Option<Instant>,
}

impl Cryocon<TcpStream> {
    /// Connects to `address` (`host:port`) and identifies the controller; `timeout`
    /// bounds the connection and every later read.
    pub async fn connect(address: &str, timeout: Duration) -> Result<Self, Error> {
        let link = TcpLink::connect_tcp(address, timeout).await?;
        Cryocon::open(link).await
    }
}

impl<S: ByteStream> Cryocon<S> {
    /// Identifies the controller on `link`; an unknown model is an error naming it.
    pub async fn open(link: Link<S>) -> Result<Self, Error> {
        let mut driver = Cryocon {
            link,
            identity: Identity {
                model: Model::Cryocon24C,
                model_name: String::new(),
                serial: String::new(),
                firmware: String::new(),
            },
            last_exchange: None,
        };
        let idn = driver.exchange("*IDN?").await?;
        driver.identity = parse_idn(&idn)?;
        debug!(idn, "identified");
        Ok(driver)
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn model(&self) -> Model {
        self.identity.model
    }

    /// Sends one request line and reads its reply line, keeping the pacing. After a
    /// failed read, input is discarded so a late reply cannot pass for the next one.
    pub async fn exchange(&mut self, line: &str) -> Result<String, Error> {
        if line.len() > MAX_LINE || line.contains(['\n', '\r']) {
            return Err(Error::bad_argument(format!(
                "request {line:?} is not one line under {} characters",
                MAX_LINE + 1
            )));
        }
        if let Some(last) = self.last_exchange {
            tokio::time::sleep_until(last + PACING).await;
        }
        let result = self.link.query(&format!("{line}\n")).await;
        self.last_exchange = Some(Instant::now());
        if result.is_err() {
            self.link.clear_input();
        }
        let reply = result?;
        debug!(request = line, reply, "exchange");
        Ok(reply)
    }

    /// Reads every input and loop.
    pub async fn poll(&mut self) -> Result<Poll, Error> {
        let mut replies = Vec::new();
        for line in poll_requests(self.model()) {
            replies.push(self.exchange(&line).await?);
        }
        Ok(parse_poll_reply(&replies.join(";"), self.model())?)
    }

    fn check_loop(&self, number: u8) -> Result<(), Error> {
        if self.model().has_loop(number) {
            return Ok(());
        }
        Err(Error::bad_argument(format!(
            "the {} has loops 1-{}, not {number}",
            self.model(),
            self.model().loop_count()
        )))
    }

    fn check_input(&self, input: char) -> Result<char, Error> {
        let input = input.to_ascii_uppercase();
        if self.model().has_input(input) {
            return Ok(input);
        }
        let inputs: String = self.model().inputs().iter().collect();
        Err(Error::bad_argument(format!(
            "the {} has inputs {inputs}, not {input:?}",
            self.model()
        )))
    }

    /// Sends `settings` then `queries` in one line under `path` and returns the
    /// read-back fields, one per query.
    async fn write_and_read(
        &mut self,
        path: &str,
        settings: &[String],
        queries: &[&str],
    ) -> Result<Vec<String>, Error> {
        let units: Vec<&str> = settings
            .iter()
            .map(String::as_str)
            .chain(queries.iter().copied())
            .collect();
        let line = format!(":{path}:{}", units.join(";"));
        self.confirmed_fields(&line, queries.len()).await
    }

    /// Sends a line of settings and queries and returns the `count` query answers. A
    /// `NAK` anywhere means the controller refused the line. Empty fields are dropped:
    /// some users report the controller answering set commands too, and none of the
    /// queries this driver sends can answer an empty field.
    async fn confirmed_fields(&mut self, line: &str, count: usize) -> Result<Vec<String>, Error> {
        let reply = self.exchange(line).await?;
        let fields: Vec<&str> = split_fields(&reply)
            .into_iter()
            .filter(|f| !f.is_empty())
            .collect();
        if fields.iter().any(|f| is_refusal(f)) {
            return Err(Error::device_error(format!(
                "the controller refused {line:?}"
            )));
        }
        if fields.len() != count {
            return Err(Error::device_error(format!(
                "unexpected reply {reply:?} to {line:?}: expected {count} fields"
            )));
        }
        Ok(fields.into_iter().map(str::to_string).collect())
    }

    /// Sets one numeric setting and confirms its read-back at the printed precision.
    async fn set_number(&mut self, path: &str, keyword: &str, value: f64) -> Result<f64, Error> {
        let query = format!("{keyword}?");
        let fields = self
            .write_and_read(
                path,
                &[format!("{keyword} {}", format_value(value))],
                &[&query],
            )
            .await?;
        confirm_number(&format!("{path}:{keyword}"), value, &fields[0])
    }

    /// `LOOP n:SETPt`, in the unit of the loop's source input. Returns the read-back.
    pub async fn set_setpoint(&mut self, number: u8, value: f64) -> Result<f64, Error> {
        self.check_loop(number)?;
        finite("setpoint", value)?;
        self.set_number(&format!("LOOP {number}"), "SETPt", value)
            .await
    }

    /// `LOOP n:SOURce`.
    pub async fn set_source(&mut self, number: u8, input: char) -> Result<char, Error> {
        self.check_loop(number)?;
        let input = self.check_input(input)?;
        let path = format!("LOOP {number}");
        let fields = self
            .write_and_read(&path, &[format!("SOURce {input}")], &["SOURce?"])
            .await?;
        let got = parse_input(&format!("{path}:SOURce?"), &fields[0], self.model())?;
        confirm_equal(&format!("{path}:SOURce"), input, got)
    }

    /// `LOOP n:TYPe`.
    pub async fn set_type(&mut self, number: u8, loop_type: LoopType) -> Result<LoopType, Error> {
        self.check_loop(number)?;
        let path = format!("LOOP {number}");
        let fields = self
            .write_and_read(&path, &[format!("TYPe {}", loop_type.word())], &["TYPe?"])
            .await?;
        let got = parse_loop_type(&format!("{path}:TYPe?"), &fields[0])?;
        confirm_equal(&format!("{path}:TYPe"), loop_type, got)
    }

    /// `LOOP n:RANGe`, one of [`Model::ranges`] for that loop (any case).
    pub async fn set_range(&mut self, number: u8, range: &str) -> Result<String, Error> {
        self.check_loop(number)?;
        let ranges = self.model().ranges(number);
        let Some(range) = ranges.iter().find(|r| r.eq_ignore_ascii_case(range.trim())) else {
            return Err(Error::bad_argument(format!(
                "loop {number} ranges are {}, not {range:?}",
                ranges.join(", ")
            )));
        };
        let path = format!("LOOP {number}");
        let fields = self
            .write_and_read(&path, &[format!("RANGe {range}")], &["RANGe?"])
            .await?;
        confirm_equal(
            &format!("{path}:RANGe"),
            range.to_string(),
            fields[0].to_ascii_uppercase(),
        )
    }

    /// `LOOP n:PGAin/IGAin/DGAin`, each 0-1000. Returns the read-backs.
    pub async fn set_pid(
        &mut self,
        number: u8,
        p: f64,
        i: f64,
        d: f64,
    ) -> Result<(f64, f64, f64), Error> {
        self.check_loop(number)?;
        for (name, value) in [("p", p), ("i", i), ("d", d)] {
            within(&format!("{name} gain"), value, 0.0, MAX_GAIN)?;
        }
        let path = format!("LOOP {number}");
        let settings = [
            format!("PGAin {}", format_value(p)),
            format!("IGAin {}", format_value(i)),
            format!("DGAin {}", format_value(d)),
        ];
        let fields = self
            .write_and_read(&path, &settings, &["PGAin?", "IGAin?", "DGAin?"])
            .await?;
        Ok((
            confirm_number(&format!("{path}:PGAin"), p, &fields[0])?,
            confirm_number(&format!("{path}:IGAin"), i, &fields[1])?,
            confirm_number(&format!("{path}:DGAin"), d, &fields[2])?,
        ))
    }

    /// `LOOP n:RATe`, 0-100 source units per minute.
    pub async fn set_ramp_rate(&mut self, number: u8, rate: f64) -> Result<f64, Error> {
        self.check_loop(number)?;
        within("ramp rate", rate, 0.0, MAX_RATE)?;
        self.set_number(&format!("LOOP {number}"), "RATe", rate)
            .await
    }

    /// `LOOP n:PMANual`, the manual output in % (0-100).
    pub async fn set_manual_power(&mut self, number: u8, percent: f64) -> Result<f64, Error> {
        self.check_loop(number)?;
        within("manual power", percent, 0.0, 100.0)?;
        self.set_number(&format!("LOOP {number}"), "PMANual", percent)
            .await
    }

    /// `LOOP n:MAXPwr`, the output limit in % (0-100).
    pub async fn set_max_power(&mut self, number: u8, percent: f64) -> Result<f64, Error> {
        self.check_loop(number)?;
        within("maximum power", percent, 0.0, 100.0)?;
        self.set_number(&format!("LOOP {number}"), "MAXPwr", percent)
            .await
    }

    /// `LOOP n:MAXSet`, the highest setpoint the controller accepts (source units).
    pub async fn set_max_setpoint(&mut self, number: u8, value: f64) -> Result<f64, Error> {
        self.check_loop(number)?;
        finite("maximum setpoint", value)?;
        self.set_number(&format!("LOOP {number}"), "MAXSet", value)
            .await
    }

    /// `LOOP 1:LOAD`, 50 or 25 ohm.
    pub async fn set_load(&mut self, number: u8, ohms: u32) -> Result<u32, Error> {
        self.check_loop(number)?;
        if !self.model().has_load(number) {
            return Err(Error::bad_argument(format!(
                "loop {number} has no load setting"
            )));
        }
        if ohms != 50 && ohms != 25 {
            return Err(Error::out_of_range(format!(
                "load must be 50 or 25 ohm, not {ohms}"
            )));
        }
        let got = self
            .set_number(&format!("LOOP {number}"), "LOAD", f64::from(ohms))
            .await?;
        Ok(got.round() as u32)
    }

    /// `CONTrol` (engage every loop) or `STOP`; returns `CONTrol?`.
    pub async fn set_control(&mut self, on: bool) -> Result<bool, Error> {
        let line = if on {
            ":CONTrol;:CONTrol?"
        } else {
            ":STOP;:CONTrol?"
        };
        let fields = self.confirmed_fields(line, 1).await?;
        let got = parse_on_off("CONTrol?", &fields[0])?;
        confirm_equal("CONTrol", on, got)
    }

    /// `INPut x:UNITs` (a flash write on the controller: slow).
    pub async fn set_input_unit(&mut self, input: char, unit: TempUnit) -> Result<TempUnit, Error> {
        let input = self.check_input(input)?;
        let path = format!("INPut {input}");
        let fields = self
            .write_and_read(&path, &[format!("UNITs {}", unit.letter())], &["UNITs?"])
            .await?;
        let got = TempUnit::from_letter(&fields[0]).ok_or_else(|| {
            Error::device_error(format!("{path}:UNITs? answered {:?}", fields[0]))
        })?;
        confirm_equal(&format!("{path}:UNITs"), unit, got)
    }
}

fn finite(what: &str, value: f64) -> Result<(), Error> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::bad_argument(format!(
            "{what} must be a finite number"
        )))
    }
}

fn within(what: &str, value: f64, low: f64, high: f64) -> Result<(), Error> {
    finite(what, value)?;
    if (low..=high).contains(&value) {
        Ok(())
    } else {
        Err(Error::out_of_range(format!(
            "{what} {value} is outside {low}..{high}"
        )))
    }
}

/// A number as the controller takes it: plain decimal, at most 6 decimals.
pub fn format_value(value: f64) -> String {
    let text = format!("{value:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

fn confirm_number(what: &str, sent: f64, field: &str) -> Result<f64, Error> {
    let got = parse_number(&format!("{what}?"), field)?;
    let tolerance = got.resolution / 2.0 + 1e-9 * sent.abs().max(1.0);
    if (got.value - sent).abs() <= tolerance {
        Ok(got.value)
    } else {
        Err(Error::device_error(format!(
            "{what}: sent {}, the controller reads back {}",
            format_value(sent),
            field.trim()
        )))
    }
}

fn confirm_equal<T: PartialEq + std::fmt::Display>(
    what: &str,
    sent: T,
    got: T,
) -> Result<T, Error> {
    if sent == got {
        Ok(got)
    } else {
        Err(Error::device_error(format!(
            "{what}: sent {sent}, the controller reads back {got}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn values_are_plain_decimals() {
        assert_eq!(format_value(150.0), "150");
        assert_eq!(format_value(-100.125), "-100.125");
        assert_eq!(format_value(1e-7), "0");
        assert_eq!(format_value(0.25), "0.25");
    }

    #[test]
    fn read_backs_compare_at_the_printed_precision() {
        assert_eq!(confirm_number("x", 150.0, "150.000K").unwrap(), 150.0);
        assert!(confirm_number("x", 150.004, "150.00").is_ok());
        let err = confirm_number("LOOP 1:SETPt", 150.0, "140.000K").unwrap_err();
        assert!(
            err.message.contains("150") && err.message.contains("140.000K"),
            "{err}"
        );
    }

    /// A scripted controller on an in-memory pipe: the exact bytes and the pacing.
    #[tokio::test]
    async fn identifies_and_paces_requests() {
        let (near, mut far) = tokio::io::duplex(1024);
        let script = tokio::spawn(async move {
            let mut buf = [0u8; 256];
            let n = far.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"*IDN?\n");
            far.write_all(b"Cryo-con,22C,1,2\r\n").await.unwrap();
            let answered = Instant::now();
            let n = far.read(&mut buf).await.unwrap();
            assert!(Instant::now() - answered >= PACING);
            assert_eq!(&buf[..n], b":STOP;:CONTrol?\n");
            far.write_all(b"OFF\r\n").await.unwrap();
        });
        let mut driver = Cryocon::open(Link::new(near, Duration::from_secs(1)))
            .await
            .unwrap();
        assert_eq!(driver.model(), Model::Cryocon22C);
        assert!(!driver.set_control(false).await.unwrap());
        script.await.unwrap();
    }

    /// A controller that alters a value: the read-back names what was sent and what came.
    #[tokio::test]
    async fn a_read_back_mismatch_names_both_values() {
        let (near, mut far) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let mut buf = [0u8; 256];
            let _ = far.read(&mut buf).await;
            far.write_all(b"Cryo-con,24C,1,2\r\n").await.unwrap();
            let n = far.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b":LOOP 2:SETPt 150;SETPt?\n");
            far.write_all(b"140.000K\r\n").await.unwrap();
            let n = far.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b":LOOP 1:TYPe PID;TYPe?\n");
            far.write_all(b"MAN  \r\n").await.unwrap();
            let _ = far.read(&mut buf).await;
        });
        let mut driver = Cryocon::open(Link::new(near, Duration::from_secs(1)))
            .await
            .unwrap();
        let err = driver.set_setpoint(2, 150.0).await.unwrap_err();
        assert_eq!(err.code, labwire_daemon::Error::device_error("").code);
        assert!(
            err.message.contains("sent 150") && err.message.contains("140.000K"),
            "{err}"
        );
        let err = driver.set_type(1, LoopType::Pid).await.unwrap_err();
        assert!(
            err.message.contains("PID") && err.message.contains("MAN"),
            "{err}"
        );
    }

    /// Empty fields for the set commands of a line are tolerated.
    #[tokio::test]
    async fn empty_answers_to_set_commands_are_ignored() {
        let (near, mut far) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let mut buf = [0u8; 256];
            let _ = far.read(&mut buf).await;
            far.write_all(b"Cryo-con,24C,1,2\r\n").await.unwrap();
            let _ = far.read(&mut buf).await.unwrap();
            far.write_all(b";;;10.000;2.500;0.000\r\n").await.unwrap();
            let _ = far.read(&mut buf).await;
        });
        let mut driver = Cryocon::open(Link::new(near, Duration::from_secs(1)))
            .await
            .unwrap();
        assert_eq!(
            driver.set_pid(1, 10.0, 2.5, 0.0).await.unwrap(),
            (10.0, 2.5, 0.0)
        );
    }

    #[tokio::test]
    async fn unknown_models_are_refused_by_name() {
        let (near, mut far) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let _ = far.read(&mut buf).await;
            far.write_all(b"Cryo-con,32B,1,2\n").await.unwrap();
            let _ = far.read(&mut buf).await;
        });
        let Err(err) = Cryocon::open(Link::new(near, Duration::from_secs(1))).await else {
            panic!("a 32B was accepted");
        };
        assert!(err.message.contains("\"32B\""), "{err}");
    }
}
