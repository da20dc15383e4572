//! The startup phase on the client side: refuse TLS and GSSAPI encryption with `N` (the
//! client then goes on in plaintext or gives up, as it chooses), and come back with either the
//! StartupMessage to forward or a CancelRequest to route.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::pg::codec::{FrameLimits, decode_startup};
use crate::pg::error::{ProtocolError, SessionError};
use crate::pg::frame::StartupFrame;
use crate::pg::messages::tags::startup::{CANCEL_REQUEST, GSSENC_REQUEST, SSL_REQUEST};
use crate::pg::messages::{CancelRequest, GssEncRequest, SslRequest, StartupMessage};

/// One SSLRequest and one GSSENCRequest is all a well-behaved client sends.
const MAX_NEGOTIATIONS: usize = 2;

/// What the client wants.
#[derive(Debug)]
pub(crate) enum Opening {
    /// A normal session: the packet to forward as is, and its decoded form.
    Startup(StartupFrame, StartupMessage),
    /// A cancel request for another session.
    Cancel(CancelRequest),
    /// The client went away before asking for anything.
    Closed,
}

/// Read startup-phase packets until the client starts a session or asks to cancel one.
/// Bytes the client pipelined after its startup packet stay in `buf`.
pub(crate) async fn open<S>(
    client: &mut S,
    buf: &mut BytesMut,
    limits: &FrameLimits,
) -> Result<Opening, SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut negotiations = 0;
    loop {
        let frame = match decode_startup(buf, limits)
            .map_err(|e| SessionError::ClientProtocol(e.into()))?
        {
            Some(frame) => frame,
            None => {
                let n = client.read_buf(buf).await.map_err(SessionError::ClientIo)?;
                if n == 0 {
                    return match buf.len() {
                        0 => Ok(Opening::Closed),
                        buffered => Err(SessionError::ClientTruncated { buffered }),
                    };
                }
                continue;
            }
        };
        let bad = |e| SessionError::ClientProtocol(ProtocolError::Message(e));
        match frame.code() {
            SSL_REQUEST | GSSENC_REQUEST => {
                negotiations += 1;
                if negotiations > MAX_NEGOTIATIONS {
                    return Err(SessionError::TooManyNegotiations {
                        count: negotiations,
                    });
                }
                let answer = if frame.code() == SSL_REQUEST {
                    SslRequest::decode(&frame).map_err(bad)?;
                    SslRequest::REFUSE
                } else {
                    GssEncRequest::decode(&frame).map_err(bad)?;
                    GssEncRequest::REFUSE
                };
                tracing::trace!(code = frame.code(), "refusing encryption request");
                client
                    .write_all(answer)
                    .await
                    .map_err(SessionError::ClientIo)?;
            }
            CANCEL_REQUEST => {
                return Ok(Opening::Cancel(CancelRequest::decode(&frame).map_err(bad)?));
            }
            code => {
                let startup = StartupMessage::decode(&frame).map_err(bad)?;
                if startup.major() != 3 {
                    return Err(SessionError::UnsupportedProtocol {
                        major: (code >> 16) as u16,
                        minor: (code & 0xffff) as u16,
                    });
                }
                return Ok(Opening::Startup(frame, startup));
            }
        }
    }
}
