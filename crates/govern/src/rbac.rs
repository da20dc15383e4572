//! Role-based access: accounts (people and service accounts) hold roles; a role grants
//! permissions within scopes (`test_environment:*`, `staging:*`, `production:*`, or one
//! resource such as `staging:backend_api`). A request is allowed only when one role grants the
//! permission in a scope that covers the resource. `delete` and `deploy` are never granted by a
//! role below `admin`, and production never lets anything run without a manual approval
//! (that rule lives in [`crate::risk`]).

use serde::{Deserialize, Serialize};
use shakedown_core::system::Environment;

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    Read,
    Execute,
    Approve,
    Halt,
    /// Accounts, tokens, keys, roles — and the destructive operations below.
    Admin,
    /// Deleting stored campaigns, runs or accounts (needs `admin`).
    Delete,
    /// Changing what is deployed (needs `admin`).
    Deploy,
}

impl Permission {
    pub const ALL: [Permission; 7] = [
        Permission::Read,
        Permission::Execute,
        Permission::Approve,
        Permission::Halt,
        Permission::Admin,
        Permission::Delete,
        Permission::Deploy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Execute => "execute",
            Permission::Approve => "approve",
            Permission::Halt => "halt",
            Permission::Admin => "admin",
            Permission::Delete => "delete",
            Permission::Deploy => "deploy",
        }
    }
}

/// The scope name of an environment.
pub fn environment_scope(e: Environment) -> &'static str {
    match e {
        Environment::Test => "test_environment",
        Environment::Staging => "staging",
        Environment::Production => "production",
    }
}

/// `ENV:RESOURCE` with `*` as "every resource" (`staging:*`), or `*:*` for everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopePattern {
    pub environment: String,
    pub resource: String,
}

impl ScopePattern {
    /// Parses `staging:*`, `production:backend_api`, `*:*`.
    pub fn parse(s: &str) -> Result<ScopePattern, String> {
        let (env, res) = s
            .split_once(':')
            .ok_or_else(|| format!("scope `{s}` is not ENV:RESOURCE (e.g. staging:*)"))?;
        let known = ["test_environment", "staging", "production", "*"];
        if !known.contains(&env) {
            return Err(format!(
                "scope `{s}`: `{env}` is not one of {}",
                known.join(", ")
            ));
        }
        if res.is_empty() {
            return Err(format!(
                "scope `{s}` names no resource; use `{env}:*` for all"
            ));
        }
        Ok(ScopePattern {
            environment: env.to_string(),
            resource: res.to_string(),
        })
    }

    pub fn covers(&self, env: Environment, resource: &str) -> bool {
        (self.environment == "*" || self.environment == environment_scope(env))
            && (self.resource == "*" || self.resource == resource)
    }
}

/// A named set of permissions within scopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub permissions: Vec<Permission>,
    pub scopes: Vec<ScopePattern>,
}

fn scopes(list: &[&str]) -> Vec<ScopePattern> {
    list.iter()
        .map(|s| ScopePattern::parse(s).expect("built-in scopes parse"))
        .collect()
}

impl Role {
    /// The built-in roles.
    pub fn builtin(name: &str) -> Option<Role> {
        use Permission::*;
        let (perms, sc): (Vec<Permission>, &[&str]) = match name {
            "viewer" => (vec![Read], &["*:*"]),
            "operator" => (
                vec![Read, Execute, Halt],
                &["test_environment:*", "staging:*"],
            ),
            "approver" => (vec![Read, Approve, Halt], &["*:*"]),
            "admin" => (Permission::ALL.to_vec(), &["*:*"]),
            // The account campaigns and agent runs use when an automation starts them: it may
            // read and execute in test and staging, and nothing else, anywhere.
            "chaos_agent_service" => (vec![Read, Execute], &["test_environment:*", "staging:*"]),
            _ => return None,
        };
        Some(Role {
            name: name.to_string(),
            permissions: perms,
            scopes: scopes(sc),
        })
    }

