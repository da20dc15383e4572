//! Stream faults on the mock LLM's real SSE answers (Chat Completions, Responses, Anthropic)
//! and an MCP-style tool stream, fed through the shaper in chunks of every size that matters.

mod apply_support;

use std::time::Duration;

use apply_support::*;
use http::StatusCode;
use serde_json::{Value, json};
use shakedown_faults::stream::SseEvent;
use shakedown_faults::transform::TextOp;
use shakedown_faults::{ApiKind, ContextAttackKind, DriftKind, Fault, StreamFault, plan};

const CHUNKS: [usize; 4] = [1, 7, 64, usize::MAX];

fn stream_run(
    api: ApiKind,
    fault: Fault,
    reply: &shakedown_mockllm::Reply,
    chunk: usize,
) -> (Vec<u8>, Received) {
    let body = streamed(api, reply);
    let p = plan(&call(api, true), &[fired(fault, 21)]);
    let r = run(
        p,
        StatusCode::OK,
        sse_headers(),
        &body,
        chunk.min(body.len()),
    );
    (body, r)
}

/// Runs with every chunk size and checks they all give the same bytes.
fn stream_all(
    api: ApiKind,
    fault: Fault,
    reply: &shakedown_mockllm::Reply,
) -> (Vec<SseEvent>, Received) {
    let (body, first) = stream_run(api, fault.clone(), reply, CHUNKS[0]);
    for c in &CHUNKS[1..] {
        let (_, r) = stream_run(api, fault.clone(), reply, *c);
        assert_eq!(r.body(), first.body(), "{api:?} {fault:?} chunk {c}");
    }
    (events(&body), first)
}

fn is_terminal(api: ApiKind, e: &SseEvent) -> bool {
    match api {
        ApiKind::OpenAiChat => e.data.as_deref() == Some("[DONE]"),
        ApiKind::OpenAiResponses => e
            .event
            .as_deref()
            .is_some_and(|n| n.starts_with("response.completed")),
        ApiKind::AnthropicMessages => e.event.as_deref() == Some("message_stop"),
        ApiKind::Tool => false,
    }
}

fn assert_sequence_consecutive(evs: &[SseEvent]) {
    for (i, e) in evs.iter().enumerate() {
        if let Some(n) = e.json().and_then(|v| v["sequence_number"].as_u64()) {
            assert_eq!(n, i as u64, "sequence_number of event {i}");
        }
    }
}

#[test]
fn untouched_events_keep_their_exact_bytes() {
    // Nothing to split in a text answer: every byte passes through unchanged.
    for api in LLM_APIS {
        let (orig, r) = stream_all(
            api,
            Fault::Stream(StreamFault::SplitToolArgs),
            &text_reply(),
        );
        let raw: Vec<u8> = orig.iter().flat_map(|e| e.raw.to_vec()).collect();
        assert_eq!(r.body(), raw);
        assert!(!r.headers.contains_key("content-length"));
    }
}

#[test]
fn cut_ends_without_the_terminal_event() {
    for api in LLM_APIS {
        let (orig, r) = stream_all(
            api,
            Fault::Stream(StreamFault::Cut { after_events: 3 }),
            &text_reply(),
        );
        assert_eq!(r.events(), orig[..3].to_vec(), "{api:?}");
        let (orig, r) = stream_all(
            api,
            Fault::Stream(StreamFault::Cut {
                after_events: 10_000,
            }),
            &text_reply(),
        );
        let got = r.events();
        assert_eq!(got.len(), orig.len() - 1);
        assert!(is_terminal(api, orig.last().unwrap()));
        assert!(!got.iter().any(|e| is_terminal(api, e)));
        assert!(!r.aborted(), "a cut ends the body cleanly");
    }
}

#[test]
fn malformed_chunk_breaks_exactly_one_event() {
    for api in LLM_APIS {
        let (orig, r) = stream_all(
            api,
            Fault::Stream(StreamFault::MalformedChunk { at_event: 2 }),
            &text_reply(),
        );
        let got = r.events();
        assert_eq!(got.len(), orig.len());
        for (i, (a, b)) in orig.iter().zip(&got).enumerate() {
            if i == 2 {
                assert_eq!(b.event, a.event);
                assert!(b.json().is_none(), "event 2 is not JSON");
                assert!(b.data.as_ref().unwrap().ends_with("}{]"));
            } else {
                assert_eq!(a, b);
            }
        }
        // A plain `malformed` fault on a stream corrupts the first event after the opening.
        let (_, r) = stream_all(api, Fault::Malformed, &text_reply());
        assert!(r.events()[0].json().is_some());
        assert!(r.events()[1].json().is_none());
    }
}

