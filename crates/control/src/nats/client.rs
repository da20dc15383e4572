//! The NATS client: a handle and one driver task that owns the connection. The driver
//! answers the server's `PING`s, sends its own to notice a dead server, re-subscribes after a
//! reconnection, and reconnects with a doubling, capped delay, a bounded number of times.
//!
//! Publishing never waits for the network: [`Client::try_publish`] puts the message in a
//! bounded queue and returns; what cannot be queued, or is taken from the queue while there is
//! no connection, is dropped and counted (warned about once). Nothing is buffered across a
//! disconnection: core NATS is at-most-once anyway.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::connection::{self, Connection};
use super::error::NatsError;
pub use super::proto::Message;
use super::proto::{self, ServerOp};
use super::server_url::{ServerAddr, parse_servers};

/// Commands taken from the queue per write, so a burst of events becomes one syscall.
const BATCH: usize = 64;

/// How the client connects and how patient it is.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Sent in `CONNECT` (shows in the server's monitoring).
    pub name: String,
    /// Per attempt: TCP connect, and then the whole handshake.
    pub connect_timeout: Duration,
    /// How often the client pings the server.
    pub ping_interval: Duration,
    /// Pings without a `PONG` after which the connection counts as dead.
    pub max_pings_out: usize,
    /// First delay between reconnection rounds; doubled each round up to `reconnect_max`.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// Reconnection rounds (every server tried once per round) before giving up for good.
    pub max_reconnects: u32,
    /// Messages the outgoing queue holds before publishes are dropped.
    pub outbound_capacity: usize,
    /// Messages a subscription holds before deliveries to it are dropped.
    pub subscription_capacity: usize,
    /// Longest a write to the server may take before the connection counts as dead.
    pub write_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            name: "shakedown".into(),
            connect_timeout: Duration::from_secs(2),
            ping_interval: Duration::from_secs(20),
            max_pings_out: 2,
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(2),
            // With the 2 s cap: about 55 hours of trying, then a clear error.
            max_reconnects: 100_000,
            outbound_capacity: 1024,
            subscription_capacity: 256,
            write_timeout: Duration::from_secs(5),
        }
    }
}

/// Where the connection stands.
#[derive(Debug, Clone)]
pub enum ConnState {
    /// The first connection attempt has not finished.
    Connecting,
    Connected {
        server: String,
    },
    /// Lost; reconnecting.
    Disconnected {
        error: NatsError,
    },
    /// The driver ended: closed by the caller (`None`) or gave up (`Some`).
    Closed {
        error: Option<NatsError>,
    },
}

/// Counters since the client started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages written to the server.
    pub published: u64,
    /// Messages that could not be published (queue full, no connection, too large).
    pub dropped: u64,
    /// Messages delivered to subscriptions.
    pub delivered: u64,
    /// Deliveries dropped because a subscription's queue was full.
    pub slow_consumer: u64,
    /// Successful reconnections.
    pub reconnects: u64,
}

#[derive(Debug, Default)]
struct Counters {
    published: AtomicU64,
    dropped: AtomicU64,
    delivered: AtomicU64,
    slow_consumer: AtomicU64,
    reconnects: AtomicU64,
    warned: AtomicBool,
}

impl Counters {
    /// Counts `n` dropped publishes; the first drop is logged, later ones only counted.
    fn drop_publish(&self, n: u64, servers: &str, why: &str) {
        if n == 0 {
            return;
        }
        self.dropped.fetch_add(n, Ordering::Relaxed);
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "NATS {servers}: dropping published messages ({why}); they are counted and \
                 nothing else waits for NATS"
            );
        }
    }
}

enum Command {
    Publish {
        subject: String,
        reply: Option<String>,
        payload: Bytes,
    },
    Subscribe {
        subject: String,
        tx: mpsc::Sender<Message>,
        done: oneshot::Sender<u64>,
    },
    Flush {
        done: oneshot::Sender<Result<(), NatsError>>,
    },
}

