//! `payload_overflow`: streams a body 50% larger than the claimed `max_payload` (default
//! 10MB, so 15MB) and checks that the server refuses it — a 413, or the connection closed
//! before the body was read — instead of swallowing it.
//!
//! Two probes over raw sockets, so we see an early answer or a close while still writing:
//! one with `Content-Length` declared up front, one with `Transfer-Encoding: chunked` and no
//! length (a path size checks often forget; a 411 there is a refusal too). The body is one
//! JSON string (`"aaa…"`) so content-type checks do not refuse it for the wrong reason.

use std::time::Duration;

use shakedown_core::result::{AttackOutcome, Sample, Verdict};
use shakedown_core::system::Endpoint;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::time::Instant;

use crate::context::AttackContext;
use crate::evidence::{EXCERPT_CHARS, Recorder, excerpt};
use crate::execute::{halted, inconclusive};
use crate::input::{self, Input};

/// Bytes handed to the socket per write.
const CHUNK: usize = 64 * 1024;
/// Largest response head we wait for before calling the answer garbled.
const MAX_HEAD: usize = 64 * 1024;
/// After a write fails, how long to look for a response that may already be on its way.
const AFTER_RESET: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    ContentLength,
    Chunked,
}

impl Framing {
    fn name(self) -> &'static str {
        match self {
            Framing::ContentLength => "content_length",
            Framing::Chunked => "chunked",
        }
    }
}

/// What one probe ended with.
#[derive(Debug)]
enum Ended {
    /// A response head arrived; `early` = before the whole body was written.
    Response {
        status: u16,
        head: String,
        early: bool,
    },
    /// The connection was closed or reset without a response.
    Closed(String),
    /// No answer and no close within our bounds.
    Timeout(String),
    ConnectError(String),
    /// The server sent something that is not an HTTP response.
    Garbled(String),
    Halted,
}

#[derive(Debug)]
struct Probe {
    framing: Framing,
    written: u64,
    ended: Ended,
    latency: Duration,
}

/// How a probe counts towards the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Judgement {
    Refused,
    Accepted,
    Unknown,
}

/// Method, path and extra headers of the request that carries the oversized body, and why.
fn pick_target(ctx: &AttackContext) -> (String, String, Vec<(String, String)>, &'static str) {
    let benign = Input::Text("shakedown".into());
    let takes_body = |e: &&Endpoint| matches!(e.method.as_str(), "POST" | "PUT" | "PATCH");
    let headers = |e: &Endpoint| {
        e.headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    if let Some(ep) = ctx.component.endpoints.iter().find(takes_body) {
        let path = input::path_and_query(&ctx.target, ep, &benign);
        return (
            ep.method.as_str().into(),
            path,
            headers(ep),
            "first endpoint that takes a body",
        );
    }
    if let Some(ep) = ctx.component.endpoints.first() {
        let path = input::path_and_query(&ctx.target, ep, &benign);
        return (
            "POST".into(),
            path,
            headers(ep),
            "POST to the first endpoint's path",
        );
    }
    (
        "POST".into(),
        ctx.target.path("/"),
        Vec::new(),
        "POST to the target root (no endpoints)",
    )
}

/// The request head for `framing`. Headers that would change the framing are dropped, and so
/// is any value with CR/LF (it would splice extra lines into the request).
fn request_head(
    ctx: &AttackContext,
    method: &str,
    path: &str,
    extra: &[(String, String)],
    framing: Framing,
    total: u64,
) -> String {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\n",
        ctx.target.authority
    );
    head.push_str(concat!(
        "User-Agent: shakedown/",
        env!("CARGO_PKG_VERSION"),
        "\r\n"
    ));
    head.push_str("Content-Type: application/json\r\nConnection: close\r\n");
    match framing {
        Framing::ContentLength => head.push_str(&format!("Content-Length: {total}\r\n")),
        Framing::Chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
    }
    let reserved = [
        "host",
        "content-type",
        "content-length",
        "transfer-encoding",
        "connection",
    ];
    let auth = ctx.auth.iter().map(|(k, v)| (k.clone(), v.clone()));
    for (k, v) in extra.iter().cloned().chain(auth) {
        let clean = |s: &str| !s.contains(['\r', '\n']);
        if reserved.contains(&k.to_ascii_lowercase().as_str()) || !clean(&k) || !clean(&v) {
            continue;
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// The body bytes `[offset, offset + len)`: a JSON string of `total` bytes.
fn body_piece(offset: u64, total: u64) -> Vec<u8> {
    let len = (total - offset).min(CHUNK as u64) as usize;
    let mut piece = vec![b'a'; len];
    if offset == 0 {
        piece[0] = b'"';
    }
    if offset + len as u64 == total {
        piece[len - 1] = b'"';
    }
    piece
}

/// The next write: the body piece at `offset`, framed for `framing`.
fn framed_piece(framing: Framing, offset: u64, total: u64) -> (Vec<u8>, u64) {
    let piece = body_piece(offset, total);
    let len = piece.len() as u64;
    match framing {
        Framing::ContentLength => (piece, len),
        Framing::Chunked => {
            let mut out = format!("{len:x}\r\n").into_bytes();
            out.extend_from_slice(&piece);
            out.extend_from_slice(b"\r\n");
            if offset + len == total {
                out.extend_from_slice(b"0\r\n\r\n");
            }
            (out, len)
        }
    }
}

/// Status code of an HTTP/1.x status line.
fn parse_status(line: &str) -> Option<u16> {
    let mut parts = line.split(' ');
    let version = parts.next()?;
    let code = parts.next()?;
    (version.starts_with("HTTP/1.") && code.len() == 3).then(|| code.parse().ok())?
}

/// Reads until the first final (non-1xx) response head. `Ok(None)` = closed before one.
async fn read_head(mut rd: OwnedReadHalf) -> std::io::Result<Option<(u16, String)>> {
    let mut buf = Vec::with_capacity(4096);
    let mut tmp = [0u8; 4096];
    loop {
        let n = rd.read(&mut tmp).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&tmp[..n]);
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&buf).into_owned();
            let status = text.lines().next().and_then(parse_status).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, excerpt(&text, 80))
            })?;
            if (100..200).contains(&status) {
                buf.drain(..end + 4);
                continue;
            }
            return Ok(Some((status, text)));
        }
        if buf.len() > MAX_HEAD {
            let text = String::from_utf8_lossy(&buf[..80]).into_owned();
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, text));
        }
    }
}

