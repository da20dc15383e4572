//! The HTTP guard pieces that `shakedown serve` (crates/server) and the practice APIs
//! (crates/practice) share: one copy of each, generic where the two differ (the limiter's key,
//! the canned 503), so a fix to a guard reaches both. What each answers (error shapes,
//! messages, counters) stays with its crate; this crate holds only the logic.
//!
//! | module | what it holds |
//! |---|---|
//! | [`accept`] | the accept loop's next connection (backoff on errors, stops on cancel) and one HTTP/1.1 connection driven to its end or a graceful shutdown |
//! | [`reject`] | connections beyond the cap: read the head briefly, answer a canned 503, drain, close |
//! | [`rate_limit`] | a sliding-log limiter keyed by anything hashable, and `Retry-After` rounding |
//! | [`body`] | bodies read with a byte cap and a stall timeout; the declared `Content-Length` |
//! | [`json`] | JSON content types and the 400 / 422 split of a bad JSON body |

#![forbid(unsafe_code)]

pub mod accept;
pub mod body;
pub mod json;
pub mod rate_limit;
pub mod reject;
