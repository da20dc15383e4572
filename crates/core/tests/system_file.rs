//! The system file loader: accepted files, and every kind of bad file with a located error.

use shakedown_core::system::{Level, load_system};
use shakedown_core::{ComponentKind, Pattern};

const GOOD: &str = r#"
environment: staging
scope:
  allow: [127.0.0.0/8, "::1"]
blast_radius_limit: 2
components:
  - id: backend_api
    name: Backend API
    kind: api_endpoint
    target: http://127.0.0.1:8080
    health: /health
    endpoints:
      - method: GET
        path: /users
        query: {name: "{input}"}
      - method: POST
        path: /users
        body: {name: "{input}", age: 3}
    auth: {token_env: API_TOKEN}
    guardrails:
      rate_limit: {requests: 100, per: 1m}
      auth_required: true
      max_payload: 10MB
      request_timeout: 30s
      circuit_breaker: {concurrency: 1000}
    severity: {xss_attack: critical}
  - id: ledger-db
    kind: database
"#;

#[test]
fn a_complete_file_loads_with_a_warning_for_unimplemented_kinds() {
    let (spec, problems) = load_system(GOOD).unwrap();
    assert_eq!(spec.components.len(), 2);
    let api = &spec.components[0];
    assert_eq!(api.kind, ComponentKind::ApiEndpoint);
    assert_eq!(api.guardrails.rate_limit.unwrap().requests, 100);
    assert_eq!(api.guardrails.rate_limit.unwrap().per.0.as_secs(), 60);
    assert_eq!(api.guardrails.max_payload().bytes(), 10 * 1024 * 1024);
    assert_eq!(api.requested_patterns().len(), 11);
    assert_eq!(api.severity_of(Pattern::XssAttack).as_str(), "critical");
    assert_eq!(api.input_endpoints().count(), 2);
    let warnings: Vec<_> = problems.warnings().collect();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].line, 28);
    assert!(warnings[0].message.contains("database"));
}

/// Loads `text`, expects errors, and returns them as `line:col message` strings.
fn errors(text: &str) -> Vec<String> {
    let problems = load_system(text).expect_err("file should be refused");
    assert!(problems.has_errors());
    problems
        .errors()
        .map(|p| {
            assert!(!p.hint.is_empty(), "every error has a hint: {p}");
            assert_eq!(p.level, Level::Error);
            format!("{}:{} {}", p.line, p.column, p.message)
        })
        .collect()
}

fn one(text: &str, line: u64, needle: &str) {
    let errs = errors(text);
    assert!(
        errs.iter()
            .any(|e| e.starts_with(&format!("{line}:")) && e.contains(needle)),
        "expected an error on line {line} containing {needle:?}, got {errs:#?}"
    );
}

#[test]
fn yaml_syntax_error() {
    one(
        "components:\n  - id: a\n    kind: [api_endpoint\n",
        3,
        "not valid YAML",
    );
}

#[test]
fn unknown_field_points_at_the_key_and_lists_allowed_ones() {
    let text = "components:\n  - id: a\n    kind: api_endpoint\n    target: http://127.0.0.1:1\n    guardrails:\n      rate_limt: {requests: 1, per: 1s}\n";
    one(text, 6, "unknown field `rate_limt`");
    let p = load_system(text).unwrap_err();
    assert!(p.0[0].hint.contains("rate_limit"), "{}", p.0[0].hint);
}

#[test]
fn every_problem_is_listed_not_just_the_first() {
    let text = "environment: prod\ncomponents:\n  - id: a\n    kind: api_endpoint\n    target: http://127.0.0.1:1\n    guardrails:\n      max_payload: lots\n      request_timeout: 30\n    patterns: [sql_injektion]\n";
    let errs = errors(text);
    assert!(errs.len() >= 4, "{errs:#?}");
    one(text, 1, "`prod` is not a valid `environment`");
    one(text, 7, "`lots` is not a valid `max_payload`");
    one(text, 8, "request_timeout");
    one(text, 9, "`sql_injektion` is not a valid");
}