    pub const BUILTIN: [&'static str; 5] = [
        "viewer",
        "operator",
        "approver",
        "admin",
        "chaos_agent_service",
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    Person,
    Service,
}

/// Someone (or something) acting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub kind: AccountKind,
    pub roles: Vec<Role>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{account} may not {permission} on {scope}: {reason}")]
pub struct Denied {
    pub account: String,
    pub permission: &'static str,
    pub scope: String,
    pub reason: String,
}

impl Account {
    /// The built-in service account.
    pub fn chaos_agent_service() -> Account {
        Account {
            id: "chaos_agent_service".into(),
            kind: AccountKind::Service,
            roles: vec![Role::builtin("chaos_agent_service").expect("built in")],
        }
    }

    /// Allowed, or why not.
    pub fn authorize(
        &self,
        permission: Permission,
        env: Environment,
        resource: &str,
    ) -> Result<(), Denied> {
        let scope = format!("{}:{resource}", environment_scope(env));
        let deny = |reason: String| Denied {
            account: self.id.clone(),
            permission: permission.as_str(),
            scope: scope.clone(),
            reason,
        };
        // Destructive operations belong to admins only, whatever a custom role lists.
        let needs_admin = matches!(permission, Permission::Delete | Permission::Deploy);
        let granted = self.roles.iter().any(|r| {
            let has = r.permissions.contains(&permission)
                && (!needs_admin || r.permissions.contains(&Permission::Admin));
            has && r.scopes.iter().any(|s| s.covers(env, resource))
        });
        if granted {
            return Ok(());
        }
        let any_perm = self
            .roles
            .iter()
            .any(|r| r.permissions.contains(&permission));
        Err(deny(if any_perm {
            format!("no role grants it in {}", environment_scope(env))
        } else {
            "no role grants this permission".into()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Environment::*;
    use Permission::*;

    fn account(role: &str) -> Account {
        Account {
            id: format!("acct_{role}"),
            kind: AccountKind::Person,
            roles: vec![Role::builtin(role).unwrap()],
        }
    }

    /// The whole role × permission × environment matrix.
    #[test]
    fn the_matrix() {
        let envs = [Test, Staging, Production];
        let expect = |role: &str, p: Permission, e: Environment| -> bool {
            match role {
                "viewer" => p == Read,
                "operator" => matches!(p, Read | Execute | Halt) && e != Production,
                "approver" => matches!(p, Read | Approve | Halt),
                "admin" => true,
                "chaos_agent_service" => matches!(p, Read | Execute) && e != Production,
                _ => unreachable!(),
            }
        };
        for role in Role::BUILTIN {
            let a = account(role);
            for p in Permission::ALL {
                for e in envs {
                    assert_eq!(
                        a.authorize(p, e, "backend_api").is_ok(),
                        expect(role, p, e),
                        "{role} {p:?} {e:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_service_account_never_deletes_deploys_approves_or_touches_production() {
        let svc = Account::chaos_agent_service();
        assert_eq!(svc.kind, AccountKind::Service);
        for p in [Delete, Deploy, Approve, Admin] {
            for e in [Test, Staging, Production] {
                let d = svc.authorize(p, e, "x").unwrap_err();
                assert!(d.to_string().contains("may not"), "{d}");
            }
        }
        let d = svc.authorize(Execute, Production, "db").unwrap_err();
        assert_eq!(d.scope, "production:db");
        assert!(d.reason.contains("production"), "{d}");
        assert!(svc.authorize(Execute, Staging, "db").is_ok());
    }

    #[test]
    fn a_custom_role_listing_delete_without_admin_still_cannot() {
        let role = Role {
            name: "cleaner".into(),
            permissions: vec![Read, Delete],
            scopes: scopes(&["*:*"]),
        };
        let a = Account {
            id: "c".into(),
            kind: AccountKind::Person,
            roles: vec![role],
        };
        assert!(a.authorize(Delete, Test, "x").is_err());
    }

    #[test]
    fn scopes_parse_and_cover() {
        assert!(
            ScopePattern::parse("staging:*")
                .unwrap()
                .covers(Staging, "any")
        );
        assert!(
            !ScopePattern::parse("staging:api")
                .unwrap()
                .covers(Staging, "db")
        );
        assert!(ScopePattern::parse("*:*").unwrap().covers(Production, "db"));
        assert!(
            ScopePattern::parse("prod:*")
                .unwrap_err()
                .contains("not one of")
        );
        assert!(
            ScopePattern::parse("staging")
                .unwrap_err()
                .contains("ENV:RESOURCE")
        );
        assert!(
            ScopePattern::parse("staging:")
                .unwrap_err()
                .contains("no resource")
        );
    }
}
