//! The Pfeiffer TPG 36x mnemonic protocol: send `<mnemonic>` and its line end, expect
//! ACK (0x06) or NAK (0x15) and CR LF, then send ENQ (0x05) and read the data line.

use labwire_daemon::transport::{ByteStream, Link, TcpLink};
use labwire_daemon::Error;
use std::time::Duration;

pub use crate::units::Unit;

const ACK: &str = "\x06";
const NAK: &str = "\x15";
const ENQ: &[u8] = b"\x05";
/// Clears the controller's input buffer; like any byte, it also ends continuous mode.
const ETX: &[u8] = b"\x03";

/// What ends a mnemonic the host sends. The controller answers with CR LF either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LineEnd {
    /// Ethernet and USB: CR LF (the LF is optional there, and harmless).
    #[default]
    CrLf,
    /// RS-485: CR alone; the controller must not receive an LF.
    Cr,
}

impl LineEnd {
    fn bytes(self) -> &'static str {
        match self {
            LineEnd::CrLf => "\r\n",
            LineEnd::Cr => "\r",
        }
    }
}

/// The measurement status codes of `PR1`.
pub fn status_text(code: u8) -> &'static str {
    match code {
        0 => "ok",
        1 => "underrange",
        2 => "overrange",
        3 => "sensor_error",
        4 => "sensor_off",
        5 => "no_sensor",
        6 => "identification_error",
        _ => "unknown",
    }
}

/// One `PR1` answer: the status code and, when the status is 0, the value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    pub status: u8,
    /// In the controller's current unit (a voltage in Volt mode); `None` unless
    /// `status == 0`.
    pub value: Option<f64>,
}

pub fn parse_reading(data: &str) -> Result<Reading, Error> {
    let garbled = || Error::device_error(format!("unexpected PR1 answer {data:?}"));
    let (status, value) = data.trim().split_once(',').ok_or_else(garbled)?;
    let status: u8 = status.trim().parse().map_err(|_| garbled())?;
    let value: f64 = value.trim().parse().map_err(|_| garbled())?;
    if !value.is_finite() || status > 6 {
        return Err(garbled());
    }
    Ok(Reading {
        status,
        value: (status == 0).then_some(value),
    })
}

pub struct Tpg36x<S: ByteStream> {
    link: Link<S>,
    line_end: LineEnd,
}

impl Tpg36x<tokio::net::TcpStream> {
    pub async fn connect(
        address: &str,
        timeout: Duration,
        line_end: LineEnd,
    ) -> Result<Self, Error> {
        let link = TcpLink::connect_tcp(address, timeout).await?;
        Ok(Tpg36x::new(link, line_end))
    }
}

impl<S: ByteStream> Tpg36x<S> {
    pub fn new(link: Link<S>, line_end: LineEnd) -> Self {
        Tpg36x { link, line_end }
    }

    /// One mnemonic exchange: request, ACK, ENQ, data line.
    pub async fn exchange(&mut self, mnemonic: &str) -> Result<String, Error> {
        let request = format!("{mnemonic}{}", self.line_end.bytes());
        self.link.send(request.as_bytes()).await?;
        let answer = self.link.read_line().await?;
        match answer.as_str() {
            ACK => {}
            NAK => {
                return Err(Error::device_error(format!(
                    "the gauge refused {mnemonic:?} (NAK)"
                )))
            }
            other => {
                // Whatever else is in flight belongs to no request of ours.
                self.link.clear_input();
                return Err(Error::device_error(format!(
                    "expected ACK for {mnemonic:?}, got {other:?}"
                )));
            }
        }
        self.link.send(ENQ).await?;
        self.link.read_line().await
    }

    /// Start from a quiet line: ETX ends continuous mode (`COM`) if a previous user left
    /// it on, and throws away half a message another client left in the input buffer.
    pub async fn quiet(&mut self) -> Result<(), Error> {
        self.link.send(ETX).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Drain whatever the gauge still sent (continuous-mode lines under way).
        while let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_millis(50), self.link.read_line()).await
        {}
        self.link.clear_input();
        Ok(())
    }

    pub async fn gauge_type(&mut self) -> Result<String, Error> {
        Ok(self.exchange("TID").await?.trim().to_string())
    }

    pub async fn unit(&mut self) -> Result<Unit, Error> {
        let data = self.exchange("UNI").await?;
        Unit::from_code(&data)
            .ok_or_else(|| Error::device_error(format!("unexpected UNI answer {data:?}")))
    }

    pub async fn set_unit(&mut self, unit: Unit) -> Result<Unit, Error> {
        let data = self.exchange(&format!("UNI,{}", unit.code())).await?;
        Unit::from_code(&data)
            .ok_or_else(|| Error::device_error(format!("unexpected UNI answer {data:?}")))
    }

    pub async fn read_pressure(&mut self) -> Result<Reading, Error> {
        let data = self.exchange("PR1").await?;
        parse_reading(&data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labwire_protocol::ErrorCode;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn readings() {
        assert_eq!(
            parse_reading("0,+1.2300E-03").unwrap(),
            Reading {
                status: 0,
                value: Some(1.23e-3)
            }
        );
        assert_eq!(parse_reading("4,+0.0000E+00").unwrap().value, None);
        for bad in ["", "0", "x,1", "0,abc", "9,1.0", "0,nan"] {
            assert!(parse_reading(bad).is_err(), "{bad:?}");
        }
    }

    /// A scripted gauge on an in-memory pipe: checks the exact bytes of the exchange.
    #[tokio::test]
    async fn exchange_bytes_and_nak() {
        let (near, mut far) = tokio::io::duplex(256);
        let mut gauge = Tpg36x::new(Link::new(near, Duration::from_millis(200)), LineEnd::CrLf);
        let script = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let n = far.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"PR1\r\n");
            far.write_all(b"\x06\r\n").await.unwrap();
            let n = far.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"\x05");
            far.write_all(b"0,+5.0000E-04\r\n").await.unwrap();
            let n = far.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"XYZ\r\n");
            far.write_all(b"\x15\r\n").await.unwrap();
            far
        });
        assert_eq!(gauge.read_pressure().await.unwrap().value, Some(5e-4));
        let err = gauge.exchange("XYZ").await.unwrap_err();
        assert_eq!(err.code, ErrorCode::DeviceError);
        assert!(err.message.contains("NAK"));
        script.await.unwrap();
    }

    /// On RS-485 the mnemonic ends in CR alone, and ETX (not a line end) quiets the line.
    #[tokio::test]
    async fn rs485_sends_no_lf() {
        let (near, mut far) = tokio::io::duplex(256);
        let mut gauge = Tpg36x::new(Link::new(near, Duration::from_millis(200)), LineEnd::Cr);
        let script = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let n = far.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"\x03");
            // A continuous-mode line still under way when ETX arrived.
            far.write_all(b"0,+1.0000E+00\r\n").await.unwrap();
            let n = far.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"UNI,4\r");
            far.write_all(b"\x06\r\n").await.unwrap();
            let n = far.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"\x05");
            far.write_all(b"4\r\n").await.unwrap();
            far
        });
        gauge.quiet().await.unwrap();
        assert_eq!(gauge.set_unit(Unit::Hpa).await.unwrap(), Unit::Hpa);
        script.await.unwrap();
    }
}
