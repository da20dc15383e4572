//! Who is calling: a bearer token is looked up by its hash and turned into the [`Account`]
//! holding it, with its built-in roles. Every failure is its own [`AuthError`] so a client
//! learns what to fix (missing header, wrong scheme, revoked, expired) — and never whether a
//! guessed token is close. Tokens are minted here too (`shakedown token create`, the API).

use shakedown_govern::token::{self, TOKEN_PREFIX};
use shakedown_govern::{Account, AccountKind, Role};
use shakedown_store::{AccountRow, Store, StoreError, TokenRow};
use time::OffsetDateTime;

/// Why a request is not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "no Authorization header; send `Authorization: Bearer {TOKEN_PREFIX}…` (create one with `shakedown token create`)"
    )]
    Missing,
    #[error("the Authorization header is not `Bearer <token>`")]
    NotBearer,
    #[error(
        "the bearer token is malformed: a Shakedown token is `{TOKEN_PREFIX}` followed by 64 hex digits"
    )]
    Malformed,
    #[error("unknown bearer token")]
    Unknown,
    #[error("token {id} was revoked")]
    Revoked { id: String },
    #[error("token {id} expired at {at}; create a new one with `shakedown token create`")]
    Expired { id: String, at: String },
    #[error("account `{account}` of token {id} no longer exists")]
    NoAccount { id: String, account: String },
    #[error("account `{account}` holds unknown role `{role}`")]
    UnknownRole { account: String, role: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The account behind an `Authorization` header value, at `now`.
pub fn authenticate(
    store: &dyn Store,
    authorization: Option<&str>,
    now: OffsetDateTime,
) -> Result<Account, AuthError> {
    let header = authorization.ok_or(AuthError::Missing)?.trim();
    let (scheme, value) = header.split_once(' ').ok_or(AuthError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::NotBearer);
    }
    let secret = value.trim();
    if !token::well_formed(secret) {
        return Err(AuthError::Malformed);
    }
    let row = store
        .token_by_hash(&token::hash(secret))?
        .ok_or(AuthError::Unknown)?;
    if row.revoked_at.is_some() {
        return Err(AuthError::Revoked { id: row.id });
    }
    if let Some(at) = row.expires_at.filter(|at| *at <= now) {
        return Err(AuthError::Expired {
            id: row.id,
            at: at.to_string(),
        });
    }
    let account = store
        .account(&row.account_id)?
        .ok_or_else(|| AuthError::NoAccount {
            id: row.id.clone(),
            account: row.account_id.clone(),
        })?;
    account_of(&account)
}

