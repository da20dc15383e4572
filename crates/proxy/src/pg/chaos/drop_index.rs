//! `drop_index`: saves everything needed to rebuild the index, drops it, and rebuilds it
//! afterwards. The definition is `pg_get_indexdef`; what it leaves out (CLUSTER ON, replica
//! identity, tablespace, comment) is captured as statements the server itself formats
//! (`format('%I', …)`), so no name is ever spliced unquoted. An index that backs a constraint
//! (primary key, unique, exclusion, or one a foreign key depends on) is refused: dropping it
//! would need the constraint dropped too.

use shakedown_sql::TableName;

use super::admin::{self, Admin, execute, quote_ident};
use super::error::ChaosError;
use super::undo::{Claim, Claims, Target};

/// A dropped index and how to rebuild it.
#[derive(Debug)]
pub(crate) struct Dropped {
    /// `CREATE INDEX …` first, then the extras; run as one implicit transaction.
    restore: Vec<String>,
    _claim: Claim,
}

const FIND: &str = "\
SELECT n.nspname::text, c.relname::text, pg_get_indexdef(c.oid), \
       (SELECT string_agg(k.conname::text, ', ') FROM pg_constraint k WHERE k.conindid = c.oid), \
       array_remove(ARRAY[ \
         CASE WHEN i.indisclustered \
              THEN format('ALTER TABLE %s CLUSTER ON %I', i.indrelid::regclass, c.relname) END, \
         CASE WHEN i.indisreplident \
              THEN format('ALTER TABLE %s REPLICA IDENTITY USING INDEX %I', i.indrelid::regclass, c.relname) END, \
         CASE WHEN c.reltablespace <> 0 \
              THEN format('ALTER INDEX %I.%I SET TABLESPACE %I', n.nspname, c.relname, \
                          (SELECT spcname FROM pg_tablespace WHERE oid = c.reltablespace)) END, \
         CASE WHEN d.description IS NOT NULL \
              THEN format('COMMENT ON INDEX %I.%I IS %L', n.nspname, c.relname, d.description) END \
       ], NULL) \
FROM pg_index i \
JOIN pg_class c ON c.oid = i.indexrelid \
JOIN pg_namespace n ON n.oid = c.relnamespace \
LEFT JOIN pg_description d \
       ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0 ";

pub(crate) async fn apply(
    admin: &Admin,
    claims: &Claims,
    table: Option<&TableName>,
    index: &str,
) -> Result<Dropped, ChaosError> {
    let conn = admin.shared().await?;
    let client = admin::client(&conn)?;
    // With a table, the index is looked for on that table; without, on the search_path.
    let row = match table {
        Some(t) => {
            let exists: Option<u32> = client
                .query_one("SELECT to_regclass($1)::oid", &[&t.quoted()])
                .await
                .map_err(|e| ChaosError::sql("looking up the table", &e))?
                .get(0);
            if exists.is_none() {
                return Err(ChaosError::NoTable(t.to_string()));
            }
            client
                .query_opt(
                    &format!("{FIND} WHERE i.indrelid = to_regclass($1) AND c.relname = $2"),
                    &[&t.quoted(), &index],
                )
                .await
        }
        None => {
            client
                .query_opt(
                    &format!("{FIND} WHERE c.oid = to_regclass($1)"),
                    &[&quote_ident(index)],
                )
                .await
        }
    }
    .map_err(|e| ChaosError::sql("looking up the index", &e))?;
    let Some(row) = row else {
        return Err(ChaosError::NoIndex(match table {
            Some(t) => format!("{index} on table {t}"),
            None => index.to_string(),
        }));
    };
    let (schema, relname, def): (String, String, String) = (row.get(0), row.get(1), row.get(2));
    let constraints: Option<String> = row.get(3);
    let extras: Vec<String> = row.get(4);
    let name = format!("{schema}.{relname}");
    if let Some(constraints) = constraints {
        return Err(ChaosError::ConstraintIndex {
            index: name,
            constraints,
        });
    }
    let claim = claims.claim(Target::Index(name.clone()), format!("index {name}"))?;
    execute(
        client,
        &format!(
            "DROP INDEX {}.{}",
            quote_ident(&schema),
            quote_ident(&relname)
        ),
    )
    .await?;
    let mut restore = vec![def];
    restore.extend(extras);
    Ok(Dropped {
        restore,
        _claim: claim,
    })
}

impl Dropped {
    /// Rebuilds the index with everything it had.
    pub(crate) async fn revert(&self, admin: &Admin) -> Result<(), ChaosError> {
        let conn = admin.shared().await?;
        let client = admin::client(&conn)?;
        execute(client, &self.restore.join(";\n")).await
    }
}
