//! Links to hardware. A driver talks to an [`InstrumentLink`] (`send`, `read_line`,
//! `query`) without knowing which transport is underneath: a raw byte stream ([`Link`]:
//! TCP to the device, or an in-memory pipe in a unit test) or a VXI-11 link. Every read
//! has a deadline: real instruments stay silent on requests they do not understand.
//!
//! Layout: `address` (what `--device` says: [`DeviceAddress`]), `socket` (the byte-stream
//! [`Link`]), `vxi11` (ONC RPC and the VXI-11 core channel).

mod address;
mod socket;
pub mod vxi11;

pub use address::{tcp_address, DeviceAddress, DEFAULT_VXI11_DEVICE, PORTMAPPER_PORT};
pub use socket::{Link, TcpLink};
pub use vxi11::Vxi11Link;

use crate::device::Error;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream a driver can talk through.
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ByteStream for T {}

/// A message link to an instrument over whichever transport its address names.
pub enum InstrumentLink {
    Socket(Link<Box<dyn ByteStream>>),
    Vxi11(Vxi11Link),
}

impl InstrumentLink {
    /// Connect to `address` within `timeout`, which then bounds every exchange.
    pub async fn connect(address: &DeviceAddress, timeout: Duration) -> Result<Self, Error> {
        match address {
            DeviceAddress::Socket(address) => {
                let link = TcpLink::connect_tcp(address, timeout).await?;
                Ok(InstrumentLink::from(link))
            }
            DeviceAddress::Vxi11 {
                host,
                portmapper_port,
                device,
            } => Vxi11Link::connect(host, *portmapper_port, device, timeout)
                .await
                .map(InstrumentLink::Vxi11),
        }
    }

    /// Connect to `address` as `--device` wrote it (or as [`crate::Setup`] hands it on);
    /// a raw socket without a port gets `default_port`.
    pub async fn connect_to(
        address: &str,
        default_port: u16,
        timeout: Duration,
    ) -> Result<Self, Error> {
        InstrumentLink::connect(&DeviceAddress::parse(address, default_port)?, timeout).await
    }

    pub fn timeout(&self) -> Duration {
        match self {
            InstrumentLink::Socket(link) => link.timeout(),
            InstrumentLink::Vxi11(link) => link.timeout(),
        }
    }

    /// Send one message (a socket sends the bytes; VXI-11 ends the message with END).
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), Error> {
        match self {
            InstrumentLink::Socket(link) => link.send(bytes).await,
            InstrumentLink::Vxi11(link) => link.send(bytes).await,
        }
    }

    /// Read one text line ending in LF (or, over VXI-11, in the message's end); a CR
    /// before the LF is dropped.
    pub async fn read_line(&mut self) -> Result<String, Error> {
        match self {
            InstrumentLink::Socket(link) => link.read_line().await,
            InstrumentLink::Vxi11(link) => link.read_line().await,
        }
    }

    /// Send `request` and read one line back.
    pub async fn query(&mut self, request: &str) -> Result<String, Error> {
        self.send(request.as_bytes()).await?;
        self.read_line().await
    }

    /// Forget bytes received but not read (e.g. a late answer after a timeout).
    pub fn clear_input(&mut self) {
        match self {
            InstrumentLink::Socket(link) => link.clear_input(),
            InstrumentLink::Vxi11(link) => link.clear_input(),
        }
    }

    /// Close the link politely (VXI-11: DESTROY_LINK); a socket just closes.
    pub async fn close(self) -> Result<(), Error> {
        match self {
            InstrumentLink::Socket(_) => Ok(()),
            InstrumentLink::Vxi11(link) => link.close().await,
        }
    }
}

impl<S: ByteStream> From<Link<S>> for InstrumentLink {
    fn from(link: Link<S>) -> Self {
        InstrumentLink::Socket(link.boxed())
    }
}
