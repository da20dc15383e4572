//! The demo system file: both practice APIs, every endpoint with `{input}` where attack
//! input goes, auth from an environment variable, and the guardrails of the guarded
//! defaults, claimed by both (the weak API claims them too; the campaign shows it lies).
//! The POST body puts the input in the local part of the email (`{input}@example.com`), so
//! the benign baseline request attacks send first is a valid user the guarded API accepts.

use std::fmt::Write as _;

use shakedown_core::units::{ByteSize, HumanDuration};

use crate::config::PracticeConfig;

/// A complete `shakedown.yaml` for the guarded API at `guarded_url` and the weak one at
/// `weak_url`; legitimate requests read their bearer token from `$token_env`.
pub fn demo_system_file(guarded_url: &str, weak_url: &str, token_env: &str) -> String {
    let claims = PracticeConfig::guarded("");
    let mut out = String::from(
        "# Shakedown demo: two practice APIs with the same routes and the same claimed\n\
         # guardrails. `practice-guarded` keeps its claims; `practice-weak` builds SQL by string\n\
         # concatenation, reflects input unescaped and enforces none of its limits.\n\
         environment: test\n\
         scope:\n  allow: [127.0.0.0/8, \"::1/128\"]\n\
         blast_radius_limit: 2\n\
         components:\n",
    );
    for (id, name, url) in [
        ("practice-guarded", "Practice API (guarded)", guarded_url),
        ("practice-weak", "Practice API (weak)", weak_url),
    ] {
        component(&mut out, id, name, url, token_env, &claims);
    }
    out
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn quoted(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

fn component(
    out: &mut String,
    id: &str,
    name: &str,
    url: &str,
    token_env: &str,
    c: &PracticeConfig,
) {
    let window = HumanDuration(c.rate_window);
    let max_payload = ByteSize(c.max_body as u64);
    let timeout = HumanDuration(c.header_timeout);
    // `write!` into a String cannot fail.
    let _ = write!(
        out,
        "  - id: {id}
    name: {name}
    kind: api_endpoint
    target: {target}
    health: /health
    endpoints:
      - method: GET
        path: /users
        query: {{name: \"{{input}}\"}}
      - method: GET
        path: \"/users/{{input}}\"
      - method: GET
        path: /search
        query: {{q: \"{{input}}\"}}
      - method: POST
        path: /users
        body: {{name: \"{{input}}\", email: \"{{input}}@example.com\", age: 30}}
      - method: GET
        path: /admin/stats
    auth: {{token_env: {token_env}}}
    guardrails:
      rate_limit: {{requests: {rate}, per: {window}}}
      auth_required: true
      max_payload: {max_payload}
      request_timeout: {timeout}
      circuit_breaker: {{concurrency: {concurrency}}}
",
        name = quoted(name),
        target = quoted(url),
        token_env = quoted(token_env),
        rate = c.rate_limit,
        concurrency = c.max_concurrency,
    );
}
