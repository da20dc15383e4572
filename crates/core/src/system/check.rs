//! Semantic checks the schema cannot express: unique ids, usable targets inside the scope,
//! patterns that exist for the kind and have the guardrail claims they verify.

use std::collections::HashSet;
use std::net::IpAddr;

use super::problem::Level;
use super::scope::{ScopeEntry, ScopeRule};
use super::{Component, INPUT_PLACEHOLDER, SystemSpec};
use crate::component::ComponentKind;
use crate::pattern::Pattern;

/// (JSON pointer, level, message, hint)
pub type Finding = (String, Level, String, String);

pub fn check(spec: &SystemSpec) -> Vec<Finding> {
    let mut out = Vec::new();
    let err = |out: &mut Vec<Finding>, p: String, m: String, h: &str| {
        out.push((p, Level::Error, m, h.to_string()))
    };

    for (i, entry) in spec.scope.allow.iter().enumerate() {
        if let Err(e) = ScopeEntry::parse(entry) {
            err(
                &mut out,
                format!("/scope/allow/{i}"),
                e,
                "write an IP (127.0.0.1), a CIDR (10.0.0.0/8) or a host name",
            );
        }
    }
    let scope = ScopeRule::parse(&spec.scope.allow).ok();

    let mut seen = HashSet::new();
    for (i, c) in spec.components.iter().enumerate() {
        let at = format!("/components/{i}");
        if !seen.insert(c.id.as_str()) {
            err(
                &mut out,
                format!("{at}/id"),
                format!("duplicate component id `{}`", c.id),
                "give every component its own id",
            );
        }
        check_component(c, &at, scope.as_ref(), &mut out);
    }
    out
}

fn check_component(c: &Component, at: &str, scope: Option<&ScopeRule>, out: &mut Vec<Finding>) {
    let mut push = |p: String, level: Level, m: String, h: String| out.push((p, level, m, h));
    if c.kind != ComponentKind::ApiEndpoint {
        push(format!("{at}/kind"), Level::Warning,
            format!("component `{}`: no attacks are implemented for kind `{}` yet; campaigns skip it", c.id, c.kind),
            "keep it for later versions, or describe its HTTP API as a separate api_endpoint component".into());
        return;
    }
    match &c.target {
        None => push(
            at.to_string(),
            Level::Error,
            format!("component `{}` (api_endpoint) has no `target`", c.id),
            "add `target: http://127.0.0.1:8080` (the API's base URL)".into(),
        ),
        Some(t) => {
            if let Some((m, h)) = check_target(t, scope) {
                push(format!("{at}/target"), Level::Error, m, h);
            }
        }
    }
    if let Some(h) = &c.health
        && !h.starts_with('/')
    {
        push(
            format!("{at}/health"),
            Level::Error,
            format!("health path `{h}` must start with `/`"),
            "write it like /health".into(),
        );
    }
    for (j, e) in c.endpoints.iter().enumerate() {
        let ep = format!("{at}/endpoints/{j}");
        if !e.path.starts_with('/') {
            push(
                format!("{ep}/path"),
                Level::Error,
                format!("endpoint path `{}` must start with `/`", e.path),
                "write it like /users/{input}".into(),
            );
        }
        if e.path.contains('?') {
            push(
                format!("{ep}/path"),
                Level::Error,
                "endpoint path holds a query string".into(),
                "move the parameters into `query:`".into(),
            );
        }
        if e.body.is_some() && matches!(e.method, super::HttpMethod::Get) {
            push(
                format!("{ep}/body"),
                Level::Error,
                "a GET endpoint cannot carry a body".into(),
                "set `method: POST` (or PUT/PATCH), or move the fields into `query:`".into(),
            );
        }
        let stray = e.path.matches('{').count() > e.path.matches(INPUT_PLACEHOLDER).count();
        if stray {
            push(
                format!("{ep}/path"),
                Level::Error,
                format!("path `{}` has a placeholder other than {{input}}", e.path),
                "the only placeholder is {input}".into(),
            );
        }
    }

    let explicit = c.patterns.is_some();
    let patterns = c.requested_patterns();
    for (j, p) in patterns.iter().enumerate() {
        let pat = format!("{at}/patterns/{j}");
        if !p.implemented_for(c.kind) {
            let avail: Vec<_> = Pattern::ALL
                .iter()
                .filter(|q| q.implemented_for(c.kind))
                .map(|q| q.name())
                .collect();
            push(
                pat.clone(),
                Level::Error,
                format!(
                    "pattern `{p}` is not available for kind `{}` in this version",
                    c.kind
                ),
                format!("use one of: {}", avail.join(", ")),
            );
            continue;
        }
        if !explicit {
            continue;
        }
        match p {
            Pattern::RateLimitBreach if c.guardrails.rate_limit.is_none() => push(pat, Level::Error,
                "rate_limit_breach needs a claimed rate limit".into(),
                "add `guardrails: {rate_limit: {requests: 100, per: 1m}}` or drop the pattern".into()),
            Pattern::AuthBypass if !c.guardrails.auth_required() => push(pat, Level::Error,
                "auth_bypass needs `guardrails.auth_required: true`".into(),
                "claim the guardrail or drop the pattern".into()),
            Pattern::SqlInjection | Pattern::XssAttack | Pattern::NullInjection | Pattern::TypeConfusion
                if c.input_endpoints().next().is_none() => push(pat, Level::Error,
                format!("{p} needs an endpoint with an {{input}} placeholder"),
                "add `endpoints: [{path: /search, query: {q: \"{input}\"}}]` or drop the pattern".into()),
            _ => {}
        }
    }
    if let Some(list) = &c.patterns {
        let mut seen = HashSet::new();
        for (j, p) in list.iter().enumerate() {
            if !seen.insert(p) {
                push(
                    format!("{at}/patterns/{j}"),
                    Level::Error,
                    format!("pattern `{p}` is listed twice"),
                    "list each pattern once".into(),
                );
            }
        }
    }
    for p in c.severity.keys() {
        if !patterns.contains(p) {
            push(
                format!("{at}/severity/{p}"),
                Level::Error,
                format!("severity set for `{p}`, which this component does not run"),
                "remove the entry or add the pattern to `patterns`".into(),
            );
        }
    }
}

/// Checks a target URL; host names are resolved (and scope-checked again) at campaign time.
fn check_target(t: &str, scope: Option<&ScopeRule>) -> Option<(String, String)> {
    let url = match url::Url::parse(t) {
        Ok(u) => u,
        Err(e) => {
            return Some((
                format!("target `{t}` is not a URL: {e}"),
                "write it like http://127.0.0.1:8080".into(),
            ));
        }
    };
    match url.scheme() {
        "http" => {}
        "https" => return Some((
            "https targets are not supported in this version".into(),
            "attack the service over plain HTTP on loopback (e.g. its sidecar or internal port)"
                .into(),
        )),
        s => {
            return Some((
                format!("target scheme `{s}` is not supported"),
                "use http://".into(),
            ));
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Some((
            "target must not carry a query or fragment".into(),
            "put parameters on endpoints".into(),
        ));
    }
    let host = url.host_str()?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let (Ok(ip), Some(scope)) = (bare.parse::<IpAddr>(), scope)
        && !scope.permits_ip(ip)
    {
        return Some((
            format!("target `{t}` is outside the scope"),
            format!("add `{ip}` (or its network) to `scope.allow` if you are allowed to attack it"),
        ));
    }
    None
}
