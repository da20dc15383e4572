//! Executes a [`CallPlan`]: wait `pre_delay`, then either write the synthetic answer or
//! forward to the upstream and pass its answer back — untouched and streaming when there is
//! no shaper, chunk by chunk through the shaper otherwise.

use std::net::SocketAddr;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Request, Response, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use super::body::{self, Flow, ProxyBody, StepSink};
use super::error::ServeError;
use super::headers::{add_forwarded_for, strip_hop_by_hop};
use super::service::Destination;
use super::shared::Shared;
use crate::{CallPlan, ResponseShaper, Synthetic};

/// Runs the plan for one call.
pub async fn run(
    shared: &Shared,
    plan: CallPlan,
    dest: &Destination,
    parts: Parts,
    body: Bytes,
    peer: SocketAddr,
) -> Result<Response<ProxyBody>, ServeError> {
    let halt = &shared.upstream.halt;
    if !plan.pre_delay.is_zero() {
        // A client that leaves drops this future, which ends the wait too.
        tokio::select! {
            _ = tokio::time::sleep(plan.pre_delay) => {}
            _ = halt.cancelled() => return Err(ServeError::ShuttingDown),
        }
    }
    if let Some(answer) = plan.respond {
        return Ok(synthetic(shared, answer));
    }
    let shaped = plan.shaper.is_some();
    let req = upstream_request(parts, dest, body, peer, shaped)?;
    // Untouched calls reuse keep-alive connections; shaped ones get their own.
    let resp = shared
        .upstream
        .send(&dest.target, dest.trusted, req, !shaped)
        .await?;
    let (mut head, upstream_body) = resp.into_parts();
    strip_hop_by_hop(&mut head.headers);
    match plan.shaper {
        None => Ok(Response::from_parts(
            head,
            upstream_body.map_err(Into::into).boxed(),
        )),
        Some(mut shaper) => {
            shaper.head(&mut head.status, &mut head.headers);
            // Shaped bodies are written chunked: their final size is not known up front.
            head.headers.remove(header::CONTENT_LENGTH);
            let (out, sink) = body::channel(halt.clone());
            shared
                .upstream
                .tracker
                .spawn(pump(upstream_body, shaper, sink));
            Ok(Response::from_parts(head, out))
        }
    }
}

/// The request sent upstream: origin-form URI, `Host` of the upstream, hop-by-hop headers
/// removed, `x-forwarded-for` added, the buffered body. When the answer will be `shaped`,
/// the upstream is asked for `accept-encoding: identity`: shapers rewrite plain bytes and
/// cannot rewrite a gzip or brotli body.
fn upstream_request(
    parts: Parts,
    dest: &Destination,
    body: Bytes,
    peer: SocketAddr,
    shaped: bool,
) -> Result<Request<Full<Bytes>>, ServeError> {
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    if shaped {
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
    }
    // The body is already here; hyper sets the length of the buffered body itself.
    headers.remove(header::EXPECT);
    headers.remove(header::CONTENT_LENGTH);
    add_forwarded_for(&mut headers, peer.ip());
    let host = HeaderValue::from_str(&dest.target.host_header())
        .map_err(|e| ServeError::Unsupported(format!("bad upstream host: {e}")))?;
    headers.insert(header::HOST, host);
    let mut req = Request::builder()
        .method(parts.method)
        .uri(dest.upstream_path.as_str())
        .body(Full::new(body))
        .map_err(|e| ServeError::Unsupported(format!("bad upstream request: {e}")))?;
    *req.headers_mut() = headers;
    Ok(req)
}

/// The synthetic answer: sent whole (with a length) when it is plain data, otherwise
/// produced step by step by a task (sleeps between chunks, abort mid-body).
fn synthetic(shared: &Shared, answer: Synthetic) -> Response<ProxyBody> {
    let Synthetic {
        status,
        mut headers,
        body: steps,
    } = answer;
    strip_hop_by_hop(&mut headers);
    headers.remove(header::CONTENT_LENGTH);
    let out = if body::all_data(&steps) {
        body::full(body::concat(steps))
    } else {
        let (out, sink) = body::channel(shared.upstream.halt.clone());
        shared.upstream.tracker.spawn(async move {
            sink.run(steps).await;
        });
        out
    };
    let mut resp = Response::new(out);
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

/// Reads the upstream body frame by frame through the shaper. Ends when the upstream body
/// ends, the client leaves, the shaper aborts, or the proxy halts.
async fn pump(mut upstream: Incoming, mut shaper: Box<dyn ResponseShaper>, sink: StepSink) {
    let mut out = Vec::new();
    loop {
        let frame = tokio::select! {
            f = upstream.frame() => f,
            _ = sink.halt().cancelled() => {
                sink.abort().await;
                return;
            }
        };
        match frame {
            None => break,
            Some(Ok(frame)) => {
                // Trailers are dropped: the shaped body is a new message.
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                shaper.chunk(data, &mut out);
                if sink.run(std::mem::take(&mut out)).await == Flow::Stop {
                    return;
                }
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "upstream body failed mid-stream");
                sink.abort().await;
                return;
            }
        }
    }
    shaper.end(&mut out);
    sink.run(out).await;
}
