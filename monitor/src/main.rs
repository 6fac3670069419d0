//! labwire-monitor (in progress).
fn main() {}
