//! The managed cluster and sandbox databases against the machine's real PostgreSQL: the
//! cluster is created once and found running the second time, a template is seeded once per
//! seed, run databases are independent clones reachable only by their own SCRAM role, and a
//! failed seed leaves nothing behind.

use std::time::Instant;

use shakedown_pgserver::{ManagedServer, PgError, SandboxServer};
use tokio_postgres::NoTls;

/// Stops and deletes the managed cluster when a test ends, pass or fail.
struct Stop(ManagedServer);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = self.0.clone().destroy();
    }
}

async fn login(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

async fn count(c: &tokio_postgres::Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn templates_and_run_clones() {
    let root = tempfile::tempdir().unwrap();
    let server = Stop(ManagedServer::ensure(root.path()).unwrap());
    // A second open finds the same running server.
    let again = ManagedServer::ensure(root.path()).unwrap();
    assert_eq!(again.port(), server.0.port());
    // The admin password is kept private and the admin URL logs in.
    // (Run as root, the cluster lives outside `root`; its directory holds the password.)
    let pw = server.0.data_dir().parent().unwrap().join("admin.pw");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&pw).unwrap().permissions().mode() & 0o777,
        0o600
    );
    login(&server.0.admin_url("postgres")).await.unwrap();

    let sandbox = SandboxServer::managed(&server.0);
    let seed = vec![
        "CREATE TABLE items (id int PRIMARY KEY, name text); \
         INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 100) i;"
            .to_string(),
    ];
    let tpl = sandbox
        .ensure_template("data cleanup!", &seed)
        .await
        .unwrap();
    assert!(tpl.starts_with("shakedown_tpl_data_cleanup__"), "{tpl}");
    // Warm: the same seed finds the template without seeding again.
    let t0 = Instant::now();
    assert_eq!(
        sandbox
            .ensure_template("data cleanup!", &seed)
            .await
            .unwrap(),
        tpl
    );
    assert!(t0.elapsed().as_secs_f64() < 2.0);
    // A changed seed is a new template.
    let mut seed2 = seed.clone();
    seed2.push("DELETE FROM items WHERE id > 50".into());
    let tpl2 = sandbox
        .ensure_template("data cleanup!", &seed2)
        .await
        .unwrap();
    assert_ne!(tpl2, tpl);

    let a = sandbox.create_run_db(&tpl, "run-a").await.unwrap();
    let b = sandbox.create_run_db(&tpl, "run-b").await.unwrap();
    assert_ne!(a.name, b.name);
    assert_ne!(a.password, b.password);
    let ca = login(&a.url()).await.unwrap();
    let cb = login(&b.url()).await.unwrap();
    // The agent's role has an owner's rights in its own clone…
    ca.batch_execute("DELETE FROM items WHERE id <= 10; ALTER TABLE items ADD COLUMN note text")
        .await
        .unwrap();
    assert_eq!(count(&ca, "SELECT count(*) FROM items").await, 90);
    // …and the other clone is untouched.
    assert_eq!(count(&cb, "SELECT count(*) FROM items").await, 100);
    // A run's role cannot reach another run's database, nor the template.
    let as_a = |db: &str| {
        format!(
            "postgres://{}:{}@{}:{}/{db}",
            a.role, a.password, a.host, a.port
        )
    };
    let cross = as_a(&b.name);
    let err = login(&cross).await.unwrap_err();
    let msg = err
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    assert!(msg.contains("permission denied"), "{msg}");
    assert!(login(&as_a(&tpl)).await.is_err());
    // …nor alter or drop a template.
    let e = ca
        .batch_execute(&format!("DROP DATABASE {tpl}"))
        .await
        .unwrap_err();
    let msg = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    assert!(msg.contains("must be owner"), "{msg}");

    drop((ca, cb));
    sandbox.drop_run_db(&a).await.unwrap();
    sandbox.drop_run_db(&b).await.unwrap();
    assert!(login(&a.url()).await.is_err(), "the run role is gone");
}

#[tokio::test]
async fn a_failed_seed_leaves_nothing_and_says_which_script() {
    let root = tempfile::tempdir().unwrap();
    let server = Stop(ManagedServer::ensure(root.path()).unwrap());
    let sandbox = SandboxServer::managed(&server.0);
    let seed = vec![
        "CREATE TABLE t (id int);".to_string(),
        "INSERT INTO nope VALUES (1);".to_string(),
    ];
    let err = sandbox.ensure_template("broken", &seed).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("seed script 2 of 2"), "{msg}");
    let admin = {
        let (c, conn) = server.0.admin_config().connect(NoTls).await.unwrap();
        tokio::spawn(conn);
        c
    };
    let left = count(
        &admin,
        "SELECT count(*) FROM pg_database WHERE datname LIKE 'shakedown_tpl_broken%'",
    )
    .await;
    assert_eq!(left, 0);
}

#[test]
fn bad_pg_urls_are_refused_clearly() {
    let e = SandboxServer::from_url("mysql://x").unwrap_err();
    assert!(matches!(e, PgError::Invalid(_)));
    assert!(
        e.to_string()
            .contains("postgres://USER:PASSWORD@HOST:PORT/DB"),
        "{e}"
    );
    let e = SandboxServer::from_url("host=127.0.0.1 user=x").unwrap_err();
    assert!(e.to_string().contains("not a PostgreSQL URL"), "{e}");
    let e = SandboxServer::from_url("postgres://x@%2Fvar%2Frun%2Fpostgresql/db").unwrap_err();
    assert!(e.to_string().contains("TCP host"), "{e}");
    let s =
        SandboxServer::from_url("postgres://a:b@127.0.0.1:5432/postgres?sslmode=disable").unwrap();
    assert_eq!(
        s.admin_url("run_1"),
        "postgres://a:b@127.0.0.1:5432/run_1?sslmode=disable"
    );
    let s = SandboxServer::from_url("postgres://a:b@127.0.0.1:5432").unwrap();
    assert_eq!(s.admin_url("run_1"), "postgres://a:b@127.0.0.1:5432/run_1");
}
