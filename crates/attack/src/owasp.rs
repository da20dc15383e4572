//! OWASP-style attacks: injection, XSS, auth bypass, rate limits, payload size.

pub mod auth_bypass;
mod paced;
pub mod payload_overflow;
pub mod rate_limit_breach;
pub mod sql_injection;
pub mod xss_attack;
