//! A small HTTP/1.1 client over hyper's `client::conn`: one connection per request (exact
//! control, no pooling surprises), a deadline on the whole exchange, and response bodies
//! capped so a hostile target cannot exhaust our memory.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::context::Target;

/// Largest response body kept for inspection.
pub const BODY_CAP: usize = 256 * 1024;

/// A request to send, relative to the target.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: Method,
    /// Path and query, already percent-encoded, including the target's base path.
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl HttpRequest {
    pub fn get(path_and_query: impl Into<String>) -> HttpRequest {
        HttpRequest {
            method: Method::GET,
            path_and_query: path_and_query.into(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> HttpRequest {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// A short description for evidence, e.g. `POST /users`.
    pub fn describe(&self) -> String {
        let mut s = format!("{} {}", self.method, self.path_and_query);
        if s.len() > 200 {
            let mut cut = 200;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push('…');
        }
        s
    }
}

/// A response as received (body capped at [`BODY_CAP`]).
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub latency: Duration,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn is_html(&self) -> bool {
        self.header("content-type")
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("text/html"))
    }
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What came of one exchange.
#[derive(Debug, Clone)]
pub enum Outcome {
    Response(HttpResponse),
    /// No complete response within our deadline.
    Timeout(Duration),
    /// The TCP connection could not be opened.
    ConnectError(String),
    /// The connection was closed or reset before a complete response.
    Closed(String),
}

impl Outcome {
    /// Histogram label: the status code, or `timeout`, `connect_error`, `closed`.
    pub fn label(&self) -> String {
        match self {
            Outcome::Response(r) => r.status.to_string(),
            Outcome::Timeout(_) => "timeout".into(),
            Outcome::ConnectError(_) => "connect_error".into(),
            Outcome::Closed(_) => "closed".into(),
        }
    }
    pub fn response(&self) -> Option<&HttpResponse> {
        match self {
            Outcome::Response(r) => Some(r),
            _ => None,
        }
    }
    pub fn status(&self) -> Option<u16> {
        self.response().map(|r| r.status)
    }
}

/// Sends one request on a fresh connection, with `timeout` on the whole exchange.
pub async fn send(target: &Target, req: &HttpRequest, timeout: Duration) -> Outcome {
    let start = Instant::now();
    match tokio::time::timeout(timeout, exchange(target, req, start)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Timeout(start.elapsed()),
    }
}

async fn exchange(target: &Target, req: &HttpRequest, start: Instant) -> Outcome {
    let stream = match TcpStream::connect(target.addr).await {
        Ok(s) => s,
        Err(e) => return Outcome::ConnectError(e.to_string()),
    };
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    {
        Ok(pair) => pair,
        Err(e) => return Outcome::Closed(e.to_string()),
    };
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let outcome = match build(target, req) {
        Ok(request) => match sender.send_request(request).await {
            Ok(resp) => {
                let (parts, body) = resp.into_parts();
                let body = read_capped(body).await;
                Outcome::Response(HttpResponse {
                    status: parts.status.as_u16(),
                    headers: parts.headers,
                    body,
                    latency: start.elapsed(),
                })
            }
            Err(e) => Outcome::Closed(e.to_string()),
        },
        Err(e) => Outcome::Closed(format!("request could not be built: {e}")),
    };
    driver.abort();
    outcome
}

fn build(target: &Target, req: &HttpRequest) -> Result<Request<Full<Bytes>>, http::Error> {
    let mut builder = Request::builder()
        .method(req.method.clone())
        .uri(&req.path_and_query)
        .header(http::header::HOST, &target.authority);
    let mut has_ua = false;
    for (k, v) in &req.headers {
        has_ua |= k.eq_ignore_ascii_case("user-agent");
        builder = builder.header(k.as_str(), v.as_str());
    }
    if !has_ua {
        builder = builder.header(
            http::header::USER_AGENT,
            concat!("shakedown/", env!("CARGO_PKG_VERSION")),
        );
    }
    builder.body(Full::new(req.body.clone()))
}

/// Reads a body up to [`BODY_CAP`] bytes, dropping the rest (and any error after what was read).
async fn read_capped(mut body: hyper::body::Incoming) -> Bytes {
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Ok(data) = frame.into_data() {
            let room = BODY_CAP.saturating_sub(buf.len());
            buf.extend_from_slice(&data[..data.len().min(room)]);
            if buf.len() >= BODY_CAP {
                break;
            }
        }
    }
    Bytes::from(buf)
}

/// Longest pause [`send_paced`] takes for one `429`.
pub const MAX_RATE_PAUSE: Duration = Duration::from_secs(5);

/// The delay a `Retry-After` header asks for (delta-seconds; an HTTP date counts as 1 s).
pub fn retry_after(resp: &HttpResponse) -> Option<Duration> {
    let v = resp.header("retry-after")?.trim();
    let secs = v.parse::<u64>().unwrap_or(1);
    Some(Duration::from_secs(secs))
}

/// [`send`] for attacks that judge what a request does, not rate limits: a `429` is waited
/// out and the request sent again, at most `retries` times and never when the next try could
/// end past `deadline`. The pause is the answer's `Retry-After` (capped at
/// [`MAX_RATE_PAUSE`]), else 250 ms doubling per retry (limiters like nginx's `limit_req`
/// send no `Retry-After` and clear within a fraction of a second). `seen` gets every outcome,
/// the 429s included. `None` when `halt` is cancelled first.
pub async fn send_paced(
    target: &Target,
    req: &HttpRequest,
    timeout: Duration,
    retries: u32,
    deadline: tokio::time::Instant,
    halt: &tokio_util::sync::CancellationToken,
    seen: &mut (dyn FnMut(&Outcome) + Send),
) -> Option<Outcome> {
    let mut tried = 0;
    loop {
        let outcome = tokio::select! {
            o = send(target, req, timeout) => o,
            _ = halt.cancelled() => return None,
        };
        seen(&outcome);
        let pause = match outcome.response() {
            Some(r) if r.status == 429 && tried < retries => retry_after(r)
                .unwrap_or(Duration::from_millis(250 << tried.min(4)))
                .clamp(Duration::from_millis(100), MAX_RATE_PAUSE),
            _ => return Some(outcome),
        };
        if tokio::time::Instant::now() + pause + timeout > deadline {
            return Some(outcome);
        }
        tried += 1;
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = halt.cancelled() => return None,
        }
    }
}
