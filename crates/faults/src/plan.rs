//! Turns the faults that fired on a call into the [`CallPlan`] the server runs. Several faults
//! may fire on one call: delays add up, the first fault that answers by itself (timeout,
//! error, rate limit, overload) wins and no upstream is asked, and the others chain as
//! response shapers — content rewrites first, then tool-argument splitting, then structural
//! faults (malformed, cut, error events), then slow chunks, so each sees the previous one's
//! output.

use std::time::Duration;

use crate::provider::{self, ErrorKind};
use crate::stream::{Action, FaultShaper};
use crate::transform::TextOp;
use crate::{CallInfo, CallPlan, Fault, FiredFault, ResponseShaper, Step, StreamFault};

/// The plan for `call`. Tool errors are plain HTTP errors; use [`plan_for_request`] to answer
/// JSON-RPC requests with JSON-RPC error objects.
pub fn plan(call: &CallInfo, fired: &[FiredFault]) -> CallPlan {
    plan_for_request(call, fired, &[])
}

/// The plan for `call` whose request body was `request_body` (only read for tool calls, to
/// answer a JSON-RPC request with a JSON-RPC error object carrying its id).
pub fn plan_for_request(call: &CallInfo, fired: &[FiredFault], request_body: &[u8]) -> CallPlan {
    let rpc_id = if call.api.is_llm() {
        None
    } else {
        provider::rpc_id(request_body)
    };
    let mut pre_delay = Duration::ZERO;
    let mut respond = None;
    let mut actions: Vec<(u8, Action, u64)> = Vec::new();
    for f in fired {
        let answer = |kind: ErrorKind| {
            provider::error_answer(call.api, &kind, f.seed, rpc_id.as_ref()).into_synthetic()
        };
        let action = match &f.fault {
            Fault::Timeout { delay } => {
                pre_delay += *delay;
                respond.get_or_insert_with(|| answer(ErrorKind::Timeout));
                continue;
            }
            Fault::Slow { delay } => {
                pre_delay += *delay;
                continue;
            }
            Fault::Error { status, message } => {
                respond.get_or_insert_with(|| {
                    answer(ErrorKind::Status {
                        status: *status,
                        message: message.clone(),
                    })
                });
                continue;
            }
            Fault::RateLimit(kind) => {
                respond.get_or_insert_with(|| answer(ErrorKind::RateLimit(kind.clone())));
                continue;
            }
            Fault::Overloaded => {
                respond.get_or_insert_with(|| answer(ErrorKind::Overloaded));
                continue;
            }
            Fault::Malformed => Action::Malformed,
            Fault::MaliciousResponse { payload } => Action::Malicious(payload.clone()),
            Fault::TruncatedResponse { max_tokens } => Action::Text(TextOp::Truncate(*max_tokens)),
            Fault::Empty => Action::Text(TextOp::Empty),
            Fault::Garbage => Action::Text(TextOp::Garbage { seed: f.seed }),
            Fault::ResponseDrift(kind) => Action::Text(TextOp::Drift(kind.clone())),
            Fault::Stream(s) => Action::Stream(s.clone()),
            Fault::ContextAttack {
                kind,
                payload,
                placement,
            } => Action::Context {
                kind: *kind,
                payload: payload.clone(),
                placement: *placement,
            },
            Fault::MidStreamError => Action::MidStreamError,
        };
        actions.push((rank(&action), action, f.seed));
    }
    if respond.is_some() {
        return CallPlan {
            pre_delay,
            respond,
            shaper: None,
        };
    }
    actions.sort_by_key(|(r, _, _)| *r);
    let mut shapers: Vec<Box<dyn ResponseShaper>> = actions
        .into_iter()
        .map(|(_, a, seed)| {
            Box::new(FaultShaper::new(call.api, a, seed, rpc_id.clone())) as Box<dyn ResponseShaper>
        })
        .collect();
    let shaper = match shapers.len() {
        0 => None,
        1 => shapers.pop(),
        _ => Some(Box::new(Chain { shapers }) as Box<dyn ResponseShaper>),
    };
    CallPlan {
        pre_delay,
        respond: None,
        shaper,
    }
}

