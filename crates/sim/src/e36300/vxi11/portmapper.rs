//! The portmapper (program 100000 version 2) as a LAN instrument runs it: it knows one
//! mapping, the VXI-11 core channel over TCP, and answers NULL, GETPORT and DUMP.

use std::io;

use super::rpc::{frame, parse_call, reply, Accept, Incoming, RecordReader, XdrReader, XdrWriter};
use super::{CORE_PROGRAM, CORE_VERSION};
use crate::server::Conn;

pub(super) const PROGRAM: u32 = 100_000;
const VERSION: u32 = 2;
const NULL: u32 = 0;
const GETPORT: u32 = 3;
const DUMP: u32 = 4;
const IPPROTO_TCP: u32 = 6;

/// Serves one portmapper connection; `core_port` is where the core channel listens.
pub(super) async fn session(mut conn: Conn, core_port: u16) -> io::Result<()> {
    let mut records = RecordReader::default();
    while let Some(record) = records.next(&mut conn).await? {
        let answer = match parse_call(&record) {
            Incoming::Junk => continue,
            Incoming::Denied(denial) => denial,
            Incoming::Call(call) => {
                let (accept, results) = if call.program != PROGRAM {
                    (Accept::ProgramUnavailable, Vec::new())
                } else if call.version != VERSION {
                    (Accept::ProgramMismatch(VERSION), Vec::new())
                } else {
                    answer(call.procedure, &call.arguments, core_port)
                };
                reply(call.xid, accept, &results)
            }
        };
        conn.send_raw(&frame(&answer)).await?;
    }
    Ok(())
}

fn answer(procedure: u32, arguments: &[u8], core_port: u16) -> (Accept, Vec<u8>) {
    let mut results = XdrWriter::default();
    match procedure {
        NULL => {}
        GETPORT => {
            let mut reader = XdrReader::new(arguments);
            let mapping = (|| Some((reader.u32()?, reader.u32()?, reader.u32()?)))();
            let Some((program, version, protocol)) = mapping else {
                return (Accept::GarbageArguments, Vec::new());
            };
            let known = (program, version, protocol) == (CORE_PROGRAM, CORE_VERSION, IPPROTO_TCP);
            results.u32(if known { u32::from(core_port) } else { 0 });
        }
        DUMP => {
            results
                .u32(1)
                .u32(CORE_PROGRAM)
                .u32(CORE_VERSION)
                .u32(IPPROTO_TCP)
                .u32(u32::from(core_port))
                .u32(0);
        }
        _ => return (Accept::ProcedureUnavailable, Vec::new()),
    }
    (Accept::Success, results.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getport_knows_only_the_core_channel() {
        let mut ask = XdrWriter::default();
        ask.u32(CORE_PROGRAM).u32(1).u32(IPPROTO_TCP).u32(0);
        let (accept, port) = answer(GETPORT, &ask.into_bytes(), 4321);
        assert_eq!(accept, Accept::Success);
        assert_eq!(port, 4321u32.to_be_bytes());
        let mut udp = XdrWriter::default();
        udp.u32(CORE_PROGRAM).u32(1).u32(17).u32(0);
        assert_eq!(answer(GETPORT, &udp.into_bytes(), 4321).1, [0; 4]);
        assert_eq!(answer(GETPORT, &[0, 0], 1).0, Accept::GarbageArguments);
        assert_eq!(answer(99, &[], 1).0, Accept::ProcedureUnavailable);
    }
}
