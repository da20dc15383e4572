//! Connections beyond the connection cap: read the request head briefly (so the client gets
//! the 503 as the answer to its request, not a reset), answer a canned 503 with
//! `Connection: close`, drain a little and close. Every step is bounded in bytes and time,
//! and the number of connections being answered at once is bounded too. The answer is built
//! once at start by [`json_503`], so its `content-length` is computed, never hand-counted.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

/// Over-capacity connections answered at once; beyond this they are closed unanswered.
pub const MAX_REJECTING: usize = 256;
/// How long to wait for the request head before answering anyway.
const HEAD_WAIT: Duration = Duration::from_millis(500);
/// How long to drain after answering, so closing with unread bytes does not send a reset.
const DRAIN_WAIT: Duration = Duration::from_millis(200);
/// Most bytes read from a refused connection, in each of the two reads.
const READ_CAP: usize = 16 * 1024;

/// Refuses connections beyond the cap with a canned answer, at most [`MAX_REJECTING`] at once.
pub struct Rejector {
    slots: Arc<Semaphore>,
    response: Bytes,
}

impl Rejector {
    /// `response` is the whole answer, head and body (see [`json_503`]).
    pub fn new(response: Bytes) -> Rejector {
        Rejector {
            slots: Arc::new(Semaphore::new(MAX_REJECTING)),
            response,
        }
    }

    /// Answers `stream` on a task of `tracker`, or, when [`MAX_REJECTING`] are already being
    /// answered, closes it at once (answering costs a task; past a bound it is not worth it).
    pub fn refuse(&self, stream: TcpStream, tracker: &TaskTracker) {
        if let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() {
            let response = self.response.clone();
            tracker.spawn(async move {
                over_capacity(stream, &response).await;
                drop(slot);
            });
        }
    }
}

/// The whole answer to an over-capacity connection: `503 Service Unavailable` with
/// `content-type: application/json` and `retry-after: 1`, then the `extra` headers, then
/// `connection: close` and the `content-length` of `body`.
pub fn json_503(extra: &[(&str, &str)], body: &str) -> Bytes {
    let mut head = String::from(
        "HTTP/1.1 503 Service Unavailable\r\n\
         content-type: application/json\r\n\
         retry-after: 1\r\n",
    );
    for (name, value) in extra {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let _ = write!(
        head,
        "connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    Bytes::from(head)
}

/// Answers one connection refused by the cap with `response`.
pub async fn over_capacity(mut stream: TcpStream, response: &[u8]) {
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
    if stream.write_all(response).await.is_err() {
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
    use std::time::Instant;

    use tokio::net::TcpListener;

    use super::*;

    const ANSWER: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
retry-after: 1\r\n\
x-a: 1\r\n\
connection: close\r\n\
content-length: 13\r\n\
\r\n\
{\"error\":\"x\"}";

    fn answer() -> Bytes {
        json_503(&[("x-a", "1")], r#"{"error":"x"}"#)
    }

    #[test]
    fn the_answer_has_its_headers_in_order_and_the_bodys_length() {
        assert_eq!(&answer()[..], ANSWER);
        let plain = json_503(&[], "{}");
        assert_eq!(
            &plain[..],
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
retry-after: 1\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}"
        );
    }

    /// One refused connection on loopback; returns what the client read and how long it took.
    async fn refused(request: &[u8]) -> (Vec<u8>, Duration) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tracker = TaskTracker::new();
        let rejector = Rejector::new(answer());
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (server_side, _) = listener.accept().await.unwrap();
        rejector.refuse(server_side, &tracker);
        let started = Instant::now();
        client.write_all(request).await.unwrap();
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut got))
            .await
            .expect("the rejector closes the connection")
            .unwrap();
        tracker.close();
        tokio::time::timeout(Duration::from_secs(5), tracker.wait())
            .await
            .unwrap();
        (got, started.elapsed())
    }

    #[tokio::test]
    async fn a_request_gets_the_canned_answer_at_once_then_eof() {
        let (got, took) = refused(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
        assert_eq!(got, ANSWER);
        assert!(took < HEAD_WAIT, "{took:?}");
    }

    #[tokio::test]
    async fn a_silent_client_is_answered_after_the_head_wait() {
        let (got, took) = refused(b"GET / HTTP/1.1\r\nhost:").await;
        assert_eq!(got, ANSWER);
        assert!(took >= HEAD_WAIT - Duration::from_millis(50), "{took:?}");
    }

    #[tokio::test]
    async fn past_the_bound_connections_are_closed_unanswered() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tracker = TaskTracker::new();
        let rejector = Rejector::new(answer());
        // Hold every slot, as MAX_REJECTING silent clients would.
        let held = Arc::clone(&rejector.slots)
            .try_acquire_many_owned(u32::try_from(MAX_REJECTING).unwrap())
            .unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (server_side, _) = listener.accept().await.unwrap();
        rejector.refuse(server_side, &tracker);
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert!(got.is_empty());
        assert!(tracker.is_empty());
        drop(held);
    }
}
