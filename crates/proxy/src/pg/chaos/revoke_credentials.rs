//! `revoke_credentials`: `ALTER ROLE … NOLOGIN` for the duration, so new logins of the role
//! fail ("role … is not permitted to log in", 28000) whatever the authentication method, while
//! sessions already open go on. The role's `rolcanlogin` is read first and restored exactly.
//! The admin role itself is never revoked: the undo needs it.

use super::admin::{self, Admin, execute, quote_ident};
use super::error::ChaosError;
use super::undo::{Claim, Claims, Target};

/// A revoked login.
#[derive(Debug)]
pub(crate) struct Revoked {
    pub(crate) role: String,
    _claim: Claim,
}

pub(crate) async fn apply(
    admin: &Admin,
    claims: &Claims,
    role: &str,
) -> Result<Revoked, ChaosError> {
    let conn = admin.shared().await?;
    let client = admin::client(&conn)?;
    let row = client
        .query_opt(
            "SELECT rolcanlogin, rolname = current_user OR rolname = session_user \
             FROM pg_roles WHERE rolname = $1",
            &[&role],
        )
        .await
        .map_err(|e| ChaosError::sql("reading the role", &e))?
        .ok_or_else(|| ChaosError::NoRole(role.to_string()))?;
    let (can_login, is_admin): (bool, bool) = (row.get(0), row.get(1));
    if is_admin {
        return Err(ChaosError::AdminRole(role.to_string()));
    }
    if !can_login {
        return Err(ChaosError::AlreadyNoLogin(role.to_string()));
    }
    let claim = claims.claim(Target::Role(role.to_string()), format!("role {role}"))?;
    execute(client, &format!("ALTER ROLE {} NOLOGIN", quote_ident(role))).await?;
    Ok(Revoked {
        role: role.to_string(),
        _claim: claim,
    })
}

impl Revoked {
    /// Gives the login back (it had LOGIN: `apply` refuses a role without it).
    pub(crate) async fn revert(&self, admin: &Admin) -> Result<(), ChaosError> {
        let conn = admin.shared().await?;
        let client = admin::client(&conn)?;
        execute(
            client,
            &format!("ALTER ROLE {} LOGIN", quote_ident(&self.role)),
        )
        .await
    }
}
