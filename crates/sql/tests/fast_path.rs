//! The classifier's fast path must give exactly what the full parse gives: every statement of
//! the benchmark corpus, a grid of generated variants of the simple shapes, and fuzzed token
//! soups are classified both ways (`classify`, which takes the fast path when it can, and
//! `classify_parsed`, which always parses) and compared field by field. The tests also check the
//! fast path is really taken, so the comparison is not vacuous.

use proptest::prelude::*;
use shakedown_sql::classify::{ClassifyOptions, classify, classify_parsed, takes_fast_path};

const CORPUS: &str = include_str!("../../../scripts/bench.d/classify_corpus.sql");

fn corpus_entries() -> Vec<String> {
    let mut entries = Vec::new();
    let mut cur = String::new();
    for line in CORPUS.lines() {
        if line.starts_with("--!") {
            continue;
        }
        if line.trim().is_empty() {
            if !cur.trim().is_empty() {
                entries.push(std::mem::take(&mut cur));
            }
            cur.clear();
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    if !cur.trim().is_empty() {
        entries.push(cur);
    }
    entries
}

/// Classifies `sql` both ways and fails with the statement on any difference; returns whether
/// every statement took the fast path.
fn same_both_ways(sql: &str) -> Result<bool, String> {
    let opts = ClassifyOptions::default();
    let fast = classify(sql, &opts);
    let parsed = classify_parsed(sql, &opts);
    if fast != parsed {
        return Err(format!(
            "fast path differs from the parse for {sql:?}:\nfast:   {fast:#?}\nparsed: {parsed:#?}"
        ));
    }
    Ok(!fast.is_empty() && fast.iter().all(|c| takes_fast_path(&c.text)))
}

#[test]
fn corpus_is_classified_identically() {
    let entries = corpus_entries();
    assert!(
        entries.len() > 200,
        "corpus not read: {} entries",
        entries.len()
    );
    let mut fast = 0;
    for e in &entries {
        if same_both_ways(e).unwrap_or_else(|m| panic!("{m}")) {
            fast += 1;
        }
    }
    // The simple shapes are a real share of the corpus (about a fifth when written).
    assert!(fast >= 40, "only {fast} corpus entries took the fast path");
}

#[test]
fn pgbench_statements_take_the_fast_path() {
    for sql in [
        "SELECT abalance FROM pgbench_accounts WHERE aid = 48213",
        "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
        "UPDATE pgbench_accounts SET abalance = abalance + -2311 WHERE aid = 48213",
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (37, 4, 48213, -2311, CURRENT_TIMESTAMP)",
        "BEGIN",
        "END",
    ] {
        assert_eq!(same_both_ways(sql), Ok(true), "{sql}");
    }
}

#[test]
fn what_the_fast_path_finds_is_right() {
    let opts = ClassifyOptions::default();
    let c = &classify(
        "UPDATE s.\"T\" SET b = a + 1, \"C\" = now() WHERE id = $1 AND x IN (1, 2)",
        &opts,
    )[0];
    assert!(takes_fast_path(&c.text));
    assert_eq!(c.kind.as_str(), "UPDATE");
    assert_eq!(c.actions.len(), 1);
    assert_eq!(c.actions[0].table.to_string(), "s.T");
    assert_eq!(c.actions[0].columns, ["b", "C"]);
    assert!(c.has_where);
    assert_eq!(c.columns, ["b", "C", "a", "id", "x"]);
    assert_eq!(c.functions, ["now"]);
    let j = &classify(
        "SELECT o.id, c.name FROM orders o LEFT JOIN customers c ON c.id = o.customer_id \
         JOIN orders o2 USING (id) WHERE (o.total > 10 OR NOT c.vip) AND o.at > now() - interval '1 day'::text",
        &opts,
    )[0];
    assert!(takes_fast_path(&j.text));
    let tables: Vec<String> = j.actions.iter().map(|a| a.table.to_string()).collect();
    assert_eq!(tables, ["orders", "customers"]);
    assert!(j.actions.iter().all(|a| a.has_where));
    assert_eq!(
        j.columns,
        ["id", "name", "customer_id", "total", "vip", "at"]
    );
    assert_eq!(j.functions, ["now"]);
    let d = &classify("delete from Logs", &opts)[0];
    assert!(takes_fast_path(&d.text));
    assert!(!d.has_where);
    assert_eq!(d.risk.level.to_string(), "critical");
}

#[test]
fn what_the_fast_path_refuses_goes_to_the_parser() {
    for sql in [
        "DELETE FROM t WHERE 1 = 1",
        "DELETE FROM t WHERE a = a",
        "DELETE FROM t WHERE true",
        "SELECT * FROM a NATURAL JOIN b",
        "SELECT * FROM a JOIN b ON true",
        "SELECT * FROM t WHERE a = 1 OR b = b",
        "SELECT * FROM t WHERE NOT off",
        "SELECT * FROM t WHERE (a + 1) = 2",
        "SELECT * FROM a LEFT JOIN LATERAL f(a.x) g ON true",
        "SELECT a::int[] FROM t",
        "SELECT a::varchar(3) FROM t",
        "SELECT * FROM (SELECT 1) s",
        "SELECT pg_sleep(1)",
        "SELECT * FROM t WHERE id = 1; DROP TABLE t",
        "SELECT café FROM t",
        "SELECT user FROM t",
        "SELECT e'a\\'' FROM t",
        "SELECT 1e5 FROM t",
        "UPDATE t SET a <= 1",
        "SELECT * FROM t FOR UPDATE",
    ] {
        assert!(!takes_fast_path(sql), "{sql}");
        assert!(same_both_ways(sql).is_ok(), "{sql}");
    }
}

/// A word glued to a quote may be a prefixed literal to sqlparser's tokenizer (`b"…"`,
/// `x'…'`, `e'…'`, `n'…'`, `u&'…'`), whatever PostgreSQL makes of it: both ways agree.
#[test]
fn words_glued_to_quotes_agree() {
    for sql in [
        "SELECT b\"Q\"",
        "SELECT b\"Q\" FROM t",
        "SELECT a\"b\" FROM t WHERE id = 1",
        "SELECT * FROM t\"x\" WHERE id = 1",
        "SELECT b'101' FROM t",
        "SELECT x'1F' FROM t",
        "SELECT n'abc' FROM t",
        "SELECT r\"raw\" FROM t",
        "SELECT * FROM t WHERE a = b'1'",
        "SELECT * FROM t WHERE a = x\"y\"",
        "INSERT INTO t (a) VALUES (b'1')",
        "UPDATE t SET a = n'x' WHERE id = 1",
    ] {
        if let Err(e) = same_both_ways(sql) {
            panic!("{e}");
        }
    }
}

/// Every sqlparser keyword, in every place the fast path reads a name or an alias.
#[test]
fn every_keyword_in_every_position_agrees() {
    let templates = [
        "SELECT {k} FROM t",
        "SELECT {k}, b FROM t WHERE a = 1",
        "SELECT a FROM {k}",
        "SELECT a FROM {k} WHERE b = 2",
        "SELECT a FROM {k}.t",
        "SELECT a FROM s.{k} x",
        "SELECT {k}.a FROM t",
        "SELECT t.{k} FROM t",
        "SELECT a FROM t WHERE {k} = 1",
        "SELECT a FROM t WHERE b = {k}",
        "SELECT a FROM t WHERE {k} IS NULL",
        "SELECT a FROM t WHERE {k} IN (1)",
        "SELECT a FROM t WHERE a > 1 AND {k} < 1",
        "SELECT a FROM t ORDER BY {k}",
        "SELECT a {k} FROM t",
        "SELECT a AS {k} FROM t",
        "SELECT a FROM t {k}",
        "SELECT a FROM t AS {k} WHERE b = 1",
        "SELECT a + {k} FROM t",
        "SELECT {k} * 2 FROM t",
        "SELECT count({k}) FROM t",
        "UPDATE t SET {k} = 1 WHERE a = 1",
        "UPDATE t SET a = {k} WHERE b = 1",
        "UPDATE {k} SET a = 1",
        "INSERT INTO t ({k}) VALUES (1)",
        "INSERT INTO {k} (a) VALUES ({k})",
        "DELETE FROM {k} WHERE a = 1",
        "DELETE FROM t WHERE a = 1 RETURNING {k}",
        "SELECT a FROM t JOIN {k} ON a = b",
        "SELECT a FROM t {k} JOIN u ON a = b",
        "SELECT a FROM t LEFT JOIN u {k} ON a = b WHERE c = 1",
        "SELECT a FROM t JOIN u ON {k}.a = u.b",
        "SELECT a FROM t JOIN u USING ({k})",
        "SELECT a FROM t, {k} WHERE a = b",
        "SELECT a FROM t CROSS JOIN {k}",
        "SELECT {k}.* FROM t",
        "SELECT a FROM t WHERE {k}",
        "SELECT a FROM t WHERE NOT {k} AND b = 1",
        "SELECT a FROM t WHERE a = 1 OR {k} = 2",
        "SELECT a FROM t WHERE ({k} = 1 OR b = 2) AND c = 3",
        "SELECT a FROM t WHERE a BETWEEN {k} AND 2",
        "SELECT a FROM t WHERE {k} NOT LIKE 'x%'",
        "SELECT a FROM t WHERE a ILIKE {k}",
        "SELECT a FROM t WHERE a = {k}.b",
        "SELECT a FROM t GROUP BY {k}",
        "SELECT a FROM t GROUP BY a HAVING count({k}) > 1",
        "SELECT {k}(a, 1) FROM t",
        "SELECT a::{k} FROM t",
        "INSERT INTO t (a) VALUES (1) ON CONFLICT ({k}) DO NOTHING",
        "INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO NOTHING {k}",
        "INSERT INTO t (a) VALUES (1) ON CONFLICT {k} DO NOTHING",
        "INSERT INTO t (a) VALUES (1) ON CONFLICT DO {k}",
        "SELECT a FROM t WHERE b = '1'::{k}",
        "SELECT a FROM t WHERE b = '1'::date {k}",
        "SELECT a FROM t WHERE b < now() - interval '1 day' {k}",
        "SELECT a FROM t WHERE b < now() - interval {k}",
        "SELECT a FROM t WHERE b < {k} '1 day'",
    ];
    let mut fast = 0;
    let mut differ = Vec::new();
    for kw in sqlparser::keywords::ALL_KEYWORDS {
        for k in [kw.to_string(), kw.to_ascii_lowercase()] {
            for t in templates {
                let sql = t.replace("{k}", &k);
                match same_both_ways(&sql) {
                    Ok(true) => fast += 1,
                    Ok(false) => {}
                    Err(_) => differ.push(sql),
                }
            }
        }
    }
    assert!(
        differ.is_empty(),
        "fast path differs from the parse for {differ:#?}"
    );
    // Most keywords are names to PostgreSQL too (`name`, `status`, `delta`, `logs`…).
    assert!(
        fast > 10_000,
        "only {fast} keyword variants took the fast path"
    );
}

/// Every combination of a few interchangeable parts of each shape.
#[test]
fn generated_variants_are_classified_identically() {
    let tables = [
        "t",
        "Accounts",
        "\"Mixed Case\"",
        "public.users",
        "\"s\".\"t\"",
        "data",
        "status",
    ];
    let cols = ["a", "ID", "name", "value", "\"Quoted\"", "t.key", "type"];
    let values = [
        "1",
        "-2",
        "1.5",
        "'x'",
        "'it''s'",
        "$1",
        "now()",
        "CURRENT_TIMESTAMP",
        "'2024-01-01'::date",
        "$1::int::text",
        "now() - interval '1 day'",
        "-1::bigint",
        "NULL",
        "true",
        "FALSE",
        "a || 'x' || b",
    ];
    let ops = ["=", "<>", "!=", "<", ">=", "<="];
    let joins = [
        "JOIN",
        "INNER JOIN",
        "LEFT JOIN",
        "left outer join",
        "RIGHT JOIN",
        "FULL OUTER JOIN",
    ];
    let conds = [
        "a = 1 OR b = 2",
        "NOT a = 1",
        "NOT (a = 1 OR b IS NULL)",
        "a NOT IN (1, 2)",
        "a BETWEEN 1 AND b",
        "a NOT BETWEEN $1 AND $2 AND c",
        "a LIKE 'x%' OR a ILIKE $1",
        "NOT flag",
        "x.flag",
        "a = b",
        "a = a",
        "a.x = b.x",
        "a.x = A.X",
        "a + 1 = a + 1",
        "a + 1 = a + 2",
        "a >= a",
        "NOT off",
        "NOT \"no\"",
        "t",
        "(a + 1) = 2",
        "(a = 1) = true",
        "a::text = a::text",
        "a::text = a",
        "a::int[] = $1",
        "a::numeric(10, 2) > 1",
        "a::timestamp with time zone > now()",
        "a > now() - interval '1' day",
        "'a'::text = 'a'::text",
        "interval '1 day' = interval '1 day'",
        "true",
        "NOT false",
        "NOT NULL",
        "a = NULL",
        "NULL IS NULL",
        "true = true",
        "a = true OR false",
        "a || b = a || b",
        "a || b = b || a",
        "NOT a IS NOT NULL",
    ];
    let mut n = 0;
    let mut fast = 0;
    let mut check = |sql: String| {
        n += 1;
        if same_both_ways(&sql).unwrap_or_else(|m| panic!("{m}")) {
            fast += 1;
        }
    };
    for t in tables {
        for c in cols {
            for v in values {
                check(format!(
                    "SELECT {c}, count(*) AS n FROM {t} x WHERE {c} = {v}"
                ));
                check(format!(
                    "select * from {t} where {v} < {c} and {c} is not null order by {c} desc limit 5"
                ));
                check(format!("DELETE FROM {t} WHERE {c} IN ({v}, 2) RETURNING *"));
                check(format!(
                    "UPDATE {t} SET {c} = {v} * 2, b = {c} WHERE x = {v} RETURNING {c} AS r"
                ));
                check(format!(
                    "INSERT INTO {t} ({c}, b) VALUES ({v}, 2), (3, {v}) RETURNING b, *"
                ));
                check(format!(
                    "INSERT INTO {t} ({c}) VALUES ({v}) ON CONFLICT ({c}, b) DO NOTHING RETURNING {c}"
                ));
                check(format!(
                    "INSERT INTO {t} ({c}) VALUES ({v}) ON CONFLICT DO UPDATE SET {c} = {v}"
                ));
            }
            for op in ops {
                check(format!(
                    "SELECT DISTINCT {c} FROM {t} WHERE {c} {op} 3 AND b {op} {c}"
                ));
                check(format!("UPDATE {t} SET {c} = 1 WHERE {c} {op} $2"));
            }
        }
    }
    for t in tables {
        for c in cols {
            for j in joins {
                check(format!(
                    "SELECT {c}, u.b FROM {t} x {j} u ON u.id = x.{c} AND u.k > 0 WHERE {c} = 1"
                ));
                check(format!(
                    "SELECT x.*, u.* FROM {t} AS x {j} u USING (id, {c})"
                ));
            }
            check(format!(
                "SELECT {c}, sum(b) FROM {t}, u CROSS JOIN v GROUP BY {c}, 2 HAVING sum(b) > {c}"
            ));
        }
        for cond in conds {
            check(format!("SELECT * FROM {t} WHERE {cond}"));
            check(format!("SELECT a FROM {t} JOIN {t} ON {cond} WHERE {cond}"));
            check(format!("UPDATE {t} SET a = 1 WHERE {cond}"));
            check(format!("DELETE FROM {t} WHERE {cond} RETURNING a"));
        }
    }
    for s in [
        "BEGIN",
        "begin",
        "COMMIT",
        "END",
        "ROLLBACK",
        "SELECT 1",
        "SELECT -1, 'a'",
        "SELECT a FROM t LIMIT 'x'",
        "SELECT a FROM t LIMIT $1 OFFSET 'y'",
        "SELECT a FROM t ORDER BY 1, b DESC OFFSET 2",
    ] {
        check(s.to_string());
    }
    assert!(
        fast * 2 > n,
        "only {fast} of {n} variants took the fast path"
    );
}

/// Words and punctuation the fast path knows, plus some it must refuse.
const SOUP: &[&str] = &[
    "SELECT",
    "select",
    "INSERT",
    "INTO",
    "UPDATE",
    "DELETE",
    "FROM",
    "WHERE",
    "SET",
    "VALUES",
    "RETURNING",
    "AND",
    "OR",
    "NOT",
    "IS",
    "NULL",
    "IN",
    "AS",
    "ORDER",
    "BY",
    "DESC",
    "LIMIT",
    "OFFSET",
    "DISTINCT",
    "BEGIN",
    "COMMIT",
    "END",
    "t",
    "u",
    "a",
    "b",
    "id",
    "name",
    "user",
    "true",
    "\"Q\"",
    "now",
    "count",
    "current_date",
    "(",
    ")",
    ",",
    ".",
    "*",
    "=",
    "<",
    ">",
    "<>",
    "!=",
    "+",
    "-",
    "/",
    "1",
    "2.5",
    "'s'",
    "$1",
    "::",
    "JOIN",
    "ON",
    "x",
    "WITH",
    "GROUP",
    "LEFT",
    "INNER",
    "CROSS",
    "OUTER",
    "USING",
    "HAVING",
    "BETWEEN",
    "LIKE",
    "ILIKE",
    "off",
    "greatest",
    "date_trunc",
    "date",
    "interval",
    "'1 day'",
    "::",
    "||",
    "false",
    "NULL",
    "CONFLICT",
    "DO",
    "NOTHING",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    /// Token soups: whatever the fast path accepts must match the parse.
    #[test]
    fn fuzzed_token_soups_agree(words in prop::collection::vec(prop::sample::select(SOUP), 1..14), glue in prop::collection::vec(prop::bool::ANY, 14)) {
        let mut sql = String::new();
        for (i, w) in words.iter().enumerate() {
            if i > 0 && glue[i] {
                sql.push(' ');
            }
            sql.push_str(w);
        }
        if let Err(m) = same_both_ways(&sql) {
            prop_assert!(false, "{}", m);
        }
    }

    /// Near-valid statements: a simple shape with one token replaced, dropped or repeated.
    #[test]
    fn mutated_shapes_agree(shape in 0usize..8, at in 0usize..20, with in prop::sample::select(SOUP), mode in 0u8..3) {
        let base = [
            "SELECT a , b AS c FROM s . t x WHERE id = $1 AND b IN ( 1 , 2 ) ORDER BY a DESC LIMIT 5",
            "UPDATE t SET a = a + -1 , b = now ( ) WHERE id = 'k' AND c IS NOT NULL RETURNING *",
            "INSERT INTO t ( a , b ) VALUES ( 1 , $2 ) , ( 2 , CURRENT_DATE ) RETURNING a",
            "DELETE FROM \"T\" WHERE a >= 2.5 AND b <> 'x'",
            "SELECT x . * , u . b FROM t x LEFT OUTER JOIN u ON u . id = x . id AND NOT u . gone WHERE ( a = 1 OR b BETWEEN 1 AND 2 )",
            "SELECT a , count ( * ) FROM t , u CROSS JOIN v JOIN w USING ( id ) WHERE c NOT LIKE 'x' GROUP BY a HAVING sum ( b ) > 1 ORDER BY a",
            "DELETE FROM t WHERE a = b OR NOT ( c IS NULL AND d ILIKE $1 ) RETURNING a",
            "INSERT INTO t ( a ) VALUES ( 1 ) ON CONFLICT ( a , b ) DO NOTHING RETURNING a",
        ][shape];
        let mut toks: Vec<&str> = base.split(' ').collect();
        let i = at % toks.len();
        match mode {
            0 => toks[i] = with,
            1 => { toks.remove(i); }
            _ => toks.insert(i, with),
        }
        let sql = toks.join(" ");
        if let Err(m) = same_both_ways(&sql) {
            prop_assert!(false, "{}", m);
        }
    }
}
