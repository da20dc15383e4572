//! Loading a policy file: YAML → typed file model (first structural error, located) → compiled
//! [`Policy`] (every remaining problem, located: bad regexes, unknown operation names, empty
//! globs). Nothing is half-accepted: any error means no policy.

use regex::RegexSetBuilder;
use shakedown_core::system::tree::Located;
use shakedown_core::system::{Level, Problem, Problems};

use super::model::{PatternList, PolicyFile};
use super::{Honeypots, Operation, PatternRule, Policy, RowLimit, TableGlob, TableRestriction};
use crate::classify::{DEFAULT_MAX_STATEMENT_BYTES, StatementType, TableOp};
use shakedown_core::located::{finish, parse, problem};

/// Regexes are compiled once here; this bounds what one pattern may cost.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Reads and compiles a policy. `Ok` carries the policy and any warnings; `Err` every problem.
pub fn load_policy(text: &str) -> Result<(Policy, Problems), Problems> {
    let (file, doc) = parse::<PolicyFile>(text, "policy", "policies")?;
    let mut problems = Vec::new();
    let policy = compile(file, &doc, &mut problems);
    finish(policy, Problems(problems))
}

fn op_names() -> String {
    let mut names: Vec<&str> = TableOp::ALL.iter().map(|o| o.as_str()).collect();
    for k in StatementType::ALL {
        if !names.contains(&k.as_str()) {
            names.push(k.as_str());
        }
    }
    names.join(", ")
}

fn operation(
    doc: &Located,
    pointer: &str,
    name: &str,
    out: &mut Vec<Problem>,
) -> Option<Operation> {
    let op = Operation::parse(name);
    if op.is_none() {
        out.push(problem(
            doc,
            pointer,
            Level::Error,
            format!("`{name}` is not an SQL operation"),
            format!("use one of: {}", op_names()),
        ));
    }
    op
}

fn glob(doc: &Located, pointer: &str, text: &str, out: &mut Vec<Problem>) -> Option<TableGlob> {
    let g = TableGlob::parse(text);
    if g.is_none() {
        out.push(problem(
            doc,
            pointer,
            Level::Error,
            format!("`{text}` is not a table name"),
            "write `table`, `schema.table`, or a glob such as `audit_*`",
        ));
    }
    g
}

fn patterns(
    list: PatternList,
    field: &str,
    doc: &Located,
    out: &mut Vec<Problem>,
) -> (Vec<PatternRule>, regex::RegexSet) {
    let mut rules = Vec::new();
    let mut sources = Vec::new();
    for (i, r) in list.rules.into_iter().enumerate() {
        let base = if list.nested {
            format!("/{field}/patterns/{i}")
        } else {
            format!("/{field}/{i}")
        };
        let pointer = if r.bare {
            base
        } else {
            format!("{base}/pattern")
        };
        // Compile alone first so an error names the one bad pattern.
        let single = regex::RegexBuilder::new(&r.pattern)
            .case_insensitive(!r.case_sensitive)
            .size_limit(REGEX_SIZE_LIMIT)
            .build();
        match single {
            Ok(_) => {
                let flag = if r.case_sensitive { "" } else { "(?i)" };
                sources.push(format!("{flag}(?:{})", r.pattern));
                rules.push(PatternRule {
                    pattern: r.pattern,
                    severity: r.severity,
                    message: r.message,
                    case_sensitive: r.case_sensitive,
                });
            }
            Err(e) => out.push(problem(
                doc,
                &pointer,
                Level::Error,
                format!("`{}` is not a valid regular expression: {}", r.pattern, first_line(&e.to_string())),
                "patterns use Rust regex syntax (like Python's re, without look-around or backreferences); escape literal characters with \\\\",
            )),
        }
    }
    let set = RegexSetBuilder::new(&sources)
        .size_limit(REGEX_SIZE_LIMIT * sources.len().max(1))
        .build()
        .unwrap_or_else(|_| regex::RegexSet::empty());
    (rules, set)
}

fn first_line(s: &str) -> String {
    s.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| s.lines().next().unwrap_or(s))
        .trim_start_matches("error: ")
        .to_string()
}

