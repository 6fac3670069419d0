//! The server side of ONC RPC (RFC 5531) over TCP as the instrument's VXI-11 services
//! need it: record marking, XDR (RFC 4506) of the few types they use, call headers in,
//! replies out.

use std::io;

use crate::server::Conn;

const LAST_FRAGMENT: u32 = 0x8000_0000;
const MSG_CALL: u32 = 0;
const MSG_REPLY: u32 = 1;
const RPC_VERSION: u32 = 2;
const MSG_ACCEPTED: u32 = 0;
const MSG_DENIED: u32 = 1;
const RPC_MISMATCH: u32 = 0;
const AUTH_NONE: u32 = 0;
/// A call bigger than this is not a VXI-11 client's: the connection is closed.
const MAX_RECORD: usize = 1 << 20;

/// How a call was accepted (RFC 5531 `accept_stat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Accept {
    Success,
    ProgramUnavailable,
    /// The program exists only in this version.
    ProgramMismatch(u32),
    ProcedureUnavailable,
    GarbageArguments,
}

/// XDR encoding: big-endian 4-byte units, opaque data padded to a multiple of 4.
#[derive(Default)]
pub(super) struct XdrWriter {
    bytes: Vec<u8>,
}

impl XdrWriter {
    pub(super) fn u32(&mut self, value: u32) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub(super) fn i32(&mut self, value: i32) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub(super) fn opaque(&mut self, data: &[u8]) -> &mut Self {
        // Records are bounded far below 4 GiB.
        self.u32(data.len() as u32);
        self.bytes.extend_from_slice(data);
        self.bytes
            .resize(self.bytes.len() + (4 - data.len() % 4) % 4, 0);
        self
    }

    pub(super) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// XDR decoding; `None` when the data ends early (garbage arguments).
pub(super) struct XdrReader<'a> {
    data: &'a [u8],
}

impl<'a> XdrReader<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        XdrReader { data }
    }

    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        if self.data.len() < count {
            return None;
        }
        let (head, rest) = self.data.split_at(count);
        self.data = rest;
        Some(head)
    }

    pub(super) fn u32(&mut self) -> Option<u32> {
        let bytes = self.take(4)?;
        Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    pub(super) fn i32(&mut self) -> Option<i32> {
        self.u32().map(|value| value as i32)
    }

    pub(super) fn bool(&mut self) -> Option<bool> {
        match self.u32()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    pub(super) fn opaque(&mut self) -> Option<&'a [u8]> {
        let length = self.u32()? as usize;
        let data = self.take(length)?;
        self.take((4 - length % 4) % 4)?;
        Some(data)
    }
}

/// One call, its header checked as far as RPC itself goes.
pub(super) struct Call {
    pub(super) xid: u32,
    pub(super) program: u32,
    pub(super) version: u32,
    pub(super) procedure: u32,
    pub(super) arguments: Vec<u8>,
}

/// What a record turned out to be.
pub(super) enum Incoming {
    Call(Call),
    /// A call in another RPC version: answer with this (already encoded) denial.
    Denied(Vec<u8>),
    /// Not a call at all (a reply, or too short): ignored, as servers do.
    Junk,
}

pub(super) fn parse_call(record: &[u8]) -> Incoming {
    let mut reader = XdrReader::new(record);
    let (Some(xid), Some(MSG_CALL), Some(rpc_version)) = (reader.u32(), reader.u32(), reader.u32())
    else {
        return Incoming::Junk;
    };
    if rpc_version != RPC_VERSION {
        let mut denial = XdrWriter::default();
        denial
            .u32(xid)
            .u32(MSG_REPLY)
            .u32(MSG_DENIED)
            .u32(RPC_MISMATCH)
            .u32(RPC_VERSION)
            .u32(RPC_VERSION);
        return Incoming::Denied(denial.into_bytes());
    }
    let header = (|| {
        let program = reader.u32()?;
        let version = reader.u32()?;
        let procedure = reader.u32()?;
        // Credentials and verifier: any flavour is accepted, as instruments do.
        reader.u32()?;
        reader.opaque()?;
        reader.u32()?;
        reader.opaque()?;
        Some((program, version, procedure))
    })();
    let Some((program, version, procedure)) = header else {
        return Incoming::Junk;
    };
    Incoming::Call(Call {
        xid,
        program,
        version,
        procedure,
        arguments: reader.data.to_vec(),
    })
}

