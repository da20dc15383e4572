//! Admin API connections that can be cut. axum's graceful stop waits for every open request to
//! finish, with no bound: a client that sent half a request head and went quiet kept
//! `tcp-proxy` alive forever after SIGTERM. Each accepted stream here fails its next read or
//! write once the cut token is cancelled (after a grace period), so the stop is bounded.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// A TCP listener whose streams end when `cut` is cancelled.
pub(super) struct CutoffListener {
    inner: TcpListener,
    cut: CancellationToken,
}

impl CutoffListener {
    pub(super) fn new(inner: TcpListener, cut: CancellationToken) -> Self {
        Self { inner, cut }
    }
}

impl axum::serve::Listener for CutoffListener {
    type Io = CutoffStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's own accept retries (with a pause) on errors such as EMFILE.
        let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        let cut = Box::pin(self.cut.clone().cancelled_owned());
        (CutoffStream { io, cut }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// One admin connection; reads and writes fail with `ConnectionAborted` once cut.
pub(super) struct CutoffStream {
    io: TcpStream,
    cut: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl CutoffStream {
    /// Polling the cut future registers this task's waker, so a connection parked on a read
    /// wakes up when the cut comes.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.cut.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "admin API stopped",
            )),
            Poll::Pending => Ok(()),
        }
    }
}

impl AsyncRead for CutoffStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Err(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for CutoffStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Err(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Err(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
