//! `labwire-ferment`: a fermentation chamber on a Raspberry Pi-like board: DS18B20 probes
//! on the Linux w1 bus, a heater and a fridge compressor on two GPIO relay lines.
//!
//! Layout (modules in the library so tests can use them):
//! - [`probe`]: the [`probe::ProbeReader`] trait and the w1 reader ([`probe::W1Bus`]):
//!   `w1_slave` parsing and every fault form (CRC, 85 °C, no answer, unplugged).
//! - [`relays`]: [`relays::Drive`] (off, heat or cool: never both), the lines as read
//!   back, and the [`relays::RelayLines`] trait.
//! - [`gpio`]: relay lines on a GPIO character device (gpiocdev), taken as-is.
//! - [`sim`]: the simulated chamber's relay lines behind the same trait.
//! - [`control`]: the hysteresis and the timing rules (compressor protection, minimum on
//!   times, dead time), pure logic on an injected clock; the one function that writes
//!   the relays.
//! - [`device`]: the labwire `Device`: status, commands, alarms, the state file.
//! - [`cli`]: the daemon's own flags beside the framework's.

pub mod cli;
pub mod control;
pub mod device;
pub mod gpio;
pub mod probe;
pub mod relays;
pub mod sim;