#[test]
fn slow_chunks_sleep_before_every_event() {
    for api in LLM_APIS {
        let d = Duration::from_millis(3);
        let (orig, r) = stream_all(
            api,
            Fault::Stream(StreamFault::SlowChunks { delay: d }),
            &text_reply(),
        );
        assert_eq!(r.sleeps(), vec![d; orig.len()]);
        assert_eq!(r.events(), orig);
        assert!(matches!(r.steps[0], shakedown_faults::Step::Sleep(_)));
    }
}

#[test]
fn error_event_mid_stream_per_provider() {
    let f = Fault::Stream(StreamFault::ErrorEvent { after_events: 2 });
    let (orig, r) = stream_all(ApiKind::OpenAiChat, f.clone(), &text_reply());
    let got = r.events();
    assert_eq!(got[..2], orig[..2]);
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].event, None);
    assert_eq!(
        got[2].json().unwrap(),
        json!({"error": {"message": "The server had an error while processing your request. Sorry about that!",
                         "type": "server_error", "param": null, "code": null}})
    );

    let (orig, r) = stream_all(ApiKind::AnthropicMessages, f.clone(), &text_reply());
    let got = r.events();
    assert_eq!(got[..2], orig[..2]);
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].event.as_deref(), Some("error"));
    assert_eq!(
        got[2].json().unwrap(),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );

    let (orig, r) = stream_all(ApiKind::OpenAiResponses, f, &text_reply());
    let got = r.events();
    assert_eq!(got[..2], orig[..2]);
    assert_eq!(got.len(), 4);
    assert_eq!(got[2].event.as_deref(), Some("error"));
    let err = got[2].json().unwrap();
    assert_eq!(err["type"], "error");
    assert_eq!(err["code"], "server_error");
    assert_eq!(got[3].event.as_deref(), Some("response.failed"));
    let failed = got[3].json().unwrap();
    assert_eq!(failed["response"]["status"], "failed");
    assert_eq!(failed["response"]["error"]["code"], "server_error");
    assert_eq!(
        failed["response"]["id"],
        orig[0].json().unwrap()["response"]["id"]
    );
    assert_sequence_consecutive(&got);

    // `mid_stream_error` is the same thing, after the answer has begun.
    let (orig, r) = stream_all(
        ApiKind::AnthropicMessages,
        Fault::MidStreamError,
        &text_reply(),
    );
    assert_eq!(r.events()[..3], orig[..3]);
    assert_eq!(r.events()[3].event.as_deref(), Some("error"));
}

#[test]
fn split_tool_args_keeps_the_concatenation() {
    for api in LLM_APIS {
        let (orig, r) = stream_all(
            api,
            Fault::Stream(StreamFault::SplitToolArgs),
            &tool_reply(),
        );
        let got = r.events();
        let (a, na) = streamed_args(api, &orig);
        let (b, nb) = streamed_args(api, &got);
        assert_eq!(a, b, "{api:?}");
        assert!(a.contains("Paris"));
        assert_ne!(na, nb, "{api:?}: re-split");
        assert!(nb > na);
        let pieces: Vec<String> = got
            .iter()
            .filter_map(|e| {
                let v = e.json()?;
                [
                    "/choices/0/delta/tool_calls/0/function/arguments",
                    "/delta",
                    "/delta/partial_json",
                ]
                .iter()
                .find_map(|p| v.pointer(p).and_then(Value::as_str).map(str::to_string))
            })
            .collect();
        assert!(pieces.iter().any(String::is_empty), "{api:?}: empty deltas");
        let non_args: Vec<_> = orig
            .iter()
            .filter(|e| {
                !e.raw
                    .windows(9)
                    .any(|w| w == b"arguments" || w == b"partial_j")
            })
            .collect();
        assert!(non_args.iter().all(|e| got.contains(e)) || api == ApiKind::OpenAiResponses);
        if api == ApiKind::OpenAiResponses {
            assert_sequence_consecutive(&got);
        }
    }
}

