//! Plumbing for the chaos runtime tests: a real cluster, a [`ChaosRuntime`] with the cluster's
//! superuser as its admin connection, and the proxy in front with a minimal interceptor that
//! calls the runtime the way the guard does (events in, effects out). Clients connect through
//! the proxy with tokio-postgres or psql.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use shakedown_pgtest::PgCluster;
use shakedown_proxy::pg::chaos::{ChaosEvent, ChaosOptions, ChaosOutcome, ChaosRuntime};
use shakedown_proxy::pg::{
    BackendEvent, Interceptor, PgProxy, PgProxyConfig, SessionInfo, Verdict,
};
use shakedown_sql::{ClassifyOptions, SqlEvent, SqlEventType, classify, load_chaos};
use tokio::sync::mpsc;
use tokio_postgres::{Client, NoTls};

/// The events of a statement text, as the guard builds them.
pub fn events(kind: SqlEventType, sql: &str) -> Vec<SqlEvent> {
    classify(sql, &ClassifyOptions::default())
        .iter()
        .map(|c| SqlEvent::from_classification(kind, c))
        .collect()
}

/// Calls the runtime from the interception seam: `sql_received` for every statement, then the
/// statement's effect; `sql_result` with rows for completions; response delays at
/// ReadyForQuery.
#[derive(Debug, Clone)]
pub struct ChaosGuard {
    pub rt: Arc<ChaosRuntime>,
}

impl ChaosGuard {
    async fn statement(&self, sql: &str, session: &SessionInfo) -> Verdict {
        let evs = events(SqlEventType::SqlReceived, sql);
        for e in &evs {
            self.rt.on_event(e, session);
        }
        self.rt.before_statement(&evs).apply().await
    }
}

impl Interceptor for ChaosGuard {
    async fn on_query(&self, sql: &str, session: &SessionInfo) -> Verdict {
        self.statement(sql, session).await
    }

    async fn on_parse(&self, _name: &str, sql: &str, session: &SessionInfo) -> Verdict {
        self.statement(sql, session).await
    }

    async fn on_backend(&self, event: &BackendEvent<'_>, session: &SessionInfo) {
        match event {
            BackendEvent::Completed {
                statement, command, ..
            } => {
                let rows = command.rows().unwrap_or(0);
                let evs = statement
                    .map(|s| events(SqlEventType::SqlResult, s))
                    .unwrap_or_default();
                for e in evs {
                    self.rt.on_event(&e.with_rows(rows), session);
                }
            }
            BackendEvent::Ready { elapsed, .. } => {
                let d = self.rt.response_delay(elapsed.unwrap_or_default());
                tokio::time::sleep(d).await;
            }
            _ => {}
        }
    }
}

/// How to start a [`Lab`].
pub struct LabOptions {
    /// Give the runtime the superuser as its admin connection.
    pub admin: bool,
    pub seed: u64,
    /// SQL run as the superuser before the runtime starts (tables, indexes, grants).
    pub setup: &'static str,
}

impl Default for LabOptions {
    fn default() -> Self {
        Self {
            admin: true,
            seed: 42,
            setup: "",
        }
    }
}

/// A cluster, a chaos runtime, and the proxy in front.
pub struct Lab {
    pub pg: PgCluster,
    pub proxy: PgProxy,
    pub rt: Arc<ChaosRuntime>,
    events: Arc<Mutex<Vec<ChaosEvent>>>,
}

/// The superuser over the cluster's unix socket, in key-value form.
pub fn admin_url(pg: &PgCluster) -> String {
    format!(
        "host={} port={} user=postgres dbname={}",
        pg.socket_dir().display(),
        pg.port(),
        pg.database()
    )
}

