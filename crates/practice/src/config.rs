//! What a practice server is: its flavour and the thresholds of its guardrails.

use std::fmt;
use std::time::Duration;

/// Which of the two practice APIs to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// Parameterised SQL, escaped HTML, bearer auth, a rate limiter, body and header limits,
    /// a connection cap and load shedding: it should pass every api_endpoint attack.
    Guarded,
    /// String-built SQL, raw reflection, no auth, no limits: it claims the same guardrails
    /// as the guarded one and keeps none of them.
    Weak,
}

impl Flavor {
    /// `guarded` or `weak`.
    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::Guarded => "guarded",
            Flavor::Weak => "weak",
        }
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A practice server's configuration. The `Weak` flavour ignores every guard field (they are
/// what it *claims*); the `Guarded` flavour enforces them all.
#[derive(Clone)]
pub struct PracticeConfig {
    pub flavor: Flavor,
    /// Bearer token every route but `/health` requires (`Authorization: Bearer <token>`).
    /// A guarded server without a token refuses every protected request (fail closed).
    pub token: Option<String>,
    /// Authenticated requests allowed per client IP in any `rate_window` (sliding);
    /// 0 turns the limiter off.
    pub rate_limit: u32,
    pub rate_window: Duration,
    /// Largest request body in bytes; larger ones get 413.
    pub max_body: usize,
    /// Deadline for a request head to arrive (also the keep-alive idle timeout and the
    /// longest pause allowed between two chunks of a body).
    pub header_timeout: Duration,
    /// Requests in flight above which new ones are shed with 503.
    pub max_concurrency: usize,
    /// Open connections above which new ones are answered 503 and closed.
    pub max_connections: usize,
}

impl PracticeConfig {
    /// Demo defaults: a campaign against them finishes well within a minute. The rate
    /// window is short so that the limit tripped by one attack does not bleed far into the
    /// next one, and 100 requests leave room for the injection probes of a whole campaign.
    pub fn guarded(token: &str) -> Self {
        PracticeConfig {
            flavor: Flavor::Guarded,
            token: Some(token.to_string()),
            rate_limit: 100,
            rate_window: Duration::from_secs(2),
            max_body: 1024 * 1024,
            header_timeout: Duration::from_secs(2),
            max_concurrency: 256,
            max_connections: 512,
        }
    }

    /// The weak twin: the same claimed thresholds, none enforced.
    pub fn weak() -> Self {
        PracticeConfig {
            flavor: Flavor::Weak,
            token: None,
            ..PracticeConfig::guarded("")
        }
    }

    /// Checks the thresholds a guarded server needs; a weak server accepts anything.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.flavor == Flavor::Weak {
            return Ok(());
        }
        let bad = |field: &'static str, hint: &'static str| Err(ConfigError { field, hint });
        if self.rate_limit > 0 && self.rate_window.is_zero() {
            return bad(
                "rate_window",
                "give the rate limit a window longer than zero",
            );
        }
        if self.max_body == 0 {
            return bad("max_body", "allow at least one byte of body");
        }
        if self.header_timeout.is_zero() {
            return bad(
                "header_timeout",
                "give clients some time to send a request head",
            );
        }
        if self.max_concurrency == 0 {
            return bad("max_concurrency", "allow at least one request in flight");
        }
        if self.max_connections == 0 {
            return bad("max_connections", "allow at least one connection");
        }
        Ok(())
    }
}

/// The token never appears in logs or test output.
impl fmt::Debug for PracticeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PracticeConfig")
            .field("flavor", &self.flavor)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("rate_limit", &self.rate_limit)
            .field("rate_window", &self.rate_window)
            .field("max_body", &self.max_body)
            .field("header_timeout", &self.header_timeout)
            .field("max_concurrency", &self.max_concurrency)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// A guarded configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("practice config: `{field}` is invalid: {hint}")]
pub struct ConfigError {
    pub field: &'static str,
    pub hint: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_the_token_is_redacted() {
        let g = PracticeConfig::guarded("s3cret");
        assert!(g.validate().is_ok());
        assert!(!format!("{g:?}").contains("s3cret"));
        let w = PracticeConfig::weak();
        assert_eq!(w.flavor, Flavor::Weak);
        assert_eq!(w.max_body, g.max_body);
        assert!(w.token.is_none());
    }

    #[test]
    fn impossible_guards_are_refused() {
        let mut c = PracticeConfig::guarded("t");
        c.max_connections = 0;
        assert_eq!(c.validate().unwrap_err().field, "max_connections");
        let mut c = PracticeConfig::guarded("t");
        c.rate_window = Duration::ZERO;
        assert_eq!(c.validate().unwrap_err().field, "rate_window");
        c.rate_limit = 0;
        assert!(c.validate().is_ok(), "a disabled limiter needs no window");
    }
}
