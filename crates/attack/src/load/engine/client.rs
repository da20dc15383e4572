//! One keep-alive HTTP/1.1 connection driven inside the caller's task, and the prebuilt
//! request it sends over and over.
//!
//! The hyper connection future is polled by the same task that awaits the response (rather
//! than spawned), so a request costs no cross-task or cross-thread wake-up. The request parts
//! are built once; each send clones them (reference counts plus hyper's own header map).

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::{Pin, pin};

use bytes::{Bytes, BytesMut};
use http::header::{HOST, HeaderName, HeaderValue, USER_AGENT};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;

use crate::context::Target;
use crate::http::HttpRequest;

type Conn = Connection<TokioIo<TcpStream>, Full<Bytes>>;

/// Why a request described by a [`HttpRequest`] cannot be sent.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "request path `{path}` is not a valid origin-form URI: {reason}; write it as `/path?query`"
    )]
    Path { path: String, reason: String },
    #[error("request header `{name}` is not valid: {reason}")]
    Header { name: String, reason: String },
}

/// A request prepared once and sent many times.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    pub(super) method: Method,
    pub(super) uri: Uri,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

impl RequestTemplate {
    /// Prepares `req` for `target`: adds `Host` (the target's authority) and a `User-Agent`
    /// unless the request carries its own.
    pub fn new(target: &Target, req: &HttpRequest) -> Result<RequestTemplate, TemplateError> {
        let uri: Uri = req
            .path_and_query
            .parse()
            .map_err(|e: http::uri::InvalidUri| TemplateError::Path {
                path: req.path_and_query.clone(),
                reason: e.to_string(),
            })?;
        if uri.scheme().is_some() || !req.path_and_query.starts_with('/') {
            return Err(TemplateError::Path {
                path: req.path_and_query.clone(),
                reason: "it must start with `/`".into(),
            });
        }
        let mut headers = HeaderMap::with_capacity(req.headers.len() + 2);
        for (name, value) in &req.headers {
            let bad = |reason: String| TemplateError::Header {
                name: name.clone(),
                reason,
            };
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(e.to_string()))?;
            let v = HeaderValue::from_str(value).map_err(|e| bad(e.to_string()))?;
            headers.append(n, v);
        }
        if !headers.contains_key(HOST) {
            let host =
                HeaderValue::from_str(&target.authority).map_err(|e| TemplateError::Header {
                    name: "host".into(),
                    reason: e.to_string(),
                })?;
            headers.insert(HOST, host);
        }
        if !headers.contains_key(USER_AGENT) {
            headers.insert(
                USER_AGENT,
                HeaderValue::from_static(concat!("shakedown/", env!("CARGO_PKG_VERSION"))),
            );
        }
        Ok(RequestTemplate {
            method: req.method.clone(),
            uri,
            headers,
            body: req.body.clone(),
        })
    }

    fn build(&self) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }
}

/// How an exchange failed, as counted in a [`super::LoadReport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The TCP connection could not be opened.
    Connect,
    /// No complete response within the per-request timeout.
    Timeout,
    /// The connection was closed or reset before a complete response.
    Closed,
    /// The response could not be parsed as HTTP/1.1.
    Protocol,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 4] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Closed,
        ErrorKind::Protocol,
    ];

    /// Label used in evidence histograms (matches [`crate::http::Outcome::label`]).
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect_error",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Closed => "closed",
            ErrorKind::Protocol => "protocol_error",
        }
    }

    fn of(e: &hyper::Error) -> ErrorKind {
        if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
            ErrorKind::Protocol
        } else {
            ErrorKind::Closed
        }
    }
}

/// A response whose body was read to the end.
#[derive(Debug)]
pub struct Exchange {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// Body bytes received.
    pub body_bytes: u64,
    /// The start of the body, up to the client's `keep_body` bytes.
    pub body: Bytes,
}

struct Live {
    sender: SendRequest<Full<Bytes>>,
    conn: Conn,
    /// The connection future finished (closed by either side).
    done: bool,
    /// An exchange started and did not finish (its future was dropped): the connection's
    /// state is unknown, so it is replaced before the next request.
    dirty: bool,
}

/// A keep-alive connection to one address that reconnects when the server closes it.
pub struct Client {
    addr: SocketAddr,
    live: Option<Live>,
    pending_stream: Option<TcpStream>,
    keep_body: usize,
    connects: u64,
}

