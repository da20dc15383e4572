//! Byte-level behaviour of rejections: message order in pipelined batches, the exact
//! ReadyForQuery status after a rejection in and out of a transaction, error-until-Sync,
//! named statements that stay refused until closed, and FunctionCall messages decided by
//! the interceptor.

#[path = "support/proxy.rs"]
mod support;

use std::sync::{Arc, Mutex};

use anyhow::Result;
use bytes::Bytes;
use shakedown_proxy::pg::messages::{
    Bind, Close, DataRow, Describe, ErrorResponse, Execute, FunctionCall, FunctionCallResponse,
    Message, Parse, Query, Sync, Target,
};
use shakedown_proxy::pg::{
    Interceptor, ProxyEvent, SessionInfo, StatementAction, TransactionStatus, Verdict,
};
use support::{BLOCK_MESSAGE, BlockForbidden, Harness, RawClient, sqlstates, status, tags};

async fn harness() -> Result<Harness> {
    let interceptor = BlockForbidden::default();
    Harness::start(move |_: &SessionInfo| interceptor.clone()).await
}

fn q(sql: &str) -> shakedown_proxy::pg::Frame {
    Query::new(sql).to_frame()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_query_rejections_leave_the_true_transaction_status() -> Result<()> {
    let h = harness().await?;
    let mut c = RawClient::connect_trust(h.port(), &h.pg).await?;
    c.send(&[q("CREATE TABLE t(id int)")]).await?;
    assert_eq!(tags(&c.until_ready().await?), "CZ");

    // Idle: error, then 'I'; the rejection carries our SQLSTATE and message.
    c.send(&[q("select * from forbidden_table")]).await?;
    let frames = c.until_ready().await?;
    assert_eq!(tags(&frames), "EZ");
    let e = ErrorResponse::decode(&frames[0])?;
    assert_eq!(e.sqlstate().as_deref(), Some("42501"));
    assert_eq!(e.message().as_deref(), Some(BLOCK_MESSAGE));
    assert_eq!(status(&frames), TransactionStatus::Idle);

    // In a block: the rejection fails the block on the server too ('E'), so the client's
    // view and the server's agree, and the earlier insert cannot be committed.
    c.send(&[q("BEGIN"), q("INSERT INTO t VALUES (1)")]).await?;
    assert_eq!(
        status(&c.until_ready().await?),
        TransactionStatus::InTransaction
    );
    assert_eq!(
        status(&c.until_ready().await?),
        TransactionStatus::InTransaction
    );
    c.send(&[q("DELETE FROM forbidden_table")]).await?;
    let frames = c.until_ready().await?;
    assert_eq!(sqlstates(&frames), ["42501"]);
    assert_eq!(status(&frames), TransactionStatus::Failed);
    c.send(&[q("SELECT 1")]).await?;
    let frames = c.until_ready().await?;
    assert_eq!(sqlstates(&frames), ["25P02"]);
    assert_eq!(status(&frames), TransactionStatus::Failed);
    // A rejection while already failed: the server's 25P02, status stays 'E'.
    c.send(&[q("SELECT * FROM forbidden_table")]).await?;
    let frames = c.until_ready().await?;
    assert_eq!(status(&frames), TransactionStatus::Failed);
    c.send(&[q("COMMIT")]).await?;
    let frames = c.until_ready().await?;
    // COMMIT of a failed block is a ROLLBACK.
    assert_eq!(tags(&frames), "CZ");
    assert_eq!(&frames[0].body()[..], b"ROLLBACK\0");
    assert_eq!(status(&frames), TransactionStatus::Idle);
    c.send(&[q("SELECT count(*) FROM t")]).await?;
    let frames = c.until_ready().await?;
    assert_eq!(tags(&frames), "TDCZ");
    assert!(
        frames[1].body().ends_with(b"\x00\x00\x00\x010"),
        "no row committed"
    );

    // Pipelined simple queries around a rejection: answers in order.
    c.send(&[
        q("SELECT 1"),
        q("SELECT 2 FROM forbidden_table"),
        q("SELECT 3"),
    ])
    .await?;
    assert_eq!(tags(&c.until_ready().await?), "TDCZ");
    assert_eq!(tags(&c.until_ready().await?), "EZ");
    assert_eq!(tags(&c.until_ready().await?), "TDCZ");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_protocol_rejections_are_ordered_and_error_until_sync() -> Result<()> {
    let h = harness().await?;
    let mut c = RawClient::connect_trust(h.port(), &h.pg).await?;
    c.send(&[q("CREATE TABLE t(id int)")]).await?;
    c.until_ready().await?;

    // One write: an allowed statement, an insert, a rejected Parse, more messages, Sync.
    // The server answers the first two, then our error at the rejected Parse's position,
    // skips the rest (no answers), and the batch's implicit transaction rolls back.
    c.send(&[
        Parse::new("ok", "SELECT 1").to_frame(),
        Bind::new("", "ok").to_frame(),
        Execute::new("").to_frame(),
        Parse::new("", "INSERT INTO t VALUES (7)").to_frame(),
        Bind::new("", "").to_frame(),
        Execute::new("").to_frame(),
        Parse::new("bad", "SELECT * FROM forbidden_table").to_frame(),
        Bind::new("", "bad").to_frame(),
        Describe {
            target: Target::Portal,
            name: Bytes::new(),
        }
        .to_frame(),
        Execute::new("").to_frame(),
        Sync.to_frame(),
    ])
    .await?;
    let frames = c.until_ready().await?;
    assert_eq!(tags(&frames), "12DC12CEZ");
    assert_eq!(sqlstates(&frames), ["42501"]);
    assert_eq!(status(&frames), TransactionStatus::Idle);
    c.send(&[q("SELECT count(*) FROM t")]).await?;
    let frames = c.until_ready().await?;
    assert!(
        frames[1].body().ends_with(b"\x00\x00\x00\x010"),
        "insert rolled back"
    );

    // The rejected statement stays refused in later batches: Bind, Describe and Execute of
    // its portal all get the rejection, never "does not exist".
    for batch in [
        vec![
            Bind::new("", "bad").to_frame(),
            Execute::new("").to_frame(),
            Sync.to_frame(),
        ],
        vec![
            Describe {
                target: Target::Statement,
                name: Bytes::from_static(b"bad"),
            }
            .to_frame(),
            Sync.to_frame(),
        ],
    ] {
        c.send(&batch).await?;
        let frames = c.until_ready().await?;
        assert_eq!(tags(&frames), "EZ");
        let e = ErrorResponse::decode(&frames[0])?;
        assert_eq!(e.message().as_deref(), Some(BLOCK_MESSAGE));
    }

    // Close forgets it; the name can then be reused for an allowed statement.
    c.send(&[
        Close {
            target: Target::Statement,
            name: Bytes::from_static(b"bad"),
        }
        .to_frame(),
        Parse::new("bad", "SELECT 2").to_frame(),
        Bind::new("", "bad").to_frame(),
        Execute::new("").to_frame(),
        Sync.to_frame(),
    ])
    .await?;
    assert_eq!(tags(&c.until_ready().await?), "312DCZ");

    // Inside a block, a rejected Parse fails the block: 'E'.
    c.send(&[q("BEGIN")]).await?;
    c.until_ready().await?;
    c.send(&[
        Parse::new("", "UPDATE forbidden_table SET x = 1").to_frame(),
        Sync.to_frame(),
    ])
    .await?;
    let frames = c.until_ready().await?;
    assert_eq!(tags(&frames), "EZ");
    assert_eq!(status(&frames), TransactionStatus::Failed);
    c.send(&[q("ROLLBACK")]).await?;
    assert_eq!(status(&c.until_ready().await?), TransactionStatus::Idle);
    Ok(())
}

/// Lets FunctionCall run only the function whose OID is in `allowed` (set once the test has
/// looked it up), and records every OID it was asked about.
#[derive(Debug, Clone, Default)]
struct AllowOneFunction {
    allowed: Arc<Mutex<Option<u32>>>,
    asked: Arc<Mutex<Vec<u32>>>,
}

impl Interceptor for AllowOneFunction {
    async fn on_function_call(&self, oid: u32, _session: &SessionInfo) -> Verdict {
        self.asked.lock().unwrap().push(oid);
        if *self.allowed.lock().unwrap() == Some(oid) {
            Verdict::Forward
        } else {
            Verdict::block(format!("function call of oid {oid} blocked by test policy"))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_calls_are_decided_by_the_interceptor() -> Result<()> {
    let interceptor = AllowOneFunction::default();
    let i = interceptor.clone();
    let mut h = Harness::start(move |_: &SessionInfo| i.clone()).await?;
    let mut c = RawClient::connect_trust(h.port(), &h.pg).await?;
    c.send(&[q("SELECT 'md5(text)'::regprocedure::oid::int8, \
                'pg_cancel_backend(int)'::regprocedure::oid::int8")])
        .await?;
    let frames = c.until_ready().await?;
    let row = DataRow::decode(&frames[1])?;
    let oid = |i: usize| -> u32 {
        std::str::from_utf8(row.values[i].as_ref().unwrap())
            .unwrap()
            .parse()
            .unwrap()
    };
    let (md5, cancel) = (oid(0), oid(1));
    *interceptor.allowed.lock().unwrap() = Some(md5);

    // The allowed function runs: FunctionCallResponse, ReadyForQuery.
    let call = |oid: u32, arg: &str| {
        FunctionCall::new(oid, vec![Some(Bytes::copy_from_slice(arg.as_bytes()))]).to_frame()
    };
    c.send(&[call(md5, "abc")]).await?;
    let frames = c.until_ready().await?;
    assert_eq!(tags(&frames), "VZ");
    assert_eq!(
        FunctionCallResponse::decode(&frames[0])?.value.as_deref(),
        Some(&b"900150983cd24fb0d6963f7d28e17f72"[..])
    );

    // A blocked one never reaches the server: 42501, then the session goes on ('I').
    c.send(&[call(cancel, "1")]).await?;
    let frames = c.until_ready().await?;
    assert_eq!(tags(&frames), "EZ");
    let e = ErrorResponse::decode(&frames[0])?;
    assert_eq!(e.sqlstate().as_deref(), Some("42501"));
    assert_eq!(
        e.message().as_deref(),
        Some(format!("function call of oid {cancel} blocked by test policy").as_str())
    );
    assert_eq!(status(&frames), TransactionStatus::Idle);

    // Inside a block it fails the block like any error, and pipelined neighbours are
    // answered in order.
    c.send(&[q("BEGIN"), call(cancel, "1"), q("SELECT 1")])
        .await?;
    assert_eq!(
        status(&c.until_ready().await?),
        TransactionStatus::InTransaction
    );
    let frames = c.until_ready().await?;
    assert_eq!(sqlstates(&frames), ["42501"]);
    assert_eq!(status(&frames), TransactionStatus::Failed);
    assert_eq!(sqlstates(&c.until_ready().await?), ["25P02"]);
    c.send(&[q("ROLLBACK"), call(md5, "xyz")]).await?;
    assert_eq!(status(&c.until_ready().await?), TransactionStatus::Idle);
    assert_eq!(tags(&c.until_ready().await?), "VZ");

    assert_eq!(
        *interceptor.asked.lock().unwrap(),
        [md5, cancel, cancel, md5]
    );
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(h.drain_events().iter().any(|e| matches!(
        e,
        ProxyEvent::Statement { action: StatementAction::Rejected { sqlstate, .. }, sql, .. }
            if sqlstate == "42501" && sql.contains(&cancel.to_string())
    )));
    Ok(())
}