/// Order in which forwarded-answer faults apply.
fn rank(a: &Action) -> u8 {
    match a {
        Action::Text(_) | Action::Malicious(_) | Action::Context { .. } => 0,
        Action::Stream(StreamFault::SplitToolArgs) => 1,
        Action::Stream(StreamFault::SlowChunks { .. }) => 3,
        Action::Malformed | Action::MidStreamError | Action::Stream(_) => 2,
    }
}

/// Shapers in series: each one's output bytes are the next one's input; sleeps and aborts
/// pass straight through.
pub struct Chain {
    shapers: Vec<Box<dyn ResponseShaper>>,
}

impl Chain {
    /// Feeds `steps` through `shapers` in order. A [`Step::Finish`] from one shaper ends the
    /// body: the shapers after it flush what they hold (`end`) before it, and nothing after it
    /// is kept.
    fn feed(shapers: &mut [Box<dyn ResponseShaper>], steps: Vec<Step>) -> Vec<Step> {
        let mut steps = steps;
        for s in shapers.iter_mut() {
            let mut next = Vec::with_capacity(steps.len());
            for step in steps {
                match step {
                    Step::Data(b) => s.chunk(b, &mut next),
                    Step::Finish => {
                        s.end(&mut next);
                        next.push(Step::Finish);
                        break;
                    }
                    other => next.push(other),
                }
            }
            steps = next;
        }
        if let Some(i) = steps.iter().position(|s| *s == Step::Finish) {
            steps.truncate(i + 1);
        }
        steps
    }
}

impl ResponseShaper for Chain {
    fn head(&mut self, status: &mut http::StatusCode, headers: &mut http::HeaderMap) {
        for s in &mut self.shapers {
            s.head(status, headers);
        }
    }

    fn chunk(&mut self, data: bytes::Bytes, out: &mut Vec<Step>) {
        out.extend(Chain::feed(&mut self.shapers, vec![Step::Data(data)]));
    }

    fn end(&mut self, out: &mut Vec<Step>) {
        let n = self.shapers.len();
        for i in 0..n {
            let mut tail = Vec::new();
            self.shapers[i].end(&mut tail);
            let fed = Chain::feed(&mut self.shapers[i + 1..], tail);
            let finished = fed.last() == Some(&Step::Finish);
            out.extend(fed);
            if finished {
                // The shapers after this one already flushed in `feed`.
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::{HeaderMap, StatusCode};

    use super::*;

    /// Passes chunks through and finishes the body after the first one.
    struct FinishAfterFirst;
    impl ResponseShaper for FinishAfterFirst {
        fn head(&mut self, _: &mut StatusCode, _: &mut HeaderMap) {}
        fn chunk(&mut self, data: Bytes, out: &mut Vec<Step>) {
            out.push(Step::Data(data));
            out.push(Step::Finish);
            out.push(Step::Data(Bytes::from_static(b"never")));
        }
        fn end(&mut self, _: &mut Vec<Step>) {}
    }

    /// Holds everything until the end, then writes it upper-cased.
    struct Buffer(Vec<u8>);
    impl ResponseShaper for Buffer {
        fn head(&mut self, _: &mut StatusCode, _: &mut HeaderMap) {}
        fn chunk(&mut self, data: Bytes, _: &mut Vec<Step>) {
            self.0.extend_from_slice(&data);
        }
        fn end(&mut self, out: &mut Vec<Step>) {
            out.push(Step::Data(Bytes::from(self.0.to_ascii_uppercase())));
        }
    }

    #[test]
    fn a_finish_flushes_the_shapers_after_it_and_drops_the_rest() {
        let mut chain = Chain {
            shapers: vec![Box::new(FinishAfterFirst), Box::new(Buffer(Vec::new()))],
        };
        let mut out = Vec::new();
        chain.chunk(Bytes::from_static(b"abc"), &mut out);
        assert_eq!(
            out,
            vec![Step::Data(Bytes::from_static(b"ABC")), Step::Finish]
        );
    }
}