/// The reply record to call `xid`.
pub(super) fn reply(xid: u32, accept: Accept, results: &[u8]) -> Vec<u8> {
    let mut reply = XdrWriter::default();
    reply
        .u32(xid)
        .u32(MSG_REPLY)
        .u32(MSG_ACCEPTED)
        .u32(AUTH_NONE)
        .opaque(&[]);
    match accept {
        Accept::Success => {
            reply.u32(0);
        }
        Accept::ProgramUnavailable => {
            reply.u32(1);
        }
        Accept::ProgramMismatch(only) => {
            reply.u32(2).u32(only).u32(only);
        }
        Accept::ProcedureUnavailable => {
            reply.u32(3);
        }
        Accept::GarbageArguments => {
            reply.u32(4);
        }
    }
    let mut bytes = reply.into_bytes();
    if accept == Accept::Success {
        bytes.extend_from_slice(results);
    }
    bytes
}

/// A record as one last fragment.
pub(super) fn frame(record: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(record.len() + 4);
    framed.extend_from_slice(&(LAST_FRAGMENT | record.len() as u32).to_be_bytes());
    framed.extend_from_slice(record);
    framed
}

/// Reads records off a connection, joining fragments.
#[derive(Default)]
pub(super) struct RecordReader {
    buffer: Vec<u8>,
    record: Vec<u8>,
}

impl RecordReader {
    /// The next whole record; `None` when the client closed the connection.
    pub(super) async fn next(&mut self, conn: &mut Conn) -> io::Result<Option<Vec<u8>>> {
        loop {
            while self.buffer.len() >= 4 {
                let header = u32::from_be_bytes([
                    self.buffer[0],
                    self.buffer[1],
                    self.buffer[2],
                    self.buffer[3],
                ]);
                let length = (header & !LAST_FRAGMENT) as usize;
                if self.record.len() + length > MAX_RECORD {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "RPC record too long",
                    ));
                }
                if self.buffer.len() < 4 + length {
                    break;
                }
                self.record.extend_from_slice(&self.buffer[4..4 + length]);
                self.buffer.drain(..4 + length);
                if header & LAST_FRAGMENT != 0 {
                    return Ok(Some(std::mem::take(&mut self.record)));
                }
            }
            let mut chunk = [0u8; 4096];
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                return Ok(None);
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_parse_and_replies_encode() {
        let mut call = XdrWriter::default();
        call.u32(7).u32(MSG_CALL).u32(2).u32(100_000).u32(2).u32(3);
        call.u32(AUTH_NONE).opaque(&[]).u32(AUTH_NONE).opaque(&[]);
        call.u32(0x0607AF);
        let Incoming::Call(parsed) = parse_call(&call.into_bytes()) else {
            panic!("a call");
        };
        assert_eq!(
            (parsed.xid, parsed.program, parsed.version, parsed.procedure),
            (7, 100_000, 2, 3)
        );
        assert_eq!(parsed.arguments, 0x0607AFu32.to_be_bytes());
        let reply = reply(7, Accept::Success, &[0, 0, 0, 9]);
        assert_eq!(reply.len(), 6 * 4 + 4);
        assert_eq!(&reply[..8], &[0, 0, 0, 7, 0, 0, 0, 1]);
        let mut old = XdrWriter::default();
        old.u32(8).u32(MSG_CALL).u32(1).u32(1).u32(1).u32(1);
        assert!(matches!(parse_call(&old.into_bytes()), Incoming::Denied(_)));
        assert!(matches!(parse_call(&[0, 0, 0, 1]), Incoming::Junk));
    }

    #[test]
    fn xdr_reads_check_lengths() {
        let mut writer = XdrWriter::default();
        writer.opaque(b"inst0").i32(-1);
        let bytes = writer.into_bytes();
        let mut reader = XdrReader::new(&bytes);
        assert_eq!(reader.opaque(), Some(&b"inst0"[..]));
        assert_eq!(reader.i32(), Some(-1));
        assert_eq!(reader.u32(), None);
        assert_eq!(XdrReader::new(&[0, 0, 0, 9, 1]).opaque(), None);
        assert_eq!(XdrReader::new(&[0, 0, 0, 2]).bool(), None);
    }
}
