//! `malformed_data`: broken JSON, wrong content types, missing and mis-shaped fields, nesting
//! 10,000 deep, invalid UTF-8, byte-order marks, duplicate keys and a 1 MB string, each sent
//! as one real request (with the legitimate credentials) to every endpoint that takes a JSON
//! body. Passed = every probe refused with 400/415/422 or (for well-formed oddities) handled;
//! any 5xx, dropped connection or silence fails, and so does a 2xx to broken syntax.
//!
//! Which answers count, probe by probe:
//! - syntactically broken bodies (truncated, quotes, brackets, empty, invalid UTF-8, raw
//!   control bytes) and a JSON body under a non-JSON content type must be *refused*: a 2xx
//!   means the server accepted what is not JSON (the text/plain and form types also make the
//!   request a CORS "simple request", the classic JSON-CSRF route);
//! - well-formed but odd bodies (missing or mis-shaped fields, an array, deep nesting,
//!   duplicate keys, a lone surrogate escape, byte-order marks, which RFC 8259 lets parsers
//!   ignore and RFC 4627 detected as UTF-16, a 1 MB string) may be refused or *handled*;
//! - 4xx other than 400/415/422 (404, 405, 413…) count as refused but are noted.
//!
//! Endpoints without a JSON body but with `{input}` in the path or query are used only when
//! no endpoint takes a body: the broken texts then go into the placeholders, where handling
//! them as plain strings is fine.

use serde_json::Value;
use shakedown_core::result::AttackOutcome;
use shakedown_core::system::Endpoint;

use super::probe::{self, BENIGN};
use super::verdict::{self, Probe, Rule};
use crate::context::AttackContext;
use crate::execute;

/// Broken JSON texts, one `name text` per line.
const PAYLOADS: &str = include_str!("../../payloads/malformed_data.txt");

/// Nesting depth of the deep probes.
pub const DEPTH: usize = 10_000;
/// Size of the long string in a body (capped at half the claimed `max_payload`, so the probe
/// tests parsing, not the size limit, which is payload_overflow's business).
pub const LONG_STRING: usize = 1024 * 1024;
/// Size of the long string in a path or query: URL limits are 4–64 KB, and what happens
/// beyond them is again a size limit, not data validation.
pub const LONG_URL_STRING: usize = 16 * 1024;

const RULE: Rule = Rule {
    pattern: "malformed_data",
    preferred: Some(&[400, 415, 422]),
};
const JSON: Option<&str> = Some("application/json");

/// Runs every probe against every endpoint that takes a JSON body (else every `{input}`
/// endpoint) and judges the answers; inconclusive when there is nothing to attack.
pub async fn run(ctx: &AttackContext) -> AttackOutcome {
    let endpoints = &ctx.component.endpoints;
    let mut targets: Vec<&Endpoint> = endpoints
        .iter()
        .filter(|e| probe::takes_json_body(e))
        .collect();
    if targets.is_empty() {
        targets = ctx.component.input_endpoints().collect();
    }
    if targets.is_empty() {
        return execute::inconclusive(
            "malformed_data: no endpoint takes a JSON body or has an {input} placeholder".into(),
        );
    }
    let plans = targets
        .into_iter()
        .map(|ep| {
            let probes = if ep.body.is_some() {
                body_probes(ctx, ep)
            } else {
                text_probes(ctx, ep)
            };
            probe::plan(ctx, ep, probes)
        })
        .collect();
    verdict::judge(ctx, RULE, plans).await
}

