//! psql through the proxy against a real PostgreSQL: SCRAM, md5 and trust logins, simple and
//! multi-statement queries, \copy in and out, NOTICE and LISTEN/NOTIFY, and rejections by the
//! test policy with the transaction status a real error leaves.

#[path = "support/proxy.rs"]
mod support;

use anyhow::Result;
use shakedown_proxy::pg::PassThrough;
use support::{BLOCK_MESSAGE, BlockForbidden, Harness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_works_through_the_pass_through_proxy() -> Result<()> {
    let h = Harness::start(PassThrough).await?;
    let user = h.pg.user().clone();

    // SCRAM login, a multi-statement string, a result.
    let (ok, out, err) = h
        .psql(
            &user,
            &[
                "-At",
                "-c",
                "CREATE TABLE t(id int primary key, name text); \
                 INSERT INTO t VALUES (1, 'a'), (2, 'b'); SELECT count(*) FROM t",
            ],
        )
        .await?;
    assert!(ok, "{err}");
    // psql 15 prints the result of every statement of a multi-statement string.
    assert_eq!(out.trim(), "CREATE TABLE\nINSERT 0 2\n2");

    // \copy in and out (COPY FROM STDIN / TO STDOUT through the proxy).
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("in.csv");
    let output = dir.path().join("out.csv");
    std::fs::write(&input, "3,c\n4,\"d, with comma\"\n5,e\n")?;
    let (ok, out, err) = h
        .psql(
            &user,
            &[
                "-c",
                &format!("\\copy t FROM '{}' CSV", input.display()),
                "-c",
                &format!(
                    "\\copy (SELECT * FROM t ORDER BY id) TO '{}' CSV",
                    output.display()
                ),
            ],
        )
        .await?;
    assert!(ok, "{err}");
    assert!(out.contains("COPY 3") && out.contains("COPY 5"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&output)?,
        "1,a\n2,b\n3,c\n4,\"d, with comma\"\n5,e\n"
    );

    // NOTICE and LISTEN/NOTIFY pass through.
    let (ok, out, err) = h
        .psql(
            &user,
            &[
                "-c",
                "DO $$ BEGIN RAISE NOTICE 'hello from plpgsql'; END $$",
                "-c",
                "LISTEN chan",
                "-c",
                "NOTIFY chan, 'payload-1'",
            ],
        )
        .await?;
    assert!(ok, "{err}");
    assert!(err.contains("NOTICE:  hello from plpgsql"), "{err}");
    assert!(
        out.contains("Asynchronous notification \"chan\" with payload \"payload-1\""),
        "{out}"
    );

    // md5 and trust roles log in; a wrong SCRAM password is refused by the server.
    for role in [h.pg.md5_role().clone(), h.pg.trust_role().clone()] {
        let (ok, out, err) = h.psql(&role, &["-At", "-c", "SELECT current_user"]).await?;
        assert!(ok, "{} failed: {err}", role.name);
        assert_eq!(out.trim(), role.name);
    }
    let mut wrong = user.clone();
    wrong.password = Some("not-the-password".into());
    let (ok, _, err) = h.psql(&wrong, &["-c", "SELECT 1"]).await?;
    assert!(!ok);
    assert!(err.contains("password authentication failed"), "{err}");
    h.proxy.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_rejections_keep_the_session_and_transaction_state_right() -> Result<()> {
    let interceptor = BlockForbidden::default();
    let seen = interceptor.seen.clone();
    let h = Harness::start(move |_: &shakedown_proxy::pg::SessionInfo| interceptor.clone()).await?;
    let user = h.pg.user().clone();
    let (ok, _, err) = h
        .psql(
            &user,
            &[
                "-c",
                "CREATE TABLE t(id int); CREATE TABLE forbidden_table(x int)",
            ],
        )
        .await?;
    // The setup itself names the table, so it is rejected as a whole: nothing was created.
    assert!(!ok);
    assert!(err.contains(BLOCK_MESSAGE), "{err}");
    let (ok, out, err) = h
        .psql(
            &user,
            &[
                "-At",
                "-c",
                "SELECT count(*) FROM pg_tables WHERE tablename = 't'",
            ],
        )
        .await?;
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "0",
        "the multi-statement string must not have run at all"
    );
    assert!(h.psql(&user, &["-c", "CREATE TABLE t(id int)"]).await?.0);

    // Outside a transaction: the error, then the session goes on ('I').
    // Inside one: the block fails like any error ('E'), so the next statement gets 25P02,
    // the earlier insert is rolled back, and ROLLBACK brings the session back.
    let script = "\
        SELECT * FROM FORBIDDEN_TABLE;\n\
        SELECT 'after-idle-rejection';\n\
        BEGIN;\n\
        INSERT INTO t VALUES (100);\n\
        SELECT * FROM public.forbidden_table;\n\
        SELECT 'must not run';\n\
        ROLLBACK;\n\
        SELECT 'rows=' || count(*) FROM t WHERE id = 100;\n";
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("script.sql");
    std::fs::write(&file, script)?;
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
    assert_eq!(err.matches(BLOCK_MESSAGE).count(), 2, "{err}");
    assert!(err.contains("current transaction is aborted"), "{err}");
    assert!(out.contains("after-idle-rejection"), "{out}");
    assert!(!out.contains("must not run"), "{out}");
    assert!(out.contains("rows=0"), "{out}");

    let seen = seen.lock().unwrap();
    assert!(seen.queries.iter().any(|q| q.contains("FORBIDDEN_TABLE")));
    assert!(
        seen.failed
            .iter()
            .any(|(code, rejected)| code == "42501" && *rejected)
    );
    assert!(
        seen.failed
            .iter()
            .any(|(code, rejected)| code == "25P02" && !*rejected)
    );
    Ok(())
}
