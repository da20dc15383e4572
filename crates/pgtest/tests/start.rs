//! The harness starts a real cluster whose three roles log in with their own methods.

use shakedown_pgtest::PgCluster;

fn login(pg: &PgCluster, role: &shakedown_pgtest::Role) -> String {
    let out = pg
        .psql_via(pg.port(), role)
        .args([
            "-A",
            "-t",
            "-c",
            "SELECT current_user || ' ' || \
             (SELECT setting FROM pg_settings WHERE name = 'password_encryption')",
        ])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "login as {} failed: {}",
        role.name,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn cluster_starts_and_every_auth_method_logs_in() {
    let pg = PgCluster::start().expect("cluster starts");
    assert_eq!(login(&pg, pg.user()), "shakedown scram-sha-256");
    assert_eq!(login(&pg, pg.md5_role()), "shakedown_md5 scram-sha-256");
    assert_eq!(login(&pg, pg.trust_role()), "shakedown_trust scram-sha-256");
    // The stored verifiers really are of the announced kinds.
    let kinds = pg
        .admin_sql(
            "postgres",
            "SELECT rolname || '=' || left(rolpassword, 5) FROM pg_authid \
             WHERE rolname LIKE 'shakedown%' AND rolpassword IS NOT NULL ORDER BY 1",
        )
        .expect("admin query");
    assert!(kinds.contains("shakedown=SCRAM"), "{kinds}");
    assert!(kinds.contains("shakedown_md5=md5"), "{kinds}");
    // A wrong password is refused: SCRAM is really enforced.
    let mut bad = pg.user().clone();
    bad.password = Some("wrong".into());
    let out = pg
        .psql_via(pg.port(), &bad)
        .args(["-c", "SELECT 1"])
        .output()
        .expect("psql runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("password authentication failed"));
}
