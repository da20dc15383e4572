//! Request builders shared by the data attacks: the endpoint's legitimate request with its
//! body swapped, raw JSON text or raw bytes spliced where `{input}` stands (things a
//! `serde_json::Value` cannot hold: `1e309`, `NaN`, invalid UTF-8), query strings the
//! endpoint's map cannot express (repeated keys, brackets), and the payload-file format.

use bytes::Bytes;
use serde_json::Value;
use shakedown_core::system::{Endpoint, HttpMethod, INPUT_PLACEHOLDER};

use super::verdict::{Plan, Probe};
use crate::context::AttackContext;
use crate::http::HttpRequest;
use crate::input::{self, Input};

/// Text put in every placeholder a probe is not about, and in the baseline request.
pub const BENIGN: &str = "shakedown";

/// Stands for `{input}` while a request is built: letters and digits only, so percent-encoding
/// and JSON escaping leave it intact and it can be found and replaced afterwards.
const MARKER: &str = "shakedownQ7xMarker";

/// `POST /users`, for evidence.
pub fn describe(ep: &Endpoint) -> String {
    format!("{} {}", ep.method.as_str(), ep.path)
}

/// Whether the endpoint takes a JSON body (a write method with a declared body).
pub fn takes_json_body(ep: &Endpoint) -> bool {
    ep.body.is_some()
        && matches!(
            ep.method,
            HttpMethod::Post | HttpMethod::Put | HttpMethod::Patch
        )
}

/// The legitimate request: [`BENIGN`] in every placeholder, with the auth header.
pub fn baseline(ctx: &AttackContext, ep: &Endpoint) -> HttpRequest {
    input::request(ctx, ep, &Input::Text(BENIGN.into()))
}

/// `probes` for `ep`, after its [`baseline`].
pub fn plan(ctx: &AttackContext, ep: &Endpoint, probes: Vec<Probe>) -> Plan {
    Plan {
        endpoint: describe(ep),
        baseline: baseline(ctx, ep),
        probes,
    }
}

/// The endpoint's body with [`BENIGN`] in its placeholders, if it has a body.
pub fn template(ep: &Endpoint) -> Option<Value> {
    input::body(ep, &Input::Text(BENIGN.into()))
}

/// The baseline with `body` sent as-is under `content_type` (`None`: no content-type at all).
pub fn with_body(
    ctx: &AttackContext,
    ep: &Endpoint,
    body: impl Into<Bytes>,
    content_type: Option<&str>,
) -> HttpRequest {
    let mut req = baseline(ctx, ep);
    req.headers
        .retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
    if let Some(ct) = content_type {
        req.headers.push(("content-type".into(), ct.into()));
    }
    req.body = body.into();
    req
}

/// The baseline with a JSON `body`.
pub fn with_json(ctx: &AttackContext, ep: &Endpoint, body: &Value) -> HttpRequest {
    with_body(
        ctx,
        ep,
        serde_json::to_vec(body).unwrap_or_default(),
        Some("application/json"),
    )
}

/// A request with the raw JSON text `raw` (spliced unparsed, e.g. `1e309`) wherever a body
/// string is exactly `{input}`, `text` inside longer body strings, and `text`
/// percent-encoded in the path and query.
pub fn raw_json(ctx: &AttackContext, ep: &Endpoint, raw: &str, text: &str) -> HttpRequest {
    let mut req = input::request(ctx, ep, &Input::Text(MARKER.into()));
    req.path_and_query = req.path_and_query.replace(MARKER, &input::encode(text));
    if let Some(v) = input::body(ep, &Input::Text(MARKER.into())) {
        req.body = splice(&v, raw.as_bytes(), json_escaped(text).as_bytes()).into();
    }
    req
}

/// A request whose body carries `exact` raw bytes in place of each string that is exactly
/// `{input}` and `inner` inside longer strings; when the body has no placeholder a
/// `"shakedown"` key (or a wrapping object) is added to carry it. Path and query get
/// [`BENIGN`]. For bytes no valid JSON string can hold (invalid UTF-8, raw control bytes).
pub fn spliced_body(ctx: &AttackContext, ep: &Endpoint, exact: &[u8], inner: &[u8]) -> HttpRequest {
    let mut body = input::body(ep, &Input::Text(MARKER.into())).unwrap_or(Value::Null);
    if !body.to_string().contains(MARKER) {
        body = match body {
            Value::Object(mut o) => {
                o.insert(BENIGN.into(), Value::String(MARKER.into()));
                Value::Object(o)
            }
            Value::Null => serde_json::json!({ BENIGN: MARKER }),
            other => serde_json::json!({ BENIGN: MARKER, "body": other }),
        };
    }
    with_body(
        ctx,
        ep,
        splice(&body, exact, inner),
        Some("application/json"),
    )
}

