//! Stream faults on server-sent-event answers (Chat Completions `data:` chunks ending in
//! `[DONE]`, Responses API named events ending in `response.completed`, Anthropic Messages
//! events ending in `message_stop`, and SSE tool servers such as MCP's streamable HTTP): an
//! incremental parser, then one [`stage::Stage`] per fault rewriting events as they pass.

pub mod shaper;
pub mod split;
pub mod sse;
pub mod stage;
pub mod text;

pub use shaper::{Action, FaultShaper};
pub use sse::{SseEvent, SseParser};
