//! The gauge daemon's command line: the framework's [`CommonArgs`] plus `--rs485`, and
//! the simulator `--simulate` starts in-process (on the same interface).

use crate::driver::LineEnd;
use labwire_daemon::CommonArgs;
use labwire_sim::gauge::{self, GaugeOptions, Interface};
use std::net::SocketAddr;

#[derive(clap::Parser, Debug)]
#[command(
    name = "labwire-gauge",
    version,
    about = "labwire daemon for Pfeiffer TPG 36x vacuum gauge controllers (Ethernet port 8000)"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    /// End mnemonics with CR alone, as the controller's RS-485 interface requires (reached
    /// through an RS-485-to-Ethernet converter). Without it: CR LF, for the Ethernet port.
    #[arg(long)]
    pub rs485: bool,
}

impl Cli {
    pub fn line_end(&self) -> LineEnd {
        if self.rs485 {
            LineEnd::Cr
        } else {
            LineEnd::CrLf
        }
    }
}

/// `--simulate`: a TPG 361 simulator on `listen`, on the interface `line_end` is for (on
/// RS-485 it refuses an LF, so the flag is really exercised); the address it bound.
pub async fn spawn_simulator(listen: SocketAddr, line_end: LineEnd) -> std::io::Result<SocketAddr> {
    let interface = match line_end {
        LineEnd::CrLf => Interface::Ethernet,
        LineEnd::Cr => Interface::Rs485,
    };
    let options = GaugeOptions {
        interface,
        ..GaugeOptions::default()
    };
    Ok(gauge::spawn(listen, options).await?.local_addr())
}
