//! Shakedown's fault proxies. [`pg`] is a PostgreSQL wire-protocol proxy that hands every
//! statement to an [`pg::Interceptor`] (policy and chaos plug in there) and forwards everything
//! else untouched.

pub mod pg;
pub mod tcp;
