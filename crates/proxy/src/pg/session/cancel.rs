//! Routing a CancelRequest: look the key up among live sessions and send the request, as is,
//! on a fresh connection to that session's upstream. Unknown keys are dropped; like
//! PostgreSQL, the client gets no answer either way.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::Shared;
use crate::pg::events::ProxyEvent;
use crate::pg::messages::CancelRequest;

/// Upper bound on delivering one cancel request.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) async fn route<F>(shared: &Shared<F>, req: CancelRequest) {
    let Some(upstream) = shared.registry.lookup(req.pid, &req.secret) else {
        tracing::debug!(
            pid = req.pid,
            "cancel request for an unknown session dropped"
        );
        shared
            .events
            .emit(ProxyEvent::CancelUnknown {
                backend_pid: req.pid,
            })
            .await;
        return;
    };
    let send = async {
        let mut conn = TcpStream::connect(upstream).await?;
        conn.write_all(req.to_frame().as_bytes()).await?;
        conn.shutdown().await
    };
    match tokio::time::timeout(CANCEL_TIMEOUT, send).await {
        Ok(Ok(())) => {
            shared
                .events
                .emit(ProxyEvent::CancelForwarded {
                    backend_pid: req.pid,
                })
                .await;
        }
        Ok(Err(e)) => tracing::warn!(pid = req.pid, %upstream, error = %e, "cancel not delivered"),
        Err(_) => tracing::warn!(pid = req.pid, %upstream, "cancel delivery timed out"),
    }
}