impl Lab {
    pub async fn start(script: &str, opts: LabOptions) -> Result<Lab> {
        let (script, _warnings) =
            load_chaos(script).map_err(|p| anyhow::anyhow!(p.render("test.yaml")))?;
        let pg = tokio::task::spawn_blocking(PgCluster::start).await??;
        if !opts.setup.is_empty() {
            pg.admin_sql(pg.database(), opts.setup)?;
        }
        let (tx, mut rx) = mpsc::channel(256);
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                sink.lock().unwrap().push(e);
            }
        });
        let mut options = ChaosOptions::default()
            .with_events(tx)
            .with_seed(opts.seed)
            .with_run_id("test-run");
        if opts.admin {
            options = options.with_admin_url(admin_url(&pg));
        }
        let rt = Arc::new(ChaosRuntime::start(script, options)?);
        let upstream: SocketAddr = format!("127.0.0.1:{}", pg.port()).parse()?;
        let for_sessions = Arc::clone(&rt);
        let proxy = PgProxy::bind_with(
            PgProxyConfig::new("127.0.0.1:0".parse()?, upstream),
            move |_s: &SessionInfo| ChaosGuard {
                rt: Arc::clone(&for_sessions),
            },
        )
        .await?;
        Ok(Lab {
            pg,
            proxy,
            rt,
            events,
        })
    }

    pub fn port(&self) -> u16 {
        self.proxy.local_addr().port()
    }

    /// A tokio-postgres client through the proxy, as the cluster's SCRAM user.
    pub async fn client(&self) -> Result<Client> {
        connect(&self.pg.url_via(self.port())).await
    }

    /// Every chaos event so far.
    pub fn events(&self) -> Vec<ChaosEvent> {
        self.events.lock().unwrap().clone()
    }

    /// Waits (up to `within`) for the `chaos_completed` of `trigger`.
    pub async fn completed(&self, trigger: &str, within: Duration) -> Result<ChaosEvent> {
        let deadline = Instant::now() + within;
        loop {
            let hit = self.events().into_iter().find(
                |e| matches!(e, ChaosEvent::ChaosCompleted { trigger: t, .. } if t == trigger),
            );
            if let Some(e) = hit {
                return Ok(e);
            }
            if Instant::now() >= deadline {
                bail!(
                    "no chaos_completed for {trigger} within {within:?}: {:?}",
                    self.events()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `sql` as the superuser (psql, unaligned, tuples only), trimmed.
    pub fn admin(&self, sql: &str) -> Result<String> {
        Ok(self
            .pg
            .admin_sql(self.pg.database(), sql)?
            .trim()
            .to_string())
    }

    /// Polls `sql` as the superuser until it prints `want` (up to `within`).
    pub async fn admin_until(&self, sql: &str, want: &str, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.admin(sql)?;
            if got == want {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("`{sql}` printed {got:?}, not {want:?}, within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The schema and roles as text: every user table's columns with exact types and
    /// collations, every index definition with its comment and flags, every role's login
    /// attributes. Equal snapshots mean nothing was left changed.
    pub fn snapshot(&self) -> Result<String> {
        self.admin(
            "SELECT string_agg(line, E'\\n' ORDER BY line) FROM ( \
               SELECT format('col %s.%s %s %s', a.attrelid::regclass, a.attname, \
                             format_type(a.atttypid, a.atttypmod), a.attcollation) AS line \
               FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
               JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 \
                 AND NOT a.attisdropped \
               UNION ALL \
               SELECT format('idx %s %s %s %s', pg_get_indexdef(i.indexrelid), \
                             obj_description(i.indexrelid, 'pg_class'), i.indisclustered, \
                             i.indisvalid) \
               FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
               JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' \
               UNION ALL \
               SELECT format('role %s %s %s', rolname, rolcanlogin, rolvaliduntil) \
               FROM pg_roles WHERE rolname LIKE 'shakedown%') s",
        )
    }
}

/// A tokio-postgres client for `url`, its connection driven by a task.
pub async fn connect(url: &str) -> Result<Client> {
    let (client, conn) =
        tokio::time::timeout(Duration::from_secs(5), tokio_postgres::connect(url, NoTls))
            .await
            .context("connect timed out")??;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// The first column of the first row `sql` returns (simple protocol), as text.
pub async fn value(client: &Client, sql: &str) -> Result<Option<String>> {
    let messages = client
        .simple_query(sql)
        .await
        .with_context(|| format!("`{sql}`"))?;
    Ok(messages
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
            _ => None,
        })
        .flatten())
}

/// The SQLSTATE of a failed statement.
pub fn sqlstate(e: &tokio_postgres::Error) -> Option<String> {
    e.code().map(|c| c.code().to_string())
}

/// Runs `sql` (simple protocol) and returns how long it took, failing on an error.
pub async fn timed(client: &Client, sql: &str) -> Result<Duration> {
    let t = Instant::now();
    client
        .batch_execute(sql)
        .await
        .with_context(|| format!("`{sql}`"))?;
    Ok(t.elapsed())
}

/// The outcome of a `chaos_completed`.
pub fn outcome(e: &ChaosEvent) -> Option<ChaosOutcome> {
    match e {
        ChaosEvent::ChaosCompleted { outcome, .. } => Some(*outcome),
        ChaosEvent::ChaosTriggered { .. } => None,
    }
}
