//! Accounts and their bearer tokens. Tokens are looked up by the hash of the presented value;
//! revoking sets `revoked_at` once (a second revoke reports that nothing changed).

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::codec::{OrStore, json_from_sql, json_to_sql, ts_from_sql, ts_to_sql};
use crate::{AccountRow, StoreError, TokenRow};

pub(super) fn upsert_account(
    conn: &Connection,
    path: &Path,
    a: &AccountRow,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO accounts (id, kind, roles, created_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, roles = excluded.roles",
        params![
            a.id,
            a.kind,
            json_to_sql("account roles", &a.roles)?,
            ts_to_sql(a.created_at)?
        ],
    )
    .or_store(path)?;
    Ok(())
}

fn read_account(row: &Row<'_>) -> rusqlite::Result<Result<AccountRow, String>> {
    let id: String = row.get(0)?;
    let kind: String = row.get(1)?;
    let roles: String = row.get(2)?;
    let created: String = row.get(3)?;
    Ok((|| {
        Ok(AccountRow {
            id,
            kind,
            roles: json_from_sql("account roles", &roles)?,
            created_at: ts_from_sql(&created)?,
        })
    })())
}

pub(super) fn account(
    conn: &Connection,
    path: &Path,
    id: &str,
) -> Result<Option<AccountRow>, StoreError> {
    conn.query_row(
        "SELECT id, kind, roles, created_at FROM accounts WHERE id = ?1",
        [id],
        read_account,
    )
    .optional()
    .or_store(path)?
    .transpose()
    .map_err(|d| corrupt(path, "accounts", id, d))
}

pub(super) fn accounts(conn: &Connection, path: &Path) -> Result<Vec<AccountRow>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT id, kind, roles, created_at FROM accounts ORDER BY id")
        .or_store(path)?;
    let rows = stmt
        .query_map([], read_account)
        .or_store(path)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .or_store(path)?;
    rows.into_iter()
        .map(|r| r.map_err(|d| corrupt(path, "accounts", "?", d)))
        .collect()
}

const TOKEN_COLUMNS: &str = "id, account_id, label, hash, created_at, expires_at, revoked_at";

pub(super) fn insert_token(conn: &Connection, path: &Path, t: &TokenRow) -> Result<(), StoreError> {
    conn.execute(
        &format!("INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![
            t.id,
            t.account_id,
            t.label,
            t.hash,
            ts_to_sql(t.created_at)?,
            t.expires_at.map(ts_to_sql).transpose()?,
            t.revoked_at.map(ts_to_sql).transpose()?,
        ],
    )
    .map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::InvalidValue {
            what: format!("token {}", t.id),
            detail: format!(
                "account `{}` does not exist or the token is already stored",
                t.account_id
            ),
        },
        _ => StoreError::sqlite(path, e),
    })?;
    Ok(())
}

fn read_token(row: &Row<'_>) -> rusqlite::Result<Result<TokenRow, String>> {
    let id: String = row.get(0)?;
    let account_id: String = row.get(1)?;
    let label: String = row.get(2)?;
    let hash: String = row.get(3)?;
    let created: String = row.get(4)?;
    let expires: Option<String> = row.get(5)?;
    let revoked: Option<String> = row.get(6)?;
    Ok((|| {
        Ok(TokenRow {
            id,
            account_id,
            label,
            hash,
            created_at: ts_from_sql(&created)?,
            expires_at: expires.as_deref().map(ts_from_sql).transpose()?,
            revoked_at: revoked.as_deref().map(ts_from_sql).transpose()?,
        })
    })())
}

pub(super) fn token_by_hash(
    conn: &Connection,
    path: &Path,
    hash: &str,
) -> Result<Option<TokenRow>, StoreError> {
    conn.query_row(
        &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?1"),
        [hash],
        read_token,
    )
    .optional()
    .or_store(path)?
    .transpose()
    .map_err(|d| corrupt(path, "tokens", "(by hash)", d))
}

pub(super) fn tokens(conn: &Connection, path: &Path) -> Result<Vec<TokenRow>, StoreError> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_at, id"
        ))
        .or_store(path)?;
    let rows = stmt
        .query_map([], read_token)
        .or_store(path)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .or_store(path)?;
    rows.into_iter()
        .map(|r| r.map_err(|d| corrupt(path, "tokens", "?", d)))
        .collect()
}

pub(super) fn revoke_token(
    conn: &Connection,
    path: &Path,
    id: &str,
    at: time::OffsetDateTime,
) -> Result<bool, StoreError> {
    let n = conn
        .execute(
            "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, ts_to_sql(at)?],
        )
        .or_store(path)?;
    Ok(n == 1)
}

pub(super) fn corrupt(path: &Path, table: &'static str, key: &str, detail: String) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        table,
        key: key.to_string(),
        detail,
    }
}