/// A subscription: messages arrive here until the client closes.
#[derive(Debug)]
pub struct Subscription {
    pub sid: u64,
    pub subject: String,
    rx: mpsc::Receiver<Message>,
}

impl Subscription {
    /// The next message; `None` once the client has closed.
    pub async fn next(&mut self) -> Option<Message> {
        self.rx.recv().await
    }
}

struct Inner {
    tx: mpsc::Sender<Command>,
    counters: Arc<Counters>,
    state: watch::Receiver<ConnState>,
    cancel: CancellationToken,
    servers: String,
    subscription_capacity: usize,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: nobody can publish or read any more.
        self.cancel.cancel();
    }
}

/// A connection to NATS that survives the server going away. Cloning shares it.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl Client {
    /// Connects now: the first server of `urls` that completes the handshake is used; when
    /// none does, the error of the last one is returned. Later losses reconnect in the
    /// background.
    pub async fn connect(urls: &str, opts: ClientOptions) -> Result<Client, NatsError> {
        let servers = parse_servers(urls)?;
        let mut last = None;
        for s in &servers {
            match connection::open(s, &opts.name, opts.connect_timeout).await {
                Ok(c) => return Ok(Client::start(servers, Some(c), opts)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(NatsError::Closed))
    }

    /// Checks `urls` and connects in the background: a server that is down is not an error
    /// here (publishes are dropped and counted until it is up). Needs a tokio runtime.
    pub fn connect_lazy(urls: &str, opts: ClientOptions) -> Result<Client, NatsError> {
        let servers = parse_servers(urls)?;
        Ok(Client::start(servers, None, opts))
    }

    fn start(servers: Vec<ServerAddr>, conn: Option<Connection>, opts: ClientOptions) -> Client {
        let (tx, rx) = mpsc::channel(opts.outbound_capacity.max(1));
        let initial = match &conn {
            Some(c) => ConnState::Connected {
                server: c.server.clone(),
            },
            None => ConnState::Connecting,
        };
        let (state_tx, state) = watch::channel(initial);
        let subscription_capacity = opts.subscription_capacity.max(1);
        let counters = Arc::new(Counters::default());
        let cancel = CancellationToken::new();
        let names = servers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let driver = Driver {
            servers,
            opts,
            rx,
            counters: counters.clone(),
            state: state_tx,
            cancel: cancel.clone(),
            subs: BTreeMap::new(),
            next_sid: 1,
            names: names.clone(),
        };
        let task = tokio::spawn(driver.run(conn));
        Client {
            inner: Arc::new(Inner {
                tx,
                counters,
                state,
                cancel,
                servers: names,
                subscription_capacity,
                task: std::sync::Mutex::new(Some(task)),
            }),
        }
    }

    /// The servers, as `host:port` without credentials.
    pub fn servers(&self) -> &str {
        &self.inner.servers
    }

    /// Queues a message without waiting. A full queue drops it (counted).
    pub fn try_publish(&self, subject: &str, payload: Bytes) -> Result<(), NatsError> {
        check(subject, false)?;
        let cmd = Command::Publish {
            subject: subject.to_string(),
            reply: None,
            payload,
        };
        self.inner.tx.try_send(cmd).map_err(|e| {
            let why = match e {
                mpsc::error::TrySendError::Full(_) => "the outgoing queue is full",
                mpsc::error::TrySendError::Closed(_) => "the client is closed",
            };
            self.inner
                .counters
                .drop_publish(1, &self.inner.servers, why);
            NatsError::NotConnected { reason: why.into() }
        })
    }

    /// Queues a message, waiting for room in the queue (not for the server). With `reply`,
    /// answers go to that subject.
    pub async fn publish(
        &self,
        subject: &str,
        reply: Option<&str>,
        payload: Bytes,
    ) -> Result<(), NatsError> {
        check(subject, false)?;
        if let Some(r) = reply {
            check(r, false)?;
        }
        self.inner
            .tx
            .send(Command::Publish {
                subject: subject.to_string(),
                reply: reply.map(str::to_string),
                payload,
            })
            .await
            .map_err(|_| NatsError::Closed)
    }

    /// Subscribes to `subject` (wildcards allowed). While disconnected the subscription is
    /// registered and sent on reconnection; [`Client::flush`] confirms the server has it.
    pub async fn subscribe(&self, subject: &str) -> Result<Subscription, NatsError> {
        check(subject, true)?;
        let (tx, rx) = mpsc::channel(self.inner.subscription_capacity);
        let (done, sid) = oneshot::channel();
        self.inner
            .tx
            .send(Command::Subscribe {
                subject: subject.to_string(),
                tx,
                done,
            })
            .await
            .map_err(|_| NatsError::Closed)?;
        let sid = sid.await.map_err(|_| NatsError::Closed)?;
        Ok(Subscription {
            sid,
            subject: subject.to_string(),
            rx,
        })
    }

    /// Waits until the server has processed everything queued before this call (a `PING`
    /// answered by `PONG`), at most `timeout`.
    pub async fn flush(&self, timeout: Duration) -> Result<(), NatsError> {
        let (done, rx) = oneshot::channel();
        let wait = async {
            self.inner
                .tx
                .send(Command::Flush { done })
                .await
                .map_err(|_| NatsError::Closed)?;
            rx.await.map_err(|_| NatsError::Closed)?
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| NatsError::NotConnected {
                reason: format!("no PONG within {timeout:?}"),
            })?
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        Stats {
            published: c.published.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            slow_consumer: c.slow_consumer.load(Ordering::Relaxed),
            reconnects: c.reconnects.load(Ordering::Relaxed),
        }
    }

    /// Follows the connection state.
    pub fn state(&self) -> watch::Receiver<ConnState> {
        self.inner.state.clone()
    }

    /// Closes the connection and waits for the driver to end.
    pub async fn close(&self) {
        self.inner.cancel.cancel();
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

fn check(subject: &str, wildcards: bool) -> Result<(), NatsError> {
    proto::check_subject(subject, wildcards).map_err(|reason| NatsError::Subject {
        subject: proto::printable(subject.as_bytes()),
        reason,
    })
}

struct Sub {
    subject: String,
    tx: mpsc::Sender<Message>,
}

/// How a connected session ended.
enum SessionEnd {
    /// Closed by the caller or every handle dropped.
    Closed,
    Lost(NatsError),
}

struct Driver {
    servers: Vec<ServerAddr>,
    opts: ClientOptions,
    rx: mpsc::Receiver<Command>,
    counters: Arc<Counters>,
    state: watch::Sender<ConnState>,
    cancel: CancellationToken,
    subs: BTreeMap<u64, Sub>,
    next_sid: u64,
    names: String,
}

impl Driver {
    async fn run(mut self, mut conn: Option<Connection>) {
        let mut first = conn.is_none();
        // Why there is no connection, for drops and refused flushes while reconnecting.
        let mut lost = NatsError::NotConnected {
            reason: "still connecting".into(),
        };
        loop {
            let c = match conn.take() {
                Some(c) => c,
                None => match self.reconnect(first, lost.clone()).await {
                    Ok(Some(c)) => {
                        if !first {
                            self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
                        }
                        c
                    }
                    Ok(None) => {
                        self.state.send_replace(ConnState::Closed { error: None });
                        return;
                    }
                    Err(e) => {
                        tracing::error!("{e}");
                        self.state
                            .send_replace(ConnState::Closed { error: Some(e) });
                        return;
                    }
                },
            };
            first = false;
            tracing::info!("NATS: connected to {}", c.server);
            self.state.send_replace(ConnState::Connected {
                server: c.server.clone(),
            });
            match self.session(c).await {
                SessionEnd::Closed => {
                    self.state.send_replace(ConnState::Closed { error: None });
                    return;
                }
                SessionEnd::Lost(e) => {
                    tracing::warn!("{e}");
                    self.state
                        .send_replace(ConnState::Disconnected { error: e.clone() });
                    lost = e;
                }
            }
        }
    }

    /// Tries every server once per round, waiting a doubling delay between rounds; commands
    /// that arrive meanwhile are answered (publishes dropped, subscriptions registered,
    /// flushes refused). `Ok(None)`: closed while trying.
    async fn reconnect(
        &mut self,
        first: bool,
        mut last: NatsError,
    ) -> Result<Option<Connection>, NatsError> {
        let mut delay = self.opts.reconnect_min;
        let rounds = self.opts.max_reconnects.max(1);
        for round in 0..rounds {
            // The very first attempt of a lazy client goes out at once.
            if round > 0 || !first {
                let until = Instant::now() + delay;
                if !self.offline_until(until, &last).await {
                    return Ok(None);
                }
                delay = (delay * 2).min(self.opts.reconnect_max);
            }
            for s in &self.servers {
                if self.cancel.is_cancelled() {
                    return Ok(None);
                }
                match connection::open(s, &self.opts.name, self.opts.connect_timeout).await {
                    Ok(c) => return Ok(Some(c)),
                    Err(e) => last = e,
                }
            }
            // The loss itself was logged; each failed round only at debug.
            tracing::debug!("{last}");
            self.state.send_replace(ConnState::Disconnected {
                error: last.clone(),
            });
        }
        Err(NatsError::GaveUp {
            attempts: rounds,
            last: last.to_string(),
        })
    }

    /// Answers commands without a connection until `until`; `false` when closed meanwhile.
    async fn offline_until(&mut self, until: Instant, last: &NatsError) -> bool {
        // Bounded by time; each iteration either ends the wait or consumes one command.
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return true,
                _ = self.cancel.cancelled() => return false,
                cmd = self.rx.recv() => match cmd {
                    None => return false,
                    Some(Command::Publish { .. }) => {
                        let why = format!("not connected: {last}");
                        self.counters.drop_publish(1, &self.names, &why);
                    }
                    Some(Command::Subscribe { subject, tx, done }) => {
                        let sid = self.add_sub(subject, tx);
                        let _ = done.send(sid);
                    }
                    Some(Command::Flush { done }) => {
                        let _ = done.send(Err(NatsError::NotConnected { reason: last.to_string() }));
                    }
                },
            }
        }
    }

    fn add_sub(&mut self, subject: String, tx: mpsc::Sender<Message>) -> u64 {
        let sid = self.next_sid;
        self.next_sid += 1;
        self.subs.insert(sid, Sub { subject, tx });
        sid
    }

    async fn session(&mut self, c: Connection) -> SessionEnd {
        let Connection {
            mut reader,
            mut writer,
            info,
            server,
        } = c;
        let max_payload = usize::try_from(info.max_payload)
            .ok()
            .filter(|m| *m > 0)
            .unwrap_or(usize::MAX);
        let mut out = BytesMut::new();
        for (sid, s) in &self.subs {
            proto::encode_sub(&s.subject, *sid, &mut out);
        }
        if !out.is_empty()
            && let Err(e) = writer.write(&out).await
        {
            return SessionEnd::Lost(e);
        }
        // One entry per PING in flight: `Some` for a flush waiting on its PONG.
        let mut pings: VecDeque<Option<oneshot::Sender<Result<(), NatsError>>>> = VecDeque::new();
        let mut server_err: Option<String> = None;
        let period = self.opts.ping_interval.max(Duration::from_millis(10));
        let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
        let end = loop {
            tokio::select! {
                _ = self.cancel.cancelled() => break SessionEnd::Closed,
                op = reader.next() => match op {
                    Ok(ServerOp::Msg(m)) => self.deliver(m),
                    Ok(ServerOp::Ping) => {
                        if let Err(e) = writer.write(proto::PONG).await {
                            break SessionEnd::Lost(e);
                        }
                    }
                    Ok(ServerOp::Pong) => {
                        // A flush reports an -ERR that came before its PONG: the server refused
                        // something it was sent (e.g. a SUB it does not permit).
                        let refused = server_err.take();
                        if let Some(Some(done)) = pings.pop_front() {
                            let _ = done.send(match refused {
                                Some(message) => Err(NatsError::Server { server: server.clone(), message }),
                                None => Ok(()),
                            });
                        }
                    }
                    // Most -ERRs are followed by the server closing the connection, which the
                    // next read reports; the others (permissions) are logged and kept for the
                    // next flush.
                    Ok(ServerOp::Err(message)) => {
                        tracing::warn!("{}", NatsError::Server { server: server.clone(), message: message.clone() });
                        server_err.get_or_insert(message);
                    }
                    Ok(ServerOp::Ok | ServerOp::Info(_)) => {}
                    Err(e) => break SessionEnd::Lost(e),
                },
                cmd = self.rx.recv() => {
                    let Some(cmd) = cmd else { break SessionEnd::Closed };
                    out.clear();
                    let mut publishes = 0u64;
                    let mut next = Some(cmd);
                    let mut taken = 0;
                    while let Some(cmd) = next.take() {
                        taken += 1;
                        match cmd {
                            Command::Publish { subject, reply, payload } => {
                                if payload.len() > max_payload {
                                    let e = NatsError::TooLarge { len: payload.len(), max: max_payload };
                                    self.counters.drop_publish(1, &self.names, &e.to_string());
                                } else {
                                    proto::encode_pub(&subject, reply.as_deref(), &payload, &mut out);
                                    publishes += 1;
                                }
                            }
                            Command::Subscribe { subject, tx, done } => {
                                let sid = self.add_sub(subject.clone(), tx);
                                proto::encode_sub(&subject, sid, &mut out);
                                let _ = done.send(sid);
                            }
                            Command::Flush { done } => {
                                out.extend_from_slice(proto::PING);
                                pings.push_back(Some(done));
                            }
                        }
                        if taken < BATCH {
                            next = self.rx.try_recv().ok();
                        }
                    }
                    if out.is_empty() {
                        continue;
                    }
                    match writer.write(&out).await {
                        Ok(()) => {
                            self.counters.published.fetch_add(publishes, Ordering::Relaxed);
                        }
                        Err(e) => {
                            self.counters.drop_publish(publishes, &self.names, &e.to_string());
                            break SessionEnd::Lost(e);
                        }
                    }
                }
                _ = ticker.tick() => {
                    if pings.len() >= self.opts.max_pings_out.max(1) {
                        break SessionEnd::Lost(NatsError::Lost {
                            server: server.clone(),
                            reason: format!("no PONG to {} PINGs (stale connection)", pings.len()),
                        });
                    }
                    if let Err(e) = writer.write(proto::PING).await {
                        break SessionEnd::Lost(e);
                    }
                    pings.push_back(None);
                }
            }
        };
        let reason = match &end {
            SessionEnd::Closed => NatsError::Closed,
            SessionEnd::Lost(e) => e.clone(),
        };
        for done in pings.into_iter().flatten() {
            let _ = done.send(Err(reason.clone()));
        }
        end
    }

    fn deliver(&mut self, m: Message) {
        let sid = m.sid;
        let Some(sub) = self.subs.get(&sid) else {
            // A late message for a subscription already gone.
            return;
        };
        // Counted before the hand-over, so a subscriber that has the message also sees it
        // counted; taken back when it could not be handed over.
        self.counters.delivered.fetch_add(1, Ordering::Relaxed);
        match sub.tx.try_send(m) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(m)) => {
                self.counters.delivered.fetch_sub(1, Ordering::Relaxed);
                self.counters.slow_consumer.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "NATS: subscription to {} is not keeping up; dropped a message on {}",
                    sub.subject,
                    m.subject
                );
            }
            // The subscriber is gone: keep the SUB (harmless) but stop delivering.
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.counters.delivered.fetch_sub(1, Ordering::Relaxed);
                self.subs.remove(&sid);
            }
        }
    }
}
