//! One TCP connection to a NATS server: the handshake (`INFO`, then `CONNECT` + `PING`
//! answered by `PONG`, so a refusal is seen before anything else is sent), then framed reads
//! and timed writes. The read half and the write half are separate so the client's driver can
//! wait for the server while it writes.

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::error::NatsError;
use super::proto::{self, Connect, ServerInfo, ServerOp};
use super::server_url::{Auth, ServerAddr};

/// Most operations read while waiting for the handshake's `PONG` (a server may send `+OK`,
/// `PING` or a new `INFO` first; it never needs many).
const HANDSHAKE_OPS: usize = 16;

/// The reading side: a buffer and the socket.
pub(crate) struct Reader {
    half: OwnedReadHalf,
    buf: BytesMut,
    server: String,
}

impl Reader {
    /// The next operation. Cancel-safe: bytes already read stay in the buffer.
    pub(crate) async fn next(&mut self) -> Result<ServerOp, NatsError> {
        loop {
            match proto::parse(&mut self.buf) {
                Ok(Some(op)) => return Ok(op),
                Ok(None) => {}
                Err(source) => {
                    return Err(NatsError::Protocol {
                        server: self.server.clone(),
                        source,
                    });
                }
            }
            let n = self
                .half
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| NatsError::Lost {
                    server: self.server.clone(),
                    reason: e.to_string(),
                })?;
            if n == 0 {
                return Err(NatsError::Lost {
                    server: self.server.clone(),
                    reason: "the server closed the connection".into(),
                });
            }
        }
    }
}

/// The writing side. Every write is bounded by a timeout: a server that stops reading is a
/// lost connection, not a stalled client.
pub(crate) struct Writer {
    half: OwnedWriteHalf,
    server: String,
    timeout: Duration,
}

impl Writer {
    pub(crate) async fn write(&mut self, bytes: &[u8]) -> Result<(), NatsError> {
        match tokio::time::timeout(self.timeout, self.half.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(NatsError::Lost {
                server: self.server.clone(),
                reason: e.to_string(),
            }),
            Err(_) => Err(NatsError::Lost {
                server: self.server.clone(),
                reason: format!("a write did not complete in {:?}", self.timeout),
            }),
        }
    }
}

/// An established connection.
pub(crate) struct Connection {
    pub(crate) reader: Reader,
    pub(crate) writer: Writer,
    pub(crate) info: ServerInfo,
    pub(crate) server: String,
}

/// Connects to `addr` and completes the handshake within `timeout`.
pub(crate) async fn open(
    addr: &ServerAddr,
    client_name: &str,
    timeout: Duration,
) -> Result<Connection, NatsError> {
    let server = addr.to_string();
    let stream =
        match tokio::time::timeout(timeout, TcpStream::connect((addr.host.as_str(), addr.port)))
            .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return Err(NatsError::Unreachable {
                    server,
                    reason: e.to_string(),
                });
            }
            Err(_) => {
                return Err(NatsError::Unreachable {
                    server,
                    reason: format!("no answer within {timeout:?}"),
                });
            }
        };
    match tokio::time::timeout(
        timeout,
        handshake(stream, addr, &server, client_name, timeout),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err(NatsError::NotNats {
            server,
            detail: format!("no complete NATS handshake within {timeout:?}"),
        }),
    }
}

async fn handshake(
    stream: TcpStream,
    addr: &ServerAddr,
    server: &str,
    client_name: &str,
    write_timeout: Duration,
) -> Result<Connection, NatsError> {
    // Small control messages: no Nagle delay on halts.
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let mut reader = Reader {
        half: r,
        buf: BytesMut::with_capacity(4096),
        server: server.to_string(),
    };
    let mut writer = Writer {
        half: w,
        server: server.to_string(),
        timeout: write_timeout,
    };
    let not_nats = |detail: String| NatsError::NotNats {
        server: server.to_string(),
        detail,
    };
    let info = match reader.next().await {
        Ok(ServerOp::Info(info)) => *info,
        Ok(other) => return Err(not_nats(format!("{other:?} where INFO was expected"))),
        Err(NatsError::Protocol { source, .. }) => return Err(not_nats(source.to_string())),
        Err(NatsError::Lost { reason, .. }) => {
            return Err(not_nats(format!(
                "no INFO before the connection ended ({reason})"
            )));
        }
        Err(e) => return Err(e),
    };
    if info.tls_required {
        return Err(NatsError::TlsRequired {
            server: server.to_string(),
        });
    }
    let (user, pass, token) = match &addr.auth {
        Auth::None => (None, None, None),
        Auth::UserPassword { user, password } => {
            (Some(user.as_str()), Some(password.as_str()), None)
        }
        Auth::Token(t) => (None, None, Some(t.as_str())),
    };
    let mut out = BytesMut::new();
    proto::encode_connect(
        &Connect {
            verbose: false,
            pedantic: false,
            tls_required: false,
            name: client_name,
            lang: "rust",
            version: env!("CARGO_PKG_VERSION"),
            protocol: 1,
            headers: false,
            user,
            pass,
            auth_token: token,
        },
        &mut out,
    );
    out.extend_from_slice(proto::PING);
    writer.write(&out).await?;
    for _ in 0..HANDSHAKE_OPS {
        match reader.next().await {
            Ok(ServerOp::Pong) => {
                return Ok(Connection {
                    reader,
                    writer,
                    info,
                    server: server.to_string(),
                });
            }
            Ok(ServerOp::Ping) => writer.write(proto::PONG).await?,
            Ok(ServerOp::Ok | ServerOp::Info(_)) => {}
            Ok(ServerOp::Err(message)) => {
                return Err(NatsError::Refused {
                    server: server.to_string(),
                    message,
                });
            }
            Ok(ServerOp::Msg(_)) => {
                return Err(not_nats("a MSG before any subscription".into()));
            }
            Err(NatsError::Protocol { source, .. }) => return Err(not_nats(source.to_string())),
            // A server that drops us right after CONNECT refused us without saying why.
            Err(NatsError::Lost { reason, .. }) => {
                return Err(NatsError::Refused {
                    server: server.to_string(),
                    message: format!("the connection ended after CONNECT ({reason})"),
                });
            }
            Err(e) => return Err(e),
        }
    }
    Err(not_nats(format!(
        "{HANDSHAKE_OPS} operations without answering PING"
    )))
}
