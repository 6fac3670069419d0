//! The Archon's wire: `>xxCOMMAND` with a rolling hex id, answered `<xx` + text or `?xx`
//! (refused), and for `FETCH` binary blocks of `<xx:` + 1024 bytes. Every exchange has a
//! deadline. A reply carrying the id of an earlier request that timed out is a late
//! answer and is skipped; while one is still outstanding the same command is not sent
//! again (the controller would answer both, and the link would lose step).

use labwire_daemon::Error;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};

/// Bytes of pixel data in one binary block.
pub const BLOCK: usize = 1024;
/// The longest text reply accepted (a STATUS is a few kilobytes).
const MAX_REPLY: usize = 256 * 1024;

pub struct ArchonLink {
    stream: BufReader<TcpStream>,
    timeout: Duration,
    next_id: u8,
    /// Requests sent whose reply has not been read (at most the current one, plus those
    /// that timed out).
    outstanding: BTreeMap<u8, String>,
}

impl ArchonLink {
    pub async fn connect(address: &str, deadline: Duration) -> Result<ArchonLink, Error> {
        let stream = timeout(deadline, TcpStream::connect(address))
            .await
            .map_err(|_| Error::not_connected(format!("{address}: connection timed out")))?
            .map_err(|err| Error::not_connected(format!("{address}: {err}")))?;
        let _ = stream.set_nodelay(true);
        Ok(ArchonLink {
            stream: BufReader::with_capacity(1024 * 1024, stream),
            timeout: deadline,
            next_id: 0,
            outstanding: BTreeMap::new(),
        })
    }

    /// Whether `command` was sent and is still unanswered.
    pub fn is_outstanding(&self, command: &str) -> bool {
        self.outstanding.values().any(|sent| sent == command)
    }

    async fn send(&mut self, command: &str) -> Result<u8, Error> {
        if self.is_outstanding(command) {
            return Err(Error::new(
                labwire_protocol::ErrorCode::Busy,
                format!("{command} is still unanswered"),
            ));
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let line = format!(">{id:02X}{command}\n");
        match timeout(
            self.timeout,
            self.stream.get_mut().write_all(line.as_bytes()),
        )
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(Error::not_connected(format!("write failed: {err}"))),
            Err(_) => return Err(Error::timeout("the controller did not take the request")),
        }
        self.outstanding.insert(id, command.to_string());
        Ok(id)
    }

