//! `change_column_type`: `ALTER TABLE … ALTER COLUMN c TYPE new USING c::new`, and back to the
//! exact old type afterwards (`format_type` of the column's type and modifier, so
//! `character varying(20)` stays that, plus its collation when it is not the type's default).
//! The new type was checked at load to be one SQL data type; the old one is the server's own
//! text. A cast that the data does not survive fails, and the event says so.

use shakedown_sql::TableName;

use super::admin::{self, Admin, execute, quote_ident};
use super::error::ChaosError;
use super::rename_column::{current_column, find_column};
use super::undo::{Claim, Claims, Target};

/// A column whose type was changed.
#[derive(Debug)]
pub(crate) struct Changed {
    table: u32,
    attnum: i16,
    /// `format_type` of the old type.
    old_type: String,
    /// ` COLLATE "schema"."name"`, or empty for the type's default collation.
    old_collate: String,
    _claim: Claim,
}

pub(crate) async fn apply(
    admin: &Admin,
    claims: &Claims,
    table: &TableName,
    column: &str,
    new_type: &str,
) -> Result<Changed, ChaosError> {
    let conn = admin.shared().await?;
    let client = admin::client(&conn)?;
    let (oid, attnum, name) = find_column(client, table, column).await?;
    let row = client
        .query_one(
            "SELECT format_type(a.atttypid, a.atttypmod), \
                    CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation \
                         THEN format(' COLLATE %I.%I', n.nspname, co.collname) ELSE '' END \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_collation co ON co.oid = a.attcollation \
             LEFT JOIN pg_namespace n ON n.oid = co.collnamespace \
             WHERE a.attrelid = $1 AND a.attnum = $2",
            &[&oid, &attnum],
        )
        .await
        .map_err(|e| ChaosError::sql("reading the column type", &e))?;
    let (old_type, old_collate): (String, String) = (row.get(0), row.get(1));
    let claim = claims.claim(
        Target::Column(oid, attnum),
        format!("column {name}.{column}"),
    )?;
    let col = quote_ident(column);
    execute(
        client,
        &format!("ALTER TABLE {name} ALTER COLUMN {col} TYPE {new_type} USING {col}::{new_type}"),
    )
    .await?;
    Ok(Changed {
        table: oid,
        attnum,
        old_type,
        old_collate,
        _claim: claim,
    })
}

impl Changed {
    /// Restores the old type (and collation).
    pub(crate) async fn revert(&self, admin: &Admin) -> Result<(), ChaosError> {
        let conn = admin.shared().await?;
        let client = admin::client(&conn)?;
        let (table, current) = current_column(client, self.table, self.attnum).await?;
        let col = quote_ident(&current);
        let (ty, collate) = (&self.old_type, &self.old_collate);
        execute(
            client,
            &format!("ALTER TABLE {table} ALTER COLUMN {col} TYPE {ty}{collate} USING {col}::{ty}"),
        )
        .await
    }
}
