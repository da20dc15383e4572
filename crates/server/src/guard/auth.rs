//! Authentication and the permission checks handlers make. Every route but
//! [`HEALTH_PATH`](super::HEALTH_PATH) needs `Authorization: Bearer <token>`; the token is
//! looked up by its hash in the store and its account's roles become the [`Caller`] that
//! handlers authorize against (permission × environment scope × resource). 401 without or
//! with an unknown token; 403, naming the denial, without the permission.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shakedown_core::system::Environment;
use shakedown_govern::{Account, Permission};
use time::OffsetDateTime;

use super::HEALTH_PATH;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Every environment, in the order denials are reported.
pub const ENVIRONMENTS: [Environment; 3] = [
    Environment::Test,
    Environment::Staging,
    Environment::Production,
];

/// The authenticated account of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: Account,
    /// The token's hash: what the rate limiter counts by.
    pub token_key: String,
}

impl Caller {
    /// The account's id: the actor of everything it does in the ledger.
    pub fn id(&self) -> &str {
        &self.account.id
    }

    /// Allowed to do `permission` on `resource` in `env`, or 403 saying why not.
    pub fn require(
        &self,
        permission: Permission,
        env: Environment,
        resource: &str,
    ) -> ApiResult<()> {
        self.account
            .authorize(permission, env, resource)
            .map_err(|d| ApiError::forbidden(d.to_string()))
    }

    /// Whether `permission` is granted on every resource of `env`.
    pub fn may(&self, permission: Permission, env: Environment) -> bool {
        self.account.authorize(permission, env, "*").is_ok()
    }

    /// Allowed in at least one environment (global reads, halting everything), or 403.
    pub fn require_somewhere(&self, permission: Permission) -> ApiResult<()> {
        if ENVIRONMENTS.iter().any(|e| self.may(permission, *e)) {
            return Ok(());
        }
        Err(ApiError::forbidden(format!(
            "{} may not {} in any environment: no role grants it",
            self.account.id,
            permission.as_str()
        )))
    }

    /// Allowed in every environment (lifting a halt that may protect production), or 403.
    pub fn require_everywhere(&self, permission: Permission) -> ApiResult<()> {
        for e in ENVIRONMENTS {
            self.require(permission, e, "*")?;
        }
        Ok(())
    }
}

fn unauthorized(message: String) -> Response {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"shakedown\""),
        )
        .into_response()
}

/// Middleware: resolves the bearer token to a [`Caller`] or answers 401.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if req.uri().path() == HEALTH_PATH {
        return next.run(req).await;
    }
    let mut values = req.headers().get_all(header::AUTHORIZATION).iter();
    let header_value = match (values.next(), values.next()) {
        (None, _) => None,
        (Some(v), None) => match v.to_str() {
            Ok(s) => Some(s.to_string()),
            Err(_) => return unauthorized("the Authorization header is not ASCII".into()),
        },
        (Some(_), Some(_)) => {
            return unauthorized("send exactly one Authorization header".into());
        }
    };
    let store = state.store.clone();
    let now = OffsetDateTime::now_utc();
    let presented = header_value.clone();
    // The lookup is a SQLite read: keep it off the async workers.
    let result = tokio::task::spawn_blocking(move || {
        shakedown_control::auth::authenticate(store.as_ref(), presented.as_deref(), now)
    })
    .await;
    let account = match result {
        Ok(Ok(account)) => account,
        Ok(Err(e)) => return unauthorized(e.to_string()),
        Err(e) => return ApiError::internal(format!("authentication failed: {e}")).into_response(),
    };
    // Keyed exactly as `authenticate` read the token (any case of the scheme, any spacing),
    // so one token is one rate-limit bucket.
    let token = header_value
        .as_deref()
        .map(str::trim)
        .and_then(|h| h.split_once(' '))
        .map(|(_, t)| t)
        .unwrap_or_default();
    req.extensions_mut().insert(Caller {
        account,
        token_key: shakedown_govern::token::hash(token.trim()),
    });
    next.run(req).await
}
