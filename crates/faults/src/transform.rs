//! Whole-body transforms: rewrite an upstream answer (a Chat Completions, Responses or
//! Anthropic JSON answer, or a tool result) while keeping its envelope valid, so SDKs still
//! parse it — except `malformed`, whose job is to break it.

pub mod context;
pub mod llm;
pub mod malformed;
pub mod rng;
pub mod text;

pub use text::TextOp;
