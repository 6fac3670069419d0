//! labwire-psu: the Keysight E36300 daemon (in progress).
fn main() {}
