//! Reading an agent's stdout or stderr into a capped buffer. Past the cap the pipe is still
//! drained (and the rest counted) so a chatty agent never blocks on a full pipe.

use tokio::io::{AsyncRead, AsyncReadExt};

/// What one stream produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// The first `cap` bytes.
    pub bytes: Vec<u8>,
    /// Every byte the stream produced, kept or not.
    pub total: u64,
}

impl Captured {
    /// True when bytes past the cap were dropped.
    pub fn truncated(&self) -> bool {
        self.total > self.bytes.len() as u64
    }
}

/// Reads `stream` to its end, keeping the first `cap` bytes.
pub async fn capture<R: AsyncRead + Unpin>(mut stream: R, cap: usize) -> Captured {
    let mut out = Captured::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.total += n as u64;
                let room = cap.saturating_sub(out.bytes.len());
                out.bytes.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_the_cap_and_counts_the_rest() {
        let data = vec![b'x'; 100_000];
        let got = capture(&data[..], 1000).await;
        assert_eq!(got.bytes.len(), 1000);
        assert_eq!(got.total, 100_000);
        assert!(got.truncated());
        let small = capture(&b"hi"[..], 1000).await;
        assert_eq!(small.bytes, b"hi");
        assert!(!small.truncated());
    }
}