/// A request with `encoded` (already percent-encoded, so it may escape invalid UTF-8 such as
/// `%FF`) at each path and query placeholder; body placeholders get [`BENIGN`].
pub fn raw_path(ctx: &AttackContext, ep: &Endpoint, encoded: &str) -> HttpRequest {
    let mut req = baseline(ctx, ep);
    req.path_and_query = input::path_and_query(&ctx.target, ep, &Input::Text(MARKER.into()))
        .replace(MARKER, encoded);
    req
}

/// The baseline with each query parameter that holds `{input}` replaced by `pieces(key)`
/// (raw query text such as `q[]=1&q[]=2`; the key comes percent-encoded). `None` when no
/// query parameter holds a placeholder.
pub fn query_variant(
    ctx: &AttackContext,
    ep: &Endpoint,
    pieces: impl Fn(&str) -> String,
) -> Option<HttpRequest> {
    let keys: Vec<&String> = ep
        .query
        .iter()
        .filter(|(_, v)| v.contains(INPUT_PLACEHOLDER))
        .map(|(k, _)| k)
        .collect();
    if keys.is_empty() {
        return None;
    }
    let mut rest = ep.clone();
    rest.query.retain(|_, v| !v.contains(INPUT_PLACEHOLDER));
    let mut req = baseline(ctx, &rest);
    for k in keys {
        let sep = if req.path_and_query.contains('?') {
            '&'
        } else {
            '?'
        };
        req.path_and_query.push(sep);
        req.path_and_query.push_str(&pieces(&input::encode(k)));
    }
    Some(req)
}

/// The baseline with every query parameter holding `{input}` left out; `None` if none does.
pub fn without_query_inputs(ctx: &AttackContext, ep: &Endpoint) -> Option<HttpRequest> {
    let mut rest = ep.clone();
    rest.query.retain(|_, v| !v.contains(INPUT_PLACEHOLDER));
    (rest.query.len() < ep.query.len()).then(|| baseline(ctx, &rest))
}

/// The body template with every object field whose value holds `{input}` removed (at any
/// depth); `None` if nothing was removed.
pub fn without_body_inputs(ep: &Endpoint) -> Option<Value> {
    fn strip(v: &mut Value) -> bool {
        match v {
            Value::Object(o) => {
                let before = o.len();
                o.retain(|_, x| !matches!(x, Value::String(s) if s.contains(INPUT_PLACEHOLDER)));
                let mut removed = o.len() < before;
                for x in o.values_mut() {
                    removed |= strip(x);
                }
                removed
            }
            Value::Array(a) => a.iter_mut().fold(false, |acc, x| strip(x) | acc),
            _ => false,
        }
    }
    let mut body = ep.body.clone()?;
    if !strip(&mut body) {
        return None;
    }
    input::body(
        &Endpoint {
            body: Some(body),
            ..ep.clone()
        },
        &Input::Text(BENIGN.into()),
    )
}

/// `body` (an object) with `extra`'s keys added, e.g. a `__proto__` key; `None` when `body`
/// is not an object. Built as text so a key the body already has appears twice, as an
/// attacker would send it.
pub fn merged(body: &Value, extra: &str) -> Option<Vec<u8>> {
    let Value::Object(o) = body else { return None };
    let inner = extra.trim().strip_prefix('{')?.strip_suffix('}')?;
    let text = if o.is_empty() {
        format!("{{{inner}}}")
    } else {
        let own = serde_json::to_string(body).ok()?;
        format!("{{{inner},{}", &own[1..])
    };
    Some(text.into_bytes())
}

/// The payload-file format: one `name value` per line (the value is the rest of the line),
/// blank lines and `#` comments skipped.
pub fn payloads(text: &'static str) -> impl Iterator<Item = (&'static str, &'static str)> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| {
            let l = l.trim_start();
            match l.split_once(' ') {
                Some((name, value)) => (name, value),
                None => (l, ""),
            }
        })
}

