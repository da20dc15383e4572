//! Connections beyond the cap: read the request head briefly (so the client gets the 503 as
//! the answer to its request, not a reset), answer 503 with `Connection: close`, drain a
//! little and close. Every step is bounded in bytes and time.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Over-capacity connections answered at once; beyond this they are closed unanswered.
pub const MAX_REJECTING: usize = 256;
const HEAD_WAIT: Duration = Duration::from_millis(500);
const DRAIN_WAIT: Duration = Duration::from_millis(200);
const READ_CAP: usize = 16 * 1024;

const RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
retry-after: 1\r\n\
x-content-type-options: nosniff\r\n\
cache-control: no-store\r\n\
connection: close\r\n\
content-length: 82\r\n\
\r\n\
{\"error\":{\"code\":\"overloaded\",\"message\":\"too many open connections; retry later\"}}";

/// Answers one connection refused by the cap.
pub async fn over_capacity(mut stream: TcpStream) {
    let mut buf = vec![0u8; 4096];
    let mut seen = 0usize;
    let mut tail: Vec<u8> = Vec::new();
    let _ = tokio::time::timeout(HEAD_WAIT, async {
        while seen < READ_CAP {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    seen += n;
                    tail.extend_from_slice(&buf[..n]);
                }
            }
            if tail.windows(4).any(|w| w == b"\r\n\r\n") {
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
    fn canned_response_has_the_right_length_and_shape() {
        let text = std::str::from_utf8(RESPONSE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{}",
            body.len()
        );
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "overloaded");
    }
}
