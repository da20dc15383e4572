//! Statement classification: a query string in, one [`Classification`] per statement out.
//!
//! Two layers. The cheap one ([`lex`], [`split`], [`text`]) never allocates per byte and never
//! fails: it splits the string at `;` outside quotes, comments and dollar quotes, strips
//! comments (nested block comments included), guesses the statement type from its keyword and
//! computes the statement hash. It also enforces the size cap: a statement over
//! [`ClassifyOptions::max_statement_bytes`] is classified `OVERSIZED` and never reaches the
//! parser. The full layer parses each statement with sqlparser's PostgreSQL dialect and walks
//! the tree (`walk`) for every table touched and what is done to it; a statement the parser
//! cannot read is `UNPARSED`, with the keyword guess kept in [`Classification::hint`]. Between
//! the two, a fast path (`fast`) classifies the commonest simple statements (`SELECT cols FROM
//! t WHERE col = 1`, plain joins, single-table INSERT, UPDATE and DELETE, BEGIN/COMMIT) without
//! the parser, with exactly the result the parser and walk would give; anything else is parsed,
//! from tokens the classifier builds itself (`tokens`, faster than sqlparser's tokenizer and
//! identical to its output) when the text is plain.
//!
//! **Statement hash.** SHA-256 (lower-case hex) of the normalised statement: comments removed,
//! unquoted words lower-cased, string, dollar-quoted and numeric literals replaced by `?`,
//! whitespace kept only between two words. `$n` parameters and quoted identifiers are kept, so
//! `SELECT * FROM t WHERE id = 7` and `select * from T where id=42` share a hash. SHA-256
//! because it is already a dependency and a fingerprint that goes into a signed ledger should
//! not collide on purpose; it costs well under a microsecond for a typical statement.

mod fast;
pub mod lex;
pub mod risk;
pub mod split;
pub mod text;
pub mod tokens;
pub mod types;
mod walk;

use serde::Serialize;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

pub use risk::{Risk, RiskFactor, RiskLevel};
pub use types::{StatementHash, StatementType, TableAction, TableName, TableOp, TxnControl};

/// Default cap on one statement's size before parsing: 1 MiB.
pub const DEFAULT_MAX_STATEMENT_BYTES: usize = 1024 * 1024;

/// Knobs of the classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassifyOptions {
    /// Statements larger than this (bytes) are `OVERSIZED` and not parsed.
    pub max_statement_bytes: usize,
}

impl Default for ClassifyOptions {
    fn default() -> Self {
        ClassifyOptions {
            max_statement_bytes: DEFAULT_MAX_STATEMENT_BYTES,
        }
    }
}

/// Everything known about one statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    /// The statement's type from the parse tree (`UNPARSED` / `OVERSIZED` when not parsed).
    pub kind: StatementType,
    /// The cheap layer's keyword guess (`WITH … DELETE` guesses DELETE).
    pub hint: StatementType,
    /// The statement as sent, without the `;` and surrounding whitespace.
    pub text: String,
    /// Comments removed and whitespace collapsed: what `forbidden_sql` patterns match against.
    pub match_text: String,
    /// Literals replaced by `?` (see the module docs); the input of `hash`.
    pub normalized: String,
    pub hash: StatementHash,
    /// Every table touched, with the operation applied to it, in order of appearance.
    pub actions: Vec<TableAction>,
    /// Columns referenced (best effort: identifiers in expressions, projections, SET and INSERT
    /// column lists; `*` for a wildcard), folded like identifiers, without duplicates.
    pub columns: Vec<String>,
    /// Functions called (last name part, lower case).
    pub functions: Vec<String>,
    /// For UPDATE and DELETE: the statement's own target has a (non-tautological) WHERE.
    pub has_where: bool,
    /// Transaction control performed, if any.
    pub txn: Option<TxnControl>,
    pub risk: Risk,
    /// Why the parser refused the statement (for `UNPARSED`).
    pub parse_error: Option<String>,
    /// Length in characters of this statement's text.
    pub chars: usize,
    /// Length in characters of the whole query string the statement came from (what
    /// `max_query_length` limits, as ChaosTrace does).
    pub source_chars: usize,
}

impl Classification {
    /// The distinct tables touched, in order of appearance.
    pub fn tables(&self) -> Vec<&TableName> {
        let mut out: Vec<&TableName> = Vec::with_capacity(self.actions.len());
        for a in &self.actions {
            if !out.contains(&&a.table) {
                out.push(&a.table);
            }
        }
        out
    }

    /// Whether any table action has operation `op`.
    pub fn has_op(&self, op: TableOp) -> bool {
        self.actions.iter().any(|a| a.op == op)
    }

    /// Whether the statement matches a type name as policies and chaos scripts use it: its own
    /// type, or the operation applied to any table (so `WITH … DELETE … SELECT` matches DELETE).
    pub fn matches_type(&self, name: &str) -> bool {
        StatementType::parse(name) == Some(self.kind)
            || TableOp::parse(name).is_some_and(|op| self.has_op(op))
    }

    /// Whether sqlparser read the statement.
    pub fn is_parsed(&self) -> bool {
        !matches!(
            self.kind,
            StatementType::Unparsed | StatementType::Oversized
        )
    }
}

/// Splits `sql` into statements and classifies each. Empty statements (only whitespace,
/// comments or `;`) produce nothing.
pub fn classify(sql: &str, opts: &ClassifyOptions) -> Vec<Classification> {
    let ranges = split::split(sql);
    if ranges.is_empty() {
        return Vec::new();
    }
    let source_chars = sql.chars().count();
    let mut out = Vec::with_capacity(ranges.len());
    for r in ranges {
        classify_into(&sql[r], source_chars, opts, &mut out, false);
    }
    out
}

