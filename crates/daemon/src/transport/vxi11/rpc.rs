//! ONC RPC (RFC 5531) as a VXI-11 client needs it: XDR encoding (RFC 4506) of the few
//! types VXI-11 uses, record marking over TCP, and one call at a time on a channel.

use crate::device::Error;
use crate::transport::ByteStream;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};

/// The record-marking header's "last fragment" bit; the other 31 bits are the length.
const LAST_FRAGMENT: u32 = 0x8000_0000;
const MSG_CALL: u32 = 0;
const MSG_REPLY: u32 = 1;
const RPC_VERSION: u32 = 2;
const AUTH_NONE: u32 = 0;
const MSG_ACCEPTED: u32 = 0;
const ACCEPT_SUCCESS: u32 = 0;
/// Longest record accepted from a server; a VXI-11 read answers at most what was asked.
pub const MAX_RECORD: usize = 1 << 20;
/// Records answering other calls (late replies) skipped before giving up on the channel.
const MAX_STALE_REPLIES: usize = 16;

/// XDR encoding: big-endian 4-byte units, opaque data padded to a multiple of 4.
#[derive(Default)]
pub struct XdrWriter {
    bytes: Vec<u8>,
}

impl XdrWriter {
    pub fn new() -> Self {
        XdrWriter::default()
    }

    pub fn u32(&mut self, value: u32) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub fn bool(&mut self, value: bool) -> &mut Self {
        self.u32(u32::from(value))
    }

    /// Variable-length opaque data (`opaque x<>`), also the encoding of a `string`.
    pub fn opaque(&mut self, data: &[u8]) -> &mut Self {
        let length = u32::try_from(data.len()).expect("opaque data under 4 GiB");
        self.u32(length);
        self.bytes.extend_from_slice(data);
        let padding = (4 - data.len() % 4) % 4;
        self.bytes.extend(std::iter::repeat_n(0, padding));
        self
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// XDR decoding of a received record; every read checks the record is long enough.
pub struct XdrReader<'a> {
    data: &'a [u8],
}

impl<'a> XdrReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        XdrReader { data }
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], Error> {
        if self.data.len() < count {
            return Err(Error::device_error(
                "truncated RPC reply from the instrument",
            ));
        }
        let (head, rest) = self.data.split_at(count);
        self.data = rest;
        Ok(head)
    }

    pub fn u32(&mut self) -> Result<u32, Error> {
        let bytes = self.take(4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    pub fn i32(&mut self) -> Result<i32, Error> {
        Ok(self.u32()? as i32)
    }

    pub fn opaque(&mut self) -> Result<&'a [u8], Error> {
        let length = self.u32()? as usize;
        let data = self.take(length)?;
        self.take((4 - length % 4) % 4)?;
        Ok(data)
    }
}

/// One RPC program on one TCP connection, calls made one at a time.
pub struct RpcChannel {
    stream: Box<dyn ByteStream>,
    program: u32,
    version: u32,
    next_xid: u32,
}

impl RpcChannel {
    pub fn new(stream: Box<dyn ByteStream>, program: u32, version: u32, first_xid: u32) -> Self {
        RpcChannel {
            stream,
            program,
            version,
            next_xid: first_xid,
        }
    }

    /// Call `procedure` with XDR-encoded `arguments`; returns the encoded results. The
    /// reply must come within `wait`; replies to earlier, timed-out calls are skipped.
    pub async fn call(
        &mut self,
        procedure: u32,
        arguments: &[u8],
        wait: Duration,
    ) -> Result<Vec<u8>, Error> {
        let deadline = Instant::now() + wait;
        let xid = self.next_xid;
        self.next_xid = self.next_xid.wrapping_add(1);
        let mut call = XdrWriter::new();
        call.u32(xid)
            .u32(MSG_CALL)
            .u32(RPC_VERSION)
            .u32(self.program)
            .u32(self.version)
            .u32(procedure)
            .u32(AUTH_NONE)
            .opaque(&[])
            .u32(AUTH_NONE)
            .opaque(&[]);
        let mut record = call.into_bytes();
        record.extend_from_slice(arguments);
        let framed = frame(&record);
        match timeout_at(deadline, self.stream.write_all(&framed)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(Error::not_connected(format!("write failed: {err}"))),
            Err(_) => {
                return Err(Error::timeout(
                    "the instrument did not take the request in time",
                ))
            }
        }
        for _ in 0..MAX_STALE_REPLIES {
            let reply = timeout_at(deadline, read_record(&mut self.stream))
                .await
                .map_err(|_| Error::timeout("no answer from the device"))??;
            if let Some(results) = accepted_results(&reply, xid)? {
                return Ok(results.to_vec());
            }
        }
        Err(Error::device_error(
            "the instrument keeps answering other calls; the link is out of step",
        ))
    }
}

