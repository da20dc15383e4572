//! Turning a system-file endpoint plus an attack input into a concrete request: the input
//! replaces every `{input}` placeholder in the path, the query and the JSON body.

use bytes::Bytes;
use http::Method;
use serde_json::Value;
use shakedown_core::system::{Endpoint, INPUT_PLACEHOLDER};

use crate::context::{AttackContext, Target};
use crate::http::HttpRequest;

/// An attack input.
#[derive(Debug, Clone)]
pub enum Input {
    /// Text spliced into each placeholder (percent-encoded in the path and query).
    Text(String),
    /// A JSON value that replaces a body string consisting only of `{input}` (type
    /// confusion, nulls); elsewhere its JSON text is spliced in.
    Json(Value),
}

impl Input {
    fn as_text(&self) -> String {
        match self {
            Input::Text(s) => s.clone(),
            Input::Json(Value::String(s)) => s.clone(),
            Input::Json(v) => v.to_string(),
        }
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The endpoint's path and query with `input` in place of every placeholder, including the
/// target's base path.
pub fn path_and_query(target: &Target, ep: &Endpoint, input: &Input) -> String {
    let text = input.as_text();
    let mut s = target.path(&ep.path.replace(INPUT_PLACEHOLDER, &encode(&text)));
    let mut first = true;
    for (k, v) in &ep.query {
        s.push(if first { '?' } else { '&' });
        first = false;
        s.push_str(&encode(k));
        s.push('=');
        s.push_str(&encode(&v.replace(INPUT_PLACEHOLDER, &text)));
    }
    s
}

/// The endpoint's JSON body with `input` substituted, if it has a body.
pub fn body(ep: &Endpoint, input: &Input) -> Option<Value> {
    ep.body.as_ref().map(|b| substitute(b, input))
}

fn substitute(v: &Value, input: &Input) -> Value {
    match v {
        Value::String(s) if s == INPUT_PLACEHOLDER => match input {
            Input::Text(t) => Value::String(t.clone()),
            Input::Json(j) => j.clone(),
        },
        Value::String(s) if s.contains(INPUT_PLACEHOLDER) => {
            Value::String(s.replace(INPUT_PLACEHOLDER, &input.as_text()))
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, input)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), substitute(x, input)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A complete request for `ep` carrying `input`, with the endpoint's headers and the
/// legitimate credentials (attacks that test auth build their own).
pub fn request(ctx: &AttackContext, ep: &Endpoint, input: &Input) -> HttpRequest {
    let method = Method::from_bytes(ep.method.as_str().as_bytes()).unwrap_or(Method::GET);
    let mut req = HttpRequest {
        method,
        path_and_query: path_and_query(&ctx.target, ep, input),
        headers: Vec::new(),
        body: Bytes::new(),
    };
    if let Some(b) = body(ep, input) {
        req.body = Bytes::from(serde_json::to_vec(&b).unwrap_or_default());
        req.headers
            .push(("content-type".into(), "application/json".into()));
    }
    for (k, v) in &ep.headers {
        req.headers.push((k.clone(), v.clone()));
    }
    with_auth(ctx, req)
}

/// Adds the legitimate credentials, if the component declares `auth`.
pub fn with_auth(ctx: &AttackContext, mut req: HttpRequest) -> HttpRequest {
    if let Some((name, value)) = &ctx.auth {
        req.headers.push((name.clone(), value.clone()));
    }
    req
}

/// A plain GET of `path` below the target, with the legitimate credentials.
pub fn get(ctx: &AttackContext, path: &str) -> HttpRequest {
    with_auth(ctx, HttpRequest::get(ctx.target.path(path)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn target() -> Target {
        Target {
            addr: "127.0.0.1:1".parse().unwrap(),
            authority: "127.0.0.1:1".into(),
            base_path: "/api".into(),
        }
    }

    #[test]
    fn placeholders_are_replaced_and_encoded() {
        let ep = Endpoint {
            method: Default::default(),
            path: "/users/{input}".into(),
            query: BTreeMap::from([("q".into(), "x{input}".into())]),
            body: Some(serde_json::json!({"name": "{input}", "n": ["a {input}"], "k": 1})),
            headers: BTreeMap::new(),
        };
        let input = Input::Text("' OR 1=1 --".into());
        assert_eq!(
            path_and_query(&target(), &ep, &input),
            "/api/users/%27%20OR%201%3D1%20--?q=x%27%20OR%201%3D1%20--"
        );
        assert_eq!(
            body(&ep, &input).unwrap(),
            serde_json::json!({"name": "' OR 1=1 --", "n": ["a ' OR 1=1 --"], "k": 1})
        );
        let typed = Input::Json(serde_json::json!([1, 2]));
        assert_eq!(
            body(&ep, &typed).unwrap()["name"],
            serde_json::json!([1, 2])
        );
        assert_eq!(body(&ep, &typed).unwrap()["n"][0], "a [1,2]");
    }
}
