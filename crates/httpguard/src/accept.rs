//! The two halves of a connection-capped HTTP/1.1 server that do not depend on what it
//! serves: taking the next connection (a failed `accept`, e.g. out of file descriptors, backs
//! off instead of spinning; cancellation ends the loop), and driving one hyper connection
//! until the client leaves or, on cancellation, a bounded graceful shutdown.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::HttpService;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Pause after a failed `accept` so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The next connection, or `None` once `cancel` fires.
pub async fn next_connection(
    listener: &TcpListener,
    cancel: &CancellationToken,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return None,
            r = listener.accept() => r,
        };
        match accepted {
            Ok(pair) => return Some(pair),
            Err(e) => {
                tracing::debug!(error = %e, "accept failed");
                tokio::select! {
                    () = cancel.cancelled() => return None,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }
}

/// Serves `stream` with `builder` and `service` until the client leaves, a deadline of the
/// builder passes, or `cancel` fires; then open exchanges get `grace` to finish.
pub async fn serve_http1<S>(
    stream: TcpStream,
    peer: SocketAddr,
    builder: &http1::Builder,
    service: S,
    cancel: &CancellationToken,
    grace: Duration,
) where
    S: HttpService<Incoming>,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    S::ResBody: 'static,
    <S::ResBody as Body>::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let _ = stream.set_nodelay(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        () = cancel.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(grace, conn).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::service::service_fn;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_util::task::TaskTracker;

    use super::*;

    /// A server answering `hello` on every request, as the two crates' accept loops do.
    async fn hello_server(cancel: CancellationToken) -> (SocketAddr, TaskTracker) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tracker = TaskTracker::new();
        let t = tracker.clone();
        tracker.spawn(async move {
            while let Some((stream, peer)) = next_connection(&listener, &cancel).await {
                let cancel = cancel.clone();
                t.spawn(async move {
                    let service = service_fn(|_req| async {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("hello"))))
                    });
                    let builder = http1::Builder::new();
                    serve_http1(
                        stream,
                        peer,
                        &builder,
                        service,
                        &cancel,
                        Duration::from_secs(1),
                    )
                    .await;
                });
            }
        });
        (addr, tracker)
    }

    #[tokio::test]
    async fn serves_requests_and_stops_on_cancel() {
        let cancel = CancellationToken::new();
        let (addr, tracker) = hello_server(cancel.clone()).await;
        let mut client = TcpStream::connect(addr).await.unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.ends_with("hello"), "{text}");

        // The keep-alive connection is still open: cancellation closes it gracefully and
        // the accept loop ends, so every task finishes.
        cancel.cancel();
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut rest))
            .await
            .unwrap()
            .unwrap();
        assert!(rest.is_empty());
        tracker.close();
        tokio::time::timeout(Duration::from_secs(5), tracker.wait())
            .await
            .unwrap();
        assert!(TcpStream::connect(addr).await.is_err());
    }
}
