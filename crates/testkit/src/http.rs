//! One HTTP/1.1 `GET` on a connection of its own, as plain as curl's: enough for the
//! monitor's routes (every answer is sent whole and the connection closed), bounded in time.

use crate::WAIT;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `GET path` with `Authorization: Bearer <token>` when a token is given: the status and
/// the body. Panics when there is no answer within [`WAIT`].
pub async fn http_get_with(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
    let bearer = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{bearer}Connection: close\r\n\r\n");
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = tokio::time::timeout(WAIT, exchange)
        .await
        .unwrap_or_else(|_| panic!("GET {path}: no answer within {WAIT:?}"))
        .unwrap_or_else(|err| panic!("GET {path}: {err}"));
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("GET {path}: an answer without a head"));
    let head = String::from_utf8_lossy(&answer[..split]);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("GET {path}: no status in {head:?}"));
    (status, answer[split + 4..].to_vec())
}

/// `GET path`: the status and the body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    http_get_with(addr, path, None).await
}

/// `GET path`, which must answer 200: the body as text.
pub async fn http_text(addr: SocketAddr, path: &str, token: Option<&str>) -> String {
    let (status, body) = http_get_with(addr, path, token).await;
    let body = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}
