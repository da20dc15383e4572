//! `null_injection`: JSON `null` where each `{input}` stands, a `null` body, null-like strings
//! (`"null"`, `"None"`, `"undefined"`, `"nil"`…), NUL bytes (`\u0000` in JSON strings, `%00`
//! in the path and query), empty strings, absent fields and parameters, and a missing body.
//! Passed = every probe refused with a 4xx or handled with a 2xx/3xx (the service kept
//! working); failed = any 5xx, a dropped connection, silence, or the service stopping.

use serde_json::{Value, json};
use shakedown_core::result::AttackOutcome;
use shakedown_core::system::Endpoint;

use super::probe;
use super::verdict::{self, Probe, Rule};
use crate::context::AttackContext;
use crate::input::{self, Input};

/// Null-like literal strings, one `name text` per line.
const PAYLOADS: &str = include_str!("../../payloads/null_injection.txt");

const RULE: Rule = Rule {
    pattern: "null_injection",
    preferred: None,
};

/// Runs the null probes against every `{input}` endpoint and judges the answers;
/// inconclusive when there is none.
pub async fn run(ctx: &AttackContext) -> AttackOutcome {
    verdict::judge_inputs(ctx, RULE, probes).await
}

/// Every null probe for one endpoint.
pub fn probes(ctx: &AttackContext, ep: &Endpoint) -> Vec<Probe> {
    let typed =
        |name: &str, v: Value| Probe::handle(name, input::request(ctx, ep, &Input::Json(v)));
    let text =
        |name: &str, s: &str| Probe::handle(name, input::request(ctx, ep, &Input::Text(s.into())));

    let mut probes = vec![
        typed("json_null", Value::Null),
        typed("null_in_array", json!([null])),
        typed("null_in_object", json!({ probe::BENIGN: null })),
        text("empty_string", ""),
        text("nul_only", "\0"),
        text("nul_embedded", "shake\0down"),
        text("nul_before_suffix", "shakedown\0.json"),
        text("nul_run", &"\0".repeat(64)),
    ];
    probes.extend(probe::payloads(PAYLOADS).map(|(name, s)| text(name, s)));
    if ep.body.is_some() {
        probes.push(Probe::handle(
            "body_null",
            probe::with_body(ctx, ep, "null", Some("application/json")),
        ));
        probes.push(Probe::handle(
            "missing_body",
            probe::with_body(ctx, ep, Vec::new(), None),
        ));
        if let Some(body) = probe::without_body_inputs(ep) {
            probes.push(Probe::handle(
                "fields_absent",
                probe::with_json(ctx, ep, &body),
            ));
        }
    }
    if let Some(req) = probe::without_query_inputs(ctx, ep) {
        probes.push(Probe::handle("query_params_absent", req));
    }
    probes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crate::data::test_ctx::ctx;
    use crate::data::verdict::MAX_PROBES_PER_ENDPOINT;
    use shakedown_core::system::HttpMethod;

    #[test]
    fn nulls_reach_body_typed_and_url_as_text() {
        let ep = Endpoint {
            method: HttpMethod::Post,
            path: "/items".into(),
            query: BTreeMap::from([("q".into(), "{input}".into())]),
            body: Some(json!({"name": "{input}", "n": 1})),
            headers: BTreeMap::new(),
        };
        let probes = probes(&ctx(), &ep);
        assert!(probes.len() <= MAX_PROBES_PER_ENDPOINT);
        let get = |n: &str| probes.iter().find(|p| p.name == n).unwrap().request.clone();
        let null = get("json_null");
        assert_eq!(
            serde_json::from_slice::<Value>(&null.body).unwrap(),
            json!({"name": null, "n": 1})
        );
        assert_eq!(null.path_and_query, "/items?q=null");
        let nul = get("nul_embedded");
        assert_eq!(
            String::from_utf8_lossy(&nul.body),
            r#"{"n":1,"name":"shake\u0000down"}"#
        );
        assert_eq!(nul.path_and_query, "/items?q=shake%00down");
        assert_eq!(&get("body_null").body[..], b"null");
        let missing = get("missing_body");
        assert!(missing.body.is_empty());
        assert!(
            !missing
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&get("fields_absent").body).unwrap(),
            json!({"n": 1})
        );
        assert_eq!(get("query_params_absent").path_and_query, "/items");
    }
}