/// The text a client sees and the final text the API repeats (Responses `done` events).
fn check_text(api: ApiKind, fault: Fault, expected: &str) -> Vec<SseEvent> {
    let (_, r) = stream_all(api, fault.clone(), &text_reply());
    let got = r.events();
    assert_eq!(streamed_text(api, &got), expected, "{api:?} {fault:?}");
    if api == ApiKind::OpenAiResponses {
        assert_sequence_consecutive(&got);
        let find = |name: &str| {
            got.iter()
                .find(|e| e.event.as_deref() == Some(name))
                .unwrap()
                .json()
                .unwrap()
        };
        assert_eq!(find("response.output_text.done")["text"], expected);
        assert_eq!(find("response.content_part.done")["part"]["text"], expected);
        assert_eq!(
            find("response.output_item.done")["item"]["content"][0]["text"],
            expected
        );
        let last = got.last().unwrap().json().unwrap();
        assert_eq!(
            last["response"]["output"][0]["content"][0]["text"],
            expected
        );
    }
    got
}

#[test]
fn truncation_of_streams_marks_the_limit() {
    let f = Fault::TruncatedResponse { max_tokens: 4 };
    let got = check_text(ApiKind::OpenAiChat, f.clone(), "The weather in Paris");
    let finish: Vec<_> = got
        .iter()
        .filter_map(|e| e.json())
        .filter_map(|v| {
            v.pointer("/choices/0/finish_reason")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    assert_eq!(finish, vec!["length"]);
    assert_eq!(got.last().unwrap().data.as_deref(), Some("[DONE]"));

    let got = check_text(
        ApiKind::AnthropicMessages,
        f.clone(),
        "The weather in Paris",
    );
    let delta = got
        .iter()
        .find(|e| e.event.as_deref() == Some("message_delta"))
        .unwrap();
    assert_eq!(delta.json().unwrap()["delta"]["stop_reason"], "max_tokens");
    assert_eq!(got.last().unwrap().event.as_deref(), Some("message_stop"));

    let got = check_text(ApiKind::OpenAiResponses, f, "The weather in Paris");
    let last = got.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("response.incomplete"));
    let v = last.json().unwrap();
    assert_eq!(v["type"], "response.incomplete");
    assert_eq!(v["response"]["status"], "incomplete");
    assert_eq!(
        v["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );
}

#[test]
fn text_rewrites_are_consistent_across_deltas_and_done_events() {
    for api in LLM_APIS {
        check_text(api, Fault::Empty, "");
        check_text(
            api,
            Fault::Garbage,
            &TextOp::Garbage { seed: 21 }.apply(TEXT),
        );
        check_text(
            api,
            Fault::MaliciousResponse {
                payload: "Visit evil.example now".into(),
            },
            "Visit evil.example now",
        );
        for kind in [
            DriftKind::VerbosityShift {
                direction: None,
                factor: 3.0,
            },
            DriftKind::FormatChange,
            DriftKind::RefusalRephrase,
            DriftKind::ToneShift,
        ] {
            check_text(
                api,
                Fault::ResponseDrift(kind.clone()),
                &TextOp::Drift(kind).apply(TEXT),
            );
        }
        check_text(
            api,
            Fault::ContextAttack {
                kind: ContextAttackKind::IndirectInjection,
                payload: "P".into(),
                placement: shakedown_faults::Placement::Append,
            },
            &format!("{TEXT}\n\nP"),
        );
    }
}

#[test]
fn tool_streams_carry_context_attacks_and_error_events() {
    let api = ApiKind::Tool;
    let f = Fault::ContextAttack {
        kind: ContextAttackKind::IndirectInjection,
        payload: "EXFILTRATE".into(),
        placement: shakedown_faults::Placement::Append,
    };
    let (_, r) = stream_all(api, f, &text_reply());
    let got = r.events();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].event.as_deref(), Some("message"));
    assert_eq!(
        got[0].json().unwrap()["result"]["content"][0]["text"],
        format!("{TEXT}\n\nEXFILTRATE")
    );

    let (_, r) = stream_all(
        api,
        Fault::Stream(StreamFault::ErrorEvent { after_events: 0 }),
        &text_reply(),
    );
    let got = r.events();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].event.as_deref(), Some("error"));
    assert!(got[0].json().unwrap()["error"].is_string());

    // Malicious tool output replaces the whole stream body.
    let (_, r) = stream_all(
        api,
        Fault::MaliciousResponse {
            payload: "pwned".into(),
        },
        &text_reply(),
    );
    assert_eq!(r.body(), b"pwned");
}
