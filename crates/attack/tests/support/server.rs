//! In-process test servers on 127.0.0.1:0: a listener whose backlog holds a whole burst, axum
//! apps served on it until their handle is dropped, and an address nothing listens on.

// Included by every attack test binary; each uses only part of it.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Listen backlog of [`listen`]: tokio's default of 128 drops the SYNs of a larger burst,
/// which then wait out a 1 s retransmit.
pub const BACKLOG: u32 = 1024;

/// A task serving a test, aborted (its sockets closed) when the handle is dropped.
pub struct Server(JoinHandle<()>);

impl Server {
    /// Runs `task` until the handle is dropped.
    pub fn spawn(task: impl Future<Output = ()> + Send + 'static) -> Server {
        Server(tokio::spawn(task))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A listener on an ephemeral loopback port with a backlog of [`BACKLOG`], and its address.
pub fn listen() -> (TcpListener, SocketAddr) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind 127.0.0.1:0");
    let listener = socket.listen(BACKLOG).expect("listen");
    let addr = listener.local_addr().expect("local address");
    (listener, addr)
}

/// Serves `app` with axum until the returned handle is dropped.
pub fn serve(app: Router) -> (SocketAddr, Server) {
    serve_until(app, CancellationToken::new())
}

/// Serves `app` until the handle is dropped or `stop` is cancelled (a graceful shutdown that
/// closes the listener: a service that stops).
pub fn serve_until(app: Router, stop: CancellationToken) -> (SocketAddr, Server) {
    let (listener, addr) = listen();
    let server = Server::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
    });
    (addr, server)
}

/// A server that accepts every connection and closes it at once, reading and answering
/// nothing.
pub fn hang_up() -> (SocketAddr, Server) {
    let (listener, addr) = listen();
    let server = Server::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            drop(conn);
        }
    });
    (addr, server)
}

/// A loopback address nothing listens on: an ephemeral port, bound and released at once.
pub fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address")
}
