//! tokio-postgres through the proxy (SCRAM, extended protocol throughout): parameterised
//! queries, prepared statements, rejections at Parse that leave the connection usable,
//! pipelining, transactions, events with rows and latency, and query cancellation.

#[path = "support/proxy.rs"]
mod support;

use std::time::{Duration, Instant};

use anyhow::Result;
use shakedown_proxy::pg::{EndReason, ProxyEvent, SessionInfo, StatementAction};
use support::{BLOCK_MESSAGE, BlockForbidden, Harness};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

async fn connect(h: &Harness) -> Result<Client> {
    let (client, conn) = tokio_postgres::connect(&h.pg.url_via(h.port()), NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_protocol_queries_and_rejections() -> Result<()> {
    let interceptor = BlockForbidden::default();
    let seen = interceptor.seen.clone();
    let mut h = Harness::start(move |_: &SessionInfo| interceptor.clone()).await?;
    let mut client = connect(&h).await?;

    client
        .batch_execute("CREATE TABLE items(id int primary key, name text)")
        .await?;
    let n: i32 = client
        .query_one("SELECT $1::int + 1", &[&41i32])
        .await?
        .get(0);
    assert_eq!(n, 42);

    // A prepared statement, reused.
    let insert = client.prepare("INSERT INTO items VALUES ($1, $2)").await?;
    for (id, name) in [(1, "one"), (2, "two"), (3, "three")] {
        assert_eq!(client.execute(&insert, &[&id, &name]).await?, 1);
    }
    let names: Vec<String> = client
        .query(
            "SELECT name FROM items WHERE id >= $1 ORDER BY id",
            &[&2i32],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names, ["two", "three"]);

    // A rejected Parse: a proper error, and the connection stays usable.
    let err = client
        .prepare("SELECT * FROM forbidden_table WHERE id = $1")
        .await
        .expect_err("rejected");
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    assert_eq!(err.as_db_error().map(|e| e.message()), Some(BLOCK_MESSAGE));
    let err = client
        .query("SELECT 1 FROM Forbidden_Table", &[])
        .await
        .expect_err("rejected");
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    let one: i32 = client.query_one("SELECT 1", &[]).await?.get(0);
    assert_eq!(one, 1);

    // Pipelining: concurrent requests share the connection; a rejection in the middle
    // does not disturb its neighbours.
    let (a, b, c) = futures_util::join!(
        client.query_one("SELECT $1::text", &[&"a"]),
        client.query_one("SELECT x FROM forbidden_table", &[]),
        client.query_one("SELECT $1::int * 2", &[&21i32]),
    );
    assert_eq!(a?.get::<_, String>(0), "a");
    assert_eq!(
        b.expect_err("rejected").code(),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE)
    );
    assert_eq!(c?.get::<_, i32>(0), 42);

    // A transaction with a rejected statement: it fails, rollback works, nothing persisted.
    let tx = client.transaction().await?;
    tx.execute(&insert, &[&10i32, &"ten"]).await?;
    assert!(tx.query("DELETE FROM forbidden_table", &[]).await.is_err());
    let err = tx.query("SELECT 1", &[]).await.expect_err("block failed");
    assert_eq!(err.code(), Some(&SqlState::IN_FAILED_SQL_TRANSACTION));
    tx.rollback().await?;
    let count: i64 = client
        .query_one("SELECT count(*) FROM items WHERE id = 10", &[])
        .await?
        .get(0);
    assert_eq!(count, 0);

    // Results reach the interceptor with the statement and rows affected.
    client
        .execute("UPDATE items SET name = upper(name)", &[])
        .await?;
    drop(client);
    {
        let seen = seen.lock().unwrap();
        assert!(
            seen.parses
                .iter()
                .any(|(_, sql)| sql == "INSERT INTO items VALUES ($1, $2)")
        );
        assert!(seen.completed.iter().any(|(sql, tag, rows)| {
            sql.as_deref() == Some("UPDATE items SET name = upper(name)")
                && tag == "UPDATE 3"
                && *rows == Some(3)
        }));
        assert!(
            seen.failed
                .iter()
                .filter(|(c, r)| c == "42501" && *r)
                .count()
                >= 4
        );
    }

    // And the event stream tells the same story.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let events = h.drain_events();
    assert!(
        events.iter().any(
            |e| matches!(e, ProxyEvent::SessionStarted { backend_pid, .. } if *backend_pid > 0)
        )
    );
    assert!(events.iter().any(|e| matches!(
        e,
        ProxyEvent::Statement { action: StatementAction::Rejected { sqlstate, .. }, sql, .. }
            if sqlstate == "42501" && sql.contains("forbidden_table")
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        ProxyEvent::Completed { rows: Some(3), elapsed: Some(_), tag, .. } if tag == "UPDATE 3"
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        ProxyEvent::SessionEnded {
            reason: EndReason::ClientClosed,
            ..
        }
    )));
    let json = serde_json::to_string(&events)?;
    assert!(json.contains("\"event\":\"statement\""), "{json}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_request_is_routed_to_the_right_upstream_session() -> Result<()> {
    let mut h = Harness::start(shakedown_proxy::pg::PassThrough).await?;
    let client = connect(&h).await?;
    // A second, idle session on the same proxy must not be affected.
    let bystander = connect(&h).await?;
    let token = client.cancel_token();
    let started = Instant::now();
    let sleeper = tokio::spawn(async move { client.query("SELECT pg_sleep(30)", &[]).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    token.cancel_query(NoTls).await?;
    let err = tokio::time::timeout(Duration::from_secs(5), sleeper)
        .await??
        .expect_err("cancelled");
    assert_eq!(err.code(), Some(&SqlState::QUERY_CANCELED));
    assert!(started.elapsed() < Duration::from_secs(5));
    let ok: i32 = bystander.query_one("SELECT 7", &[]).await?.get(0);
    assert_eq!(ok, 7);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let events = h.drain_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ProxyEvent::CancelForwarded { .. }))
    );
    Ok(())
}
