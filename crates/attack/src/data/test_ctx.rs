//! The context the data attacks' unit tests build requests with: component `api`, an
//! `api_endpoint` at `http://127.0.0.1:1`, without credentials and with the default limits.
//! Nothing is sent to it: the tests only look at the requests built.

use serde_json::json;
use shakedown_core::Component;
use tokio_util::sync::CancellationToken;

use crate::context::{AttackContext, Limits, Target};

/// The context; tests that need credentials set `auth`.
pub fn ctx() -> AttackContext {
    let component: Component = serde_json::from_value(json!({
        "id": "api", "kind": "api_endpoint", "target": "http://127.0.0.1:1"
    }))
    .expect("component deserialises");
    AttackContext {
        component,
        target: Target {
            addr: "127.0.0.1:1".parse().expect("socket address"),
            authority: "127.0.0.1:1".into(),
            base_path: String::new(),
        },
        auth: None,
        halt: CancellationToken::new(),
        limits: Limits::default(),
    }
}