fn compile(file: PolicyFile, doc: &Located, out: &mut Vec<Problem>) -> Policy {
    if file.name.trim().is_empty() {
        out.push(problem(
            doc,
            "/name",
            Level::Error,
            "the policy name is empty",
            "name the policy, e.g. `name: strict`",
        ));
    }
    let (forbidden_sql, forbidden_set) = patterns(file.forbidden_sql, "forbidden_sql", doc, out);
    let (required_sql, required_set) = patterns(file.required_sql, "required_sql", doc, out);

    let mut table_restrictions = Vec::new();
    for (i, r) in file.table_restrictions.into_iter().enumerate() {
        let base = format!("/table_restrictions/{i}");
        let table = glob(doc, &format!("{base}/table"), &r.table, out);
        let operations: Vec<Operation> = r
            .operations
            .iter()
            .enumerate()
            .filter_map(|(j, o)| operation(doc, &format!("{base}/operations/{j}"), o, out))
            .collect();
        if r.operations.is_empty() {
            out.push(problem(
                doc,
                &format!("{base}/operations"),
                Level::Warning,
                "this restriction lists no operations, so it never applies",
                "list operations such as [DELETE, UPDATE], or remove the restriction",
            ));
        }
        if let Some(table) = table {
            table_restrictions.push(TableRestriction {
                table,
                operations,
                require_where: r.require_where,
                max_rows: r.max_rows,
                allowed_columns: r.allowed_columns,
                forbidden_columns: r.forbidden_columns,
            });
        }
    }

    let mut row_limits = Vec::new();
    for (i, l) in file.row_limits.into_iter().enumerate() {
        let pointer = format!("/row_limits/{i}/operation");
        if let Some(operation) = operation(doc, &pointer, &l.operation, out) {
            row_limits.push(RowLimit {
                operation,
                max_rows: l.max_rows,
                action: l.action,
            });
        }
    }

    let hp = file.honeypots;
    let honeypot_tables = hp
        .tables
        .iter()
        .enumerate()
        .filter_map(|(i, t)| glob(doc, &format!("/honeypots/tables/{i}"), t, out))
        .collect();
    if !hp.files.is_empty() {
        out.push(problem(
            doc,
            "/honeypots/files",
            Level::Warning,
            "file honeypots are not checked by the SQL proxy",
            "keep them for the file-system proxy; they have no effect on SQL",
        ));
    }
    for (i, c) in hp.columns.iter().enumerate() {
        if c.trim().is_empty() {
            out.push(problem(
                doc,
                &format!("/honeypots/columns/{i}"),
                Level::Error,
                "empty column name",
                "write the column name, e.g. `api_key`",
            ));
        }
    }
    if file.max_query_length == 0 {
        out.push(problem(
            doc,
            "/max_query_length",
            Level::Error,
            "max_query_length 0 would block every statement",
            "use a length in characters, e.g. 10000 (the default)",
        ));
    }

    let allowed_statement_types = file.allowed_statement_types.map(|names| {
        names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| operation(doc, &format!("/allowed_statement_types/{i}"), n, out))
            .collect()
    });
    let forbidden_statement_types = file
        .forbidden_statement_types
        .iter()
        .enumerate()
        .filter_map(|(i, n)| operation(doc, &format!("/forbidden_statement_types/{i}"), n, out))
        .collect();
    let known_tables = file
        .known_tables
        .iter()
        .enumerate()
        .filter_map(|(i, t)| glob(doc, &format!("/known_tables/{i}"), t, out))
        .collect();
    let max_statement_bytes = match file.max_statement_size {
        Some(size) if size.bytes() == 0 => {
            out.push(problem(
                doc,
                "/max_statement_size",
                Level::Error,
                "max_statement_size 0 would refuse every statement",
                "use a size such as 1MB (the default)",
            ));
            DEFAULT_MAX_STATEMENT_BYTES
        }
        Some(size) => usize::try_from(size.bytes()).unwrap_or(usize::MAX),
        None => DEFAULT_MAX_STATEMENT_BYTES,
    };

    Policy {
        name: file.name,
        version: file.version,
        description: file.description,
        forbidden_sql,
        forbidden_set,
        required_sql,
        required_set,
        table_restrictions,
        row_limits,
        honeypots: Honeypots {
            tables: honeypot_tables,
            columns: hp.columns,
            files: hp.files,
            severity: hp.severity,
        },
        fail_on_unknown_table: file.fail_on_unknown_table,
        require_transaction: file.require_transaction,
        max_query_length: file.max_query_length,
        on_unparsed: file.on_unparsed,
        max_statement_bytes,
        allowed_statement_types,
        forbidden_statement_types,
        known_tables,
    }
}
