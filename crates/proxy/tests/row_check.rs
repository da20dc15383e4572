//! Row checks (`Verdict::RowCheck`) against a real PostgreSQL: an over-limit DELETE or UPDATE
//! is undone and refused with 42501 while every row stays in place (counted directly on the
//! server, not through the proxy), a statement within the limit commits, inside a transaction
//! the block stays usable, RETURNING rows are held back, results too large to hold back and
//! COPY FROM STDIN fail closed — over the simple protocol (raw frames and psql) and the
//! extended one (raw batches and tokio-postgres prepared statements).

#[path = "support/proxy.rs"]
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use shakedown_proxy::pg::messages::{
    Bind, CommandComplete, ErrorResponse, Execute, Message, Parse, Query, Sync,
};
use shakedown_proxy::pg::{
    BackendEvent, Frame, Interceptor, ProxyEvent, RowCheckOutcome, SessionInfo, StatementAction,
    TransactionStatus, Verdict,
};
use support::{Harness, RawClient, sqlstates, status, tags};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

/// Rows a checked statement may touch.
const MAX: u64 = 10;
/// The holdback limit the tests run with: a few RETURNING rows fit, a wide result does not.
const HOLDBACK: usize = 4096;

/// (rows, outcome) of each row check reported.
type Checked = Arc<Mutex<Vec<(Option<u64>, RowCheckOutcome)>>>;

/// Puts every DELETE, UPDATE and COPY under a row check of [`MAX`] rows, and records the
/// row checks it is told about.
#[derive(Debug, Clone, Default)]
struct LimitRows {
    checked: Checked,
}

fn verdict(sql: &str) -> Verdict {
    let lower = sql.trim_start().to_ascii_lowercase();
    if ["delete", "update", "copy"]
        .iter()
        .any(|w| lower.starts_with(w))
    {
        Verdict::row_check(MAX, "test policy: {rows} rows is more than {max_rows}")
    } else {
        Verdict::Forward
    }
}

impl Interceptor for LimitRows {
    async fn on_query(&self, sql: &str, _session: &SessionInfo) -> Verdict {
        verdict(sql)
    }

    async fn on_parse(&self, _name: &str, sql: &str, _session: &SessionInfo) -> Verdict {
        verdict(sql)
    }

    async fn on_backend(&self, event: &BackendEvent<'_>, _session: &SessionInfo) {
        if let BackendEvent::RowChecked { rows, outcome, .. } = event {
            self.checked.lock().unwrap().push((*rows, *outcome));
        }
    }
}

async fn harness() -> Result<(Harness, LimitRows)> {
    let interceptor = LimitRows::default();
    let i = interceptor.clone();
    let h = Harness::start_with(
        move |_: &SessionInfo| i.clone(),
        |c| c.with_max_holdback(HOLDBACK),
    )
    .await?;
    Ok((h, interceptor))
}

fn q(sql: &str) -> Frame {
    Query::new(sql).to_frame()
}

/// Rows of `table`, counted on the server directly (not through the proxy).
fn count(h: &Harness, table: &str) -> Result<i64> {
    let out =
        h.pg.admin_sql(h.pg.database(), &format!("SELECT count(*) FROM {table}"))?;
    Ok(out.trim().parse()?)
}

fn error_of(frames: &[Frame]) -> ErrorResponse {
    let e = frames.iter().find(|f| f.tag() == b'E').expect("an error");
    ErrorResponse::decode(e).unwrap()
}

fn command_tag(frames: &[Frame]) -> String {
    let c = frames
        .iter()
        .find(|f| f.tag() == b'C')
        .expect("a CommandComplete");
    CommandComplete::decode(c).unwrap().tag_text().into_owned()
}