/// Probes against the endpoint's JSON body.
pub fn body_probes(ctx: &AttackContext, ep: &Endpoint) -> Vec<Probe> {
    let tpl = probe::template(ep).unwrap_or(Value::Null);
    let text = serde_json::to_string(&tpl).unwrap_or_default();
    let body = |b: Vec<u8>| probe::with_body(ctx, ep, b, JSON);
    let spliced = |exact: &[u8], inner: &[u8]| probe::spliced_body(ctx, ep, exact, inner);

    let mut probes: Vec<Probe> = probe::payloads(PAYLOADS)
        .map(|(name, raw)| Probe::reject(name, body(raw.as_bytes().to_vec())))
        .collect();
    probes.extend([
        Probe::reject("truncated_body", body(truncated(&text))),
        Probe::reject("single_quoted_body", body(single_quoted(&text))),
        Probe::reject("mismatched_body", body(mismatched(&text))),
        Probe::reject("empty_body_json", body(Vec::new())),
        Probe::reject(
            "content_type_text_plain",
            probe::with_body(ctx, ep, text.clone(), Some("text/plain")),
        ),
        Probe::reject(
            "content_type_xml",
            probe::with_body(ctx, ep, text.clone(), Some("application/xml")),
        ),
        Probe::reject(
            "content_type_form",
            probe::with_body(
                ctx,
                ep,
                text.clone(),
                Some("application/x-www-form-urlencoded"),
            ),
        ),
        Probe::reject(
            "invalid_utf8_c3_28",
            spliced(b"\"shake\xC3\x28down\"", b"\xC3\x28"),
        ),
        Probe::reject("invalid_utf8_ff", spliced(b"\"shake\xFFdown\"", b"\xFF")),
        Probe::reject(
            "raw_control_bytes",
            spliced(b"\"shake\x01\x08\ndown\"", b"\x01\x08\n"),
        ),
        Probe::handle("lone_surrogate", spliced(br#""\ud800""#, br"\ud800")),
        Probe::handle(
            "utf8_bom",
            body([b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat()),
        ),
        Probe::handle("utf16_bom", body(utf16_with_bom(&text))),
        Probe::handle("deep_array_10000", body(deep_array(DEPTH))),
        Probe::handle("deep_object_10000", body(deep_object(DEPTH))),
        Probe::handle(
            "wrong_shape_fields",
            probe::with_json(ctx, ep, &wrong_shape(&tpl)),
        ),
        Probe::handle("duplicate_keys", body(duplicate_keys(&tpl))),
    ]);
    match &tpl {
        Value::Object(o) => {
            if !o.is_empty() {
                probes.push(Probe::handle(
                    "missing_fields",
                    probe::with_json(ctx, ep, &Value::Object(Default::default())),
                ));
            }
            probes.push(Probe::handle(
                "array_instead_of_object",
                probe::with_json(ctx, ep, &Value::Array(vec![tpl.clone()])),
            ));
        }
        other => {
            let wrapped = serde_json::json!({ BENIGN: other });
            probes.push(Probe::handle(
                "object_instead_of_body",
                probe::with_json(ctx, ep, &wrapped),
            ));
        }
    }
    let n = LONG_STRING.min((ctx.component.guardrails.max_payload().bytes() / 2) as usize);
    let long = "A".repeat(n);
    probes.push(Probe::handle(
        "huge_string",
        spliced(format!("\"{long}\"").as_bytes(), long.as_bytes()),
    ));
    probes
}

/// Probes through the path and query placeholders of an endpoint without a body.
pub fn text_probes(ctx: &AttackContext, ep: &Endpoint) -> Vec<Probe> {
    let raw = |name: &str, raw: &str| Probe::handle(name, probe::raw_json(ctx, ep, raw, raw));
    let mut probes: Vec<Probe> = probe::payloads(PAYLOADS)
        .map(|(name, text)| raw(name, text))
        .collect();
    let deep = String::from_utf8(deep_array(DEPTH)).unwrap_or_default();
    probes.push(raw("deep_array_10000", &deep));
    probes.push(raw("long_string", &"A".repeat(LONG_URL_STRING)));
    for (name, encoded) in [
        ("invalid_utf8_c3_28", "shake%C3%28down"),
        ("invalid_utf8_ff", "shake%FFdown"),
        ("overlong_utf8_slash", "%C0%AF"),
        ("utf8_bom", "%EF%BB%BF%7B%7D"),
        ("utf16_bom", "%FF%FE%7B%00%7D%00"),
    ] {
        probes.push(Probe::handle(name, probe::raw_path(ctx, ep, encoded)));
    }
    probes
}

/// The first half of `text`, or a clearly unfinished object if that half still parses.
fn truncated(text: &str) -> Vec<u8> {
    let mut cut = (text.len() / 2).max(1).min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = &text[..cut];
    broken_or(head, "{\"shakedown\":")
}

/// `text` with double quotes swapped for single ones.
fn single_quoted(text: &str) -> Vec<u8> {
    broken_or(&text.replace('"', "'"), "{'shakedown': 'x'}")
}

/// `text` with its closing bracket swapped for the other kind.
fn mismatched(text: &str) -> Vec<u8> {
    let swapped = match text.chars().last() {
        Some('}') => format!("{}]", &text[..text.len() - 1]),
        Some(']') => format!("{}}}", &text[..text.len() - 1]),
        _ => String::new(),
    };
    broken_or(&swapped, "{\"shakedown\": [1, 2}")
}

/// `candidate` if it is indeed not JSON, else `fallback` (so a "broken" probe never sends
/// valid JSON by accident, e.g. an empty template).
fn broken_or(candidate: &str, fallback: &str) -> Vec<u8> {
    let broken = !candidate.is_empty() && serde_json::from_str::<Value>(candidate).is_err();
    if broken { candidate } else { fallback }
        .as_bytes()
        .to_vec()
}

fn utf16_with_bom(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}

fn deep_array(depth: usize) -> Vec<u8> {
    let mut out = "[".repeat(depth);
    out.push_str(&"]".repeat(depth));
    out.into_bytes()
}

fn deep_object(depth: usize) -> Vec<u8> {
    let mut out = "{\"a\":".repeat(depth);
    out.push('1');
    out.push_str(&"}".repeat(depth));
    out.into_bytes()
}

/// Each field of `v` in another shape: scalars become arrays, arrays objects, objects arrays.
fn wrong_shape(v: &Value) -> Value {
    fn reshape(v: &Value) -> Value {
        match v {
            Value::Array(a) => serde_json::json!({ "items": a }),
            other => Value::Array(vec![other.clone()]),
        }
    }
    match v {
        Value::Object(o) if !o.is_empty() => {
            Value::Object(o.iter().map(|(k, x)| (k.clone(), reshape(x))).collect())
        }
        other => reshape(other),
    }
}

/// An object whose first key appears twice, first with an object where the real value sits.
fn duplicate_keys(tpl: &Value) -> Vec<u8> {
    if let Value::Object(o) = tpl
        && let Some(key) = o.keys().next()
    {
        let own = serde_json::to_string(tpl).unwrap_or_default();
        let key = serde_json::to_string(key).unwrap_or_default();
        return format!("{{{key}:{{\"{BENIGN}\":1}},{}", &own[1..]).into_bytes();
    }
    format!("{{\"{BENIGN}\":1,\"{BENIGN}\":2}}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crate::data::test_ctx::ctx;
    use crate::data::verdict::{Expect, MAX_PROBES_PER_ENDPOINT};
    use shakedown_core::system::HttpMethod;

    fn ep(body: Option<Value>) -> Endpoint {
        Endpoint {
            method: HttpMethod::Post,
            path: "/users".into(),
            query: BTreeMap::from([("q".into(), "{input}".into())]),
            body,
            headers: BTreeMap::new(),
        }
    }

    fn is_json_request(p: &Probe) -> bool {
        p.request
            .headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "application/json")
    }

    #[test]
    fn every_broken_body_is_really_not_json() {
        for body in [
            serde_json::json!({"name": "{input}", "age": 3}),
            serde_json::json!({}),
            serde_json::json!([1]),
        ] {
            let probes = body_probes(&ctx(), &ep(Some(body.clone())));
            assert!(probes.len() <= MAX_PROBES_PER_ENDPOINT, "{}", probes.len());
            for p in probes
                .iter()
                .filter(|p| p.expect == Expect::Reject && is_json_request(p))
            {
                assert!(
                    serde_json::from_slice::<Value>(&p.request.body).is_err(),
                    "{} sent valid JSON for {body}: {:?}",
                    p.name,
                    String::from_utf8_lossy(&p.request.body)
                );
            }
        }
    }

    #[test]
    fn well_formed_oddities_are_valid_json() {
        let probes = body_probes(
            &ctx(),
            &ep(Some(serde_json::json!({"name": "{input}", "tags": ["a"]}))),
        );
        for name in [
            "wrong_shape_fields",
            "duplicate_keys",
            "missing_fields",
            "array_instead_of_object",
            "huge_string",
        ] {
            let p = probes.iter().find(|p| p.name == name).unwrap();
            let v: Value =
                serde_json::from_slice(&p.request.body).unwrap_or_else(|e| panic!("{name}: {e}"));
            if name == "huge_string" {
                assert_eq!(v["name"].as_str().unwrap().len(), LONG_STRING);
            }
        }
        let deep = probes
            .iter()
            .find(|p| p.name == "deep_object_10000")
            .unwrap();
        assert_eq!(
            deep.request.body.iter().filter(|b| **b == b'{').count(),
            DEPTH
        );
    }

    #[test]
    fn text_probes_stay_in_the_url_and_are_handled() {
        let probes = text_probes(&ctx(), &ep(None));
        assert!(
            probes
                .iter()
                .all(|p| p.expect == Expect::RejectOrHandle && p.request.body.is_empty())
        );
        let ff = probes.iter().find(|p| p.name == "invalid_utf8_ff").unwrap();
        assert_eq!(ff.request.path_and_query, "/users?q=shake%FFdown");
        let uri: http::Uri = probes[0].request.path_and_query.parse().unwrap();
        assert_eq!(uri.path(), "/users");
    }
}
