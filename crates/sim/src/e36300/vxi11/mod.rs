//! The supply over VXI-11, as VISA's `TCPIP::<host>::inst0::INSTR` reaches it: a
//! portmapper that points at the core channel, and the core channel itself. Both talk to
//! the same [`Instrument`](super::Instrument) as the SCPI socket, so settings made over
//! one are seen over the other.
//!
//! Layout: `rpc` (ONC RPC record marking and XDR, server side), `portmapper`, `core`
//! (links, DEVICE_WRITE/READ and the rest of the core procedures).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;

use super::control::PsuControl;
use crate::server::{self, Fault, SimHandle};

mod core;
mod portmapper;
mod rpc;

/// The VXI-11 core channel's RPC program and version.
pub const CORE_PROGRAM: u32 = 0x0607AF;
pub const CORE_VERSION: u32 = 1;
/// Where a real instrument's portmapper listens (binding it takes privileges).
pub const PORTMAPPER_PORT: u16 = 111;

/// A running VXI-11 side of a supply simulator.
#[derive(Debug)]
pub struct Vxi11Handle {
    portmapper: SimHandle<()>,
    core: SimHandle<()>,
}

impl Vxi11Handle {
    /// Where the portmapper listens: what a VXI-11 client is given.
    pub fn portmapper_addr(&self) -> SocketAddr {
        self.portmapper.local_addr()
    }

    /// Where the core channel listens (the portmapper's GETPORT answer).
    pub fn core_addr(&self) -> SocketAddr {
        self.core.local_addr()
    }

    /// Injects a fault into both services, as [`SimHandle::set_fault`] does for the socket.
    pub fn set_fault(&self, fault: Fault) {
        self.portmapper.set_fault(fault);
        self.core.set_fault(fault);
    }

    pub fn shutdown(&self) {
        self.portmapper.shutdown();
        self.core.shutdown();
    }

    pub async fn stopped(&self) {
        self.portmapper.stopped().await;
        self.core.stopped().await;
    }
}

/// Serves the instrument behind `control` over VXI-11: the portmapper on `portmapper`
/// (port 0 picks a free one), the core channel on a free port of the same address.
pub async fn spawn_vxi11(
    control: &PsuControl,
    portmapper: SocketAddr,
    seed: u64,
) -> io::Result<Vxi11Handle> {
    let shared = Arc::new(self::core::Shared {
        instrument: control.instrument(),
        next_link: AtomicU32::new(1),
    });
    let core = server::serve(
        "vxi11-core",
        SocketAddr::new(portmapper.ip(), 0),
        (),
        seed,
        b"\n",
        move |conn| self::core::session(conn, shared.clone()),
    )
    .await?;
    let core_port = core.local_addr().port();
    let portmapper = server::serve("portmapper", portmapper, (), seed, b"\n", move |conn| {
        portmapper::session(conn, core_port)
    })
    .await?;
    Ok(Vxi11Handle { portmapper, core })
}