    /// The reply header (`<xx`, `?xx`, `<xx:`) for `id`, skipping late replies to
    /// earlier requests. Returns the byte after the id: `b':'` for a binary block.
    async fn header(&mut self, id: u8, deadline: Instant) -> Result<u8, Error> {
        loop {
            let mut head = [0u8; 3];
            self.read_exact(&mut head, deadline).await?;
            let reply_id = std::str::from_utf8(&head[1..])
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok());
            let Some(reply_id) = reply_id.filter(|_| matches!(head[0], b'<' | b'?')) else {
                return Err(Error::device_error(format!(
                    "reply starts with {:?}: the link is out of step",
                    String::from_utf8_lossy(&head)
                )));
            };
            if reply_id != id && self.outstanding.contains_key(&reply_id) {
                // A late answer: drop its line (text replies only are ever late here).
                self.outstanding.remove(&reply_id);
                self.text_line(deadline).await?;
                continue;
            }
            if reply_id != id {
                return Err(Error::device_error(format!(
                    "reply to id {reply_id:02X}, expected {id:02X}: the link is out of step"
                )));
            }
            if head[0] == b'?' {
                self.text_line(deadline).await?;
                let command = self.outstanding.remove(&id).unwrap_or_default();
                return Err(Error::device_error(format!(
                    "the controller refused {command}"
                )));
            }
            let mut next = [0u8; 1];
            self.read_exact(&mut next, deadline).await?;
            return Ok(next[0]);
        }
    }

    async fn read_exact(&mut self, buf: &mut [u8], deadline: Instant) -> Result<(), Error> {
        match timeout_at(deadline, self.stream.read_exact(buf)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(Error::not_connected("the controller closed the connection"))
            }
            Ok(Err(err)) => Err(Error::not_connected(format!("read failed: {err}"))),
            Err(_) => Err(Error::timeout("no answer from the controller")),
        }
    }

    async fn text_line(&mut self, deadline: Instant) -> Result<String, Error> {
        let mut line = Vec::new();
        let read = timeout_at(
            deadline,
            (&mut self.stream)
                .take(MAX_REPLY as u64)
                .read_until(b'\n', &mut line),
        )
        .await;
        match read {
            Err(_) => Err(Error::timeout("no answer from the controller")),
            Ok(Err(err)) => Err(Error::not_connected(format!("read failed: {err}"))),
            Ok(Ok(_)) if line.last() != Some(&b'\n') => Err(Error::not_connected(
                "the controller closed the connection or sent an over-long reply",
            )),
            Ok(Ok(_)) => {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                String::from_utf8(line)
                    .map_err(|_| Error::device_error("the controller sent non-text bytes"))
            }
        }
    }

    /// Send a text command and read its reply (without `<xx`).
    pub async fn command(&mut self, command: &str) -> Result<String, Error> {
        let id = self.send(command).await?;
        let deadline = Instant::now() + self.timeout;
        let first = self.header(id, deadline).await?;
        if first == b':' {
            return Err(Error::device_error(format!(
                "binary reply to {command}: the link is out of step"
            )));
        }
        let rest = if first == b'\n' {
            String::new()
        } else {
            let mut text = String::from(first as char);
            text.push_str(&self.text_line(deadline).await?);
            text
        };
        self.outstanding.remove(&id);
        Ok(rest)
    }

    /// `FETCH` `blocks` blocks from `address`, handing each block's 1024 bytes to
    /// `sink` as it arrives. The blocks are taken straight out of the read buffer, as
    /// many as each read brought, with one deadline per read: a large frame is never cut
    /// short by the clock while the controller keeps sending, and a controller that stops
    /// sending fails the fetch, reporting how many blocks came.
    pub async fn fetch(
        &mut self,
        address: u64,
        blocks: usize,
        mut sink: impl FnMut(&[u8]),
    ) -> Result<(), Error> {
        let command = format!("FETCH{address:08X}{blocks:08X}");
        let id = self.send(&command).await?;
        let mut stash = [0u8; BLOCK_WITH_HEADER];
        let mut stashed = 0;
        let mut received = 0;
        let stopped = |received: usize, err: Error| {
            Error::new(
                err.code,
                format!(
                    "readout stopped after {received} of {blocks} blocks: {}",
                    err.message
                ),
            )
        };
        while received < blocks {
            let deadline = Instant::now() + self.timeout;
            let chunk = match timeout_at(deadline, self.stream.fill_buf()).await {
                Err(_) => {
                    return Err(stopped(
                        received,
                        Error::timeout("no answer from the controller"),
                    ))
                }
                Ok(Err(err)) => {
                    return Err(stopped(
                        received,
                        Error::not_connected(format!("read failed: {err}")),
                    ))
                }
                Ok(Ok([])) => {
                    return Err(stopped(
                        received,
                        Error::not_connected("the controller closed the connection"),
                    ))
                }
                Ok(Ok(chunk)) => chunk,
            };
            let mut used = 0;
            while received < blocks && used < chunk.len() {
                let block: &[u8] = if stashed == 0 && chunk.len() - used >= BLOCK_WITH_HEADER {
                    used += BLOCK_WITH_HEADER;
                    &chunk[used - BLOCK_WITH_HEADER..used]
                } else {
                    let take = (BLOCK_WITH_HEADER - stashed).min(chunk.len() - used);
                    stash[stashed..stashed + take].copy_from_slice(&chunk[used..used + take]);
                    stashed += take;
                    used += take;
                    if stashed >= 4 && stash[0] == b'?' {
                        // A refusal is a short line, not a block.
                        return Err(stopped(
                            received,
                            check_block_header(&stash[..4], id)
                                .err()
                                .unwrap_or_else(|| Error::device_error("refused")),
                        ));
                    }
                    if stashed < BLOCK_WITH_HEADER {
                        break;
                    }
                    stashed = 0;
                    &stash
                };
                if let Err(err) = check_block_header(&block[..4], id) {
                    return Err(stopped(received, err));
                }
                sink(&block[4..]);
                received += 1;
            }
            self.stream.consume(used);
        }
        self.outstanding.remove(&id);
        Ok(())
    }
}

/// A binary block of a FETCH: `<` + id + `:` + 1024 bytes.
const BLOCK_WITH_HEADER: usize = BLOCK + 4;

