//! Guardrails a component claims to have, with typed thresholds.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::units::{ByteSize, HumanDuration};

/// The guardrails a component claims. Attacks verify each claim; a missing claim falls back to
/// the documented default where one exists (see `docs/system-file.md`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Guardrails {
    /// Requests allowed per window, e.g. `{requests: 100, per: 1m}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Every endpoint refuses requests without valid credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_required: Option<bool>,
    /// Largest request body accepted (default 10MB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payload: Option<ByteSize>,
    /// Longest the server waits for a request to arrive (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<HumanDuration>,
    /// Concurrency above which the server sheds load (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreaker>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests allowed in one window.
    #[schemars(range(min = 1, max = 100000))]
    pub requests: u32,
    /// Length of the window, e.g. `1m`.
    pub per: HumanDuration,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreaker {
    /// Concurrent requests the component claims to absorb or shed cleanly.
    #[schemars(range(min = 1, max = 20000))]
    pub concurrency: u32,
}

impl Guardrails {
    pub const DEFAULT_MAX_PAYLOAD: ByteSize = ByteSize(10 * ByteSize::MIB);
    pub const DEFAULT_REQUEST_TIMEOUT: HumanDuration = HumanDuration::from_secs(30);
    pub const DEFAULT_CONCURRENCY: u32 = 1000;

    pub fn max_payload(&self) -> ByteSize {
        self.max_payload.unwrap_or(Self::DEFAULT_MAX_PAYLOAD)
    }
    pub fn request_timeout(&self) -> HumanDuration {
        self.request_timeout
            .unwrap_or(Self::DEFAULT_REQUEST_TIMEOUT)
    }
    pub fn concurrency(&self) -> u32 {
        self.circuit_breaker
            .map_or(Self::DEFAULT_CONCURRENCY, |c| c.concurrency)
    }
    pub fn auth_required(&self) -> bool {
        self.auth_required.unwrap_or(false)
    }
}