impl Client {
    /// A client that connects to `addr` on its first request.
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            live: None,
            pending_stream: None,
            keep_body: 0,
            connects: 0,
        }
    }

    /// A client whose first request goes over `stream`, already connected to `addr` (bursts
    /// connect everything first, then send at once).
    pub fn from_stream(addr: SocketAddr, stream: TcpStream) -> Client {
        Client {
            pending_stream: Some(stream),
            ..Client::new(addr)
        }
    }

    /// Keeps up to `n` bytes of each response body in [`Exchange::body`] (default 0).
    pub fn keep_body(mut self, n: usize) -> Client {
        self.keep_body = n;
        self
    }

    /// TCP connections opened (or adopted) so far.
    pub fn connects(&self) -> u64 {
        self.connects
    }

    /// Drops the current connection; the next request opens a new one.
    pub fn reset(&mut self) {
        self.live = None;
    }

    async fn connect(&mut self) -> Result<(), ErrorKind> {
        let stream = match self.pending_stream.take() {
            Some(s) => s,
            None => TcpStream::connect(self.addr)
                .await
                .map_err(|_| ErrorKind::Connect)?,
        };
        self.connects += 1;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ErrorKind::of(&e))?;
        self.live = Some(Live {
            sender,
            conn,
            done: false,
            dirty: false,
        });
        Ok(())
    }

    /// Sends `tmpl` and reads the whole response body, reusing the connection when the
    /// server keeps it open. Cancel-safe: dropping the future mid-way discards the connection.
    pub async fn exchange(&mut self, tmpl: &RequestTemplate) -> Result<Exchange, ErrorKind> {
        let reusable = self
            .live
            .as_ref()
            .is_some_and(|l| !l.done && !l.dirty && !l.sender.is_closed());
        if !reusable {
            self.live = None;
            self.connect().await?;
        }
        let keep = self.keep_body;
        let Some(Live {
            sender,
            conn,
            done,
            dirty,
        }) = self.live.as_mut()
        else {
            return Err(ErrorKind::Closed);
        };
        *dirty = true;
        drive(conn, done, poll_fn(|cx| sender.poll_ready(cx)))
            .await
            .map_err(|e| ErrorKind::of(&e))?;
        let resp = drive(conn, done, sender.send_request(tmpl.build()))
            .await
            .map_err(|e| ErrorKind::of(&e))?;
        let (parts, mut body) = resp.into_parts();
        let mut body_bytes = 0u64;
        let mut kept = BytesMut::new();
        while let Some(frame) = drive(conn, done, body.frame()).await {
            let frame = frame.map_err(|e| ErrorKind::of(&e))?;
            if let Some(data) = frame.data_ref() {
                body_bytes += data.len() as u64;
                if kept.len() < keep {
                    let room = keep - kept.len();
                    kept.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
        }
        *dirty = false;
        Ok(Exchange {
            status: parts.status,
            headers: parts.headers,
            body_bytes,
            body: kept.freeze(),
        })
    }
}

/// Polls the connection (until it finishes) alongside `fut`, in this task. The connection is
/// polled first so that whatever it delivers is seen by `fut` in the same turn.
async fn drive<F: Future>(conn: &mut Conn, done: &mut bool, fut: F) -> F::Output {
    let mut fut = pin!(fut);
    poll_fn(move |cx| {
        if !*done && Pin::new(&mut *conn).poll(cx).is_ready() {
            *done = true;
        }
        fut.as_mut().poll(cx)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            addr: "127.0.0.1:9".parse().unwrap(),
            authority: "127.0.0.1:9".into(),
            base_path: String::new(),
        }
    }

    #[test]
    fn template_adds_host_and_agent_but_keeps_given_ones() {
        let t = RequestTemplate::new(&target(), &HttpRequest::get("/a?b=c").header("x-k", "v"))
            .unwrap();
        assert_eq!(t.headers[HOST], "127.0.0.1:9");
        assert!(
            t.headers[USER_AGENT]
                .to_str()
                .unwrap()
                .starts_with("shakedown/")
        );
        assert_eq!(t.uri.path_and_query().unwrap().as_str(), "/a?b=c");
        let own = HttpRequest::get("/")
            .header("Host", "example")
            .header("user-agent", "me");
        let t = RequestTemplate::new(&target(), &own).unwrap();
        assert_eq!(t.headers[HOST], "example");
        assert_eq!(t.headers[USER_AGENT], "me");
    }

    #[test]
    fn template_rejects_bad_paths_and_headers() {
        assert!(matches!(
            RequestTemplate::new(&target(), &HttpRequest::get("no-slash")),
            Err(TemplateError::Path { .. })
        ));
        assert!(matches!(
            RequestTemplate::new(&target(), &HttpRequest::get("/").header("bad header", "v")),
            Err(TemplateError::Header { .. })
        ));
        assert!(matches!(
            RequestTemplate::new(&target(), &HttpRequest::get("/").header("x", "a\r\nb")),
            Err(TemplateError::Header { .. })
        ));
    }
}
