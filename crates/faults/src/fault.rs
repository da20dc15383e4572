//! The resolved action a rule performs on one call. Config (Flakestorm's `chaos:` block and
//! Shakedown's extensions) resolves into these; the proxy applies them. Every variant really
//! acts on the call: nothing here only logs.

use std::time::Duration;

use serde::Serialize;

/// Which part of the config a fault came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultFamily {
    ToolFault,
    LlmFault,
    ContextAttack,
}

/// A 429's flavour: the SDKs retry the first and must not retry the second.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum RateLimitKind {
    /// A per-minute limit: `retry-after` says when to come back, `x-should-retry: true`.
    Retryable { retry_after: Duration },
    /// Out of quota / credits (OpenAI `insufficient_quota`): `x-should-retry: false`.
    Quota,
}

/// Which way a `verbosity_shift` goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerbosityDirection {
    /// Longer: the answer padded with elaboration.
    Expand,
    /// Shorter: the answer cut to its first words.
    Compress,
}

/// How a response drifts from what the agent was built against (`response_drift`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DriftKind {
    /// Renames JSON fields inside the model's text answer (`{"status":…}` → `{"state":…}`).
    JsonFieldRename { renames: Vec<(String, String)> },
    /// Makes the answer `factor` times longer (`Expand`) or shorter (`Compress`), counted in
    /// words. Without a direction, long answers (over 40 words) shrink and short ones grow.
    /// A factor below 1 counts as its inverse (0.5 is the same shift as 2).
    VerbosityShift {
        direction: Option<VerbosityDirection>,
        factor: f64,
    },
    /// Changes the answer's format (JSON ↔ prose / markdown).
    FormatChange,
    /// Rephrases the answer as a refusal.
    RefusalRephrase,
    /// Changes the tone of the answer.
    ToneShift,
}

/// Content attacks on what flows into the agent from tools, retrieval or memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextAttackKind {
    IndirectInjection,
    MemoryPoisoning,
    Overflow,
    ConflictingContext,
    InjectionViaContext,
}

/// Where a context attack's payload goes in the content the agent reads (`strategy:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// After the content (`strategy: append`).
    Append,
    /// Before the content (`strategy: prepend`).
    Prepend,
    /// Instead of the content, inside the result's envelope (`strategy: replace`): a JSON-RPC
    /// or MCP result keeps its id and structure, only the content string is replaced.
    Replace,
}

impl Placement {
    /// The placement when the config names no strategy: `injection_via_context` leads the
    /// content (an instruction read first), every other attack follows it.
    pub fn default_for(kind: ContextAttackKind) -> Placement {
        match kind {
            ContextAttackKind::InjectionViaContext => Placement::Prepend,
            _ => Placement::Append,
        }
    }
}

/// A fault on a streamed (SSE) answer, applied chunk by chunk as the upstream streams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum StreamFault {
    /// Ends the stream after `after_events` events, without `[DONE]` / `message_stop`.
    Cut { after_events: u32 },
    /// Replaces event number `at_event` (0-based) with bytes that are not valid JSON.
    MalformedChunk { at_event: u32 },
    /// Sleeps `delay` before every event.
    SlowChunks { delay: Duration },
    /// After `after_events` events, sends the provider's error event and ends the stream.
    ErrorEvent { after_events: u32 },
    /// Re-splits tool-call argument deltas at odd places (mid-token, single bytes, empty
    /// deltas) while keeping their concatenation identical.
    SplitToolArgs,
}

/// The action performed on one call.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Fault {
    /// Holds the call for `delay`, then answers 504 (provider-shaped for LLM calls) without
    /// asking the upstream. A client whose own timeout is shorter trips it first.
    Timeout { delay: Duration },
    /// Delays the call by `delay`, then forwards it normally.
    Slow { delay: Duration },
    /// Answers `status` with `message` (provider-shaped for LLM calls) without asking the
    /// upstream.
    Error { status: u16, message: String },
    /// Forwards, then corrupts the body so it is no longer valid JSON.
    Malformed,
    /// Forwards, then replaces the answer's content with `payload` (tool calls: the result
    /// body; LLM calls: the assistant text).
    MaliciousResponse { payload: String },
    /// Answers 429 before the upstream is asked.
    RateLimit(RateLimitKind),
    /// Answers the provider's overload error (Anthropic 529 `overloaded_error`, OpenAI 503).
    Overloaded,
    /// Forwards, then truncates the answer to `max_tokens` whitespace-separated tokens
    /// (finish reason becomes `length` / `max_tokens`).
    TruncatedResponse { max_tokens: u32 },
    /// Forwards, then empties the answer's content.
    Empty,
    /// Forwards, then replaces the answer's content with random bytes-as-text (seeded).
    Garbage,
    /// Forwards, then drifts the answer.
    ResponseDrift(DriftKind),
    /// Applies a fault to a streamed answer.
    Stream(StreamFault),
    /// Forwards, then inserts `payload` into the tool result / retrieved context, where
    /// `placement` says.
    ContextAttack {
        kind: ContextAttackKind,
        payload: String,
        placement: Placement,
    },
    /// Answers 200 and then an error mid-stream (streamed calls) or a 200 with an error body
    /// (whole answers), as providers do when a failure happens after the headers were sent.
    MidStreamError,
}

impl Fault {
    /// Whether the upstream is never asked (the proxy answers by itself).
    pub fn short_circuits(&self) -> bool {
        matches!(
            self,
            Fault::Timeout { .. } | Fault::Error { .. } | Fault::RateLimit(_) | Fault::Overloaded
        )
    }

    /// A short name for events and reports (`rate_limit`, `stream_cut`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Timeout { .. } => "timeout",
            Fault::Slow { .. } => "slow",
            Fault::Error { .. } => "error",
            Fault::Malformed => "malformed",
            Fault::MaliciousResponse { .. } => "malicious_response",
            Fault::RateLimit(RateLimitKind::Retryable { .. }) => "rate_limit",
            Fault::RateLimit(RateLimitKind::Quota) => "quota_exhausted",
            Fault::Overloaded => "overloaded",
            Fault::TruncatedResponse { .. } => "truncated_response",
            Fault::Empty => "empty",
            Fault::Garbage => "garbage",
            Fault::ResponseDrift(_) => "response_drift",
            Fault::Stream(StreamFault::Cut { .. }) => "stream_cut",
            Fault::Stream(StreamFault::MalformedChunk { .. }) => "stream_malformed_chunk",
            Fault::Stream(StreamFault::SlowChunks { .. }) => "stream_slow_chunks",
            Fault::Stream(StreamFault::ErrorEvent { .. }) => "stream_error_event",
            Fault::Stream(StreamFault::SplitToolArgs) => "stream_split_tool_args",
            Fault::ContextAttack { .. } => "context_attack",
            Fault::MidStreamError => "mid_stream_error",
        }
    }
}

/// One fault that fired on one call: what the `fault_injected` event reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FiredFault {
    /// The rule's name (`tool_faults[1]`, or the `name:` the config gave it).
    pub rule: String,
    pub family: FaultFamily,
    /// The call number the rule counted (see [`crate::CallInfo::call_number`]).
    pub call_number: u64,
    pub fault: Fault,
    /// Seed for any randomness in applying the fault (garbage bytes, split points), derived
    /// from the run seed so the same seed gives the same bytes.
    pub seed: u64,
}
