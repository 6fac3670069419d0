//! The Pfeiffer TPG 36x mnemonic protocol: send `<mnemonic>\r\n`, expect ACK (0x06) or
//! NAK (0x15) and CR LF, then send ENQ (0x05) and read the data line.

use labwire_daemon::transport::{ByteStream, Link, TcpLink};
use labwire_daemon::Error;
use std::time::Duration;

const ACK: &str = "\x06";
const NAK: &str = "\x15";
const ENQ: &[u8] = b"\x05";

/// Pressure units of the controller (`UNI` codes 0, 1, 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Mbar,
    Torr,
    Pa,
}

impl Unit {
    pub const CHOICES: [(&'static str, Unit); 3] =
        [("mbar", Unit::Mbar), ("torr", Unit::Torr), ("pa", Unit::Pa)];

    pub fn code(self) -> u8 {
        match self {
            Unit::Mbar => 0,
            Unit::Torr => 1,
            Unit::Pa => 2,
        }
    }

    pub fn from_code(code: &str) -> Option<Unit> {
        match code.trim() {
            "0" => Some(Unit::Mbar),
            "1" => Some(Unit::Torr),
            "2" => Some(Unit::Pa),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Unit::Mbar => "mbar",
            Unit::Torr => "torr",
            Unit::Pa => "pa",
        }
    }

    /// Multiply a reading in this unit to get mbar.
    pub fn to_mbar(self) -> f64 {
        match self {
            Unit::Mbar => 1.0,
            Unit::Torr => 1.333_223_684,
            Unit::Pa => 0.01,
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

/// One `PR1` answer: the status code and, when the status is 0, the pressure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    pub status: u8,
    /// In the controller's current unit; `None` unless `status == 0`.
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
}

impl Tpg36x<tokio::net::TcpStream> {
    pub async fn connect(address: &str, timeout: Duration) -> Result<Self, Error> {
        let link = TcpLink::connect_tcp(address, timeout).await?;
        Ok(Tpg36x::new(link))
    }
}

impl<S: ByteStream> Tpg36x<S> {
    pub fn new(link: Link<S>) -> Self {
        Tpg36x { link }
    }

    /// One mnemonic exchange: request, ACK, ENQ, data line.
    pub async fn exchange(&mut self, mnemonic: &str) -> Result<String, Error> {
        self.link.send(format!("{mnemonic}\r\n").as_bytes()).await?;
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

    /// Stop continuous mode (`COM`) if a previous user left it on: any byte ends it.
    pub async fn quiet(&mut self) -> Result<(), Error> {
        self.link.send(b"\r\n").await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Drain whatever the gauge still sent (a NAK for the blank line, old data).
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
        let mut gauge = Tpg36x::new(Link::new(near, Duration::from_millis(200)));
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
}
