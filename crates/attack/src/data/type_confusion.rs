//! `type_confusion`: each `{input}` gets a value of another type (number, negative, float,
//! bool, array, object, nested array, numeric string), huge and edge numbers as raw JSON text
//! (`1e309`, 2^64, 2^53 + 1, `-0`, `NaN`, `Infinity`, a 1,000-digit number), very long
//! numeric strings, `__proto__` / `constructor.prototype` keys merged into the body object,
//! and query arrays and objects (`q[]=1&q[]=2`, `q[a]=1`, repeated keys). Passed = every probe
//! refused with a 4xx or handled; failed = any 5xx, a dropped connection, silence, or the
//! service stopping.

use serde_json::Value;
use shakedown_core::result::AttackOutcome;
use shakedown_core::system::Endpoint;

use super::probe;
use super::verdict::{self, Probe, Rule};
use crate::context::AttackContext;
use crate::http::HttpRequest;
use crate::input::{self, Input};

/// Raw JSON texts, one `name text` per line.
const PAYLOADS: &str = include_str!("../../payloads/type_confusion.txt");

/// Digits in the long number.
pub const LONG_DIGITS: usize = 1_000;
/// Digits in the long numeric string.
pub const LONG_NUMERIC_STRING: usize = 10_000;

const PROTO: &str = r#"{"__proto__":{"admin":true}}"#;
const CONSTRUCTOR: &str = r#"{"constructor":{"prototype":{"admin":true}}}"#;

/// Builds raw query text for one parameter from its (encoded) key.
type QueryPieces = fn(&str) -> String;

const RULE: Rule = Rule {
    pattern: "type_confusion",
    preferred: None,
};

/// Runs the type-confusion probes against every `{input}` endpoint and judges the answers;
/// inconclusive when there is none.
pub async fn run(ctx: &AttackContext) -> AttackOutcome {
    verdict::judge_inputs(ctx, RULE, probes).await
}

/// Every type-confusion probe for one endpoint.
pub fn probes(ctx: &AttackContext, ep: &Endpoint) -> Vec<Probe> {
    let mut probes: Vec<Probe> = probe::payloads(PAYLOADS)
        .map(|(name, raw)| Probe::handle(name, typed(ctx, ep, raw)))
        .collect();
    let long_number = "9".repeat(LONG_DIGITS);
    probes.push(Probe::handle("long_number", typed(ctx, ep, &long_number)));
    let long_string = format!("\"{}\"", "1".repeat(LONG_NUMERIC_STRING));
    probes.push(Probe::handle(
        "long_numeric_string",
        typed(ctx, ep, &long_string),
    ));

    if let Some(body) = probe::template(ep) {
        for (name, extra) in [("proto_merged", PROTO), ("constructor_merged", CONSTRUCTOR)] {
            if let Some(bytes) = probe::merged(&body, extra) {
                let req = probe::with_body(ctx, ep, bytes, Some("application/json"));
                probes.push(Probe::handle(name, req));
            }
        }
    }
    let query: [(&str, QueryPieces); 4] = [
        ("query_array", |k| format!("{k}[]=1&{k}[]=2")),
        ("query_object", |k| format!("{k}[a]=1")),
        ("query_repeated", |k| format!("{k}=1&{k}=2")),
        ("query_proto", |k| {
            format!("{k}={}&__proto__[admin]=true", probe::BENIGN)
        }),
    ];
    for (name, pieces) in query {
        if let Some(req) = probe::query_variant(ctx, ep, pieces) {
            probes.push(Probe::handle(name, req));
        }
    }
    probes
}

/// A request carrying the raw JSON text `raw`. Values that survive a round trip through
/// `serde_json::Value` go through the shared [`Input::Json`] path; the rest (`1e309`, `NaN`,
/// 2^64, which a `Value` would rewrite or refuse) are spliced as text.
fn typed(ctx: &AttackContext, ep: &Endpoint, raw: &str) -> HttpRequest {
    match serde_json::from_str::<Value>(raw) {
        Ok(v) if round_trips(&v, raw) => input::request(ctx, ep, &Input::Json(v)),
        Ok(Value::String(s)) => probe::raw_json(ctx, ep, raw, &s),
        _ => probe::raw_json(ctx, ep, raw, raw),
    }
}

/// Whether `v` serialises back to exactly `raw`.
fn round_trips(v: &Value, raw: &str) -> bool {
    let text = v.to_string();
    text == raw
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crate::data::test_ctx::ctx;
    use crate::data::verdict::MAX_PROBES_PER_ENDPOINT;
    use serde_json::json;
    use shakedown_core::system::HttpMethod;

    #[test]
    fn raw_numbers_reach_the_body_as_written() {
        let ep = Endpoint {
            method: HttpMethod::Post,
            path: "/counter".into(),
            query: BTreeMap::from([("q".into(), "{input}".into())]),
            body: Some(json!({"count": "{input}"})),
            headers: BTreeMap::new(),
        };
        let probes = probes(&ctx(), &ep);
        assert!(probes.len() <= MAX_PROBES_PER_ENDPOINT, "{}", probes.len());
        let get = |n: &str| probes.iter().find(|p| p.name == n).unwrap().request.clone();
        for (name, body) in [
            ("two_pow_64", r#"{"count":18446744073709551616}"#),
            ("overflow_exponent", r#"{"count":1e309}"#),
            ("nan", r#"{"count":NaN}"#),
            ("negative_zero", r#"{"count":-0}"#),
            ("u64_max", r#"{"count":18446744073709551615}"#),
            ("numeric_string", r#"{"count":"123"}"#),
            ("bool_true", r#"{"count":true}"#),
        ] {
            assert_eq!(String::from_utf8_lossy(&get(name).body), body, "{name}");
        }
        assert_eq!(get("numeric_string").path_and_query, "/counter?q=123");
        let merged: Value = serde_json::from_slice(&get("proto_merged").body).unwrap();
        assert_eq!(
            merged,
            json!({"__proto__": {"admin": true}, "count": "shakedown"})
        );
        assert_eq!(get("query_array").path_and_query, "/counter?q[]=1&q[]=2");
    }
}
