//! Shakedown mock LLM: a deterministic local server that speaks OpenAI Chat Completions, the
//! OpenAI Responses API and Anthropic Messages (whole and streamed, with tool calls), scripted
//! by a YAML rules file. It is the upstream for fault-proxy tests and lets agents run offline.
//! The same request always gets the same bytes back: ids derive from a hash of the request and
//! timestamps are fixed.

pub mod anthropic;
pub mod chat;
pub mod responses;
pub mod rules;
pub mod server;
pub mod wire;

pub use rules::{Reply, Rule, Rules, Subject, ToolCall, Usage, load_rules};
pub use server::{ServeError, local_addr, router, serve};
