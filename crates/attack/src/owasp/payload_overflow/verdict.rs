//! How a probe counts: refused (413, 411 for chunked, a close before the answer), accepted (any
//! other answer after the body was sent), or unknown; and what it adds to the evidence.

use shakedown_core::result::Sample;

use crate::evidence::{EXCERPT_CHARS, Recorder, excerpt};

use super::Framing;
use super::wire::{Ended, Probe};

/// How a probe counts towards the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Judgement {
    Refused,
    Accepted,
    Unknown,
}

/// Whether `p` shows the server refusing the body, accepting it, or neither; with a finding.
pub(super) fn judge(p: &Probe, total: u64, max: u64) -> (Judgement, String) {
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

/// Records `p` in the evidence: its status or end, a sample and its per-framing metrics.
pub(super) fn record(rec: &mut Recorder, p: &Probe, request: String) {
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
