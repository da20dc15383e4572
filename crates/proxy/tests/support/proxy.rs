//! Shared test plumbing: a real cluster with the proxy in front, an interceptor that blocks
//! statements naming `forbidden_table` and records what it saw, and a tiny raw-protocol client
//! for assertions at the byte level (exact ReadyForQuery statuses, message order).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::BytesMut;
use shakedown_pgtest::{PgCluster, Role};
use shakedown_proxy::pg::codec::{Direction, FrameLimits, decode_frame};
use shakedown_proxy::pg::messages::{ErrorResponse, Message, ReadyForQuery, StartupMessage};
use shakedown_proxy::pg::{
    BackendEvent, Frame, Interceptor, PgProxy, PgProxyConfig, ProxyEvent, SessionInfo,
    TransactionStatus, Verdict,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// The word the test policy blocks.
pub const FORBIDDEN: &str = "forbidden_table";
/// The message of the test policy's rejection.
pub const BLOCK_MESSAGE: &str = "blocked by test policy: forbidden_table";

/// What the blocking interceptor saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub queries: Vec<String>,
    pub parses: Vec<(String, String)>,
    /// (statement, tag, rows) of completions.
    pub completed: Vec<(Option<String>, String, Option<u64>)>,
    /// (sqlstate, rejected) of failures.
    pub failed: Vec<(String, bool)>,
}

/// Rejects every statement containing [`FORBIDDEN`] (any case) with 42501.
#[derive(Debug, Clone, Default)]
pub struct BlockForbidden {
    pub seen: Arc<Mutex<Seen>>,
}

fn verdict(sql: &str) -> Verdict {
    if sql.to_ascii_lowercase().contains(FORBIDDEN) {
        Verdict::block(BLOCK_MESSAGE)
    } else {
        Verdict::Forward
    }
}

impl Interceptor for BlockForbidden {
    async fn on_query(&self, sql: &str, _session: &SessionInfo) -> Verdict {
        self.seen.lock().unwrap().queries.push(sql.to_string());
        verdict(sql)
    }

    async fn on_parse(&self, name: &str, sql: &str, _session: &SessionInfo) -> Verdict {
        self.seen
            .lock()
            .unwrap()
            .parses
            .push((name.to_string(), sql.to_string()));
        verdict(sql)
    }

    async fn on_backend(&self, event: &BackendEvent<'_>, _session: &SessionInfo) {
        let mut seen = self.seen.lock().unwrap();
        match event {
            BackendEvent::Completed {
                statement, command, ..
            } => seen.completed.push((
                statement.map(str::to_string),
                command.tag_text().into_owned(),
                command.rows(),
            )),
            BackendEvent::Failed {
                error, rejected, ..
            } => seen
                .failed
                .push((error.sqlstate().unwrap_or_default().into_owned(), *rejected)),
            _ => {}
        }
    }
}

/// A cluster with a proxy in front of it.
pub struct Harness {
    pub pg: PgCluster,
    pub proxy: PgProxy,
    /// Every event so far, collected by a task that drains the channel (the proxy waits when
    /// the channel is full, so somebody must drain it).
    pub events: Arc<Mutex<Vec<ProxyEvent>>>,
}

impl Harness {
    /// Start a cluster and a proxy using `factory`.
    pub async fn start<F: shakedown_proxy::pg::InterceptorFactory>(factory: F) -> Result<Self> {
        Self::start_with(factory, |c| c).await
    }

