//! `rename_column`: `ALTER TABLE … RENAME COLUMN a TO b`, renamed back afterwards. The column
//! is remembered by table OID and attribute number, so the undo finds it whatever it is
//! called by then.

use shakedown_sql::TableName;

use super::admin::{self, Admin, execute, quote_ident};
use super::error::ChaosError;
use super::undo::{Claim, Claims, Target};

/// A renamed column.
#[derive(Debug)]
pub(crate) struct Renamed {
    table: u32,
    attnum: i16,
    original: String,
    _claim: Claim,
}

/// Finds `column` of `table`: (table OID, attribute number, the table as the server names it).
pub(crate) async fn find_column(
    client: &tokio_postgres::Client,
    table: &TableName,
    column: &str,
) -> Result<(u32, i16, String), ChaosError> {
    let row = client
        .query_opt(
            "SELECT to_regclass($1)::oid, \
                    (SELECT attnum FROM pg_attribute WHERE attrelid = to_regclass($1) \
                       AND attname = $2 AND attnum > 0 AND NOT attisdropped), \
                    to_regclass($1)::text",
            &[&table.quoted(), &column],
        )
        .await
        .map_err(|e| ChaosError::sql("looking up the column", &e))?;
    let row = row.ok_or_else(|| ChaosError::NoTable(table.to_string()))?;
    let oid: Option<u32> = row.get(0);
    let attnum: Option<i16> = row.get(1);
    let name: Option<String> = row.get(2);
    match (oid, attnum, name) {
        (Some(oid), Some(attnum), Some(name)) => Ok((oid, attnum, name)),
        (Some(_), None, Some(name)) => Err(ChaosError::NoColumn {
            table: name,
            column: column.to_string(),
        }),
        _ => Err(ChaosError::NoTable(table.to_string())),
    }
}

/// The current name of a remembered column: (table as the server names it, column name).
pub(crate) async fn current_column(
    client: &tokio_postgres::Client,
    table: u32,
    attnum: i16,
) -> Result<(String, String), ChaosError> {
    let row = client
        .query_opt(
            "SELECT a.attrelid::regclass::text, a.attname::text FROM pg_attribute a \
             WHERE a.attrelid = $1 AND a.attnum = $2 AND NOT a.attisdropped",
            &[&table, &attnum],
        )
        .await
        .map_err(|e| ChaosError::sql("looking up the column", &e))?
        .ok_or_else(|| {
            ChaosError::Gone(format!("column {attnum} of table OID {table} was dropped"))
        })?;
    Ok((row.get(0), row.get(1)))
}

pub(crate) async fn apply(
    admin: &Admin,
    claims: &Claims,
    table: &TableName,
    column: &str,
    new_name: &str,
) -> Result<Renamed, ChaosError> {
    let conn = admin.shared().await?;
    let client = admin::client(&conn)?;
    let (oid, attnum, name) = find_column(client, table, column).await?;
    let claim = claims.claim(
        Target::Column(oid, attnum),
        format!("column {name}.{column}"),
    )?;
    execute(
        client,
        &format!(
            "ALTER TABLE {name} RENAME COLUMN {} TO {}",
            quote_ident(column),
            quote_ident(new_name)
        ),
    )
    .await?;
    Ok(Renamed {
        table: oid,
        attnum,
        original: column.to_string(),
        _claim: claim,
    })
}

impl Renamed {
    /// Gives the column its original name back.
    pub(crate) async fn revert(&self, admin: &Admin) -> Result<(), ChaosError> {
        let conn = admin.shared().await?;
        let client = admin::client(&conn)?;
        let (table, current) = current_column(client, self.table, self.attnum).await?;
        if current == self.original {
            return Ok(());
        }
        execute(
            client,
            &format!(
                "ALTER TABLE {table} RENAME COLUMN {} TO {}",
                quote_ident(&current),
                quote_ident(&self.original)
            ),
        )
        .await
    }
}
