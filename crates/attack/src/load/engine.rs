//! A closed-loop HTTP/1.1 load generator: `connections` tasks, each with its own keep-alive
//! connection, send the same request back to back until a request budget, a deadline or the
//! halt token stops them. It powers `burst`-style attacks and the `shakedown load` command.
//!
//! Built for throughput on a machine shared with the target: the request is serialised once
//! and each exchange is one write and (usually) one read on a raw socket (`wire`), so a
//! request costs less CPU than it does in wrk. The hot path takes no lock and logs nothing:
//! the budget is one shared atomic counter, each task tallies statuses, errors and latencies
//! (HDR histogram) on its own, and the tallies are merged once at the end. Each task reuses
//! one timer for the per-request timeout and the deadline (moving a tokio timer later is an
//! atomic store, not a timer-wheel insertion) and one halt future.
//!
//! [`Client`] is the hyper-based keep-alive client for attacks that need response headers.

mod client;
mod report;
mod wire;

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::context::Target;
use crate::http::HttpRequest;

pub use client::{Client, ErrorKind, Exchange, RequestTemplate, TemplateError};
use report::TaskStats;
pub use report::{LatencyStats, LoadReport, StopReason};
use wire::{WireConn, WireRequest};

/// Longest pause between reconnect attempts after connect errors; a refused port must not
/// turn into a busy loop.
const MAX_CONNECT_BACKOFF: Duration = Duration::from_millis(100);
/// Durations and timeouts are capped here, so "practically forever" cannot overflow an
/// `Instant`.
const FOREVER: Duration = Duration::from_secs(365 * 86_400);

/// What to send, how hard and for how long.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Where the load goes; resolve it with [`crate::resolve_target`] so the scope applies.
    pub target: Target,
    /// Sent unchanged by every connection (path already includes the target's base path).
    /// `Content-Length`/`Transfer-Encoding` headers are replaced by a length matching the body.
    pub request: HttpRequest,
    /// Concurrent keep-alive connections, one task each.
    pub connections: usize,
    /// Stop after this many requests (responses plus errors); `None` = until the deadline.
    pub max_requests: Option<u64>,
    /// Stop after this long in any case (at most a year).
    pub duration: Duration,
    /// A request without a complete response after this long counts as a timeout and its
    /// connection is replaced.
    pub per_request_timeout: Duration,
}

impl LoadSpec {
    /// 50 connections for 10 s, 10 s per-request timeout, no request budget.
    pub fn new(target: Target, request: HttpRequest) -> LoadSpec {
        LoadSpec {
            target,
            request,
            connections: 50,
            max_requests: None,
            duration: Duration::from_secs(10),
            per_request_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a load run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Request(#[from] TemplateError),
    #[error("a load run needs at least one connection; pass a connection count of 1 or more")]
    NoConnections,
}

struct Shared {
    request: WireRequest,
    addr: std::net::SocketAddr,
    /// Requests handed out so far; a task takes one before each request.
    issued: AtomicU64,
    max_requests: Option<u64>,
    deadline: Instant,
    timeout: Duration,
}

impl Shared {
    /// Takes one request from the budget; false once it is spent.
    #[inline]
    fn take(&self) -> bool {
        match self.max_requests {
            Some(max) => self.issued.fetch_add(1, Ordering::Relaxed) < max,
            None => true,
        }
    }
}

/// Runs the load described by `spec` and reports what came back. Stops at the request
/// budget, at `spec.duration`, or promptly when `halt` is cancelled; every connection is
/// closed when this returns (or when the returned future is dropped).
pub async fn run_load(spec: &LoadSpec, halt: &CancellationToken) -> Result<LoadReport, LoadError> {
    if spec.connections == 0 {
        return Err(LoadError::NoConnections);
    }
    let template = RequestTemplate::new(&spec.target, &spec.request)?;
    let start = Instant::now();
    let shared = Arc::new(Shared {
        request: WireRequest::new(&template),
        addr: spec.target.addr,
        issued: AtomicU64::new(0),
        max_requests: spec.max_requests,
        deadline: start + spec.duration.min(FOREVER),
        timeout: spec.per_request_timeout.min(FOREVER),
    });
    let workers = match spec.max_requests {
        Some(max) => spec
            .connections
            .min(usize::try_from(max).unwrap_or(usize::MAX)),
        None => spec.connections,
    };
    let mut tasks = JoinSet::new();
    for _ in 0..workers {
        tasks.spawn(worker(Arc::clone(&shared), halt.clone()));
    }
    let mut stats = Vec::with_capacity(workers);
    let mut hit_deadline = false;
    while let Some(joined) = tasks.join_next().await {
        // A panicked task loses its tallies; there is nothing better to report for it.
        if let Ok((s, deadline)) = joined {
            stats.push(s);
            hit_deadline |= deadline;
        }
    }
    let stop = if halt.is_cancelled() {
        StopReason::Halt
    } else if hit_deadline {
        StopReason::Deadline
    } else {
        StopReason::Count
    };
    Ok(report::merge(
        stats,
        spec.connections,
        start.elapsed(),
        stop,
    ))
}

/// One connection's loop. Returns its tallies and whether the deadline stopped it.
async fn worker(shared: Arc<Shared>, halt: CancellationToken) -> (TaskStats, bool) {
    let mut stats = TaskStats::new();
    let mut conn = WireConn::new(shared.addr);
    let deadline = shared.deadline;
    let mut halted = pin!(halt.clone().cancelled_owned());
    let mut timer = pin!(tokio::time::sleep_until(deadline));
    let mut backoff = Duration::ZERO;
    let mut hit_deadline = false;
    loop {
        if halt.is_cancelled() {
            break;
        }
        let start = Instant::now();
        if start >= deadline {
            hit_deadline = true;
            break;
        }
        if !shared.take() {
            break;
        }
        timer.as_mut().reset((start + shared.timeout).min(deadline));
        let result = tokio::select! {
            biased;
            r = conn.exchange(&shared.request) => Some(r),
            _ = timer.as_mut() => None,
            _ = halted.as_mut() => {
                stats.aborted += 1;
                break;
            }
        };
        match result {
            Some(Ok(x)) => {
                stats.latency(start.elapsed());
                stats.status(x.status);
                stats.body_bytes += x.body_bytes;
                backoff = Duration::ZERO;
            }
            Some(Err(kind)) => {
                stats.error(kind);
                if kind == ErrorKind::Connect {
                    backoff = (backoff * 2).clamp(Duration::from_millis(1), MAX_CONNECT_BACKOFF);
                    timer
                        .as_mut()
                        .reset((Instant::now() + backoff).min(deadline));
                    tokio::select! {
                        _ = timer.as_mut() => {}
                        _ = halted.as_mut() => break,
                    }
                }
            }
            None if Instant::now() >= deadline => {
                // Cut off by the end of the run, not by the per-request timeout.
                stats.aborted += 1;
                hit_deadline = true;
                break;
            }
            None => {
                stats.error(ErrorKind::Timeout);
                conn.reset();
            }
        }
    }
    stats.connects = conn.connects();
    (stats, hit_deadline)
}