fn from_read(r: std::io::Result<Option<(u16, String)>>, early: bool, written: u64) -> Ended {
    match r {
        Ok(Some((status, head))) => Ended::Response {
            status,
            head,
            early,
        },
        Ok(None) => Ended::Closed(format!(
            "closed without a response after {written} body bytes"
        )),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Ended::Garbled(e.to_string()),
        Err(e) => Ended::Closed(format!("{e} after {written} body bytes")),
    }
}

/// Sends one oversized request, watching for an answer while writing.
async fn probe(
    ctx: &AttackContext,
    head: &str,
    framing: Framing,
    total: u64,
    deadline: Instant,
) -> Probe {
    let start = Instant::now();
    let stall = ctx.limits.request_timeout;
    let mut written = 0u64;
    let done = |ended: Ended, written: u64| Probe {
        framing,
        written,
        ended,
        latency: start.elapsed(),
    };
    let connect = tokio::time::timeout(stall, TcpStream::connect(ctx.target.addr));
    let stream = tokio::select! {
        r = connect => match r {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return done(Ended::ConnectError(e.to_string()), 0),
            Err(_) => return done(Ended::ConnectError(format!("no connection within {stall:?}")), 0),
        },
        _ = ctx.halt.cancelled() => return done(Ended::Halted, 0),
    };
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    let mut reader = std::pin::pin!(read_head(rd));

    let mut next: Option<(Vec<u8>, u64)> = Some((head.as_bytes().to_vec(), 0));
    let mut offset = 0u64;
    let mut write_error = None;
    let mut stalled = false;
    while let Some((bytes, body_len)) = next.take() {
        tokio::select! {
            biased;
            r = &mut reader => return done(from_read(r, true, written), written),
            w = tokio::time::timeout(stall, wr.write_all(&bytes)) => match w {
                Ok(Ok(())) => written += body_len,
                Ok(Err(e)) => {
                    write_error = Some(e.to_string());
                    break;
                }
                Err(_) => {
                    stalled = true;
                    break;
                }
            },
            _ = ctx.halt.cancelled() => return done(Ended::Halted, written),
            _ = tokio::time::sleep_until(deadline) => {
                let why = format!("probe deadline reached after writing {written} of {total} bytes");
                return done(Ended::Timeout(why), written);
            }
        }
        offset += body_len;
        if offset < total {
            next = Some(framed_piece(framing, offset, total));
        }
    }

    let wait = if write_error.is_some() {
        AFTER_RESET.min(stall)
    } else {
        stall
    };
    let early = written < total;
    tokio::select! {
        r = tokio::time::timeout(wait, &mut reader) => match (r, write_error) {
            (Ok(r), _) => done(from_read(r, early, written), written),
            (Err(_), Some(e)) => done(Ended::Closed(format!("{e} after {written} body bytes")), written),
            (Err(_), None) if stalled => {
                let why = format!(
                    "the server stopped reading after {written} of {total} bytes and did not answer \
                     within {stall:?}"
                );
                done(Ended::Timeout(why), written)
            }
            (Err(_), None) => {
                let why = format!("no response within {stall:?} after the whole body was sent");
                done(Ended::Timeout(why), written)
            }
        },
        _ = ctx.halt.cancelled() => done(Ended::Halted, written),
        _ = tokio::time::sleep_until(deadline) => {
            done(Ended::Timeout("probe deadline reached waiting for a response".into()), written)
        }
    }
}

