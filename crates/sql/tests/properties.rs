//! Properties of the cheap layer and the classifier on arbitrary input: nothing panics, tokens
//! tile the input, and statements are split exactly at the `;` that end them, never at one
//! inside a quote, a dollar quote, an identifier, a comment or parentheses. (With unbalanced
//! parentheses the rest of the string stays one statement: the server refuses such a string
//! whole, and the classifier marks it unparsed.)

use proptest::prelude::*;
use shakedown_sql::classify::lex::Lexer;
use shakedown_sql::classify::split::split;
use shakedown_sql::classify::{ClassifyOptions, classify};
use shakedown_sql::policy::{Policy, SessionState, evaluate};

/// A piece of a statement that may contain `;`, quotes or comment markers inside.
fn piece() -> impl Strategy<Value = String> {
    let body = "[a-z0-9 ;'\"$*/\\-\\\\\n]{0,12}";
    prop_oneof![
        "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
        "[0-9]{1,4}",
        "[,=<>+*]",
        // Parentheses come balanced: inside them `;` does not end a statement (CREATE RULE).
        "[a-z]{1,4}".prop_map(|w| format!("({w}; {w})")),
        body.prop_map(|b| format!("'{}'", b.replace('\'', "''"))),
        body.prop_map(|b| format!("E'{}'", b.replace('\\', "\\\\").replace('\'', "\\'"))),
        body.prop_map(|b| format!("\"{}\"", b.replace('"', "\"\""))),
        (body, "[a-z]{0,3}").prop_map(|(b, tag)| {
            // A body may not contain its own closing tag.
            let close = format!("${tag}$");
            let b = b.replace('$', "");
            format!("{close}{b}{close}")
        }),
        // No `*` in a comment's body: removing markers one pass at a time can leave new ones
        // (`//**` → `/*`), and block comments nest in PostgreSQL.
        body.prop_map(|b| format!("/* {} */", b.replace('*', ""))),
        body.prop_map(|b| format!("/* a /* {} */ b */", b.replace('*', ""))),
        body.prop_map(|b| format!("-- {}\n", b.replace(['\n', '\r'], ""))),
    ]
}

/// A statement that starts and ends with a word, so its trimmed text is exactly itself.
fn statement() -> impl Strategy<Value = String> {
    (
        "[a-z]{1,6}",
        prop::collection::vec(piece(), 0..8),
        "[a-z]{1,6}",
    )
        .prop_map(|(first, middle, last)| {
            let mut s = first;
            for p in middle {
                s.push(' ');
                s.push_str(&p);
            }
            s.push(' ');
            s.push_str(&last);
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn splitter_finds_exactly_the_statements(stmts in prop::collection::vec(statement(), 1..6), sep in "[ \n]{0,2};[ \n;]{0,3}") {
        let sql = stmts.join(&sep);
        let parts: Vec<&str> = split(&sql).into_iter().map(|r| &sql[r]).collect();
        prop_assert_eq!(parts, stmts.iter().map(String::as_str).collect::<Vec<_>>());
    }

    #[test]
    fn lexer_tokens_tile_any_input(s in any::<String>()) {
        let mut pos = 0;
        for t in Lexer::new(&s) {
            prop_assert_eq!(t.start, pos);
            prop_assert!(t.end > t.start);
            prop_assert!(s.is_char_boundary(t.end));
            pos = t.end;
        }
        prop_assert_eq!(pos, s.len());
    }

    #[test]
    fn splitter_never_panics_and_ranges_are_ordered(s in any::<String>()) {
        let mut last = 0;
        for r in split(&s) {
            prop_assert!(r.start >= last && r.start < r.end && r.end <= s.len());
            prop_assert!(s.is_char_boundary(r.start) && s.is_char_boundary(r.end));
            last = r.end;
        }
    }

    #[test]
    fn classify_never_panics_on_arbitrary_text(s in any::<String>()) {
        let policy = Policy::empty("p");
        for c in classify(&s, &ClassifyOptions::default()) {
            let d = evaluate(&policy, &c, &SessionState::default());
            prop_assert_eq!(c.hash.to_string().len(), 64);
            // Fail closed: a statement that was not parsed is blocked by default.
            if !c.is_parsed() {
                prop_assert!(d.is_blocked());
            }
        }
    }

    #[test]
    fn classify_never_panics_on_sql_like_text(
        words in prop::collection::vec(prop_oneof![
            Just("SELECT"), Just("FROM"), Just("WHERE"), Just("DELETE"), Just("UPDATE"),
            Just("SET"), Just("INSERT"), Just("INTO"), Just("VALUES"), Just("WITH"), Just("AS"),
            Just("("), Just(")"), Just(","), Just(";"), Just("="), Just("*"), Just("t"),
            Just("users"), Just("'x'"), Just("1"), Just("JOIN"), Just("ON"), Just("UNION"),
            Just("RETURNING"), Just("EXISTS"), Just("IN"), Just("CREATE"), Just("TABLE"),
            Just("DROP"), Just("BEGIN"), Just("ATOMIC"), Just("END"), Just("CASE"), Just("$1"),
            Just("EXPLAIN"), Just("ANALYZE"), Just("PREPARE"), Just("MERGE"), Just("USING"),
        ], 0..40)
    ) {
        let sql = words.join(" ");
        for c in classify(&sql, &ClassifyOptions::default()) {
            prop_assert!(!c.text.is_empty());
            prop_assert_eq!(c.text.trim(), c.text.as_str());
        }
    }
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    for depth in [10, 100, 5000] {
        let sql = format!("SELECT {}1{}", "(".repeat(depth), ")".repeat(depth));
        let c = &classify(&sql, &ClassifyOptions::default())[0];
        if depth > 50 {
            assert!(!c.is_parsed(), "depth {depth} parsed");
        }
        let sub = format!(
            "SELECT * FROM t WHERE a IN {}SELECT 1{}",
            "(SELECT * FROM u WHERE b IN ".repeat(depth.min(200)),
            ")".repeat(depth.min(200))
        );
        let _ = classify(&sub, &ClassifyOptions::default());
    }
}
