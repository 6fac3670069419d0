//! `labwire-monitor`: the MONITOR binary. It only reads the command line; everything else
//! lives in the library crate (`labwire_monitor::app` puts the parts together).
//!
//! Exit codes: 0 clean stop, 2 bad command line or configuration (`file:line: message`),
//! 1 anything else.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    labwire_monitor::app::main(labwire_monitor::app::Cli::parse())
}