/// Whether `p` shows the server refusing the body, accepting it, or neither; with a finding.
fn judge(p: &Probe, total: u64, max: u64) -> (Judgement, String) {
    let kind = match p.framing {
        Framing::ContentLength => format!("Content-Length: {total}"),
        Framing::Chunked => "chunked, no length".to_string(),
    };
    let w = p.written;
    match &p.ended {
        Ended::Response {
            status: 413, early, ..
        } => {
            let when = if *early {
                "before the body was sent"
            } else {
                "after the body was sent"
            };
            (
                Judgement::Refused,
                format!("{kind}: 413 {when} ({w} of {total} bytes written)"),
            )
        }
        Ended::Response { status: 411, .. } if p.framing == Framing::Chunked => (
            Judgement::Refused,
            format!("{kind}: 411 Length Required (a chunked body is refused)"),
        ),
        // Answered before reading the body: the handler never saw it, so nothing shows the
        // limit either way (nginx's `return`, a handler that ignores bodies, a 404/405).
        Ended::Response {
            status,
            early: true,
            ..
        } if *status < 500 => (
            Judgement::Unknown,
            format!(
                "{kind}: {status} before the body was sent ({w} of {total} bytes): the endpoint \
                 answers without reading the body, so the limit is not exercised there; declare \
                 an endpoint that reads its body"
            ),
        ),
        Ended::Response { status, early, .. } => {
            let finding = if *early {
                format!("{kind}: {status} before the body was sent ({w} of {total} bytes)")
            } else {
                format!(
                    "{kind}: accepted {w} bytes > max {max} and answered {status} instead of 413"
                )
            };
            (Judgement::Accepted, finding)
        }
        Ended::Closed(e) => (
            Judgement::Refused,
            format!(
                "{kind}: connection closed before a response ({e}; {w} of {total} bytes written)"
            ),
        ),
        Ended::Timeout(e) => (Judgement::Unknown, format!("{kind}: {e}")),
        Ended::ConnectError(e) => (Judgement::Unknown, format!("{kind}: cannot connect: {e}")),
        Ended::Garbled(e) => (
            Judgement::Unknown,
            format!("{kind}: not an HTTP response: {e}"),
        ),
        Ended::Halted => (Judgement::Unknown, format!("{kind}: halted")),
    }
}

fn record(rec: &mut Recorder, p: &Probe, request: String) {
    let (label, status, outcome, text) = match &p.ended {
        Ended::Response {
            status,
            head,
            early,
        } => {
            let when = if *early {
                "response before the body was sent"
            } else {
                "response"
            };
            (
                status.to_string(),
                Some(*status),
                when.to_string(),
                head.clone(),
            )
        }
        Ended::Closed(e) => ("closed".into(), None, "connection closed".into(), e.clone()),
        Ended::Timeout(e) => ("timeout".into(), None, "timeout".into(), e.clone()),
        Ended::ConnectError(e) => (
            "connect_error".into(),
            None,
            "connect error".into(),
            e.clone(),
        ),
        Ended::Garbled(e) => ("garbled".into(), None, "not HTTP".into(), e.clone()),
        Ended::Halted => ("halted".into(), None, "halted".into(), String::new()),
    };
    rec.record_label(&label, Some(p.latency));
    rec.sample_raw(Sample {
        request,
        status,
        outcome,
        latency_ms: p.latency.as_secs_f64() * 1000.0,
        excerpt: excerpt(&text, EXCERPT_CHARS),
    });
    let name = p.framing.name();
    rec.metric(&format!("{name}_status"), status);
    rec.metric(&format!("{name}_bytes_written"), p.written);
}