/// `text` as it appears inside a JSON string (escaped, without the quotes).
fn json_escaped(text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap_or_default();
    quoted[1..quoted.len() - 1].to_string()
}

/// Serialises `value`, then puts `exact` where a string is exactly the marker (quotes
/// included) and `inner` where the marker sits inside a longer string.
fn splice(value: &Value, exact: &[u8], inner: &[u8]) -> Vec<u8> {
    let text = serde_json::to_vec(value).unwrap_or_default();
    let quoted = format!("\"{MARKER}\"");
    let once = replace_bytes(&text, quoted.as_bytes(), exact);
    replace_bytes(&once, MARKER.as_bytes(), inner)
}

fn replace_bytes(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crate::data::test_ctx;

    /// With credentials: probes keep the legitimate request's auth header.
    fn ctx() -> AttackContext {
        AttackContext {
            auth: Some(("Authorization".into(), "Bearer t".into())),
            ..test_ctx::ctx()
        }
    }

    fn ep() -> Endpoint {
        Endpoint {
            method: HttpMethod::Post,
            path: "/items/{input}".into(),
            query: BTreeMap::from([("q".into(), "{input}".into()), ("page".into(), "1".into())]),
            body: Some(serde_json::json!({"name": "{input}", "note": "a {input}", "n": 1})),
            headers: BTreeMap::new(),
        }
    }

    #[test]
    fn raw_json_splices_unparseable_numbers() {
        let req = raw_json(&ctx(), &ep(), "1e309", "1e309");
        assert_eq!(req.path_and_query, "/items/1e309?page=1&q=1e309");
        let body = String::from_utf8(req.body.to_vec()).unwrap();
        assert_eq!(body, r#"{"n":1,"name":1e309,"note":"a 1e309"}"#);
        assert!(
            req.headers
                .iter()
                .any(|(k, v)| k == "Authorization" && v == "Bearer t")
        );
    }

    #[test]
    fn spliced_body_carries_invalid_utf8_and_adds_a_spot_when_needed() {
        let req = spliced_body(&ctx(), &ep(), b"\"\xFF\"", b"\xFF");
        assert!(std::str::from_utf8(&req.body).is_err());
        assert!(serde_json::from_slice::<Value>(&req.body).is_err());
        let plain = Endpoint {
            body: Some(serde_json::json!({"k": 1})),
            ..ep()
        };
        let req = spliced_body(&ctx(), &plain, b"\"x\"", b"x");
        assert_eq!(&req.body[..], br#"{"k":1,"shakedown":"x"}"#);
        assert!(req.path_and_query.starts_with("/items/shakedown"));
    }

    #[test]
    fn query_variants_and_raw_paths_build_valid_requests() {
        let req = query_variant(&ctx(), &ep(), |k| format!("{k}[]=1&{k}[]=2")).unwrap();
        assert_eq!(req.path_and_query, "/items/shakedown?page=1&q[]=1&q[]=2");
        let uri: http::Uri = req.path_and_query.parse().unwrap();
        assert_eq!(uri.query(), Some("page=1&q[]=1&q[]=2"));
        let req = raw_path(&ctx(), &ep(), "%C3%28");
        assert_eq!(req.path_and_query, "/items/%C3%28?page=1&q=%C3%28");
        assert!(
            without_query_inputs(&ctx(), &ep())
                .unwrap()
                .path_and_query
                .ends_with("?page=1")
        );
    }

    #[test]
    fn fields_with_inputs_can_be_removed_and_keys_merged() {
        assert_eq!(
            without_body_inputs(&ep()).unwrap(),
            serde_json::json!({"n": 1})
        );
        let body = template(&ep()).unwrap();
        let merged = merged(&body, r#"{"__proto__":{"admin":true}}"#).unwrap();
        let v: Value = serde_json::from_slice(&merged).unwrap();
        assert_eq!(v["__proto__"]["admin"], true);
        assert_eq!(v["name"], BENIGN);
    }

    #[test]
    fn payload_lines_split_into_name_and_value() {
        let got: Vec<_> = payloads("# c\n\nnull_string null\nquoted \"a b\"\nbare\n").collect();
        assert_eq!(
            got,
            vec![("null_string", "null"), ("quoted", "\"a b\""), ("bare", "")]
        );
    }
}
