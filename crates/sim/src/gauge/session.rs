//! One host connection: bytes in, ACK/NAK and data lines out, and continuous mode.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::time::MissedTickBehavior;
use tracing::debug;

use super::mnemonics::{parse_message, Command, Request, Switch, ERR_PARAMETER, ERR_SYNTAX};
use super::plant::GaugeState;
use super::{lock, Interface, FIRMWARE};
use crate::server::{Conn, Fault};

const ACK: &[u8] = b"\x06\r\n";
const NAK: &[u8] = b"\x15\r\n";
const ENQ: u8 = 0x05;
/// ETX (Ctrl-C) clears the TPG's input buffer.
const ETX: u8 = 0x03;
/// Mnemonics are three letters plus a few short arguments; longer input is rejected.
const MAX_MESSAGE: usize = 64;

fn data_line(state: &Mutex<GaugeState>, request: Option<Request>) -> Vec<u8> {
    let mut state = lock(state);
    let now = Instant::now();
    let mut line = match request {
        Some(Request::Pressure(index)) => state.reading(index, now),
        Some(Request::Pressures) => state.readings(now),
        Some(Request::Unit) => state.unit.code().to_string(),
        Some(Request::GaugeTypes) => state.gauge_types(),
        Some(Request::Sensors) => state.switches(),
        Some(Request::ErrorWord) => {
            let word = format!("{:04b}", state.error_word);
            // Reading the error word resets it, as on the TPG.
            state.error_word = 0;
            word
        }
        Some(Request::Firmware) => FIRMWARE.to_string(),
        Some(Request::Identity) => state.model.identity().to_string(),
        // An ENQ without a valid request gets the error word (without resetting it).
        None => format!("{:04b}", state.error_word),
    };
    line.push_str("\r\n");
    line.into_bytes()
}

/// Carries out a parsed command on the gauge; the answer is what a later ENQ reads.
fn apply(state: &Mutex<GaugeState>, command: &Command) -> Result<Request, u8> {
    match command {
        Command::Read(request) => Ok(*request),
        Command::SetUnit(unit) => {
            lock(state).unit = *unit;
            Ok(Request::Unit)
        }
        Command::SetSensors(switches) => {
            set_sensors(&mut lock(state), switches)?;
            Ok(Request::Sensors)
        }
        Command::Continuous(_) => Ok(Request::Pressures),
    }
}

fn set_sensors(state: &mut GaugeState, switches: &[Switch]) -> Result<(), u8> {
    let wanted = state.channels.iter().zip(switches);
    // All or nothing: a sensor that cannot be switched refuses the whole message.
    if wanted
        .clone()
        .any(|(channel, switch)| switch.is_some() && !channel.switchable())
    {
        return Err(ERR_PARAMETER);
    }
    for (channel, switch) in state.channels.iter_mut().zip(switches) {
        if let Some(on) = switch {
            channel.switched_on = *on;
        }
    }
    Ok(())
}

/// ACK and NAK are not cut by a disconnect fault: the interesting failure is a data line
/// that stops halfway, which is where the fault strikes.
async fn acknowledge(conn: &mut Conn, bytes: &[u8]) -> io::Result<()> {
    if conn.fault() == Fault::Disconnect {
        conn.send_raw(bytes).await
    } else {
        conn.answer(bytes).await
    }
}

fn continuous_ticker(period: Duration) -> tokio::time::Interval {
    // The first tick fires at once: the TPG follows its ACK immediately with the first
    // value.
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker
}

pub(super) async fn session(
    mut conn: Conn,
    state: Arc<Mutex<GaugeState>>,
    interface: Interface,
) -> io::Result<()> {
    let mut input: Vec<u8> = Vec::with_capacity(MAX_MESSAGE);
    let mut overflow = false;
    let mut pending: Option<Request> = None;
    let mut continuous: Option<tokio::time::Interval> = None;
    // Set when a `COM` ended with a bare CR: its LF may still be on the way (in a later
    // packet) and must not end the output it belongs to.
    let mut lf_may_follow = false;
    let mut buf = [0u8; 512];
    loop {
        let n = match continuous.as_mut() {
            Some(ticker) => tokio::select! {
                read = conn.read(&mut buf) => read?,
                _ = ticker.tick() => {
                    let line = data_line(&state, Some(Request::Pressures));
                    conn.answer(&line).await?;
                    continue;
                }
            },
            None => conn.read(&mut buf).await?,
        };
        if n == 0 {
            return Ok(());
        }
        if conn.fault() == Fault::Silent {
            continue;
        }
        let mut bytes = &buf[..n];
        if std::mem::take(&mut lf_may_follow) && bytes.first() == Some(&b'\n') {
            bytes = &bytes[1..];
            if bytes.is_empty() {
                continue;
            }
        }
        if continuous.take().is_some() {
            debug!("continuous mode ended by host input");
        }
        for &byte in bytes {
            match byte {
                ENQ => {
                    input.clear();
                    overflow = false;
                    let line = data_line(&state, pending);
                    conn.answer(&line).await?;
                }
                ETX => {
                    input.clear();
                    overflow = false;
                }
                // RS-485 forbids the host's LF; the simulator makes a wrongly configured
                // host visible by refusing it as a syntax error.
                b'\n' if interface == Interface::Rs485 => {
                    input.clear();
                    overflow = false;
                    pending = None;
                    lock(&state).error_word |= ERR_SYNTAX;
                    acknowledge(&mut conn, NAK).await?;
                }
                b'\r' | b'\n' => {
                    if input.is_empty() && !overflow {
                        // The LF of CR LF, or a stray line end.
                        lf_may_follow = false;
                        continue;
                    }
                    let result = if overflow {
                        Err(ERR_SYNTAX)
                    } else {
                        parse_message(&input, lock(&state).channels.len())
                    };
                    input.clear();
                    overflow = false;
                    debug!(?result, "message");
                    if conn.fault() == Fault::Nak {
                        pending = None;
                        conn.send_raw(NAK).await?;
                        continue;
                    }
                    match result.and_then(|command| Ok((apply(&state, &command)?, command))) {
                        Ok((request, command)) => {
                            pending = Some(request);
                            acknowledge(&mut conn, ACK).await?;
                            if let Command::Continuous(period) = command {
                                continuous = Some(continuous_ticker(period));
                                lf_may_follow = byte == b'\r' && interface == Interface::Ethernet;
                            }
                        }
                        Err(bit) => {
                            lock(&state).error_word |= bit;
                            pending = None;
                            acknowledge(&mut conn, NAK).await?;
                        }
                    }
                }
                // The TPG ignores spaces anywhere in a message.
                b' ' => {}
                other => {
                    if input.len() < MAX_MESSAGE {
                        input.push(other);
                    } else {
                        overflow = true;
                    }
                }
            }
        }
    }
}