pub async fn run(ctx: &AttackContext) -> AttackOutcome {
    let max = ctx.component.guardrails.max_payload().bytes();
    if max == 0 {
        return inconclusive("the claimed max_payload is 0 bytes; nothing to overflow".into());
    }
    let total = (max + max / 2).max(2);
    let (method, path, extra, why) = pick_target(ctx);
    let mut rec = Recorder::new();
    rec.metric("max_payload", max);
    rec.metric("body_bytes", total);
    rec.metric("endpoint", format!("{method} {path}"));
    rec.finding(format!(
        "target: {method} {path} ({why}); body {total} bytes, max {max}"
    ));

    let per_probe = ctx.limits.max_attack_duration / 2;
    let mut judgements = Vec::new();
    for framing in [Framing::ContentLength, Framing::Chunked] {
        let head = request_head(ctx, &method, &path, &extra, framing, total);
        let p = probe(ctx, &head, framing, total, Instant::now() + per_probe).await;
        if matches!(p.ended, Ended::Halted) || ctx.halt.is_cancelled() {
            return halted();
        }
        let described = match framing {
            Framing::ContentLength => format!("{method} {path} (Content-Length: {total})"),
            Framing::Chunked => {
                format!("{method} {path} (Transfer-Encoding: chunked, {total} bytes)")
            }
        };
        record(&mut rec, &p, described);
        let (j, finding) = judge(&p, total, max);
        rec.finding(finding);
        judgements.push((framing, j));
    }

    let of = |want: Judgement| -> Vec<&str> {
        judgements
            .iter()
            .filter(|(_, j)| *j == want)
            .map(|(f, _)| f.name())
            .collect()
    };
    let (accepted, refused) = (of(Judgement::Accepted), of(Judgement::Refused));
    let unknown = of(Judgement::Unknown);
    let (verdict, summary) = if !accepted.is_empty() {
        if accepted == ["chunked"] && refused == ["content_length"] {
            rec.finding("the size limit holds for Content-Length but a chunked body bypasses it");
        }
        let how = accepted.join(", ");
        (
            Verdict::Failed,
            format!("{total}-byte body accepted ({how}; max {max})"),
        )
    } else if unknown.is_empty() {
        (
            Verdict::Passed,
            format!("{total}-byte body refused (max {max})"),
        )
    } else {
        let (r, u) = (refused.join(", "), unknown.join(", "));
        (
            Verdict::Inconclusive,
            format!("{total}-byte body: refused [{r}], no verdict [{u}]"),
        )
    };
    AttackOutcome {
        verdict,
        summary,
        guardrail_triggered: !refused.is_empty(),
        evidence: rec.finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_a_json_string_of_exactly_total_bytes() {
        let total = CHUNK as u64 * 2 + 10;
        let mut body = Vec::new();
        let mut offset = 0;
        while offset < total {
            let piece = body_piece(offset, total);
            offset += piece.len() as u64;
            body.extend(piece);
        }
        assert_eq!(body.len() as u64, total);
        let s: String = serde_json::from_slice(&body).unwrap();
        assert_eq!(s.len() as u64, total - 2);
    }

    #[test]
    fn chunked_framing_wraps_each_piece_and_ends_with_a_zero_chunk() {
        let (first, len) = framed_piece(Framing::Chunked, 0, 5);
        assert_eq!(len, 5);
        assert_eq!(first, b"5\r\n\"aaa\"\r\n0\r\n\r\n");
        let (mid, len) = framed_piece(Framing::Chunked, 0, CHUNK as u64 + 1);
        assert_eq!(len, CHUNK as u64);
        assert!(mid.starts_with(b"10000\r\n\"") && mid.ends_with(b"a\r\n"));
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(
            parse_status("HTTP/1.1 413 Request Entity Too Large"),
            Some(413)
        );
        assert_eq!(parse_status("HTTP/1.0 200"), Some(200));
        assert_eq!(parse_status("SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status("HTTP/1.1 2000 x"), None);
    }
}
