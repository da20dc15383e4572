//! The fault config's JSON Schema accepts what the loader accepts (every built-in profile and
//! both `context_attacks` forms) and rejects what it rejects (an unknown mode, an unknown
//! field, a `null` where a value belongs).

use serde_json::{Value, json};
use shakedown_faults::{faults_schema, profiles};

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&faults_schema()).expect("the generated schema is valid")
}

fn yaml(text: &str) -> Value {
    let (v, _) = shakedown_core::located::parse::<Value>(text, "fault config", "fault-config")
        .unwrap_or_else(|p| panic!("{}", p.render("t")));
    v
}

#[test]
fn every_builtin_profile_validates() {
    let v = validator();
    for name in profiles::names() {
        let doc = yaml(profiles::source(name).unwrap());
        let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
    }
}

#[test]
fn both_context_attack_forms_and_the_proxy_block_validate() {
    let v = validator();
    let doc = yaml(
        r#"
version: 2.0
chaos:
  tool_faults:
    - {tool: search, mode: error, error_code: 503, after_calls: 2}
  llm_faults:
    - {mode: response_drift, drift_type: verbosity_shift, direction: compress, factor: 3}
  context_attacks:
    indirect_injection: {payloads: [A, B], strategy: prepend}
proxy:
  listen: 127.0.0.1:8480
  routes: [{prefix: /openai, upstream: "http://127.0.0.1:9000"}]
  max_request_body: 4MB
"#,
    );
    assert!(
        v.is_valid(&doc),
        "{:?}",
        v.iter_errors(&doc)
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
    );
    let list = yaml("chaos:\n  context_attacks:\n    - {type: overflow, inject_tokens: 10}\n");
    assert!(v.is_valid(&list));
}

#[test]
fn wrong_names_fields_and_nulls_are_rejected() {
    let v = validator();
    for bad in [
        json!({"chaos": {"tool_faults": [{"tool": "x", "mode": "explode"}]}}),
        json!({"chaos": {"llm_faults": [{"mode": "timeout", "delay": 5}]}}),
        json!({"chaos": {"context_attacks": {"not_a_type": {}}}}),
        json!({"chaos": {"context_attacks": [{"type": "overflow", "strategy": "sideways"}]}}),
        json!({"proxy": {"listen": null}}),
        json!({"chaos": {}, "extra": 1}),
    ] {
        assert!(!v.is_valid(&bad), "accepted {bad}");
    }
}
