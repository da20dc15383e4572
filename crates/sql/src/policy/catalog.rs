//! What the policy evaluator knows about the session and the database. The proxy owns these:
//! it fills a [`Catalog`] from the database (run [`Catalog::QUERY`] and feed the rows to
//! [`Catalog::from_rows`]), keeps it current with [`Catalog::observe`] after each successful
//! statement (or re-reads it), and keeps one [`SessionState`] per client session.

use std::collections::HashMap;
use std::sync::Arc;

use crate::classify::{Classification, TableName, TableOp, TxnControl};

/// Tables (and their columns) that exist, with the search path used for unqualified names.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// schema → table → columns (nested so lookups by `&str` allocate nothing).
    tables: HashMap<String, HashMap<String, Vec<String>>>,
    search_path: Vec<String>,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog {
            tables: HashMap::new(),
            search_path: vec!["public".into()],
        }
    }
}

/// Schemas whose relations always count as known: drivers read them on every connection.
const SYSTEM_SCHEMAS: [&str; 2] = ["pg_catalog", "information_schema"];

impl Catalog {
    /// One row per (schema, relation, column) — relations without columns come with a NULL
    /// column. Covers tables, views, materialised views, partitioned and foreign tables in every
    /// schema, system catalogs included.
    pub const QUERY: &'static str = "SELECT n.nspname, c.relname, a.attname \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_catalog.pg_attribute a \
           ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
         WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')";

    /// An empty catalog with search path `public`.
    pub fn new() -> Self {
        Catalog::default()
    }

    /// Builds a catalog from the rows of [`Catalog::QUERY`].
    pub fn from_rows<S: AsRef<str>>(rows: impl IntoIterator<Item = (S, S, Option<S>)>) -> Self {
        let mut c = Catalog::new();
        for (schema, table, column) in rows {
            match column {
                Some(col) => c.add_column(schema.as_ref(), table.as_ref(), col.as_ref()),
                None => c.add_table(schema.as_ref(), table.as_ref()),
            }
        }
        c
    }

    /// Sets the schemas unqualified names resolve in (`SHOW search_path`, without `$user`).
    pub fn with_search_path(mut self, path: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.search_path = path.into_iter().map(Into::into).collect();
        self
    }

    pub fn add_table(&mut self, schema: &str, table: &str) {
        self.table_mut(schema, table);
    }

    fn table_mut(&mut self, schema: &str, table: &str) -> &mut Vec<String> {
        self.tables
            .entry(schema.to_string())
            .or_default()
            .entry(table.to_string())
            .or_default()
    }

    pub fn add_column(&mut self, schema: &str, table: &str, column: &str) {
        let cols = self.table_mut(schema, table);
        if !cols.iter().any(|c| c == column) {
            cols.push(column.to_string());
        }
    }

    /// Number of relations.
    pub fn len(&self) -> usize {
        self.tables.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The schema a name resolves to and the table's columns, if it exists.
    fn resolve<'a>(&'a self, t: &TableName) -> Option<(&'a str, &'a Vec<String>)> {
        let lookup = |s: &str| {
            self.tables
                .get_key_value(s)
                .and_then(|(k, tables)| tables.get(&t.name).map(|c| (k.as_str(), c)))
        };
        match &t.schema {
            Some(s) => lookup(s),
            None => self
                .search_path
                .iter()
                .map(String::as_str)
                .chain(["pg_catalog"])
                .find_map(lookup),
        }
    }

    /// Whether the table exists (system schemas always do).
    pub fn contains(&self, t: &TableName) -> bool {
        if t.schema
            .as_deref()
            .is_some_and(|s| SYSTEM_SCHEMAS.contains(&s))
        {
            return true;
        }
        self.resolve(t).is_some()
    }

    /// The table's columns, if the catalog knows them.
    pub fn columns(&self, t: &TableName) -> Option<&[String]> {
        self.resolve(t)
            .map(|(_, cols)| cols.as_slice())
            .filter(|c| !c.is_empty())
    }

    /// Applies a statement that succeeded: tables it created are added, tables it dropped are
    /// removed. Renames and other changes need a re-read of [`Catalog::QUERY`].
    pub fn observe(&mut self, c: &Classification) {
        let default_schema = self
            .search_path
            .first()
            .cloned()
            .unwrap_or_else(|| "public".into());
        for a in &c.actions {
            match a.op {
                TableOp::Create => {
                    let schema = a
                        .table
                        .schema
                        .clone()
                        .unwrap_or_else(|| default_schema.clone());
                    self.add_table(&schema, &a.table.name);
                }
                TableOp::Drop => {
                    if let Some((schema, _)) = self.resolve(&a.table) {
                        let schema = schema.to_string();
                        if let Some(tables) = self.tables.get_mut(&schema) {
                            tables.remove(&a.table.name);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// Per-session facts the evaluator needs.
#[derive(Debug, Clone, Default)]
pub struct SessionState {
    /// Inside an explicit transaction block (for `require_transaction`).
    pub in_transaction: bool,
    /// The database catalog (for `fail_on_unknown_table` and for expanding `*` against honeypot
    /// columns). Shared between sessions; `None` if the proxy has not read it.
    pub catalog: Option<Arc<Catalog>>,
}

impl SessionState {
    /// Updates `in_transaction` after a statement succeeded (for statements later in the same
    /// query string; between messages, prefer [`SessionState::set_ready_status`]).
    pub fn advance(&mut self, c: &Classification) {
        match c.txn {
            Some(TxnControl::Begin) => self.in_transaction = true,
            Some(TxnControl::Commit { chain } | TxnControl::Rollback { chain }) => {
                self.in_transaction = chain
            }
            _ => {}
        }
    }

    /// Sets `in_transaction` from a ReadyForQuery status byte: `I` idle, `T` in a transaction,
    /// `E` in a failed transaction.
    pub fn set_ready_status(&mut self, status: u8) {
        self.in_transaction = matches!(status, b'T' | b'E');
    }
}
