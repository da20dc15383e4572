//! Every fault variant × every API, streamed and whole: each one really acts on the call
//! (answers by itself, delays it, or changes what the client receives), except the documented
//! no-op (nothing to split in a whole answer or a tool result).

mod apply_support;

use std::time::Duration;

use apply_support::*;
use http::StatusCode;
use shakedown_faults::{
    ApiKind, ContextAttackKind, DriftKind, Fault, RateLimitKind, StreamFault, plan,
};
use shakedown_mockllm::Reply;

fn all_faults() -> Vec<Fault> {
    let ms = Duration::from_millis;
    let mut v = vec![
        Fault::Timeout { delay: ms(10) },
        Fault::Slow { delay: ms(10) },
        Fault::Error {
            status: 503,
            message: "down".into(),
        },
        Fault::Malformed,
        Fault::MaliciousResponse {
            payload: "PAYLOAD".into(),
        },
        Fault::RateLimit(RateLimitKind::Retryable {
            retry_after: ms(500),
        }),
        Fault::RateLimit(RateLimitKind::Quota),
        Fault::Overloaded,
        Fault::TruncatedResponse { max_tokens: 3 },
        Fault::Empty,
        Fault::Garbage,
        Fault::ResponseDrift(DriftKind::JsonFieldRename { renames: vec![] }),
        Fault::ResponseDrift(DriftKind::VerbosityShift {
            direction: None,
            factor: 3.0,
        }),
        Fault::ResponseDrift(DriftKind::FormatChange),
        Fault::ResponseDrift(DriftKind::RefusalRephrase),
        Fault::ResponseDrift(DriftKind::ToneShift),
        Fault::Stream(StreamFault::Cut { after_events: 2 }),
        Fault::Stream(StreamFault::MalformedChunk { at_event: 1 }),
        Fault::Stream(StreamFault::SlowChunks { delay: ms(1) }),
        Fault::Stream(StreamFault::ErrorEvent { after_events: 1 }),
        Fault::Stream(StreamFault::SplitToolArgs),
        Fault::MidStreamError,
    ];
    for kind in [
        ContextAttackKind::IndirectInjection,
        ContextAttackKind::MemoryPoisoning,
        ContextAttackKind::Overflow,
        ContextAttackKind::ConflictingContext,
        ContextAttackKind::InjectionViaContext,
    ] {
        v.push(Fault::ContextAttack {
            kind,
            payload: "PAYLOAD".into(),
            placement: shakedown_faults::Placement::default_for(kind),
        });
    }
    v
}

/// The upstream answer: text with a JSON fragment (so every drift kind has something to
/// change) and, for split_tool_args, a tool call.
fn upstream(api: ApiKind, stream: bool, fault: &Fault) -> Vec<u8> {
    let reply = if *fault == Fault::Stream(StreamFault::SplitToolArgs) {
        tool_reply()
    } else {
        Reply::text(r#"The result is {"status": "ok"} for Paris today."#)
    };
    if stream {
        streamed(api, &reply)
    } else if api == ApiKind::Tool {
        br#"{"results": ["The result is {\"status\": \"ok\"} for Paris today."]}"#.to_vec()
    } else {
        whole(api, &reply).to_string().into_bytes()
    }
}

fn no_op(api: ApiKind, stream: bool, fault: &Fault) -> bool {
    *fault == Fault::Stream(StreamFault::SplitToolArgs) && (!stream || api == ApiKind::Tool)
}

#[test]
fn every_fault_acts_on_every_api() {
    let apis = [
        ApiKind::OpenAiChat,
        ApiKind::OpenAiResponses,
        ApiKind::AnthropicMessages,
        ApiKind::Tool,
    ];
    let mut checked = 0;
    for api in apis {
        for stream in [false, true] {
            for fault in all_faults() {
                let p = plan(&call(api, stream), &[fired(fault.clone(), 5)]);
                if p.respond.is_some() || !p.pre_delay.is_zero() {
                    checked += 1;
                    continue;
                }
                let body = upstream(api, stream, &fault);
                let headers = if stream {
                    sse_headers()
                } else {
                    json_headers(body.len())
                };
                let r = run(p, StatusCode::OK, headers, &body, 5);
                let acted = r.body() != body || !r.sleeps().is_empty() || r.aborted();
                assert_eq!(
                    acted,
                    !no_op(api, stream, &fault),
                    "{api:?} stream={stream} {fault:?}: {}",
                    String::from_utf8_lossy(&r.body())
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 4 * 2 * all_faults().len());
}
