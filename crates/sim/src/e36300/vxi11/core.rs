//! The VXI-11 core channel (program 0x0607AF version 1): links to the device `inst0`,
//! DEVICE_WRITE into the instrument's parser and DEVICE_READ out of its output queue.
//!
//! A write executes every LF-terminated program message at once, and what is left when
//! the END flag comes (pyvisa may send no LF at all). Each link has its own output queue;
//! a new program message while an answer is still unread throws the answer away with
//! -410 "Query INTERRUPTED", as IEEE 488.2 instruments do. A read with nothing to read
//! waits the client's io_timeout (bounded) and fails with error 15, which is how a VXI-11
//! instrument answers a query it did not understand.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::debug;

use super::rpc::{frame, parse_call, reply, Accept, Incoming, RecordReader, XdrReader, XdrWriter};
use super::{CORE_PROGRAM, CORE_VERSION};
use crate::e36300::control::lock;
use crate::e36300::{Instrument, Remote, MAX_LINE, QUERY_INTERRUPTED};
use crate::scpi;
use crate::server::{Conn, Fault};

const CREATE_LINK: u32 = 10;
const DEVICE_WRITE: u32 = 11;
const DEVICE_READ: u32 = 12;
const DEVICE_READSTB: u32 = 13;
const DEVICE_TRIGGER: u32 = 14;
const DEVICE_CLEAR: u32 = 15;
const DEVICE_REMOTE: u32 = 16;
const DEVICE_LOCAL: u32 = 17;
const DEVICE_LOCK: u32 = 18;
const DEVICE_UNLOCK: u32 = 19;
const DEVICE_ENABLE_SRQ: u32 = 20;
const DEVICE_DOCMD: u32 = 22;
const DESTROY_LINK: u32 = 23;
const CREATE_INTR_CHAN: u32 = 25;
const DESTROY_INTR_CHAN: u32 = 26;

/// Device_ErrorCode values.
const NO_ERROR: i32 = 0;
const DEVICE_NOT_ACCESSIBLE: i32 = 3;
const INVALID_LINK: i32 = 4;
const NOT_SUPPORTED: i32 = 8;
const IO_TIMEOUT: i32 = 15;

/// Device_Flags: the data ends a message; stop a read at `termChar`.
const FLAG_END: u32 = 0x08;
const FLAG_TERMCHAR: u32 = 0x80;
/// DEVICE_READ reasons.
const REASON_REQCNT: i32 = 0x01;
const REASON_CHR: i32 = 0x02;
const REASON_END: i32 = 0x04;

/// The largest DEVICE_WRITE the instrument takes (`maxRecvSize` of CREATE_LINK).
const MAX_RECEIVE: u32 = 4096;
/// A read with nothing to answer waits at most this long, whatever the client asked.
const MAX_IO_WAIT: Duration = Duration::from_secs(10);
/// The only device of a LAN instrument.
const DEVICE_NAME: &str = "inst0";

/// What the core channel's connections share.
pub(super) struct Shared {
    pub(super) instrument: Arc<Mutex<Instrument>>,
    /// Link ids are unique across connections.
    pub(super) next_link: AtomicU32,
}

/// One link's buffers.
#[derive(Default)]
struct LinkState {
    input: Vec<u8>,
    /// After an over-long message, bytes are dropped until its end.
    discarding: bool,
    output: Vec<u8>,
}

struct Session {
    shared: Arc<Shared>,
    links: HashMap<u32, LinkState>,
}

/// A reply's results, or a reason to answer with an RPC-level status instead.
type Answer = Result<Vec<u8>, Accept>;

pub(super) async fn session(mut conn: Conn, shared: Arc<Shared>) -> io::Result<()> {
    let mut session = Session {
        shared,
        links: HashMap::new(),
    };
    let mut records = RecordReader::default();
    while let Some(record) = records.next(&mut conn).await? {
        let call = match parse_call(&record) {
            Incoming::Junk => continue,
            Incoming::Denied(denial) => {
                conn.send_raw(&frame(&denial)).await?;
                continue;
            }
            Incoming::Call(call) => call,
        };
        let fault = conn.fault();
        if fault == Fault::Silent {
            // A hung instrument: the call is neither executed nor answered.
            continue;
        }
        let answer = if call.program != CORE_PROGRAM {
            Err(Accept::ProgramUnavailable)
        } else if call.version != CORE_VERSION {
            Err(Accept::ProgramMismatch(CORE_VERSION))
        } else {
            session.answer(call.procedure, &call.arguments).await
        };
        let carries_data = call.procedure == DEVICE_READ;
        let mut record = match answer {
            Ok(results) => reply(call.xid, Accept::Success, &results),
            Err(accept) => reply(call.xid, accept, &[]),
        };
        if carries_data {
            match fault {
                Fault::Slow(delay) => tokio::time::sleep(delay).await,
                Fault::Garbage | Fault::Nak => {
                    let mut junk = XdrWriter::default();
                    junk.i32(NO_ERROR).i32(REASON_END).opaque(&conn.junk_line());
                    record = reply(call.xid, Accept::Success, &junk.into_bytes());
                }
                Fault::Disconnect => {
                    let framed = frame(&record);
                    conn.send_raw(&framed[..framed.len() / 2]).await?;
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "simulated disconnect mid-answer",
                    ));
                }
                _ => {}
            }
        }
        conn.send_raw(&frame(&record)).await?;
    }
    Ok(())
}

