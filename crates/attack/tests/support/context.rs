//! The [`AttackContext`] the attack tests run with, built in one expression:
//! `ctx(addr).get("/items").guardrails(..).limits(..).build()`. It starts as
//! component `api`, an `api_endpoint` at `http://{addr}` with health path `/health`, no
//! endpoints, no guardrails, no credentials, a fresh halt token and the default limits; each
//! test sets what its attack reads. [`from_system`] starts from a system file instead, loaded
//! and scope-checked the way a campaign does it.

// Included by every attack test binary; each uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde_json::Value;
use shakedown_attack::{AttackContext, Limits, Target, resolve_target};
use shakedown_core::system::{Endpoint, HttpMethod, ScopeRule, load_system};
use shakedown_core::{Component, ComponentKind, Guardrails};
use tokio_util::sync::CancellationToken;

/// The target `addr` resolves to: no base path, `addr` as the `Host`.
pub fn target(addr: SocketAddr) -> Target {
    Target {
        addr,
        authority: addr.to_string(),
        base_path: String::new(),
    }
}

/// `method path`, without query, body or extra headers.
pub fn endpoint(method: HttpMethod, path: &str) -> Endpoint {
    Endpoint {
        method,
        path: path.into(),
        query: BTreeMap::new(),
        body: None,
        headers: BTreeMap::new(),
    }
}

/// A context for a component at `addr`; see the module docs for what it starts with.
pub fn ctx(addr: SocketAddr) -> Ctx {
    Ctx(AttackContext {
        component: Component {
            id: "api".into(),
            name: None,
            kind: ComponentKind::ApiEndpoint,
            target: Some(format!("http://{addr}")),
            health: Some("/health".into()),
            endpoints: Vec::new(),
            auth: None,
            guardrails: Guardrails::default(),
            patterns: None,
            severity: BTreeMap::new(),
        },
        target: target(addr),
        auth: None,
        halt: CancellationToken::new(),
        limits: Limits::default(),
    })
}

/// A context for the first component of a system file whose only component is `api`, an
/// `api_endpoint` at `http://{addr}` with health path `/health`, its entry going on with
/// `fields` (YAML lines indented four spaces, each ending in a newline). The file is loaded,
/// and the target resolved within the file's scope, the way a campaign does it.
pub async fn from_system(addr: SocketAddr, fields: &str) -> Ctx {
    let text = format!(
        "components:\n  - id: api\n    kind: api_endpoint\n    target: http://{addr}\n    health: /health\n{fields}"
    );
    let (spec, _) = load_system(&text).expect("system file loads");
    let component = spec.components[0].clone();
    let scope = ScopeRule::parse(&spec.scope.allow).expect("scope parses");
    let target = resolve_target(&component, &scope)
        .await
        .expect("target in scope");
    Ctx(AttackContext {
        component,
        target,
        auth: None,
        halt: CancellationToken::new(),
        limits: Limits::default(),
    })
}

/// A context being built; [`Ctx::build`] hands it over.
pub struct Ctx(AttackContext);

impl Ctx {
    /// Declares one more endpoint.
    pub fn endpoint(mut self, endpoint: Endpoint) -> Ctx {
        self.0.component.endpoints.push(endpoint);
        self
    }

    /// Declares one more endpoint: `GET path`, without query, body or extra headers.
    pub fn get(self, path: &str) -> Ctx {
        self.endpoint(endpoint(HttpMethod::Get, path))
    }

    /// Declares the endpoints of a JSON list, as a system file would (`method` defaults to
    /// GET).
    pub fn endpoints_json(mut self, endpoints: Value) -> Ctx {
        self.0.component.endpoints =
            serde_json::from_value(endpoints).expect("endpoints deserialise");
        self
    }

    /// No health path: the component's probe falls back to `/`.
    pub fn no_health(mut self) -> Ctx {
        self.0.component.health = None;
        self
    }

    /// The guardrails the component claims.
    pub fn guardrails(mut self, guardrails: Guardrails) -> Ctx {
        self.0.component.guardrails = guardrails;
        self
    }

    /// The header a legitimate request carries.
    pub fn auth(mut self, header: &str, value: &str) -> Ctx {
        self.0.auth = Some((header.into(), value.into()));
        self
    }

    /// The engine's limits (tests shorten them).
    pub fn limits(mut self, limits: Limits) -> Ctx {
        self.0.limits = limits;
        self
    }

    pub fn build(self) -> AttackContext {
        self.0
    }
}
