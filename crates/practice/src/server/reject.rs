//! Connections beyond the guarded server's cap: read the request head briefly (so the client
//! gets the 503 as the answer to its request, not a reset), answer 503 with
//! `Connection: close`, drain a little and close. Every step is bounded in bytes and time.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Over-capacity connections answered at once; beyond this they are closed unanswered.
pub const MAX_REJECTING: usize = 256;
/// How long to wait for the request head before answering anyway.
const HEAD_WAIT: Duration = Duration::from_millis(500);
/// How long to drain after answering, so closing with unread bytes does not send a reset.
const DRAIN_WAIT: Duration = Duration::from_millis(200);
/// Most bytes read from a refused connection.
const READ_CAP: usize = 16 * 1024;

const RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 45\r\n\
\r\n\
{\"error\":\"too many connections; retry later\"}";

/// Answers one connection refused by the cap.
pub async fn over_capacity(mut stream: TcpStream) {
    let mut buf = vec![0u8; 4096];
    let mut seen = Vec::new();
    let _ = tokio::time::timeout(HEAD_WAIT, async {
        while seen.len() < READ_CAP {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
            if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                return;
            }
        }
    })
    .await;
    if stream.write_all(RESPONSE).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    let _ = tokio::time::timeout(DRAIN_WAIT, async {
        let mut drained = 0;
        while drained < READ_CAP {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_response_has_the_right_length() {
        let text = std::str::from_utf8(RESPONSE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        serde_json::from_str::<serde_json::Value>(body).unwrap();
    }
}
