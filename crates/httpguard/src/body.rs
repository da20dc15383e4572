//! Request bodies read with a byte cap and a stall timeout, and the declared `Content-Length`.
//! A body is read frame by frame so an oversized one is refused the moment it passes the cap
//! (never buffered whole first), and a client that stops sending mid-body cannot hold a task
//! forever. What the refusal looks like (error shape, wording, counters) is the caller's.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Body as _;

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
    #[error("request body stalled for more than {0:?}")]
    Stalled(Duration),
    #[error("request body could not be read: {0}")]
    Broken(String),
}

impl BodyError {
    /// 413, 408 or 400. Callers answering 413 or 408 should close the connection: the rest
    /// of the body is never read, so the connection cannot carry another request.
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Stalled(_) => StatusCode::REQUEST_TIMEOUT,
            BodyError::Broken(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// Reads `body` into memory: at most `max` bytes, with at most `stall` between chunks.
pub async fn read_body(body: Body, max: usize, stall: Duration) -> Result<Bytes, BodyError> {
    let mut body = body;
    let mut buf = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(stall, body.frame()).await {
            Err(_) => return Err(BodyError::Stalled(stall)),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                // axum's own limit (`DefaultBodyLimit`) surfaces as an error of the body;
                // keep its meaning, so it is a 413 and not a 400.
                let text = e.to_string();
                return Err(if text.contains("length limit") {
                    BodyError::TooLarge(max)
                } else {
                    BodyError::Broken(text)
                });
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > max {
                return Err(BodyError::TooLarge(max));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// A `Content-Length` header that is not a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Content-Length is not a number")]
pub struct InvalidLength;

/// The declared body length: `Ok(None)` without a `Content-Length` header.
pub fn declared_length(headers: &HeaderMap) -> Result<Option<u64>, InvalidLength> {
    headers
        .get(header::CONTENT_LENGTH)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or(InvalidLength)
        })
        .transpose()
}

/// A request whose body has no exact length (chunked) comes back with the body read into
/// memory (within `max` and `stall`); one with an exact length comes back untouched, since
/// the declared-length check has already judged it. Run before any handler, so no handler
/// (even one that ignores bodies) lets an oversized chunked body through.
pub async fn buffer_unknown_length(
    req: Request,
    max: usize,
    stall: Duration,
) -> Result<Request, BodyError> {
    if req.body().size_hint().exact().is_some() {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    let bytes = read_body(body, max, stall).await?;
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use axum::http::HeaderValue;
    use futures_util::stream;

    use super::*;

    fn chunked(chunks: &[&'static str]) -> Body {
        let items: Vec<Result<Bytes, Infallible>> = chunks
            .iter()
            .map(|c| Ok(Bytes::from_static(c.as_bytes())))
            .collect();
        Body::from_stream(stream::iter(items))
    }

    #[tokio::test]
    async fn read_body_enforces_the_limit() {
        let ok = read_body(Body::from("12345"), 5, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(&ok[..], b"12345");
        let err = read_body(Body::from("123456"), 5, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err, BodyError::TooLarge(5));
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
        // Across chunks too: refused at the chunk that passes the cap.
        let err = read_body(chunked(&["123", "456"]), 5, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err, BodyError::TooLarge(5));
        let ok = read_body(chunked(&["12", "345"]), 5, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(&ok[..], b"12345");
    }

    #[tokio::test]
    async fn a_stalled_body_times_out() {
        let first = stream::iter([Ok::<_, Infallible>(Bytes::from_static(b"12"))]);
        let body = Body::from_stream(futures_util::StreamExt::chain(first, stream::pending()));
        let stall = Duration::from_millis(50);
        let started = std::time::Instant::now();
        let err = read_body(body, 100, stall).await.unwrap_err();
        assert_eq!(err, BodyError::Stalled(stall));
        assert_eq!(err.status(), StatusCode::REQUEST_TIMEOUT);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_broken_body_is_a_400_and_axums_limit_a_413() {
        let broken = Body::from_stream(stream::iter([Err::<Bytes, _>(std::io::Error::other(
            "connection reset",
        ))]));
        let err = read_body(broken, 100, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert!(err.to_string().contains("connection reset"), "{err}");
        let limited = Body::new(http_body_util::Limited::new(Body::from("123456"), 3));
        let err = read_body(limited, 100, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err, BodyError::TooLarge(100));
    }

    #[test]
    fn declared_length_is_parsed_or_refused() {
        let mut h = HeaderMap::new();
        assert_eq!(declared_length(&h), Ok(None));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static(" 42 "));
        assert_eq!(declared_length(&h), Ok(Some(42)));
        for bad in ["-1", "4 2", "abc", ""] {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from_static(bad));
            assert_eq!(declared_length(&h), Err(InvalidLength), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn only_bodies_of_unknown_length_are_buffered() {
        // An exact length passes untouched, even above the cap: the declared check judges it.
        let req = Request::new(Body::from("123456"));
        let req = buffer_unknown_length(req, 3, Duration::from_secs(1))
            .await
            .unwrap();
        let b = read_body(req.into_body(), 100, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(&b[..], b"123456");

        let req = Request::new(chunked(&["12", "3"]));
        let req = buffer_unknown_length(req, 3, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(req.body().size_hint().exact(), Some(3));

        let req = Request::new(chunked(&["12", "34"]));
        let err = buffer_unknown_length(req, 3, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err, BodyError::TooLarge(3));
    }
}