/// [`classify`] as sqlparser alone would do it: no fast path, sqlparser's own tokenizer. For
/// tests that hold the fast path and the own tokens (`tokens`) to the reference.
#[doc(hidden)]
pub fn classify_parsed(sql: &str, opts: &ClassifyOptions) -> Vec<Classification> {
    let source_chars = sql.chars().count();
    let mut out = Vec::new();
    for r in split::split(sql) {
        classify_into(&sql[r], source_chars, opts, &mut out, true);
    }
    out
}

/// Whether the fast path classifies `stmt` (one statement) without sqlparser. For tests and
/// benchmarks that check the fast path is really taken.
#[doc(hidden)]
pub fn takes_fast_path(stmt: &str) -> bool {
    fast::classify(&text::prepare(stmt).match_text).is_some()
}

/// Classifies one statement that was already split out; `source_chars` is the length of the
/// whole query string it came from.
pub fn classify_statement(
    stmt: &str,
    source_chars: usize,
    opts: &ClassifyOptions,
) -> Vec<Classification> {
    let mut out = Vec::with_capacity(1);
    classify_into(stmt.trim(), source_chars, opts, &mut out, false);
    out
}

fn classify_into(
    stmt: &str,
    source_chars: usize,
    opts: &ClassifyOptions,
    out: &mut Vec<Classification>,
    // sqlparser end to end (no fast path, no own tokens): the reference the tests compare with.
    reference: bool,
) {
    let chars = stmt.chars().count();
    if stmt.len() > opts.max_statement_bytes {
        let kind = StatementType::Oversized;
        out.push(Classification {
            kind,
            hint: text::keyword_hint(stmt),
            text: stmt.to_string(),
            match_text: String::new(),
            normalized: String::new(),
            // Hash the raw bytes: normalising a statement we refuse to inspect is wasted work.
            hash: text::hash(stmt),
            actions: Vec::new(),
            columns: Vec::new(),
            functions: Vec::new(),
            has_where: false,
            txn: None,
            risk: risk::assess(kind, &[], Vec::new()),
            parse_error: Some(format!(
                "statement is {} bytes, over the {}-byte cap",
                stmt.len(),
                opts.max_statement_bytes
            )),
            chars,
            source_chars,
        });
        return;
    }
    let prepared = text::prepare(stmt);
    let hash = text::hash(&prepared.normalized);
    let unparsed = |error: String, prepared: &text::Prepared| {
        let kind = StatementType::Unparsed;
        Classification {
            kind,
            hint: prepared.hint,
            text: stmt.to_string(),
            match_text: prepared.match_text.clone(),
            normalized: prepared.normalized.clone(),
            hash,
            actions: Vec::new(),
            columns: Vec::new(),
            functions: Vec::new(),
            has_where: false,
            txn: None,
            risk: risk::assess(kind, &[], Vec::new()),
            parse_error: Some(error),
            chars,
            source_chars,
        }
    };
    if !reference && let Some(f) = fast::classify(&prepared.match_text) {
        let own_op = match f.kind {
            StatementType::Update => Some(TableOp::Update),
            StatementType::Delete => Some(TableOp::Delete),
            _ => None,
        };
        let has_where =
            own_op.is_some_and(|op| f.actions.iter().any(|a| a.op == op && a.has_where));
        let risk = risk::assess(f.kind, &f.actions, Vec::new());
        out.push(Classification {
            kind: f.kind,
            hint: prepared.hint,
            text: stmt.to_string(),
            match_text: prepared.match_text,
            normalized: prepared.normalized,
            hash,
            actions: f.actions,
            columns: f.columns,
            functions: f.functions,
            has_where,
            txn: f.txn,
            risk,
            parse_error: None,
            chars,
            source_chars,
        });
        return;
    }
    let parser = Parser::new(&PostgreSqlDialect {});
    let own_tokens = if reference {
        None
    } else {
        tokens::tokenize(&prepared.match_text)
    };
    let parsed = match own_tokens {
        Some(t) => parser.with_tokens_with_locations(t).parse_statements(),
        None => parser
            .try_with_sql(&prepared.match_text)
            .and_then(|mut p| p.parse_statements()),
    };
    let statements = match parsed {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => {
            out.push(unparsed("no statement found".into(), &prepared));
            return;
        }
        Err(e) => {
            out.push(unparsed(e.to_string(), &prepared));
            return;
        }
    };
    // Normally one statement; more only if the parser split what the splitter did not, in
    // which case each is classified (fail closed: nothing rides along unseen).
    for statement in &statements {
        let mut walk = walk::Walk::default();
        let (kind, txn) = walk.statement(statement, prepared.hint);
        let own_op = match kind {
            StatementType::Update => Some(TableOp::Update),
            StatementType::Delete => Some(TableOp::Delete),
            _ => None,
        };
        let has_where = own_op.is_some_and(|op| {
            walk.actions
                .iter()
                .find(|a| a.op == op && !a.in_cte)
                .is_some_and(|a| a.has_where)
        });
        let risk = risk::assess(kind, &walk.actions, walk.factors);
        out.push(Classification {
            kind,
            hint: prepared.hint,
            text: stmt.to_string(),
            match_text: prepared.match_text.clone(),
            normalized: prepared.normalized.clone(),
            hash,
            actions: walk.actions,
            columns: walk.columns,
            functions: walk.functions,
            has_where,
            txn,
            risk,
            parse_error: None,
            chars,
            source_chars,
        });
    }
}
