//! Splitting a query string into statements the way the server does: at `;` outside quotes,
//! comments and parentheses, and not inside a `BEGIN ATOMIC … END` function body. Statements
//! made only of whitespace and comments are dropped (the server ignores them too).

use std::ops::Range;

use super::lex::{Lexer, TokenKind};

/// Byte ranges of the statements in `sql`, without the `;` and without surrounding whitespace
/// (leading and trailing comments are kept, so the raw text is what the client sent).
pub fn split(sql: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut end = 0;
    let mut depth = 0usize;
    // Words seen in this statement, to recognise `CREATE … BEGIN ATOMIC`.
    let mut first_word_is_create = None;
    let mut prev_was_begin = false;
    let mut atomic = 0usize;
    for tok in Lexer::new(sql) {
        if tok.kind == TokenKind::Space {
            continue;
        }
        if tok.kind == TokenKind::Punct
            && depth == 0
            && atomic == 0
            && &sql[tok.start..tok.end] == ";"
        {
            if let Some(s) = start.take() {
                out.push(s..end);
            }
            first_word_is_create = None;
            prev_was_begin = false;
            continue;
        }
        if tok.is_trivia() {
            // Comments belong to the statement text but do not start a statement on their own.
            if start.is_some() {
                end = tok.end;
            }
            continue;
        }
        if start.is_none() {
            // Leading comments stay outside: a comment-only prefix is not a statement.
            start = Some(tok.start);
        }
        end = tok.end;
        match tok.kind {
            TokenKind::Punct => match sql.as_bytes()[tok.start] {
                b'(' => depth += 1,
                b')' => depth = depth.saturating_sub(1),
                _ => {}
            },
            TokenKind::Word => {
                let create =
                    *first_word_is_create.get_or_insert_with(|| tok.is_word(sql, "create"));
                if create {
                    // `BEGIN ATOMIC` opens a body; inside it `CASE` opens and `END` closes.
                    if (prev_was_begin && tok.is_word(sql, "atomic"))
                        || (atomic > 0 && tok.is_word(sql, "case"))
                    {
                        atomic += 1;
                    } else if atomic > 0 && tok.is_word(sql, "end") {
                        atomic -= 1;
                    }
                    prev_was_begin = tok.is_word(sql, "begin");
                }
            }
            _ => prev_was_begin = false,
        }
    }
    if let Some(s) = start {
        out.push(s..end);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(sql: &str) -> Vec<&str> {
        split(sql).into_iter().map(|r| &sql[r]).collect()
    }

    #[test]
    fn splits_outside_quotes_only() {
        assert_eq!(
            parts("SELECT ';'; DELETE FROM t -- ;\n; /* ; */ ;; SELECT $$;$$"),
            vec!["SELECT ';'", "DELETE FROM t -- ;", "SELECT $$;$$"]
        );
        assert_eq!(parts("  ;  ; -- only a comment\n"), Vec::<&str>::new());
        assert_eq!(parts("SELECT 1"), vec!["SELECT 1"]);
    }

    #[test]
    fn rule_bodies_and_atomic_functions_stay_whole() {
        assert_eq!(
            parts("CREATE RULE r AS ON INSERT TO t DO ALSO (NOTIFY a; NOTIFY b); SELECT 1"),
            vec![
                "CREATE RULE r AS ON INSERT TO t DO ALSO (NOTIFY a; NOTIFY b)",
                "SELECT 1"
            ]
        );
        let f = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2; END";
        assert_eq!(parts(&format!("{f}; SELECT 3")), vec![f, "SELECT 3"]);
        // Outside CREATE, BEGIN ATOMIC is not special.
        assert_eq!(parts("SELECT 1 begin atomic; SELECT 2").len(), 2);
    }
}
