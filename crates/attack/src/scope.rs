//! Resolving a component's target and refusing anything outside the scope — before a single
//! packet is sent to it.

use std::net::SocketAddr;

use shakedown_core::Component;
use shakedown_core::system::ScopeRule;

use crate::context::Target;

/// Why a target cannot be attacked.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    #[error("component `{component}` has no target: add `target: http://127.0.0.1:PORT`")]
    NoTarget { component: String },
    #[error("component `{component}`: target `{target}` is not a usable http:// URL: {reason}")]
    BadTarget {
        component: String,
        target: String,
        reason: String,
    },
    #[error("component `{component}`: host `{host}` could not be resolved: {reason}")]
    Unresolvable {
        component: String,
        host: String,
        reason: String,
    },
    #[error(
        "component `{component}`: target `{target}` resolves to {addr}, which is outside the scope; \
         add it to `scope.allow` only if you are allowed to attack it"
    )]
    OutOfScope {
        component: String,
        target: String,
        addr: String,
    },
}

/// Resolves `component.target` and checks every address against `scope`. A host name listed
/// in the scope by name is trusted; otherwise every address it resolves to must be permitted.
pub async fn resolve_target(
    component: &Component,
    scope: &ScopeRule,
) -> Result<Target, ScopeError> {
    let raw = component
        .target
        .as_deref()
        .ok_or_else(|| ScopeError::NoTarget {
            component: component.id.clone(),
        })?;
    let bad = |reason: &str| ScopeError::BadTarget {
        component: component.id.clone(),
        target: raw.to_string(),
        reason: reason.to_string(),
    };
    let url = url::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
    if url.scheme() != "http" {
        return Err(bad("only http:// targets are supported"));
    }
    let host = url.host_str().ok_or_else(|| bad("no host"))?.to_string();
    let port = url.port_or_known_default().ok_or_else(|| bad("no port"))?;
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare.as_str(), port))
        .await
        .map_err(|e| ScopeError::Unresolvable {
            component: component.id.clone(),
            host: host.clone(),
            reason: e.to_string(),
        })?
        .collect();
    let first = *addrs.first().ok_or_else(|| ScopeError::Unresolvable {
        component: component.id.clone(),
        host: host.clone(),
        reason: "no addresses".into(),
    })?;
    if !scope.lists_host(&bare)
        && let Some(outside) = addrs.iter().find(|a| !scope.permits_ip(a.ip()))
    {
        return Err(ScopeError::OutOfScope {
            component: component.id.clone(),
            target: raw.to_string(),
            addr: outside.ip().to_string(),
        });
    }
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    Ok(Target {
        addr: first,
        authority,
        base_path: url.path().trim_end_matches('/').to_string(),
    })
}
