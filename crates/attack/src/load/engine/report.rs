//! What a load run measured: per-connection tallies kept without locks on the hot path, and
//! the merged [`LoadReport`].

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Serialize, Serializer};

use super::client::ErrorKind;

/// Largest latency recorded: one hour, in microseconds.
const MAX_LATENCY_US: u64 = 3_600_000_000;

pub(super) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Every request of `max_requests` was answered or failed.
    Count,
    /// `duration` elapsed.
    Deadline,
    /// The halt token was cancelled.
    Halt,
}

/// Latency percentiles in milliseconds (closed loop: from the moment a request was started,
/// including the connect when the request needed a new connection).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyStats {
    pub min_ms: f64,
    pub mean_ms: f64,
    pub stdev_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl LatencyStats {
    fn of(h: &Histogram<u64>) -> Option<LatencyStats> {
        let ms = |us: u64| us as f64 / 1000.0;
        (!h.is_empty()).then(|| LatencyStats {
            min_ms: ms(h.min()),
            mean_ms: h.mean() / 1000.0,
            stdev_ms: h.stdev() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        })
    }
}

/// The result of [`super::run_load`].
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Requests that completed: responses plus errors (excluding `aborted`).
    pub requests: u64,
    /// Requests answered with an HTTP response (any status).
    pub responses: u64,
    /// Wall-clock time of the run, from the first connect to the last task's end.
    #[serde(rename = "duration_secs", serialize_with = "as_secs")]
    pub duration: Duration,
    /// Completed requests per second.
    pub rps: f64,
    /// Responses per HTTP status code.
    pub status_histogram: BTreeMap<u16, u64>,
    /// Failed requests per kind of failure.
    pub errors: BTreeMap<ErrorKind, u64>,
    /// `None` when nothing completed.
    pub latency: Option<LatencyStats>,
    /// Response body bytes received.
    pub body_bytes: u64,
    /// Connections the run was asked to keep busy.
    pub connections: usize,
    /// TCP connections opened, including reconnects after the server closed one.
    pub connects: u64,
    /// Requests in flight when the deadline or the halt stopped the run (not counted above).
    pub aborted: u64,
    pub stop: StopReason,
    /// The merged latency histogram (microseconds), for callers that want other quantiles.
    #[serde(skip)]
    pub latency_histogram: Histogram<u64>,
}

fn as_secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl LoadReport {
    /// Errors of every kind.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Responses with a status in `range` (e.g. `200..300`).
    pub fn count_status(&self, range: std::ops::Range<u16>) -> u64 {
        self.status_histogram.range(range).map(|(_, n)| n).sum()
    }
}

/// What one connection task saw. Statuses are kept in a tiny vector: a run rarely sees more
/// than a handful of distinct codes, and a linear scan beats hashing for that.
pub(super) struct TaskStats {
    pub latency: Histogram<u64>,
    pub statuses: Vec<(u16, u64)>,
    pub errors: [u64; ErrorKind::ALL.len()],
    pub body_bytes: u64,
    pub connects: u64,
    pub aborted: u64,
}

impl TaskStats {
    pub fn new() -> TaskStats {
        TaskStats {
            latency: new_histogram(),
            statuses: Vec::with_capacity(4),
            errors: [0; ErrorKind::ALL.len()],
            body_bytes: 0,
            connects: 0,
            aborted: 0,
        }
    }

    #[inline]
    pub fn status(&mut self, code: u16) {
        match self.statuses.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => self.statuses.push((code, 1)),
        }
    }

    #[inline]
    pub fn error(&mut self, kind: ErrorKind) {
        self.errors[kind as usize] += 1;
    }

    #[inline]
    pub fn latency(&mut self, d: Duration) {
        self.latency
            .saturating_record((d.as_micros() as u64).clamp(1, MAX_LATENCY_US));
    }
}

/// Merges per-task tallies into the report.
pub(super) fn merge(
    tasks: Vec<TaskStats>,
    connections: usize,
    duration: Duration,
    stop: StopReason,
) -> LoadReport {
    let mut latency = new_histogram();
    let mut status_histogram = BTreeMap::new();
    let mut errors = BTreeMap::new();
    let (mut body_bytes, mut connects, mut aborted) = (0, 0, 0);
    for t in tasks {
        // Same bounds on both sides, so adding cannot fail.
        let _ = latency.add(&t.latency);
        for (code, n) in t.statuses {
            *status_histogram.entry(code).or_insert(0) += n;
        }
        for kind in ErrorKind::ALL {
            let n = t.errors[kind as usize];
            if n > 0 {
                *errors.entry(kind).or_insert(0) += n;
            }
        }
        body_bytes += t.body_bytes;
        connects += t.connects;
        aborted += t.aborted;
    }
    let responses: u64 = status_histogram.values().sum();
    let requests = responses + errors.values().sum::<u64>();
    let secs = duration.as_secs_f64();
    LoadReport {
        requests,
        responses,
        duration,
        rps: if secs > 0.0 {
            requests as f64 / secs
        } else {
            0.0
        },
        status_histogram,
        errors,
        latency: LatencyStats::of(&latency),
        body_bytes,
        connections,
        connects,
        aborted,
        stop,
        latency_histogram: latency,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_up_tasks() {
        let mut a = TaskStats::new();
        a.status(200);
        a.status(200);
        a.status(503);
        a.error(ErrorKind::Timeout);
        a.latency(Duration::from_millis(2));
        let mut b = TaskStats::new();
        b.status(503);
        b.error(ErrorKind::Connect);
        b.latency(Duration::from_millis(4));
        b.aborted = 1;
        let r = merge(vec![a, b], 2, Duration::from_secs(2), StopReason::Count);
        assert_eq!(r.requests, 6);
        assert_eq!(r.responses, 4);
        assert_eq!(r.status_histogram, BTreeMap::from([(200, 2), (503, 2)]));
        assert_eq!(
            r.errors,
            BTreeMap::from([(ErrorKind::Connect, 1), (ErrorKind::Timeout, 1)])
        );
        assert_eq!(r.aborted, 1);
        assert_eq!(r.rps, 3.0);
        assert_eq!(r.count_status(500..600), 2);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["status_histogram"]["503"], 2);
        assert_eq!(json["errors"]["timeout"], 1);
        assert_eq!(json["duration_secs"], 2.0);
        assert_eq!(json["stop"], "count");
        let lat = r.latency.unwrap();
        assert!(lat.min_ms >= 1.9 && lat.max_ms <= 4.1, "{lat:?}");
    }
}