/// A record as one last fragment.
pub(super) fn frame(record: &[u8]) -> Vec<u8> {
    let length = u32::try_from(record.len()).expect("records are bounded");
    let mut framed = Vec::with_capacity(record.len() + 4);
    framed.extend_from_slice(&(LAST_FRAGMENT | length).to_be_bytes());
    framed.extend_from_slice(record);
    framed
}

/// Read one record (its fragments joined), at most [`MAX_RECORD`] bytes.
pub(super) async fn read_record(stream: &mut Box<dyn ByteStream>) -> Result<Vec<u8>, Error> {
    let lost = |err: std::io::Error| Error::not_connected(format!("read failed: {err}"));
    let mut record = Vec::new();
    loop {
        let mut header = [0u8; 4];
        stream.read_exact(&mut header).await.map_err(lost)?;
        let header = u32::from_be_bytes(header);
        let length = (header & !LAST_FRAGMENT) as usize;
        if record.len() + length > MAX_RECORD {
            return Err(Error::device_error(
                "RPC record too long; the link is out of step",
            ));
        }
        let start = record.len();
        record.resize(start + length, 0);
        stream
            .read_exact(&mut record[start..])
            .await
            .map_err(lost)?;
        if header & LAST_FRAGMENT != 0 {
            return Ok(record);
        }
    }
}

/// The results of a successful reply to call `xid`; `None` for a reply to another call.
fn accepted_results(reply: &[u8], xid: u32) -> Result<Option<&[u8]>, Error> {
    let mut reader = XdrReader::new(reply);
    if reader.u32()? != xid {
        return Ok(None);
    }
    if reader.u32()? != MSG_REPLY {
        return Err(Error::device_error(
            "the instrument sent an RPC call, not a reply",
        ));
    }
    if reader.u32()? != MSG_ACCEPTED {
        return Err(Error::device_error("the instrument refused the RPC call"));
    }
    let _verifier_flavor = reader.u32()?;
    reader.opaque()?;
    match reader.u32()? {
        ACCEPT_SUCCESS => Ok(Some(reader.data)),
        1 => Err(Error::device_error(
            "the instrument does not serve that RPC program",
        )),
        2 => Err(Error::device_error(
            "the instrument does not serve that program version",
        )),
        3 => Err(Error::device_error(
            "the instrument does not know that RPC procedure",
        )),
        other => Err(Error::device_error(format!(
            "the instrument could not run the RPC call (accept status {other})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdr_round_trip() {
        let mut writer = XdrWriter::new();
        writer.u32(7).bool(true).opaque(b"inst0").u32(u32::MAX);
        let bytes = writer.into_bytes();
        assert_eq!(bytes.len(), 4 + 4 + 4 + 8 + 4, "opaque data padded to 4");
        assert_eq!(&bytes[12..17], b"inst0");
        let mut reader = XdrReader::new(&bytes);
        assert_eq!(reader.u32().unwrap(), 7);
        assert_eq!(reader.u32().unwrap(), 1);
        assert_eq!(reader.opaque().unwrap(), b"inst0");
        assert_eq!(reader.i32().unwrap(), -1);
        assert!(reader.u32().is_err(), "nothing left");
        let mut short = XdrReader::new(&[0, 0, 0, 9, 1, 2]);
        assert!(short.opaque().is_err(), "length beyond the record");
    }

    #[tokio::test]
    async fn fragments_are_joined_and_stale_replies_skipped() {
        let (near, mut far) = tokio::io::duplex(4096);
        let mut channel = RpcChannel::new(Box::new(near), 0x0607AF, 1, 40);
        let server = tokio::spawn(async move {
            let mut header = [0u8; 4];
            far.read_exact(&mut header).await.unwrap();
            let length = (u32::from_be_bytes(header) & !LAST_FRAGMENT) as usize;
            let mut call = vec![0u8; length];
            far.read_exact(&mut call).await.unwrap();
            let reply_to = |xid: u32| {
                let mut reply = XdrWriter::new();
                reply
                    .u32(xid)
                    .u32(MSG_REPLY)
                    .u32(MSG_ACCEPTED)
                    .u32(0)
                    .opaque(&[]);
                reply.u32(ACCEPT_SUCCESS).u32(xid * 2);
                reply.into_bytes()
            };
            // A late reply to call 39, then the answer in two fragments.
            far.write_all(&frame(&reply_to(39))).await.unwrap();
            let answer = reply_to(40);
            let (one, two) = answer.split_at(10);
            far.write_all(&(one.len() as u32).to_be_bytes())
                .await
                .unwrap();
            far.write_all(one).await.unwrap();
            far.write_all(&frame(two)).await.unwrap();
            call
        });
        let results = channel
            .call(12, &[0, 0, 0, 5], Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(results, 80u32.to_be_bytes());
        let call = server.await.unwrap();
        let mut reader = XdrReader::new(&call);
        let header: Vec<u32> = (0..6).map(|_| reader.u32().unwrap()).collect();
        assert_eq!(header, [40, MSG_CALL, RPC_VERSION, 0x0607AF, 1, 12]);
    }
}