impl Session {
    async fn answer(&mut self, procedure: u32, arguments: &[u8]) -> Answer {
        let mut args = XdrReader::new(arguments);
        let garbage = Accept::GarbageArguments;
        let mut results = XdrWriter::default();
        match procedure {
            CREATE_LINK => {
                let _client_id = args.i32().ok_or(garbage)?;
                let _lock = args.bool().ok_or(garbage)?;
                let _lock_timeout = args.u32().ok_or(garbage)?;
                let device = args.opaque().ok_or(garbage)?;
                if !device.eq_ignore_ascii_case(DEVICE_NAME.as_bytes()) {
                    debug!(device = %String::from_utf8_lossy(device), "no such device");
                    results.i32(DEVICE_NOT_ACCESSIBLE).u32(0).u32(0).u32(0);
                } else {
                    let link = self.shared.next_link.fetch_add(1, Ordering::Relaxed);
                    self.links.insert(link, LinkState::default());
                    debug!(link, "link created");
                    results.i32(NO_ERROR).u32(link).u32(0).u32(MAX_RECEIVE);
                }
            }
            DEVICE_WRITE => {
                let link = args.u32().ok_or(garbage)?;
                let _io_timeout = args.u32().ok_or(garbage)?;
                let _lock_timeout = args.u32().ok_or(garbage)?;
                let flags = args.u32().ok_or(garbage)?;
                let data = args.opaque().ok_or(garbage)?;
                match self.links.get_mut(&link) {
                    None => results.i32(INVALID_LINK).u32(0),
                    Some(state) => {
                        write(&self.shared.instrument, state, data, flags & FLAG_END != 0);
                        results.i32(NO_ERROR).u32(data.len() as u32)
                    }
                };
            }
            DEVICE_READ => {
                let link = args.u32().ok_or(garbage)?;
                let request_size = args.u32().ok_or(garbage)? as usize;
                let io_timeout = args.u32().ok_or(garbage)?;
                let _lock_timeout = args.u32().ok_or(garbage)?;
                let flags = args.u32().ok_or(garbage)?;
                let term_char = args.u32().ok_or(garbage)? as u8;
                let term_char = (flags & FLAG_TERMCHAR != 0).then_some(term_char);
                let Some(state) = self.links.get_mut(&link) else {
                    results.i32(INVALID_LINK).i32(0).opaque(&[]);
                    return Ok(results.into_bytes());
                };
                if state.output.is_empty() {
                    let wait = Duration::from_millis(u64::from(io_timeout)).min(MAX_IO_WAIT);
                    tokio::time::sleep(wait).await;
                    results.i32(IO_TIMEOUT).i32(0).opaque(&[]);
                } else {
                    let (data, reason) = take_answer(&mut state.output, request_size, term_char);
                    results.i32(NO_ERROR).i32(reason).opaque(&data);
                }
            }
            DEVICE_READSTB => {
                let link = args.u32().ok_or(garbage)?;
                match self.links.get(&link) {
                    None => results.i32(INVALID_LINK).u32(0),
                    Some(state) => {
                        let mut stb = lock(&self.shared.instrument).status_byte();
                        if !state.output.is_empty() {
                            stb |= 0x10;
                        }
                        results.i32(NO_ERROR).u32(u32::from(stb))
                    }
                };
            }
            DEVICE_TRIGGER | DEVICE_CLEAR | DEVICE_REMOTE | DEVICE_LOCAL | DEVICE_LOCK
            | DEVICE_UNLOCK | DESTROY_LINK => {
                let link = args.u32().ok_or(garbage)?;
                let Some(state) = self.links.get_mut(&link) else {
                    results.i32(INVALID_LINK);
                    return Ok(results.into_bytes());
                };
                match procedure {
                    DEVICE_CLEAR => *state = LinkState::default(),
                    DEVICE_REMOTE => lock(&self.shared.instrument).remote = Remote::Remote,
                    DEVICE_LOCAL => lock(&self.shared.instrument).remote = Remote::Local,
                    DESTROY_LINK => {
                        self.links.remove(&link);
                        debug!(link, "link destroyed");
                    }
                    // Triggers do nothing on a supply without a trigger set up; one client
                    // at a time holds a lock anyway in the simulator.
                    _ => {}
                }
                results.i32(NO_ERROR);
            }
            DEVICE_DOCMD => {
                results.i32(NOT_SUPPORTED).opaque(&[]);
            }
            DEVICE_ENABLE_SRQ | CREATE_INTR_CHAN | DESTROY_INTR_CHAN => {
                results.i32(NOT_SUPPORTED);
            }
            _ => return Err(Accept::ProcedureUnavailable),
        }
        Ok(results.into_bytes())
    }
}

