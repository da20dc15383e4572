//! Authentication relay: after the StartupMessage, bytes flow untouched both ways until the
//! server's first ReadyForQuery. Only the client's `p` messages (password, SASL, GSS) may
//! pass before that; the proxy never reads them, so trust, md5 and SCRAM-SHA-256 all work.
//! BackendKeyData is recorded on the way for cancel routing.

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Shared;
use crate::pg::cancel::CancelKey;
use crate::pg::codec::{Direction, decode_frame, peek_frame};
use crate::pg::error::SessionError;
use crate::pg::messages::tags::{backend, frontend};
use crate::pg::messages::{
    BackendKeyData, ErrorResponse, Message, ReadyForQuery, TransactionStatus,
};
use crate::pg::session_info::SessionInfo;

/// How authentication ended.
#[derive(Debug)]
pub(crate) enum AuthOutcome {
    /// The session is ready.
    Ready {
        status: TransactionStatus,
        cancel_key: Option<CancelKey>,
    },
    /// The server refused the client (its error was relayed).
    Failed { sqlstate: String, message: String },
    /// The client left.
    ClientClosed,
    /// The server closed the connection without an error.
    ServerClosed,
}

/// Relay authentication between `client` and `server`.
pub(crate) async fn relay<F>(
    shared: &Shared<F>,
    client: &mut TcpStream,
    cbuf: &mut BytesMut,
    server: &mut TcpStream,
    sbuf: &mut BytesMut,
    info: &SessionInfo,
) -> Result<AuthOutcome, SessionError> {
    let limits = &shared.limits;
    let mut cancel_key = None;
    // Set when the client pipelined a non-auth message: it waits in `cbuf` for the relay.
    let mut client_paused = false;
    loop {
        // Forward every complete `p` message the client has sent.
        while !client_paused {
            let Some(total) = peek_frame(cbuf, Direction::Frontend, limits)
                .map_err(|e| SessionError::ClientProtocol(e.into()))?
            else {
                break;
            };
            if cbuf[0] != frontend::PASSWORD {
                if cbuf[0] == frontend::TERMINATE {
                    return Ok(AuthOutcome::ClientClosed);
                }
                client_paused = true;
                break;
            }
            let bytes = cbuf.split_to(total);
            server
                .write_all(&bytes)
                .await
                .map_err(SessionError::UpstreamIo)?;
        }
        // Forward server messages up to and including the first ReadyForQuery.
        let mut ready = None;
        let mut failed = None;
        let mut forward = BytesMut::new();
        while ready.is_none() {
            let Some(frame) = decode_frame(sbuf, Direction::Backend, limits)
                .map_err(|e| SessionError::UpstreamProtocol(e.into()))?
            else {
                break;
            };
            let upstream_bad =
                |e: crate::pg::error::MessageError| SessionError::UpstreamProtocol(e.into());
            match frame.tag() {
                backend::BACKEND_KEY_DATA => {
                    let key = BackendKeyData::decode(&frame).map_err(upstream_bad)?;
                    info.set_backend_pid(key.pid);
                    cancel_key = Some(shared.registry.register(
                        key.pid,
                        key.secret,
                        shared.upstream,
                    ));
                }
                backend::READY_FOR_QUERY => {
                    ready = Some(ReadyForQuery::decode(&frame).map_err(upstream_bad)?.status);
                }
                backend::ERROR_RESPONSE => {
                    let e = ErrorResponse::decode(&frame).map_err(upstream_bad)?;
                    failed = Some((
                        e.sqlstate().unwrap_or_default().into_owned(),
                        e.message().unwrap_or_default().into_owned(),
                    ));
                }
                _ => {}
            }
            tracing::trace!(tag = %char::from(frame.tag()), "auth: server message");
            forward.extend_from_slice(frame.as_bytes());
        }
        if !forward.is_empty() {
            client
                .write_all(&forward)
                .await
                .map_err(SessionError::ClientIo)?;
        }
        if let Some((sqlstate, message)) = failed {
            return Ok(AuthOutcome::Failed { sqlstate, message });
        }
        if let Some(status) = ready {
            return Ok(AuthOutcome::Ready { status, cancel_key });
        }
        tokio::select! {
            r = client.read_buf(cbuf), if !client_paused => {
                if r.map_err(SessionError::ClientIo)? == 0 {
                    if cbuf.is_empty() {
                        return Ok(AuthOutcome::ClientClosed);
                    }
                    return Err(SessionError::ClientTruncated { buffered: cbuf.len() });
                }
            }
            r = server.read_buf(sbuf) => {
                if r.map_err(SessionError::UpstreamIo)? == 0 {
                    if sbuf.is_empty() {
                        return Ok(AuthOutcome::ServerClosed);
                    }
                    return Err(SessionError::UpstreamTruncated { buffered: sbuf.len() });
                }
            }
        }
    }
}
