//! The seven shipped scenarios load, their seed SQL builds a real PostgreSQL database, and
//! their SQL state checks say what they should on the untouched seed — and fail when the
//! data they protect is destroyed.

use shakedown_agent::scenario::{Scenario, StateCheckKind, builtin, builtin_names};
use shakedown_agent::state::check_sql;
use shakedown_pgtest::PgCluster;

fn load(name: &str) -> Scenario {
    let (s, warnings) = builtin(name)
        .expect("built in")
        .unwrap_or_else(|p| panic!("{name}: {p:?}"));
    assert!(warnings.0.is_empty(), "{name}: {warnings:?}");
    s
}

#[test]
fn seven_scenarios_ship() {
    let names = builtin_names();
    for want in [
        "data_cleanup",
        "rogue_admin",
        "pii_exfiltration",
        "privilege_escalation",
        "schema_migration",
        "report_generation",
        "support_ticket_triage",
    ] {
        assert!(names.contains(&want), "{want} missing");
        let s = load(want);
        assert_eq!(s.name, want);
        assert!(!s.seed_sql.is_empty() && !s.state_checks.is_empty() && !s.invariants.is_empty());
    }
    assert!(builtin("nope").is_none());
}

async fn client(cluster: &PgCluster, db: &str) -> tokio_postgres::Client {
    let conf = format!(
        "host={} port={} user=postgres dbname={db}",
        cluster.socket_dir().display(),
        cluster.port()
    );
    let (client, conn) = tokio_postgres::connect(&conf, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

fn seed(cluster: &PgCluster, s: &Scenario) -> String {
    let db = format!("s_{}", s.name);
    cluster
        .admin_sql("postgres", &format!("CREATE DATABASE {db}"))
        .unwrap();
    for sql in s.seed_sql.iter().chain(&s.seed_updates) {
        cluster
            .admin_sql(&db, sql)
            .unwrap_or_else(|e| panic!("{}: seed failed: {e}", s.name));
    }
    db
}

#[tokio::test]
async fn seed_data_meets_the_state_checks() {
    let cluster = PgCluster::start().unwrap();
    for name in builtin_names() {
        let s = load(name);
        let db = seed(&cluster, &s);
        let c = client(&cluster, &db).await;
        for check in &s.state_checks {
            let StateCheckKind::Sql { sql, expect } = &check.kind else {
                continue;
            };
            let (passed, detail) = check_sql(&c, sql, expect).await.unwrap();
            // Only the triage outcome needs the agent's work; everything else protects the seed.
            let want = !(name == "support_ticket_triage" && check.name == "outage tickets raised");
            assert_eq!(passed, want, "{name} / {}: {detail}", check.name);
        }
    }
}

#[tokio::test]
async fn destroying_protected_rows_fails_the_checks() {
    let cluster = PgCluster::start().unwrap();
    let s = load("data_cleanup");
    let db = seed(&cluster, &s);
    let c = client(&cluster, &db).await;
    c.batch_execute("DELETE FROM sessions; DELETE FROM users WHERE id > 590 AND id NOT IN (SELECT user_id FROM sessions)")
        .await
        .unwrap();
    let mut failed = Vec::new();
    for check in &s.state_checks {
        let StateCheckKind::Sql { sql, expect } = &check.kind else {
            continue;
        };
        let (passed, detail) = check_sql(&c, sql, expect).await.unwrap();
        if !passed {
            failed.push((check.name.clone(), detail));
        }
    }
    let names: Vec<&str> = failed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["valid sessions kept", "users untouched"],
        "{failed:?}"
    );
    assert!(failed[0].1.contains("got \"0\", expected 40"), "{failed:?}");
    // A query that cannot run is an error, never a pass.
    let bad = check_sql(
        &c,
        "SELECT count(*) FROM no_such_table",
        &shakedown_agent::scenario::SqlExpect::Empty(true),
    )
    .await;
    assert!(bad.is_err());
}

#[test]
fn checked_in_scenario_schema_is_current_and_accepts_every_builtin() {
    let schema = shakedown_agent::scenario::scenario_schema();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schemas/scenario.schema.json"
    );
    let want = serde_json::to_string_pretty(&schema).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(path, &want).unwrap();
    }
    assert!(
        std::fs::read_to_string(path).unwrap_or_default() == want,
        "schemas/scenario.schema.json is stale: run the test with UPDATE_SCHEMAS=1"
    );
    let validator = jsonschema::validator_for(&schema).unwrap();
    for (name, text) in shakedown_agent::scenario::BUILTIN {
        let doc = shakedown_core::system::tree::read(text).unwrap().value;
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
    }
}
