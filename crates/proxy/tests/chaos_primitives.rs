//! The session primitives chaos actions are built on, observed from real clients: a
//! blackholed session hangs its client (the statement never reaches the server) until the
//! client's own timeout or the blackhole's end, while other sessions work; latency added in
//! `on_query`/`on_parse` delays only that statement's session; a stall in `on_backend` holds
//! a response on the wire.

#[path = "support/proxy.rs"]
mod support;

use std::time::{Duration, Instant};

use anyhow::Result;
use shakedown_proxy::pg::{
    BackendEvent, EndReason, Interceptor, ProxyEvent, SessionInfo, StatementAction, Verdict,
};
use support::Harness;
use tokio_postgres::{Client, NoTls};

/// Added latency for statements naming `slow_me`.
const DELAY: Duration = Duration::from_millis(600);
/// How long `blackhole_briefly` lasts.
const BRIEF: Duration = Duration::from_millis(400);
/// How long a response of a session named `stalled` is held on the wire.
const STALL: Duration = Duration::from_millis(300);

/// Chaos keyed on words in the statement and on the session's application_name.
#[derive(Debug, Clone, Copy, Default)]
struct Chaos;

async fn verdict(sql: &str) -> Verdict {
    if sql.contains("blackhole_forever") {
        Verdict::blackhole(None)
    } else if sql.contains("blackhole_briefly") {
        Verdict::blackhole(Some(BRIEF))
    } else {
        if sql.contains("slow_me") {
            tokio::time::sleep(DELAY).await;
        }
        Verdict::Forward
    }
}

impl Interceptor for Chaos {
    async fn on_query(&self, sql: &str, _session: &SessionInfo) -> Verdict {
        verdict(sql).await
    }

    async fn on_parse(&self, _name: &str, sql: &str, _session: &SessionInfo) -> Verdict {
        verdict(sql).await
    }

    async fn on_backend(&self, event: &BackendEvent<'_>, session: &SessionInfo) {
        let stalled = session.application_name().as_deref() == Some("stalled");
        if stalled && matches!(event, BackendEvent::Ready { .. }) {
            tokio::time::sleep(STALL).await;
        }
    }
}

async fn connect(h: &Harness, application_name: &str) -> Result<Client> {
    Ok(connect_with_socket(h, application_name).await?.0)
}

/// Also the task owning the socket: aborting it closes the connection, as a client that
/// gives up does (tokio-postgres keeps the socket while a response is pending).
async fn connect_with_socket(
    h: &Harness,
    application_name: &str,
) -> Result<(Client, tokio::task::JoinHandle<()>)> {
    let url = format!(
        "{}?application_name={application_name}",
        h.pg.url_via(h.port())
    );
    let (client, conn) = tokio_postgres::connect(&url, NoTls).await?;
    let socket = tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok((client, socket))
}

fn count(h: &Harness) -> Result<i64> {
    let out = h.pg.admin_sql(h.pg.database(), "SELECT count(*) FROM t")?;
    Ok(out.trim().parse()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackhole_hangs_the_client_and_spares_other_sessions() -> Result<()> {
    let mut h = Harness::start(|_: &SessionInfo| Chaos).await?;
    let setup = connect(&h, "setup").await?;
    setup.batch_execute("CREATE TABLE t(id int)").await?;

    // The blackholed statement hangs until the client's own timeout; it never ran.
    let (victim, victim_socket) = connect_with_socket(&h, "victim").await?;
    let started = Instant::now();
    let hung = tokio::spawn(async move {
        let r = tokio::time::timeout(
            Duration::from_millis(1500),
            victim.simple_query("INSERT INTO t VALUES (1) /* blackhole_forever */"),
        )
        .await;
        (r.is_err(), victim)
    });
    // Meanwhile another session is served at full speed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let bystander = connect(&h, "bystander").await?;
    let t0 = Instant::now();
    let n: i32 = bystander.query_one("SELECT 7", &[]).await?.get(0);
    assert_eq!(n, 7);
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
    assert!(!hung.is_finished(), "the victim must still hang");
    let (timed_out, victim) = hung.await?;
    assert!(timed_out, "the client's own timeout must fire");
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert_eq!(
        count(&h)?,
        0,
        "a blackholed statement never reaches the server"
    );
    // The client gives up and closes its connection: the session ends then.
    drop(victim);
    victim_socket.abort();

    // A timed blackhole drops the connection at its end: an error, not a result.
    let brief = connect(&h, "brief").await?;
    let t0 = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        brief.simple_query("SELECT 'blackhole_briefly'"),
    )
    .await?;
    assert!(r.is_err(), "the connection is dropped, no result arrives");
    assert!(t0.elapsed() >= BRIEF, "{:?}", t0.elapsed());
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());

    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = h.drain_events();
    let blackholed: Vec<bool> = events
        .iter()
        .filter_map(|e| match e {
            ProxyEvent::SessionEnded {
                reason: EndReason::Blackholed { client_closed },
                ..
            } => Some(*client_closed),
            _ => None,
        })
        .collect();
    assert_eq!(blackholed, [true, false], "{events:?}");
    assert!(events.iter().any(|e| matches!(
        e,
        ProxyEvent::Statement {
            action: StatementAction::Blackholed { duration: None },
            ..
        }
    )));
    // The proxy and the bystander are fine.
    let n: i32 = bystander.query_one("SELECT 8", &[]).await?.get(0);
    assert_eq!(n, 8);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_and_stalls_delay_only_their_own_session() -> Result<()> {
    let h = Harness::start(|_: &SessionInfo| Chaos).await?;
    let slow = connect(&h, "slow").await?;
    let fast = connect(&h, "fast").await?;

    // Sleeping in on_query delays that statement by at least the sleep…
    let started = Instant::now();
    let delayed = tokio::spawn(async move {
        let r = slow.simple_query("SELECT 'slow_me'").await;
        (r.is_ok(), Instant::now())
    });
    // …while another session runs several statements meanwhile.
    tokio::time::sleep(Duration::from_millis(50)).await;
    for i in 0..5 {
        let n: i32 = fast.query_one("SELECT $1::int", &[&i]).await?.get(0);
        assert_eq!(n, i);
    }
    let fast_done = Instant::now();
    let (ok, slow_done) = delayed.await?;
    assert!(ok);
    assert!(slow_done - started >= DELAY, "{:?}", slow_done - started);
    assert!(fast_done < slow_done, "the other session was not held up");

    // A stall in on_backend holds the response on the wire for that session only.
    let stalled = connect(&h, "stalled").await?;
    let t0 = Instant::now();
    stalled.simple_query("SELECT 1").await?;
    assert!(t0.elapsed() >= STALL, "{:?}", t0.elapsed());
    let t0 = Instant::now();
    fast.simple_query("SELECT 1").await?;
    assert!(t0.elapsed() < STALL, "{:?}", t0.elapsed());
    Ok(())
}