/// Feed `data` to the instrument: every complete message runs now, and with `end` the
/// rest too.
fn write(instrument: &Mutex<Instrument>, state: &mut LinkState, data: &[u8], end: bool) {
    for &byte in data {
        if byte == b'\n' {
            if !std::mem::take(&mut state.discarding) {
                let message = std::mem::take(&mut state.input);
                execute(instrument, state, &message);
            }
            continue;
        }
        if state.discarding {
            continue;
        }
        if state.input.len() >= MAX_LINE {
            lock(instrument).queue(scpi::INPUT_BUFFER_OVERRUN);
            state.input.clear();
            state.discarding = true;
            continue;
        }
        state.input.push(byte);
    }
    if end {
        state.discarding = false;
        if !state.input.is_empty() {
            let message = std::mem::take(&mut state.input);
            execute(instrument, state, &message);
        }
    }
}

fn execute(instrument: &Mutex<Instrument>, state: &mut LinkState, message: &[u8]) {
    let message = message.strip_suffix(b"\r").unwrap_or(message);
    let mut instrument = lock(instrument);
    if !state.output.is_empty() {
        state.output.clear();
        instrument.queue(QUERY_INTERRUPTED);
    }
    let Ok(text) = std::str::from_utf8(message) else {
        instrument.queue(scpi::SYNTAX_ERROR);
        return;
    };
    debug!(message = text, "request");
    if let Some(answer) = instrument.execute_line(text, Instant::now()) {
        state.output.extend_from_slice(answer.as_bytes());
        state.output.push(b'\n');
    }
}

/// Up to `limit` bytes of the answer, stopping after `term_char`, and why it stopped.
fn take_answer(output: &mut Vec<u8>, limit: usize, term_char: Option<u8>) -> (Vec<u8>, i32) {
    let mut count = output.len().min(limit.max(1));
    let mut reason = 0;
    if let Some(at) = term_char.and_then(|t| output[..count].iter().position(|&b| b == t)) {
        count = at + 1;
        reason |= REASON_CHR;
    }
    let data: Vec<u8> = output.drain(..count).collect();
    if output.is_empty() {
        reason |= REASON_END;
    } else if reason == 0 {
        reason = REASON_REQCNT;
    }
    (data, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e36300::PsuOptions;

    fn instrument() -> Mutex<Instrument> {
        Mutex::new(Instrument::new(&PsuOptions::default()))
    }

    #[test]
    fn messages_run_at_lf_or_end() {
        let psu = instrument();
        let mut link = LinkState::default();
        write(&psu, &mut link, b"*IDN", false);
        assert!(link.output.is_empty(), "no LF and no END yet");
        write(&psu, &mut link, b"?", true);
        assert!(link.output.starts_with(b"Keysight Technologies,E36313A,"));
        assert!(link.output.ends_with(b"\n"));
        // A second query before the first answer was read.
        write(&psu, &mut link, b"SYST:ERR?\r\n", true);
        assert_eq!(link.output, b"-410,\"Query INTERRUPTED\"\n");
    }

    #[test]
    fn reads_stop_at_the_limit_the_term_char_or_the_end() {
        let mut output = b"+1,+2\n".to_vec();
        assert_eq!(
            take_answer(&mut output, 3, None),
            (b"+1,".to_vec(), REASON_REQCNT)
        );
        assert_eq!(
            take_answer(&mut output, 99, Some(b'\n')),
            (b"+2\n".to_vec(), REASON_CHR | REASON_END)
        );
        let mut two = b"a\nb".to_vec();
        assert_eq!(
            take_answer(&mut two, 99, Some(b'\n')),
            (b"a\n".to_vec(), REASON_CHR)
        );
        assert_eq!(take_answer(&mut two, 99, None), (b"b".to_vec(), REASON_END));
    }

    #[test]
    fn an_over_long_message_is_dropped_with_363() {
        let psu = instrument();
        let mut link = LinkState::default();
        write(&psu, &mut link, &vec![b'x'; MAX_LINE + 10], false);
        write(&psu, &mut link, b"tail\n*OPC?\n", true);
        assert_eq!(link.output, b"1\n");
        let errors: Vec<i32> = lock(&psu).errors.iter().map(|e| e.0).collect();
        assert_eq!(errors, [scpi::INPUT_BUFFER_OVERRUN]);
    }
}
