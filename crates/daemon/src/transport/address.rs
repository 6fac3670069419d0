//! Where an instrument is, as a user writes it: `host[:port]` and the VISA forms
//! `TCPIP[n]::<host>::<port>::SOCKET` mean a raw socket; `TCPIP[n]::<host>[::inst0]::INSTR`
//! and `vxi11://host[:portmapper-port][/device]` mean VXI-11.

use crate::device::Error;
use std::fmt;
use std::net::SocketAddr;

/// The portmapper's well-known port, where a VXI-11 client asks for the core channel.
pub const PORTMAPPER_PORT: u16 = 111;
/// The device name of a LAN instrument's own VXI-11 link.
pub const DEFAULT_VXI11_DEVICE: &str = "inst0";
/// Longest VXI-11 device name accepted (real ones are `inst0`, `gpib0,5`).
const MAX_DEVICE_NAME: usize = 64;

/// An instrument's address, saying which transport reaches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceAddress {
    /// A raw TCP socket, `host:port` (IPv6 hosts bracketed).
    Socket(String),
    /// VXI-11 (ONC RPC): the host, the port of its portmapper and the link's device name.
    Vxi11 {
        host: String,
        portmapper_port: u16,
        device: String,
    },
}

impl DeviceAddress {
    /// Read a `--device` value; a raw socket without a port gets `default_port`.
    pub fn parse(spec: &str, default_port: u16) -> Result<DeviceAddress, Error> {
        let spec = spec.trim();
        if let Some(rest) = strip_prefix_ignore_case(spec, "vxi11://") {
            return vxi11_url(spec, rest);
        }
        if is_visa(spec) {
            return visa(spec);
        }
        tcp_address(spec, default_port).map(DeviceAddress::Socket)
    }

    /// VXI-11 to `device` behind the portmapper at `portmapper`.
    pub fn vxi11(portmapper: SocketAddr, device: &str) -> DeviceAddress {
        let host = match portmapper {
            SocketAddr::V4(v4) => v4.ip().to_string(),
            SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
        };
        DeviceAddress::Vxi11 {
            host,
            portmapper_port: portmapper.port(),
            device: device.to_string(),
        }
    }

    pub fn is_vxi11(&self) -> bool {
        matches!(self, DeviceAddress::Vxi11 { .. })
    }
}

impl From<SocketAddr> for DeviceAddress {
    fn from(address: SocketAddr) -> Self {
        DeviceAddress::Socket(address.to_string())
    }
}

impl fmt::Display for DeviceAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceAddress::Socket(address) => f.write_str(address),
            DeviceAddress::Vxi11 {
                host,
                portmapper_port,
                device,
            } => write!(f, "vxi11://{host}:{portmapper_port}/{device}"),
        }
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// A VISA resource string: `TCPIP` first (a board number is checked by [`visa`]).
fn is_visa(spec: &str) -> bool {
    strip_prefix_ignore_case(spec, "TCPIP").is_some()
}

fn visa(spec: &str) -> Result<DeviceAddress, Error> {
    let parts: Vec<&str> = spec.split("::").map(str::trim).collect();
    let expected = || {
        Error::bad_argument(format!(
            "{spec:?}: expected TCPIP::<host>::<port>::SOCKET or TCPIP::<host>[::inst0]::INSTR"
        ))
    };
    let host = |host: &str| -> Result<String, Error> {
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(Error::bad_argument(format!("no host in {spec:?}")));
        }
        Ok(host.to_string())
    };
    let board = strip_prefix_ignore_case(parts[0], "TCPIP").unwrap_or("x");
    if !board.chars().all(|c| c.is_ascii_digit()) {
        return Err(expected());
    }
    match parts.as_slice() {
        [_, host_part, port, socket] if socket.eq_ignore_ascii_case("SOCKET") => {
            let port: u16 = port
                .parse()
                .map_err(|_| Error::bad_argument(format!("bad port in {spec:?}")))?;
            Ok(DeviceAddress::Socket(format!(
                "{}:{port}",
                host(host_part)?
            )))
        }
        [_, host_part, instr] if instr.eq_ignore_ascii_case("INSTR") => Ok(DeviceAddress::Vxi11 {
            host: host(host_part)?,
            portmapper_port: PORTMAPPER_PORT,
            device: DEFAULT_VXI11_DEVICE.to_string(),
        }),
        [_, host_part, device, instr] if instr.eq_ignore_ascii_case("INSTR") => {
            Ok(DeviceAddress::Vxi11 {
                host: host(host_part)?,
                portmapper_port: PORTMAPPER_PORT,
                device: device_name(spec, device)?,
            })
        }
        _ => Err(expected()),
    }
}

fn device_name(spec: &str, device: &str) -> Result<String, Error> {
    if strip_prefix_ignore_case(device, "hislip").is_some() {
        return Err(Error::bad_argument(format!(
            "{spec:?}: HiSLIP is not supported; use the VXI-11 device inst0 or the SOCKET form"
        )));
    }
    let printable = device.chars().all(|c| c.is_ascii_graphic());
    if device.is_empty() || device.len() > MAX_DEVICE_NAME || !printable {
        return Err(Error::bad_argument(format!(
            "{spec:?}: {device:?} is not a VXI-11 device name such as inst0"
        )));
    }
    Ok(device.to_string())
}