#[test]
fn missing_required_fields() {
    one(
        "environment: test\n",
        1,
        "missing required field `components`",
    );
    one(
        "components:\n  - id: a\n    target: http://127.0.0.1:1\n",
        2,
        "missing required field `kind`",
    );
    one(
        "components:\n  - id: a\n    kind: api_endpoint\n",
        2,
        "has no `target`",
    );
}

#[test]
fn semantic_problems_are_located() {
    let dup = "components:\n  - id: a\n    kind: api_endpoint\n    target: http://127.0.0.1:1\n  - id: a\n    kind: api_endpoint\n    target: http://127.0.0.1:2\n";
    one(dup, 5, "duplicate component id `a`");
    let outside =
        "components:\n  - id: a\n    kind: api_endpoint\n    target: http://10.1.2.3:80\n";
    one(outside, 4, "outside the scope");
    let bad_scope = "scope:\n  allow: [\"not a host!\"]\ncomponents:\n  - id: a\n    kind: api_endpoint\n    target: http://127.0.0.1:1\n";
    one(bad_scope, 2, "not an IP address");
    let no_claim = "components:\n  - id: a\n    kind: api_endpoint\n    target: http://127.0.0.1:1\n    patterns: [rate_limit_breach, auth_bypass, sql_injection]\n";
    one(no_claim, 5, "rate_limit_breach needs a claimed rate limit");
    one(no_claim, 5, "auth_bypass needs");
    one(no_claim, 5, "needs an endpoint with an {input}");
    let wrong_kind = "components:\n  - id: a\n    kind: api_endpoint\n    target: http://127.0.0.1:1\n    patterns: [disk_full]\n";
    one(wrong_kind, 5, "not available for kind `api_endpoint`");
    let bad_url = "components:\n  - id: a\n    kind: api_endpoint\n    target: \"127.0.0.1:80\"\n";
    one(bad_url, 4, "target");
    let get_body = "components:\n  - id: a\n    kind: api_endpoint\n    target: http://127.0.0.1:1\n    endpoints:\n      - path: /x\n        body: {a: \"{input}\"}\n";
    one(get_body, 7, "GET endpoint cannot carry a body");
    let bad_id =
        "components:\n  - id: Bad Id\n    kind: api_endpoint\n    target: http://127.0.0.1:1\n";
    one(bad_id, 2, "is not a valid `id`");
    let null_guard = "components:\n  - id: a\n    kind: api_endpoint\n    target: http://127.0.0.1:1\n    guardrails:\n      rate_limit: null\n";
    one(null_guard, 6, "rate_limit");
}

#[test]
fn schema_is_draft_2020_and_rejects_unknown_top_level_fields() {
    let schema = shakedown_core::system::system_schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["additionalProperties"], false);
    one("components: []\nextra: 1\n", 2, "unknown field `extra`");
}

#[test]
fn a_system_file_can_only_tighten_the_error_budget_of_staging_and_production() {
    let with = |env: &str, budget: &str| {
        let text = format!(
            "environment: {env}\n{budget}components:\n  - id: api\n    kind: api_endpoint\n    target: http://127.0.0.1:9\n"
        );
        load_system(&text)
            .map(|(s, _)| s)
            .unwrap()
            .effective_error_budget()
    };
    let loose = "error_budget: {cost_per_injection: 0, refill_window: 1s, threshold: 0}\n";
    for env in ["staging", "production"] {
        let b = with(env, loose).expect("always a budget");
        assert_eq!(b.cost_per_injection, 0.02, "{env}");
        assert_eq!(b.threshold, 0.2, "{env}");
        assert_eq!(b.refill_window.as_duration().as_secs(), 3600, "{env}");
        let strict = with(
            env,
            "error_budget: {cost_per_injection: 0.5, refill_window: 6h, threshold: 0.5}\n",
        )
        .unwrap();
        assert_eq!(
            (strict.cost_per_injection, strict.threshold),
            (0.5, 0.5),
            "{env}"
        );
        assert_eq!(strict.refill_window.as_duration().as_secs(), 6 * 3600);
        assert_eq!(with(env, "").unwrap().threshold, 0.2);
    }
    // Test has no budget unless the file sets one, and then exactly that one.
    assert!(with("test", "").is_none());
    assert_eq!(with("test", loose).unwrap().threshold, 0.0);
}