async fn run(c: &mut RawClient, sql: &str) -> Result<Vec<Frame>> {
    c.send(&[q(sql)]).await?;
    c.until_ready().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_protocol_over_the_limit_is_undone_and_nothing_is_lost() -> Result<()> {
    let (mut h, interceptor) = harness().await?;
    let mut c = RawClient::connect_trust(h.port(), &h.pg).await?;
    run(
        &mut c,
        "CREATE TABLE t(id int primary key, v int); \
         INSERT INTO t SELECT g, 0 FROM generate_series(1, 100) g",
    )
    .await?;
    assert_eq!(count(&h, "t")?, 100);

    // Outside a transaction: the error with the numbers filled in, then 'I'; all rows stay.
    let frames = run(&mut c, "DELETE FROM t").await?;
    assert_eq!(tags(&frames), "EZ");
    let e = error_of(&frames);
    assert_eq!(e.sqlstate().as_deref(), Some("42501"));
    assert_eq!(
        e.message().as_deref(),
        Some("test policy: 100 rows is more than 10")
    );
    assert_eq!(status(&frames), TransactionStatus::Idle);
    assert_eq!(count(&h, "t")?, 100);
    let frames = run(&mut c, "UPDATE t SET v = 1").await?;
    assert_eq!(sqlstates(&frames), ["42501"]);
    assert_eq!(
        h.pg.admin_sql(h.pg.database(), "SELECT sum(v) FROM t")?
            .trim(),
        "0"
    );

    // Within the limit: the normal answer, committed (seen by the server directly).
    let frames = run(&mut c, "DELETE FROM t WHERE id <= 5").await?;
    assert_eq!(tags(&frames), "CZ");
    assert_eq!(command_tag(&frames), "DELETE 5");
    assert_eq!(status(&frames), TransactionStatus::Idle);
    assert_eq!(count(&h, "t")?, 95);

    // Inside a transaction: the over-limit statement is undone, the block stays usable and
    // keeps its earlier work.
    assert_eq!(
        status(&run(&mut c, "BEGIN").await?),
        TransactionStatus::InTransaction
    );
    run(&mut c, "INSERT INTO t VALUES (1000, 0)").await?;
    let frames = run(&mut c, "DELETE FROM t").await?;
    assert_eq!(tags(&frames), "EZ");
    assert_eq!(
        error_of(&frames).message().as_deref(),
        Some("test policy: 96 rows is more than 10")
    );
    assert_eq!(status(&frames), TransactionStatus::InTransaction);
    let frames = run(&mut c, "SELECT count(*) FROM t").await?;
    assert_eq!(tags(&frames), "TDCZ");
    assert!(frames[1].body().ends_with(b"96"), "{:?}", frames[1].body());
    // Within the limit inside the block: kept until the block ends.
    let frames = run(&mut c, "DELETE FROM t WHERE id <= 8").await?;
    assert_eq!(command_tag(&frames), "DELETE 3");
    assert_eq!(status(&frames), TransactionStatus::InTransaction);
    run(&mut c, "COMMIT").await?;
    assert_eq!(count(&h, "t")?, 93);

    // RETURNING rows are held back and delivered within the limit, and never leak over it.
    let frames = run(
        &mut c,
        "DELETE FROM t WHERE id BETWEEN 20 AND 22 RETURNING id",
    )
    .await?;
    assert_eq!(tags(&frames), "TDDDCZ");
    let frames = run(&mut c, "DELETE FROM t WHERE id > 50 RETURNING id").await?;
    assert_eq!(tags(&frames), "EZ");
    assert_eq!(count(&h, "t")?, 90);

    // Results bigger than the holdback limit fail closed, even within the row limit.
    let frames = run(
        &mut c,
        "UPDATE t SET v = v + 1 WHERE id <= 14 RETURNING repeat('x', 1000)",
    )
    .await?;
    assert_eq!(tags(&frames), "EZ");
    let e = error_of(&frames);
    assert_eq!(e.sqlstate().as_deref(), Some("42501"));
    assert!(
        e.message()
            .unwrap()
            .contains("holdback limit of 4096 bytes"),
        "{e:?}"
    );
    assert_eq!(
        h.pg.admin_sql(h.pg.database(), "SELECT sum(v) FROM t")?
            .trim(),
        "0"
    );

    // COPY FROM STDIN cannot be counted before the client sends rows: refused, no rows.
    let frames = run(&mut c, "COPY t FROM STDIN").await?;
    assert_eq!(tags(&frames), "EZ");
    assert!(
        error_of(&frames)
            .message()
            .unwrap()
            .contains("COPY FROM STDIN"),
        "{frames:?}"
    );
    assert_eq!(status(&frames), TransactionStatus::Idle);

    // A statement that fails by itself keeps its own error and the real semantics: 'I'
    // outside a block, 'E' inside one; in a failed block the server refuses it (25P02).
    let frames = run(&mut c, "DELETE FROM t WHERE id = 1 / 0").await?;
    assert_eq!(sqlstates(&frames), ["22012"]);
    assert_eq!(status(&frames), TransactionStatus::Idle);
    run(&mut c, "BEGIN").await?;
    let frames = run(&mut c, "DELETE FROM t WHERE id = 1 / 0").await?;
    assert_eq!(sqlstates(&frames), ["22012"]);
    assert_eq!(status(&frames), TransactionStatus::Failed);
    let frames = run(&mut c, "DELETE FROM t").await?;
    assert_eq!(sqlstates(&frames), ["25P02"]);
    assert_eq!(
        status(&run(&mut c, "ROLLBACK").await?),
        TransactionStatus::Idle
    );
    assert_eq!(count(&h, "t")?, 90);

    // The session is healthy after all of it.
    assert_eq!(tags(&run(&mut c, "SELECT 1").await?), "TDCZ");

    let checked = interceptor.checked.lock().unwrap().clone();
    assert!(checked.contains(&(Some(100), RowCheckOutcome::Exceeded)));
    assert!(checked.contains(&(Some(5), RowCheckOutcome::Within)));
    assert!(checked.contains(&(Some(6), RowCheckOutcome::HoldbackExceeded)));
    assert!(checked.contains(&(None, RowCheckOutcome::Uncheckable)));
    assert!(checked.contains(&(None, RowCheckOutcome::Failed)));

    // The events carry what the integration layer reports as `sql_blocked`.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let events = h.drain_events();
    assert!(events.iter().any(|e| matches!(
        e,
        ProxyEvent::Statement {
            action: StatementAction::RowChecked { max_rows: MAX },
            ..
        }
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        ProxyEvent::RowChecked {
            rows: Some(100),
            max_rows: MAX,
            outcome: RowCheckOutcome::Exceeded,
            sql: Some(sql),
            ..
        } if &**sql == "DELETE FROM t"
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        ProxyEvent::Failed { sqlstate, rejected: true, .. } if sqlstate == "42501"
    )));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_batches_stay_atomic_and_report_the_true_status() -> Result<()> {
    let (h, _) = harness().await?;
    let mut c = RawClient::connect_trust(h.port(), &h.pg).await?;
    run(
        &mut c,
        "CREATE TABLE t(id int primary key); INSERT INTO t SELECT generate_series(1, 50)",
    )
    .await?;
    let batch = |sqls: &[&str]| {
        let mut frames = Vec::new();
        for sql in sqls {
            frames.push(Parse::new("", sql).to_frame());
            frames.push(Bind::new("", "").to_frame());
            frames.push(Execute::new("").to_frame());
        }
        frames.push(Sync.to_frame());
        frames
    };

    // Over the limit after an insert in the same batch: the rejection at the DELETE's place,
    // the rest skipped, and the whole batch rolled back as after a real error.
    c.send(&batch(&[
        "INSERT INTO t VALUES (100)",
        "DELETE FROM t",
        "INSERT INTO t VALUES (101)",
    ]))
    .await?;
    let frames = c.until_ready().await?;
    assert_eq!(tags(&frames), "12C12EZ");
    assert_eq!(sqlstates(&frames), ["42501"]);
    assert_eq!(status(&frames), TransactionStatus::Idle);
    assert_eq!(count(&h, "t")?, 50);

    // Within the limit: every answer, then 'I', and everything committed at the Sync.
    c.send(&batch(&[
        "INSERT INTO t VALUES (100)",
        "DELETE FROM t WHERE id <= 3",
        "INSERT INTO t VALUES (101)",
    ]))
    .await?;
    let frames = c.until_ready().await?;
    assert_eq!(tags(&frames), "12C12C12CZ");
    assert_eq!(status(&frames), TransactionStatus::Idle);
    assert_eq!(count(&h, "t")?, 49);

    // A later error in the batch still rolls back the checked statement: the batch is atomic.
    c.send(&batch(&[
        "DELETE FROM t WHERE id <= 6",
        "INSERT INTO t VALUES (50)",
    ]))
    .await?;
    let frames = c.until_ready().await?;
    assert_eq!(tags(&frames), "12C12EZ");
    assert_eq!(sqlstates(&frames), ["23505"]);
    assert_eq!(status(&frames), TransactionStatus::Idle);
    assert_eq!(count(&h, "t")?, 49);

    // Inside the client's block: undone, the rest of the batch skipped, the block usable.
    run(&mut c, "BEGIN").await?;
    c.send(&batch(&["DELETE FROM t", "INSERT INTO t VALUES (102)"]))
        .await?;
    let frames = c.until_ready().await?;
    assert_eq!(tags(&frames), "12EZ");
    assert_eq!(status(&frames), TransactionStatus::InTransaction);
    c.send(&batch(&["DELETE FROM t WHERE id = 100"])).await?;
    let frames = c.until_ready().await?;
    assert_eq!(tags(&frames), "12CZ");
    assert_eq!(status(&frames), TransactionStatus::InTransaction);
    assert_eq!(
        status(&run(&mut c, "COMMIT").await?),
        TransactionStatus::Idle
    );
    assert_eq!(count(&h, "t")?, 48);

    // The client begins a transaction itself after the checked statement, in the same batch:
    // as without the proxy, the block is then the client's (no warning, status 'T'), and its
    // ROLLBACK undoes the checked statement too.
    c.send(&batch(&[
        "DELETE FROM t WHERE id = 101",
        "BEGIN",
        "INSERT INTO t VALUES (103)",
    ]))
    .await?;
    let frames = c.until_ready().await?;
    assert_eq!(tags(&frames), "12C12C12CZ");
    assert_eq!(status(&frames), TransactionStatus::InTransaction);
    assert_eq!(
        status(&run(&mut c, "ROLLBACK").await?),
        TransactionStatus::Idle
    );
    assert_eq!(count(&h, "t")?, 48);

    // A statement prepared once under a check is checked at every execution.
    c.send(&[
        Parse::new("del", "DELETE FROM t WHERE id > $1").to_frame(),
        Sync.to_frame(),
    ])
    .await?;
    assert_eq!(tags(&c.until_ready().await?), "1Z");
    for (arg, expect) in [("0", "2EZ"), ("95", "2CZ")] {
        let mut bind = Bind::new("", "del");
        bind.params = vec![Some(bytes::Bytes::copy_from_slice(arg.as_bytes()))];
        c.send(&[
            bind.to_frame(),
            Execute::new("").to_frame(),
            Sync.to_frame(),
        ])
        .await?;
        let frames = c.until_ready().await?;
        assert_eq!(tags(&frames), expect, "DELETE with id > {arg}");
        assert_eq!(status(&frames), TransactionStatus::Idle);
    }
    assert_eq!(count(&h, "t")?, 47);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_postgres_prepared_statements_are_checked() -> Result<()> {
    let (h, interceptor) = harness().await?;
    let (mut client, conn) = tokio_postgres::connect(&h.pg.url_via(h.port()), NoTls).await?;
    tokio::spawn(conn);
    client
        .batch_execute(
            "CREATE TABLE items(id int primary key, name text); \
             INSERT INTO items SELECT g, 'n' || g FROM generate_series(1, 40) g",
        )
        .await?;

    let delete = client.prepare("DELETE FROM items WHERE id > $1").await?;
    let err = client
        .execute(&delete, &[&0i32])
        .await
        .expect_err("over the limit");
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    assert_eq!(
        err.as_db_error().map(|e| e.message()),
        Some("test policy: 40 rows is more than 10")
    );
    assert_eq!(count(&h, "items")?, 40);
    assert_eq!(client.execute(&delete, &[&35i32]).await?, 5);
    assert_eq!(count(&h, "items")?, 35);

    // RETURNING through the extended protocol.
    let ids: Vec<i32> = client
        .query("DELETE FROM items WHERE id <= $1 RETURNING id", &[&2i32])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, [1, 2]);
    let err = client
        .query("UPDATE items SET name = 'x' RETURNING id", &[])
        .await
        .expect_err("over the limit");
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    assert_eq!(count(&h, "items")?, 33);

    // In a transaction: the over-limit statement is undone, the transaction goes on and
    // commits its other work.
    let tx = client.transaction().await?;
    tx.execute("INSERT INTO items VALUES (100, 'new')", &[])
        .await?;
    let err = tx
        .execute(&delete, &[&0i32])
        .await
        .expect_err("over the limit");
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    let n: i64 = tx
        .query_one("SELECT count(*) FROM items", &[])
        .await?
        .get(0);
    assert_eq!(n, 34);
    assert_eq!(tx.execute(&delete, &[&99i32]).await?, 1);
    tx.commit().await?;
    assert_eq!(count(&h, "items")?, 33);

    // A statement that fails by itself: its own error, and the connection is fine.
    let err = client
        .execute("DELETE FROM items WHERE id = 1 / $1", &[&0i32])
        .await
        .expect_err("division by zero");
    assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO));

    // Pipelined: a checked statement among others, each answered correctly.
    let (a, b, c) = futures_util::join!(
        client.query_one("SELECT $1::int + 1", &[&1i32]),
        client.execute(&delete, &[&0i32]),
        client.execute(&delete, &[&33i32]),
    );
    assert_eq!(a?.get::<_, i32>(0), 2);
    assert_eq!(
        b.expect_err("over").code(),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE)
    );
    assert_eq!(c?, 2);
    assert_eq!(count(&h, "items")?, 31);
    let one: i32 = client.query_one("SELECT 1", &[]).await?.get(0);
    assert_eq!(one, 1);

    let checked = interceptor.checked.lock().unwrap().clone();
    assert!(checked.contains(&(Some(40), RowCheckOutcome::Exceeded)));
    assert!(checked.contains(&(Some(5), RowCheckOutcome::Within)));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_sees_the_rejection_and_keeps_every_row() -> Result<()> {
    let (h, _) = harness().await?;
    let user = h.pg.user().clone();
    let (ok, _, err) = h
        .psql(
            &user,
            &[
                "-c",
                "CREATE TABLE t(id int); INSERT INTO t SELECT generate_series(1, 20)",
            ],
        )
        .await?;
    assert!(ok, "{err}");
    let (ok, _, err) = h.psql(&user, &["-c", "DELETE FROM t"]).await?;
    assert!(!ok);
    assert!(
        err.contains("test policy: 20 rows is more than 10"),
        "{err}"
    );
    // psql sends each statement of a file as its own Query.
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("script.sql");
    std::fs::write(
        &file,
        "BEGIN;\nDELETE FROM t WHERE id > 5;\nDELETE FROM t WHERE id <= 2;\n\
         SELECT 'left=' || count(*) FROM t;\nCOMMIT;\n",
    )?;
    let (_, out, err) = h
        .psql(
            &user,
            &[
                "-At",
                "-v",
                "ON_ERROR_STOP=0",
                "-f",
                &file.display().to_string(),
            ],
        )
        .await?;
    assert!(err.contains("15 rows is more than 10"), "{err}");
    assert!(out.contains("left=18"), "{out}");
    assert_eq!(count(&h, "t")?, 18);
    Ok(())
}