/// Whether `header` (the first 4 bytes of a block) answers the FETCH `id`.
pub fn check_block_header(header: &[u8], id: u8) -> Result<(), Error> {
    let [first, hi, lo, fourth, ..] = *header else {
        return Err(Error::device_error(format!(
            "block header {:?} is cut short: the link is out of step",
            String::from_utf8_lossy(header)
        )));
    };
    // Two hex digits exactly: from_str_radix alone would also take `+5`.
    let reply_id = std::str::from_utf8(&[hi, lo])
        .ok()
        .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|hex| u8::from_str_radix(hex, 16).ok());
    match (first, reply_id, fourth) {
        (b'<', Some(reply_id), b':') if reply_id == id => Ok(()),
        (b'?', Some(reply_id), _) if reply_id == id => {
            Err(Error::device_error("the controller refused the FETCH"))
        }
        _ => Err(Error::device_error(format!(
            "block header {:?} is not <{id:02X}: : the link is out of step",
            String::from_utf8_lossy(header)
        ))),
    }
}

/// `KEY=VALUE KEY=VALUE ...` as the controller's SYSTEM, STATUS and FRAME replies write it.
pub fn parse_pairs(text: &str) -> BTreeMap<String, String> {
    text.split_ascii_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use labwire_protocol::ErrorCode;
    use tokio::io::AsyncBufReadExt;
    use tokio::net::TcpListener;

    /// A controller that answers STATUS only after the next request arrived, so the
    /// first STATUS times out and its reply comes late.
    async fn slow_status_controller() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut socket = BufReader::new(socket);
            let mut late: Option<String> = None;
            let mut line = String::new();
            while socket.read_line(&mut line).await.unwrap_or(0) > 0 {
                let request = line.trim_end().to_string();
                line.clear();
                let (id, command) = (&request[1..3], &request[3..]);
                let mut out = String::new();
                if let Some(held) = late.take() {
                    out.push_str(&held);
                }
                match command {
                    "STATUS" => late = Some(format!("<{id}VALID=1 LOG=0\n")),
                    "FRAME" => out.push_str(&format!("<{id}TIMER=0000000000000001\n")),
                    "BAD" => out.push_str(&format!("?{id}\n")),
                    _ => out.push_str(&format!("<{id}\n")),
                }
                socket.get_mut().write_all(out.as_bytes()).await.unwrap();
            }
        });
        addr
    }

    #[tokio::test]
    async fn late_replies_are_skipped_and_never_sent_twice() {
        let addr = slow_status_controller().await;
        let mut link = ArchonLink::connect(&addr, Duration::from_millis(200))
            .await
            .unwrap();
        let first = link.command("STATUS").await.unwrap_err();
        assert_eq!(first.code, ErrorCode::Timeout, "{first}");
        assert!(link.is_outstanding("STATUS"));
        let again = link.command("STATUS").await.unwrap_err();
        assert_eq!(again.code, ErrorCode::Busy, "{again}");
        // The late STATUS reply arrives before FRAME's own and is skipped.
        assert_eq!(
            link.command("FRAME").await.unwrap(),
            "TIMER=0000000000000001"
        );
        assert!(!link.is_outstanding("STATUS"));
        let refused = link.command("BAD").await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::DeviceError);
        assert!(refused.message.contains("refused BAD"), "{refused}");
        assert_eq!(link.command("PING").await.unwrap(), "");
    }

    #[test]
    fn block_headers_name_their_fetch_in_two_hex_digits() {
        assert!(check_block_header(b"<0A:", 0x0a).is_ok());
        assert!(check_block_header(b"<0a:rest", 0x0a).is_ok());
        for (header, id) in [
            (&b"<0B:"[..], 0x0a),
            (b"<+A:", 0x0a),
            (b"<0A", 0x0a),
            (b"", 0),
        ] {
            assert!(check_block_header(header, id).is_err(), "{header:?}");
        }
        let refused = check_block_header(b"?0A:", 0x0a).unwrap_err();
        assert!(refused.message.contains("refused"), "{refused}");
    }

    #[test]
    fn pairs() {
        let pairs = parse_pairs("A=1 MOD2/TEMP=26.5 junk B=");
        assert_eq!(pairs.get("MOD2/TEMP").map(String::as_str), Some("26.5"));
        assert_eq!(pairs.get("B").map(String::as_str), Some(""));
        assert_eq!(pairs.len(), 3);
    }
}
