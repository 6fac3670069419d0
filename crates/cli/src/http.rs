//! Just enough HTTP/1.1 to GET one document from the monitor's web port (its history
//! export): one request, `Connection: close`, a body that is either delimited by the close
//! or chunked. Bounded in size and time.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest answer read (the monitor caps an export at 2 000 000 samples).
const MAX_ANSWER: u64 = 512 * 1024 * 1024;

pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// `GET path_and_query` from `address` (`host:port`), with `headers`.
pub async fn get(
    address: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    within: Duration,
) -> Result<Answer, String> {
    tokio::time::timeout(within, exchange(address, path_and_query, headers))
        .await
        .map_err(|_| format!("no answer from http://{address} within {within:?}"))?
}

async fn exchange(
    address: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
) -> Result<Answer, String> {
    let mut stream = TcpStream::connect(address)
        .await
        .map_err(|err| format!("cannot connect to http://{address}: {err}"))?;
    let mut request =
        format!("GET {path_and_query} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|err| format!("http://{address}: {err}"))?;
    let mut raw = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut raw)
        .await
        .map_err(|err| format!("http://{address}: {err}"))?;
    parse_answer(&raw).ok_or_else(|| format!("http://{address}: not an HTTP answer"))
}

fn parse_answer(raw: &[u8]) -> Option<Answer> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let chunked = lines.any(|header| {
        header.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.trim().eq_ignore_ascii_case("chunked")
        })
    });
    let body = &raw[end + 4..];
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Some(Answer { status, body })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// A query value with everything but the unreserved characters percent-encoded.
pub fn query_value(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_chunked_bodies() {
        let plain =
            parse_answer(b"HTTP/1.1 200 OK\r\ncontent-type: text/csv\r\n\r\na,b\n").unwrap();
        assert_eq!((plain.status, plain.body.as_slice()), (200, &b"a,b\n"[..]));
        let chunked = parse_answer(
            b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n2;x=y\r\nef\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            (chunked.status, chunked.body.as_slice()),
            (400, &b"abcdef"[..])
        );
        assert!(parse_answer(b"garbage").is_none());
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(query_value("psu1.ch1_voltage"), "psu1.ch1_voltage");
        assert_eq!(query_value("a b&c"), "a%20b%26c");
    }
}