/// The RBAC account of a stored row (roles resolved to the built-in definitions).
pub fn account_of(row: &AccountRow) -> Result<Account, AuthError> {
    let roles = row
        .roles
        .iter()
        .map(|name| {
            Role::builtin(name).ok_or_else(|| AuthError::UnknownRole {
                account: row.id.clone(),
                role: name.clone(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Account {
        id: row.id.clone(),
        kind: if row.kind == "service" {
            AccountKind::Service
        } else {
            AccountKind::Person
        },
        roles,
    })
}

/// What `create_token` needs to know.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub account: String,
    /// `person` or `service`.
    pub kind: String,
    /// Built-in role names; empty keeps the roles of an existing account.
    pub roles: Vec<String>,
    pub label: String,
    pub expires_at: Option<OffsetDateTime>,
}

/// Why a token cannot be created.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("unknown role `{0}`; the built-in roles are {roles}", roles = Role::BUILTIN.join(", "))]
    UnknownRole(String),
    #[error("account kind `{0}` is not `person` or `service`")]
    Kind(String),
    #[error("account `{0}` does not exist; give it a role with --role to create it")]
    NoRoles(String),
    #[error("account name `{0}` must be 1–64 characters of letters, digits, `_`, `-`, `.` or `@`")]
    Name(String),
    #[error("the expiry {0} is already past")]
    Expired(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates (or updates the roles of) the account and mints a token for it. Returns the stored
/// row and the secret, which is shown once and never stored.
pub fn create_token(
    store: &dyn Store,
    req: &TokenRequest,
    now: OffsetDateTime,
) -> Result<(TokenRow, String), TokenError> {
    let name_ok = !req.account.is_empty()
        && req.account.len() <= 64
        && req
            .account
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.@".contains(c));
    if !name_ok {
        return Err(TokenError::Name(req.account.clone()));
    }
    if req.kind != "person" && req.kind != "service" {
        return Err(TokenError::Kind(req.kind.clone()));
    }
    if let Some(bad) = req.roles.iter().find(|r| Role::builtin(r).is_none()) {
        return Err(TokenError::UnknownRole(bad.clone()));
    }
    if let Some(at) = req.expires_at.filter(|at| *at <= now) {
        return Err(TokenError::Expired(at.to_string()));
    }
    let existing = store.account(&req.account)?;
    let account = match (existing, req.roles.is_empty()) {
        (None, true) => return Err(TokenError::NoRoles(req.account.clone())),
        (Some(a), true) => a,
        (existing, false) => {
            let row = AccountRow {
                id: req.account.clone(),
                kind: req.kind.clone(),
                roles: req.roles.clone(),
                created_at: existing.map_or(now, |a| a.created_at),
            };
            store.upsert_account(&row)?;
            row
        }
    };
    let minted = token::generate();
    let row = TokenRow {
        id: minted.id,
        account_id: account.id,
        label: req.label.clone(),
        hash: minted.hash,
        created_at: now,
        expires_at: req.expires_at,
        revoked_at: None,
    };
    store.insert_token(&row)?;
    Ok((row, minted.secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shakedown_core::system::Environment;
    use shakedown_govern::Permission;
    use shakedown_store::SqliteStore;
    use time::Duration;

    fn req(account: &str, roles: &[&str]) -> TokenRequest {
        TokenRequest {
            account: account.into(),
            kind: "person".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            label: "test".into(),
            expires_at: None,
        }
    }

    #[test]
    fn a_created_token_authenticates_as_its_account() {
        let store = SqliteStore::open_in_memory().unwrap();
        let now = OffsetDateTime::now_utc();
        let (row, secret) = create_token(&store, &req("alice", &["operator"]), now).unwrap();
        assert_eq!(row.account_id, "alice");
        let header = format!("Bearer {secret}");
        let account = authenticate(&store, Some(&header), now).unwrap();
        assert_eq!(account.id, "alice");
        assert!(
            account
                .authorize(Permission::Execute, Environment::Staging, "x")
                .is_ok()
        );
        assert!(
            account
                .authorize(Permission::Approve, Environment::Staging, "x")
                .is_err()
        );
        // The scheme is case-insensitive; the stored row holds no secret.
        assert!(authenticate(&store, Some(&format!("bearer {secret}")), now).is_ok());
        assert!(
            store
                .tokens()
                .unwrap()
                .iter()
                .all(|t| !secret.contains(&t.hash))
        );
    }

    #[test]
    fn every_failure_has_its_reason() {
        let store = SqliteStore::open_in_memory().unwrap();
        let now = OffsetDateTime::now_utc();
        let mut r = req("bob", &["viewer"]);
        r.expires_at = Some(now + Duration::hours(1));
        let (row, secret) = create_token(&store, &r, now).unwrap();
        let auth = |h: Option<&str>, at| authenticate(&store, h, at);
        assert!(matches!(auth(None, now), Err(AuthError::Missing)));
        assert!(matches!(
            auth(Some("Basic abc"), now),
            Err(AuthError::NotBearer)
        ));
        assert!(matches!(
            auth(Some("Bearer nope"), now),
            Err(AuthError::Malformed)
        ));
        let other = format!("Bearer shk_{}", "0".repeat(64));
        assert!(matches!(auth(Some(&other), now), Err(AuthError::Unknown)));
        let good = format!("Bearer {secret}");
        assert!(matches!(
            auth(Some(&good), now + Duration::hours(2)),
            Err(AuthError::Expired { .. })
        ));
        store.revoke_token(&row.id, now).unwrap();
        assert!(matches!(
            auth(Some(&good), now),
            Err(AuthError::Revoked { .. })
        ));
    }

    #[test]
    fn bad_token_requests_change_nothing() {
        let store = SqliteStore::open_in_memory().unwrap();
        let now = OffsetDateTime::now_utc();
        assert!(matches!(
            create_token(&store, &req("carol", &["root"]), now),
            Err(TokenError::UnknownRole(_))
        ));
        assert!(matches!(
            create_token(&store, &req("carol", &[]), now),
            Err(TokenError::NoRoles(_))
        ));
        assert!(matches!(
            create_token(&store, &req("bad name", &["viewer"]), now),
            Err(TokenError::Name(_))
        ));
        let mut r = req("carol", &["viewer"]);
        r.kind = "robot".into();
        assert!(matches!(
            create_token(&store, &r, now),
            Err(TokenError::Kind(_))
        ));
        r.kind = "service".into();
        r.expires_at = Some(now - Duration::seconds(1));
        assert!(matches!(
            create_token(&store, &r, now),
            Err(TokenError::Expired(_))
        ));
        assert!(store.accounts().unwrap().is_empty());
        assert!(store.tokens().unwrap().is_empty());
        // An existing account keeps its roles when none are given.
        create_token(&store, &req("carol", &["approver"]), now).unwrap();
        create_token(&store, &req("carol", &[]), now).unwrap();
        assert_eq!(store.account("carol").unwrap().unwrap().roles, ["approver"]);
        assert_eq!(store.tokens().unwrap().len(), 2);
    }
}
