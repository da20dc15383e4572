//! Bearer-token auth: the whole `Authorization` header must equal `Bearer <token>`, compared
//! in constant time. Nothing else is trusted: no JWT parsing (so `alg: none` tokens are just
//! wrong tokens), no forwarding headers, no path rewriting.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::EXEMPT_PATH;
use crate::reply;
use crate::state::Stats;

/// The expected credential.
pub struct Auth {
    /// `Bearer <token>`; `None` refuses everything (a guarded server without a token fails
    /// closed).
    expected: Option<Vec<u8>>,
    stats: Arc<Stats>,
}

impl Auth {
    pub fn new(token: Option<&str>, stats: Arc<Stats>) -> Auth {
        Auth {
            expected: token.map(|t| format!("Bearer {t}").into_bytes()),
            stats,
        }
    }

    /// True when the request carries exactly one `Authorization` header equal to the
    /// expected one.
    pub fn allows(&self, req: &Request) -> bool {
        let Some(expected) = &self.expected else {
            return false;
        };
        let mut values = req.headers().get_all(header::AUTHORIZATION).iter();
        match (values.next(), values.next()) {
            (Some(v), None) => constant_time_eq(v.as_bytes(), expected),
            _ => false,
        }
    }
}

/// Middleware: 401 unless the request is for the exempt health path or carries the token.
/// The exemption matches the raw path exactly, so `/health/../admin/stats` is not exempt.
pub async fn require(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Response {
    if req.uri().path() == EXEMPT_PATH || auth.allows(&req) {
        return next.run(req).await;
    }
    Stats::bump(&auth.stats.unauthorized);
    let mut resp = reply::error(StatusCode::UNAUTHORIZED, "missing or invalid bearer token");
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"practice\""),
    );
    resp
}

/// Compares `given` with `expected` in time that depends only on `expected`'s length, so the
/// response time does not reveal how many leading bytes of a guess were right.
pub fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != expected.len());
    for (i, e) in expected.iter().enumerate() {
        diff |= given.get(i).copied().unwrap_or(0) ^ e;
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"Bearer abc", b"Bearer abc"));
        assert!(!constant_time_eq(b"Bearer ab", b"Bearer abc"));
        assert!(!constant_time_eq(b"Bearer abcd", b"Bearer abc"));
        assert!(!constant_time_eq(b"Bearer abd", b"Bearer abc"));
        assert!(!constant_time_eq(b"", b"Bearer abc"));
        // A prefix padded with NULs must not pass for the real thing.
        assert!(!constant_time_eq(b"Bearer ab\0", b"Bearer abc"));
    }

    fn request(auth: &[&str]) -> Request {
        let mut b = Request::builder().uri("/users");
        for a in auth {
            b = b.header(header::AUTHORIZATION, *a);
        }
        b.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn only_the_exact_single_header_is_accepted() {
        let auth = Auth::new(Some("tok"), Arc::default());
        assert!(auth.allows(&request(&["Bearer tok"])));
        assert!(!auth.allows(&request(&[])));
        assert!(!auth.allows(&request(&["bearer tok"])));
        assert!(!auth.allows(&request(&["Bearer tok "])));
        assert!(!auth.allows(&request(&["Bearer tok", "Bearer tok"])));
        let closed = Auth::new(None, Arc::default());
        assert!(!closed.allows(&request(&["Bearer "])));
    }
}
