//! `labwire-clusterctrl`: 8086 consultancy's ClusterCTRL boards (each a USB I2C adapter
//! with an emulated register device at 0x20) and the ClusterHAT v2/v3 (an XRA1200
//! expander on the Pi's own bus), all Pis of them behind one daemon.
//!
//! Layout (modules in the library so tests can use them):
//! - [`bus`]: the [`bus::I2cBus`] trait and the simulator behind it.
//! - [`linux`]: `/dev/i2c-N` through the `i2cdev` crate.
//! - [`board`]: the ClusterCTRL family: board types, what each lacks, TYPE and MAXPI.
//! - [`ctrl`]: one ClusterCTRL board's driver: identity at connect, commands run as the
//!   firmware expects them (DATA, CMD, wait while busy, STATUS), refusals before writes.
//! - [`hat`]: the ClusterHAT driver over the expander's IN/OUT/DIR registers.
//! - [`cluster`]: the HAT and the boards together: orders, the factory-order rule, Pi
//!   numbering and addressing, "all" one Pi a second.
//! - [`device`]: the labwire `Device`: commands, status variables, errors.
//! - [`cli`]: the daemon's own flags beside the framework's.

pub mod board;
pub mod bus;
pub mod cli;
pub mod cluster;
pub mod ctrl;
pub mod device;
pub mod hat;
pub mod linux;