    /// Same, with the proxy config adjusted by `tweak`.
    pub async fn start_with<F: shakedown_proxy::pg::InterceptorFactory>(
        factory: F,
        tweak: impl FnOnce(PgProxyConfig) -> PgProxyConfig,
    ) -> Result<Self> {
        let pg = tokio::task::spawn_blocking(PgCluster::start).await??;
        let upstream: SocketAddr = format!("127.0.0.1:{}", pg.port()).parse()?;
        let (tx, mut rx) = mpsc::channel(1024);
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        // Ends when the proxy (the only sender) is gone.
        tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                sink.lock().unwrap().push(e);
            }
        });
        let config = tweak(PgProxyConfig::new("127.0.0.1:0".parse()?, upstream).with_events(tx));
        let proxy = PgProxy::bind_with(config, factory).await?;
        Ok(Self { pg, proxy, events })
    }

    pub fn port(&self) -> u16 {
        self.proxy.local_addr().port()
    }

    /// psql through the proxy as `role`, running `args`; returns (success, stdout, stderr).
    pub async fn psql(&self, role: &Role, args: &[&str]) -> Result<(bool, String, String)> {
        let mut cmd = tokio::process::Command::from(self.pg.psql_via(self.port(), role));
        cmd.args(args).kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(20), cmd.output())
            .await
            .context("psql timed out")??;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// Drain the events received so far.
    pub fn drain_events(&mut self) -> Vec<ProxyEvent> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
}

/// A minimal protocol client speaking raw frames, for byte-level assertions.
pub struct RawClient {
    pub stream: TcpStream,
    buf: BytesMut,
}

impl RawClient {
    /// Connect to `port` and send a StartupMessage, without reading anything.
    pub async fn connect_unstarted(port: u16) -> Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        Ok(Self {
            stream,
            buf: BytesMut::new(),
        })
    }

    /// Connect as the trust role and read until the first ReadyForQuery.
    pub async fn connect_trust(port: u16, pg: &PgCluster) -> Result<Self> {
        let mut c = Self::connect_unstarted(port).await?;
        let startup = StartupMessage::new([
            ("user", pg.trust_role().name.as_str()),
            ("database", pg.database()),
        ]);
        c.stream.write_all(startup.to_frame().as_bytes()).await?;
        let frames = c.until_ready().await?;
        if frames.iter().any(|f| f.tag() == b'E') {
            bail!("login failed: {frames:?}");
        }
        Ok(c)
    }

    /// Send frames in one write (pipelined).
    pub async fn send(&mut self, frames: &[Frame]) -> Result<()> {
        let mut all = Vec::new();
        for f in frames {
            all.extend_from_slice(f.as_bytes());
        }
        self.stream.write_all(&all).await?;
        Ok(())
    }

    /// Read one frame (5 s bound); `None` on end of stream.
    pub async fn next(&mut self) -> Result<Option<Frame>> {
        loop {
            if let Some(f) =
                decode_frame(&mut self.buf, Direction::Backend, &FrameLimits::default())?
            {
                return Ok(Some(f));
            }
            let n =
                tokio::time::timeout(Duration::from_secs(5), self.stream.read_buf(&mut self.buf))
                    .await
                    .context("no answer within 5 s")??;
            if n == 0 {
                return Ok(None);
            }
        }
    }

    /// Read frames up to and including ReadyForQuery.
    pub async fn until_ready(&mut self) -> Result<Vec<Frame>> {
        let mut frames = Vec::new();
        for _ in 0..100_000 {
            let f = self
                .next()
                .await?
                .context("connection closed before ReadyForQuery")?;
            let done = f.tag() == b'Z';
            frames.push(f);
            if done {
                return Ok(frames);
            }
        }
        bail!("no ReadyForQuery in 100000 frames")
    }
}

/// The tags of `frames` as a string, e.g. "12DCZ".
pub fn tags(frames: &[Frame]) -> String {
    frames.iter().map(|f| char::from(f.tag())).collect()
}

/// The SQLSTATEs of the ErrorResponses in `frames`.
pub fn sqlstates(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f.tag() == b'E')
        .map(|f| {
            ErrorResponse::decode(f)
                .unwrap()
                .sqlstate()
                .unwrap_or_default()
                .into_owned()
        })
        .collect()
}

/// The status of the last ReadyForQuery in `frames`.
pub fn status(frames: &[Frame]) -> TransactionStatus {
    let z = frames
        .iter()
        .rev()
        .find(|f| f.tag() == b'Z')
        .expect("a ReadyForQuery");
    ReadyForQuery::decode(z).unwrap().status
}
