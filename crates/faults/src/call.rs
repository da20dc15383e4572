//! What the proxy knows about one intercepted HTTP call, before the upstream is asked: enough
//! for rules to match (tool name, URL, model) and for faults to take the right provider shape.

use http::{HeaderMap, Method};

/// Which API a call speaks, so faults can take that provider's exact shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiKind {
    /// OpenAI Chat Completions (`POST …/chat/completions`).
    OpenAiChat,
    /// OpenAI Responses API (`POST …/responses`).
    OpenAiResponses,
    /// Anthropic Messages (`POST …/v1/messages`).
    AnthropicMessages,
    /// Anything else: a tool, an MCP/JSON-RPC server, a retrieval endpoint.
    Tool,
}

impl ApiKind {
    /// Whether this is an LLM call (`llm_faults` apply) rather than a tool call.
    pub fn is_llm(self) -> bool {
        !matches!(self, ApiKind::Tool)
    }

    /// Recognises the API from the request path (the part after any route prefix).
    pub fn from_path(path: &str) -> ApiKind {
        let path = path.split('?').next().unwrap_or(path).trim_end_matches('/');
        if path.ends_with("/chat/completions") {
            ApiKind::OpenAiChat
        } else if path.ends_with("/responses") {
            ApiKind::OpenAiResponses
        } else if path.ends_with("/messages") && path.contains("/v1/") {
            ApiKind::AnthropicMessages
        } else {
            ApiKind::Tool
        }
    }
}

/// One intercepted call. Built by the proxy from the request head and (buffered) body.
#[derive(Debug, Clone)]
pub struct CallInfo {
    pub method: Method,
    /// The full upstream URL the call goes to (`http://host:port/path?query`), as matched by
    /// `match_url` globs.
    pub url: String,
    /// The request path as the client sent it (route prefix included).
    pub path: String,
    pub headers: HeaderMap,
    pub api: ApiKind,
    /// The tool name: from the `x-shakedown-tool` header, a `/tools/{name}` path segment, or
    /// the method / tool name inside a JSON-RPC or MCP (`tools/call`) request body.
    pub tool: Option<String>,
    /// The model named in an LLM request body.
    pub model: Option<String>,
    /// Whether the client asked for a streamed (SSE) answer.
    pub stream: bool,
    /// 1-based number of this call among calls of its family (LLM calls, or calls to this
    /// tool) since the proxy started.
    pub call_number: u64,
}
