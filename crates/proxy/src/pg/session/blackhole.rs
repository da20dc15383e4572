//! A blackholed session ([`Verdict::Blackhole`](crate::pg::Verdict::Blackhole)): nothing is
//! relayed any more, but the client's connection stays open, so the client sees a hang. The
//! client's bytes are read and dropped, only to notice when it gives up.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use crate::pg::interceptor::MAX_BLACKHOLE;

/// How a blackhole ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Its time was up.
    Elapsed,
    /// The client closed its connection (or it failed).
    ClientClosed,
    /// The proxy is shutting down.
    Shutdown,
}

/// Hold `client` open for `duration` (`None`: until the client gives up), at most
/// [`MAX_BLACKHOLE`].
pub(crate) async fn hold<R: AsyncRead + Unpin>(
    client: &mut R,
    duration: Option<Duration>,
    token: &CancellationToken,
) -> Ended {
    let limit = duration.unwrap_or(MAX_BLACKHOLE).min(MAX_BLACKHOLE);
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    let mut scratch = vec![0u8; 8 * 1024];
    // Bounded by the deadline: every pass either reads bytes or ends.
    loop {
        tokio::select! {
            _ = &mut deadline => return Ended::Elapsed,
            _ = token.cancelled() => return Ended::Shutdown,
            r = client.read(&mut scratch) => match r {
                Ok(0) | Err(_) => return Ended::ClientClosed,
                Ok(_) => {}
            },
        }
    }
}
