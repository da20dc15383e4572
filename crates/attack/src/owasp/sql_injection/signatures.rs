//! Database error messages that betray a query built from user input: SQLite, PostgreSQL,
//! MySQL/MariaDB, SQL Server, Oracle and generic driver errors.

/// (database, lower-case needle). Needles are matched case-insensitively on text whose quote
/// escapes (`\"`, `&quot;`, `&#39;`) are decoded, so JSON and HTML error pages match too.
const NEEDLES: &[(&str, &str)] = &[
    ("SQLite", "sqlite_error"),
    ("SQLite", "sqlite3.operationalerror"),
    ("SQLite", "sqliteexception"),
    ("SQLite", "unrecognized token"),
    ("SQLite", "\": syntax error"),
    ("SQLite", "incomplete input"),
    ("SQLite", "do not have the same number of result columns"),
    ("PostgreSQL", "syntax error at or near"),
    ("PostgreSQL", "syntax error at end of input"),
    ("PostgreSQL", "unterminated quoted string"),
    ("PostgreSQL", "pg::syntaxerror"),
    ("PostgreSQL", "psqlexception"),
    (
        "PostgreSQL",
        "each union query must have the same number of columns",
    ),
    ("MySQL", "you have an error in your sql syntax"),
    ("MySQL", "check the manual that corresponds to your mysql"),
    ("MySQL", "mariadb server version for the right syntax"),
    ("MySQL", "mysqli_sql_exception"),
    (
        "MySQL",
        "the used select statements have a different number of columns",
    ),
    ("MySQL", "xpath syntax error"),
    ("SQL Server", "unclosed quotation mark"),
    ("SQL Server", "incorrect syntax near"),
    ("SQL Server", "microsoft ole db provider for sql server"),
    ("SQL Server", "odbc sql server driver"),
    ("SQL Server", "conversion failed when converting"),
    ("Oracle", "quoted string not properly terminated"),
    ("Oracle", "sql command not properly ended"),
    ("generic", "sqlstate"),
    ("generic", "sql syntax"),
    ("generic", "syntax error in sql"),
];

/// Characters of context kept either side of a match.
const CONTEXT: usize = 100;

/// One database error found in a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Signature {
    pub dbms: &'static str,
    /// What matched, e.g. `unrecognized token` or `ORA-01756`.
    pub needle: String,
    /// The text around the match.
    pub excerpt: String,
}

/// Every database error signature in `text`, once per needle.
pub(super) fn find(text: &str) -> Vec<Signature> {
    let decoded = decode_quotes(text);
    // ASCII lower-casing keeps byte offsets, so a match in `lower` is a match in `decoded`.
    let lower = decoded.to_ascii_lowercase();
    let mut found = Vec::new();
    for (dbms, needle) in NEEDLES {
        if let Some(at) = lower.find(needle) {
            found.push(Signature {
                dbms,
                needle: (*needle).to_string(),
                excerpt: around(&decoded, at, needle.len()),
            });
        }
    }
    if let Some((at, code)) = oracle_code(&lower) {
        found.push(Signature {
            dbms: "Oracle",
            needle: code.to_ascii_uppercase(),
            excerpt: around(&decoded, at, code.len()),
        });
    }
    found
}

/// `ORA-` followed by five digits (`ORA-01756`).
fn oracle_code(lower: &str) -> Option<(usize, &str)> {
    let bytes = lower.as_bytes();
    lower.match_indices("ora-").find_map(|(at, _)| {
        let digits = bytes.get(at + 4..at + 9)?;
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| (at, &lower[at..at + 9]))
    })
}

fn decode_quotes(text: &str) -> String {
    text.replace("\\\"", "\"")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
}

fn around(text: &str, at: usize, len: usize) -> String {
    let mut start = at.saturating_sub(CONTEXT);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + len + CONTEXT).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.push_str(text[start..end].trim());
    if end < text.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_each_database() {
        let cases = [
            ("SqliteFailure: unrecognized token: \"'x''\"", "SQLite"),
            (r#"{"error":"near \"OR\": syntax error"}"#, "SQLite"),
            ("ERROR: syntax error at or near \"'\"", "PostgreSQL"),
            (
                "ERROR: unterminated quoted string at or near \"'x\"",
                "PostgreSQL",
            ),
            (
                "You have an error in your SQL syntax; check the manual",
                "MySQL",
            ),
            (
                "Unclosed quotation mark after the character string 'x'.",
                "SQL Server",
            ),
            ("ORA-01756: quoted string not properly terminated", "Oracle"),
            ("SQLSTATE[42000]: Syntax error", "generic"),
        ];
        for (text, dbms) in cases {
            let found = find(text);
            assert!(found.iter().any(|s| s.dbms == dbms), "{text:?} → {found:?}");
        }
        assert!(find("ORA-01756: x").iter().any(|s| s.needle == "ORA-01756"));
    }

    #[test]
    fn ordinary_pages_have_no_signature() {
        for text in [
            "[]",
            "<h1>No user named sdab12</h1>",
            "{\"users\":[{\"name\":\"ora-tion\"}]}",
            "sql is fun",
        ] {
            assert!(find(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn html_escaped_errors_match_and_excerpts_are_cut_on_char_boundaries() {
        let page = format!(
            "{}<p>near &quot;OR&quot;: syntax error</p>{}",
            "é".repeat(200),
            "ü".repeat(200)
        );
        let found = find(&page);
        assert_eq!(found.len(), 1);
        assert!(found[0].excerpt.contains("\"OR\": syntax error"));
        assert!(found[0].excerpt.starts_with('…') && found[0].excerpt.ends_with('…'));
    }
}
