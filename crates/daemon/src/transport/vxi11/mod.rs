//! VXI-11, the LAN instrument protocol most VISA libraries speak (`TCPIP::host::INSTR`):
//! ONC RPC over TCP. `rpc` holds XDR, record marking and the call; `client` the portmapper
//! lookup and the core channel's link.

mod client;
mod rpc;

pub use client::{core_port, Vxi11Link, DEVICE_CORE_PROGRAM, DEVICE_CORE_VERSION};
