//! `shakedown token create|list|revoke`: bearer tokens for the REST API. A token belongs to
//! an account (a person or a service account) holding built-in roles; only its SHA-256 is
//! stored and the token itself is printed once. Whoever can write the data directory is its
//! administrator, so the CLI needs no token itself. Creation and revocation are recorded in the
//! signed ledger.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use comfy_table::Table;
use shakedown_control::auth::{TokenRequest, create_token};
use shakedown_control::{Governance, default_actor};
use shakedown_core::HumanDuration;
use shakedown_core::system::Environment;
use shakedown_store::default_data_dir;
use time::OffsetDateTime;

use super::open_store;
use crate::exit::Exit;

/// Ledger category of account and token changes.
const ACCESS_CATEGORY: &str = "access";

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for an account (creating the account, or replacing its roles, when
    /// --role is given). The token is printed once on stdout.
    Create(CreateArgs),
    /// List tokens (never the tokens themselves: id, account, roles, state).
    List(ListArgs),
    /// Revoke a token by its id (`tok_…`); it stops working at once.
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The account (letters, digits, `_-.@`).
    #[arg(long)]
    pub account: String,
    /// Built-in roles, comma-separated: viewer, operator, approver, admin,
    /// chaos_agent_service. Omit to keep an existing account's roles.
    #[arg(long = "role", value_delimiter = ',')]
    pub roles: Vec<String>,
    /// `person` or `service`.
    #[arg(long, default_value = "person", value_parser = ["person", "service"])]
    pub kind: String,
    /// A label to recognise the token by (e.g. `ci`).
    #[arg(long, default_value = "")]
    pub label: String,
    /// Lifetime, e.g. 12h or 720h (30 days); default: no expiry.
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<HumanDuration>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The token's id (`tok_…`, from `shakedown token list`).
    pub id: String,
}

pub fn run(args: TokenArgs, data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
    let data = data_dir.unwrap_or_else(default_data_dir);
    match args.command {
        TokenCommand::Create(a) => create(a, &data),
        TokenCommand::List(a) => list(a, &data),
        TokenCommand::Revoke(a) => revoke(a, &data),
    }
}

fn governance(data: &std::path::Path) -> anyhow::Result<Governance> {
    Governance::open(data, default_actor())
        .context("refusing to change tokens: the signed ledger is not usable")
}

fn create(a: CreateArgs, data: &std::path::Path) -> anyhow::Result<Exit> {
    let gov = governance(data)?;
    let store = open_store(Some(data.to_path_buf()))?;
    let now = OffsetDateTime::now_utc();
    let expires_at = match a.expires {
        Some(d) => {
            Some(now + time::Duration::try_from(d.as_duration()).context("--expires is too long")?)
        }
        None => None,
    };
    let req = TokenRequest {
        account: a.account.clone(),
        kind: a.kind.clone(),
        roles: a.roles.iter().map(|r| r.trim().to_string()).collect(),
        label: a.label.clone(),
        expires_at,
    };
    let (row, secret) = create_token(store.as_ref(), &req, now)?;
    let account = store
        .account(&row.account_id)?
        .context("the account vanished while the token was created")?;
    gov.record(
        ACCESS_CATEGORY,
        Environment::Test,
        "token_created",
        &row.id,
        serde_json::json!({
            "account": account.id,
            "kind": account.kind,
            "roles": account.roles,
            "label": row.label,
            "expires_at": row.expires_at.map(|t| t.to_string()),
        }),
    )?;
    eprintln!(
        "created token {} for {} ({}; roles {}){}; it is shown once:",
        row.id,
        account.id,
        account.kind,
        account.roles.join(", "),
        row.expires_at
            .map(|t| format!(", expires {t}"))
            .unwrap_or_default()
    );
    println!("{secret}");
    Ok(Exit::Passed)
}

fn state(t: &shakedown_store::TokenRow, now: OffsetDateTime) -> &'static str {
    if t.revoked_at.is_some() {
        "revoked"
    } else if t.expires_at.is_some_and(|at| at <= now) {
        "expired"
    } else {
        "active"
    }
}

fn list(a: ListArgs, data: &std::path::Path) -> anyhow::Result<Exit> {
    let store = open_store(Some(data.to_path_buf()))?;
    let now = OffsetDateTime::now_utc();
    let accounts = store.accounts()?;
    let roles_of = |id: &str| {
        accounts
            .iter()
            .find(|acc| acc.id == id)
            .map(|acc| acc.roles.join(","))
            .unwrap_or_default()
    };
    let tokens = store.tokens()?;
    if a.json {
        let rows: Vec<_> = tokens
            .iter()
            .map(|t| {
                serde_json::json!({
                    "id": t.id,
                    "account": t.account_id,
                    "roles": roles_of(&t.account_id).split(',').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
                    "label": t.label,
                    "created_at": t.created_at.to_string(),
                    "expires_at": t.expires_at.map(|x| x.to_string()),
                    "revoked_at": t.revoked_at.map(|x| x.to_string()),
                    "state": state(t, now),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(Exit::Passed);
    }
    if tokens.is_empty() {
        eprintln!("no tokens; create one with `shakedown token create --account NAME --role ROLE`");
        return Ok(Exit::Passed);
    }
    let mut table = Table::new();
    table.set_header([
        "id", "account", "roles", "label", "created", "expires", "state",
    ]);
    for t in &tokens {
        table.add_row([
            t.id.clone(),
            t.account_id.clone(),
            roles_of(&t.account_id),
            t.label.clone(),
            t.created_at.date().to_string(),
            t.expires_at
                .map(|x| x.to_string())
                .unwrap_or_else(|| "never".into()),
            state(t, now).to_string(),
        ]);
    }
    println!("{table}");
    Ok(Exit::Passed)
}

fn revoke(a: RevokeArgs, data: &std::path::Path) -> anyhow::Result<Exit> {
    let gov = governance(data)?;
    let store = open_store(Some(data.to_path_buf()))?;
    let now = OffsetDateTime::now_utc();
    let Some(token) = store.tokens()?.into_iter().find(|t| t.id == a.id) else {
        bail!("no token `{}`; `shakedown token list` shows them", a.id);
    };
    if !store.revoke_token(&a.id, now)? {
        bail!("token `{}` was already revoked", a.id);
    }
    gov.record(
        ACCESS_CATEGORY,
        Environment::Test,
        "token_revoked",
        &a.id,
        serde_json::json!({"account": token.account_id}),
    )?;
    eprintln!("revoked token {} of {}", a.id, token.account_id);
    Ok(Exit::Passed)
}
