//! Builds a [`CallInfo`] from a request: which API it speaks, which tool it calls (a header, a
//! `/tools/{name}` path segment, or the method / tool name inside a JSON-RPC or MCP body),
//! which model it asks for, and whether it wants a stream.

use http::{HeaderMap, Method};
use serde_json::Value;

use crate::{ApiKind, CallInfo};

/// The header an agent (or a tool router) can set to name the tool being called.
pub const TOOL_HEADER: &str = "x-shakedown-tool";

/// Describes one request. `path` is the path as the client sent it, `upstream_path` the path
/// the upstream will see (route prefix stripped), `route_tool` the tool named by the route.
/// The call number is left at 0 for the [`crate::Decider`] to set.
pub fn describe(
    method: Method,
    url: String,
    path: String,
    upstream_path: &str,
    headers: HeaderMap,
    body: &[u8],
    route_tool: Option<&str>,
) -> CallInfo {
    let api = ApiKind::from_path(upstream_path);
    let json: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(body).ok()
    };
    let tool = if api.is_llm() {
        None
    } else {
        header_tool(&headers)
            .or_else(|| json.as_ref().and_then(rpc_tool))
            .or_else(|| path_tool(upstream_path))
            .or_else(|| route_tool.map(str::to_string))
    };
    let model = json
        .as_ref()
        .and_then(|v| v.get("model"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let stream = json
        .as_ref()
        .and_then(|v| v.get("stream"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    CallInfo {
        method,
        url,
        path,
        headers,
        api,
        tool,
        model,
        stream,
        call_number: 0,
    }
}

fn header_tool(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(TOOL_HEADER)?.to_str().ok()?.trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// JSON-RPC 2.0 (`{"jsonrpc":"2.0","method":"search",…}`) names the tool by its method; MCP's
/// `tools/call` names it in `params.name`.
fn rpc_tool(v: &Value) -> Option<String> {
    let method = v.get("method")?.as_str()?;
    v.get("jsonrpc")?;
    if method == "tools/call"
        && let Some(name) = v.pointer("/params/name").and_then(Value::as_str)
    {
        return Some(name.to_string());
    }
    Some(method.to_string())
}

/// `/tools/{name}` anywhere in the path.
fn path_tool(path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or(path);
    let mut segs = path.split('/').filter(|s| !s.is_empty());
    while let Some(seg) = segs.next() {
        if seg == "tools" {
            return segs.next().map(str::to_string);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(path: &str, headers: HeaderMap, body: &str) -> CallInfo {
        describe(
            Method::POST,
            format!("http://127.0.0.1:1{path}"),
            path.to_string(),
            path,
            headers,
            body.as_bytes(),
            Some("route_tool"),
        )
    }

    #[test]
    fn finds_tool_by_header_then_rpc_then_path_then_route() {
        let mut h = HeaderMap::new();
        h.insert(TOOL_HEADER, "web_search".parse().unwrap());
        assert_eq!(call("/tools/x", h, "").tool.as_deref(), Some("web_search"));
        let mcp = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"db_query"}}"#;
        assert_eq!(
            call("/mcp", HeaderMap::new(), mcp).tool.as_deref(),
            Some("db_query")
        );
        let rpc = r#"{"jsonrpc":"2.0","id":1,"method":"lookup"}"#;
        assert_eq!(
            call("/rpc", HeaderMap::new(), rpc).tool.as_deref(),
            Some("lookup")
        );
        assert_eq!(
            call("/api/tools/fetch?q=1", HeaderMap::new(), "")
                .tool
                .as_deref(),
            Some("fetch")
        );
        assert_eq!(
            call("/other", HeaderMap::new(), "").tool.as_deref(),
            Some("route_tool")
        );
    }

    #[test]
    fn llm_calls_carry_model_and_stream() {
        let c = call(
            "/v1/chat/completions",
            HeaderMap::new(),
            r#"{"model":"gpt-4o","stream":true}"#,
        );
        assert_eq!(c.api, ApiKind::OpenAiChat);
        assert_eq!(c.model.as_deref(), Some("gpt-4o"));
        assert!(c.stream && c.tool.is_none());
        assert_eq!(
            call("/v1/messages", HeaderMap::new(), "{}").api,
            ApiKind::AnthropicMessages
        );
        assert_eq!(
            call("/v1/responses", HeaderMap::new(), "{}").api,
            ApiKind::OpenAiResponses
        );
    }
}