fn vxi11_url(spec: &str, rest: &str) -> Result<DeviceAddress, Error> {
    let (authority, device) = match rest.split_once('/') {
        Some((authority, "")) => (authority, DEFAULT_VXI11_DEVICE),
        Some((authority, device)) => (authority, device),
        None => (rest, DEFAULT_VXI11_DEVICE),
    };
    let device = device_name(spec, device)?;
    let address = tcp_address(authority, PORTMAPPER_PORT)
        .map_err(|err| Error::bad_argument(format!("{spec:?}: {}", err.message)))?;
    let (host, port) = address
        .rsplit_once(':')
        .expect("tcp_address always names a port");
    Ok(DeviceAddress::Vxi11 {
        host: host.to_string(),
        portmapper_port: port.parse().expect("tcp_address checked the port"),
        device,
    })
}

/// Where a TCP-reached device is: `host`, `host:port`, or the VISA form
/// `TCPIP[0]::host::port::SOCKET`; returns `host:port`.
pub fn tcp_address(spec: &str, default_port: u16) -> Result<String, Error> {
    let spec = spec.trim();
    if is_visa(spec) {
        return match visa(spec)? {
            DeviceAddress::Socket(address) => Ok(address),
            DeviceAddress::Vxi11 { .. } => Err(Error::bad_argument(format!(
                "{spec:?}: expected TCPIP::<host>::<port>::SOCKET (this device has no VXI-11)"
            ))),
        };
    }
    if spec.is_empty() {
        return Err(Error::bad_argument("empty device address"));
    }
    // A bare IPv6 address has several colons and no port; with a port it is bracketed.
    if spec.matches(':').count() > 1 && !spec.starts_with('[') {
        return Ok(format!("[{spec}]:{default_port}"));
    }
    let bracketed = spec.starts_with('[') && spec.ends_with(']');
    let Some((host, port)) = spec.rsplit_once(':').filter(|_| !bracketed) else {
        return Ok(format!("{spec}:{default_port}"));
    };
    if host.is_empty() || host == "[]" {
        return Err(Error::bad_argument(format!("no host in {spec:?}")));
    }
    match port.parse::<u16>() {
        Ok(_) => Ok(spec.to_string()),
        Err(_) => Err(Error::bad_argument(format!(
            "{port:?} is not a port number in {spec:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses() {
        assert_eq!(tcp_address("psu.lab", 5025).unwrap(), "psu.lab:5025");
        assert_eq!(tcp_address("10.0.0.2:6000", 5025).unwrap(), "10.0.0.2:6000");
        assert_eq!(
            tcp_address("TCPIP::169.254.4.10::5025::SOCKET", 1).unwrap(),
            "169.254.4.10:5025"
        );
        assert_eq!(tcp_address("TCPIP0::h::7::socket", 1).unwrap(), "h:7");
        assert!(tcp_address("TCPIP::h::INSTR", 1).is_err());
        assert!(tcp_address("", 1).is_err());
        assert_eq!(tcp_address("[::1]:7", 1).unwrap(), "[::1]:7");
        assert_eq!(tcp_address("::1", 7).unwrap(), "[::1]:7");
        assert_eq!(tcp_address("[::1]", 7).unwrap(), "[::1]:7");
        for malformed in ["h:port", "h:99999", "h:", ":7", "[::1]:x"] {
            let err = tcp_address(malformed, 1).unwrap_err();
            assert!(err.message.contains(malformed), "{malformed}: {err}");
        }
    }

    fn vxi11(host: &str, portmapper_port: u16, device: &str) -> DeviceAddress {
        DeviceAddress::Vxi11 {
            host: host.into(),
            portmapper_port,
            device: device.into(),
        }
    }

    #[test]
    fn vxi11_addresses() {
        let parse = |spec| DeviceAddress::parse(spec, 5025).unwrap();
        assert_eq!(
            parse("TCPIP::192.168.50.51::inst0::INSTR"),
            vxi11("192.168.50.51", 111, "inst0")
        );
        assert_eq!(parse("TCPIP0::psu::INSTR"), vxi11("psu", 111, "inst0"));
        assert_eq!(
            parse("tcpip1::psu::inst1::instr"),
            vxi11("psu", 111, "inst1")
        );
        assert_eq!(parse("vxi11://psu"), vxi11("psu", 111, "inst0"));
        assert_eq!(parse("VXI11://psu:4111/"), vxi11("psu", 4111, "inst0"));
        assert_eq!(
            parse("vxi11://[::1]:4111/gpib0,5"),
            vxi11("[::1]", 4111, "gpib0,5")
        );
        assert_eq!(
            parse("TCPIP::psu::5025::SOCKET"),
            DeviceAddress::Socket("psu:5025".into())
        );
        assert_eq!(parse("psu"), DeviceAddress::Socket("psu:5025".into()));
        assert_eq!(
            parse("vxi11://psu:4111").to_string(),
            "vxi11://psu:4111/inst0"
        );
        let local = SocketAddr::from(([127, 0, 0, 1], 999));
        assert_eq!(
            DeviceAddress::vxi11(local, "inst0"),
            vxi11("127.0.0.1", 999, "inst0")
        );
        for bad in [
            "TCPIP::::INSTR",
            "TCPIP::psu::hislip0::INSTR",
            "TCPIP::psu::a::b::INSTR",
            "TCPIPx::psu::INSTR",
            "vxi11://",
            "vxi11://psu:x",
            "vxi11://psu/in st",
        ] {
            assert!(DeviceAddress::parse(bad, 5025).is_err(), "{bad}");
        }
    }
}
