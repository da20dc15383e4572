//! The wire-side faults in force: latency, injected errors, partitions, throttling and loss,
//! each open for a window of time (or, for a one-shot timeout, until it hits a statement).
//! They apply to every session of the proxy, as a slow network or a full disk would. The
//! runner opens and closes windows; sessions ask what applies to their statement or response.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use shakedown_sql::SqlEvent;
use shakedown_sql::chaos::{ChaosAction, PartitionMode};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::add_latency::Latency;
use super::effect::Effect;
use super::simulate_timeout::Timeout;
use super::{cpu_throttle, disk_full, memory_pressure, network_partition, packet_loss};
use crate::pg::interceptor::Verdict;

/// One wire-side fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    Latency(Latency),
    Timeout(Timeout),
    DiskFull,
    MemoryPressure(u8),
    CpuThrottle(u8),
    Partition(PartitionMode),
    PacketLoss(u8),
}

impl Fault {
    /// The fault an action opens, for the wire-side actions.
    pub(crate) fn of(action: &ChaosAction) -> Option<Fault> {
        Some(match action {
            ChaosAction::AddLatency { latency, .. } => Fault::Latency(Latency(*latency)),
            ChaosAction::SimulateTimeout { duration } => Fault::Timeout(Timeout {
                once: duration.is_none(),
            }),
            ChaosAction::DiskFull { .. } => Fault::DiskFull,
            ChaosAction::MemoryPressure { percentage, .. } => Fault::MemoryPressure(*percentage),
            ChaosAction::CpuThrottle { percentage, .. } => Fault::CpuThrottle(*percentage),
            ChaosAction::NetworkPartition { mode, .. } => Fault::Partition(*mode),
            ChaosAction::PacketLoss { percentage, .. } => Fault::PacketLoss(*percentage),
            _ => return None,
        })
    }

    /// Verdict precedence when several faults want to decide: a partition means the statement
    /// never arrives, so it wins; then a timeout, a full disk, an allocation failure.
    fn rank(self) -> u8 {
        match self {
            Fault::Partition(_) => 4,
            Fault::Timeout(_) => 3,
            Fault::DiskFull => 2,
            Fault::MemoryPressure(_) => 1,
            _ => 0,
        }
    }
}

#[derive(Debug)]
struct Window {
    id: u64,
    fault: Fault,
    until: Option<Instant>,
    /// Statements or responses this window changed.
    affected: u64,
    /// A one-shot window that has hit its statement.
    spent: bool,
    /// Woken when a one-shot window is spent.
    spent_signal: Arc<Notify>,
}

impl Window {
    fn live(&self, now: Instant) -> bool {
        !self.spent && self.until.is_none_or(|u| now < u)
    }
}

/// The open windows and the generator their random draws come from.
#[derive(Debug)]
pub(crate) struct Windows {
    open: Vec<Window>,
    rng: StdRng,
}

impl Windows {
    pub(crate) fn new(rng: StdRng) -> Self {
        Self {
            open: Vec::new(),
            rng,
        }
    }

    /// Opens window `id` until `until` (`None`: until closed). Returns the signal a one-shot
    /// window raises when spent.
    pub(crate) fn open(&mut self, id: u64, fault: Fault, until: Option<Instant>) -> Arc<Notify> {
        let spent_signal = Arc::new(Notify::new());
        self.open.push(Window {
            id,
            fault,
            until,
            affected: 0,
            spent: false,
            spent_signal: Arc::clone(&spent_signal),
        });
        spent_signal
    }

    /// Closes window `id`; returns how many statements or responses it changed.
    pub(crate) fn close(&mut self, id: u64) -> Option<u64> {
        let i = self.open.iter().position(|w| w.id == id)?;
        Some(self.open.remove(i).affected)
    }

    /// Whether window `id` is a one-shot that has hit its statement.
    pub(crate) fn is_spent(&self, id: u64) -> bool {
        self.open.iter().any(|w| w.id == id && w.spent)
    }

    /// Whether any window is open (a cheap check for the hot path).
    pub(crate) fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// The effect on one protocol message carrying `statements`. Injected errors spare a
    /// message made only of session control (BEGIN, COMMIT, ROLLBACK, SET…) so a client can
    /// always end its transaction; latency, loss and partitions spare nothing.
    pub(crate) fn effect(&mut self, statements: &[SqlEvent], now: Instant) -> Effect {
        let control = !statements.is_empty()
            && statements.iter().all(|s| {
                s.statement_type
                    .is_some_and(shakedown_sql::StatementType::is_session_control)
            });
        let writes = statements.iter().any(disk_full::writes);
        let mut delay = Duration::ZERO;
        // (rank, index of the deciding window, verdict)
        let mut decided: Option<(u8, usize, Verdict)> = None;
        for (i, w) in self.open.iter_mut().enumerate() {
            if !w.live(now) {
                continue;
            }
            let verdict = match w.fault {
                Fault::Latency(l) => {
                    delay += l.on_statement();
                    w.affected += 1;
                    None
                }
                Fault::PacketLoss(p) => {
                    let s = packet_loss::stall(p, &mut self.rng);
                    if !s.is_zero() {
                        delay += s;
                        w.affected += 1;
                    }
                    None
                }
                Fault::Partition(mode) => {
                    let remaining = w.until.map_or(crate::pg::interceptor::MAX_BLACKHOLE, |u| {
                        u.saturating_duration_since(now)
                    });
                    Some(network_partition::verdict(mode, remaining))
                }
                Fault::Timeout(_) if !control => {
                    Some(Verdict::Reject(super::simulate_timeout::rejection()))
                }
                Fault::DiskFull if !control && writes => {
                    Some(Verdict::Reject(disk_full::rejection()))
                }
                Fault::MemoryPressure(p) if !control && memory_pressure::hits(p, &mut self.rng) => {
                    Some(Verdict::Reject(memory_pressure::rejection()))
                }
                _ => None,
            };
            if let Some(v) = verdict {
                let rank = w.fault.rank();
                if decided.as_ref().is_none_or(|(r, _, _)| rank > *r) {
                    decided = Some((rank, i, v));
                }
            }
        }
        let verdict = match decided {
            Some((_, i, v)) => {
                let w = &mut self.open[i];
                w.affected += 1;
                if matches!(w.fault, Fault::Timeout(Timeout { once: true })) {
                    w.spent = true;
                    w.spent_signal.notify_one();
                }
                v
            }
            None => Verdict::Forward,
        };
        Effect { delay, verdict }
    }

    /// The delay to hold a response back by: CPU throttling in proportion to `elapsed`, plus
    /// packet-loss stalls.
    pub(crate) fn response_delay(&mut self, elapsed: Duration, now: Instant) -> Duration {
        let mut factor = 1.0;
        let mut throttles = Vec::new();
        let mut stall = Duration::ZERO;
        for (i, w) in self.open.iter_mut().enumerate() {
            if !w.live(now) {
                continue;
            }
            match w.fault {
                Fault::CpuThrottle(p) if p > 0 => {
                    factor *= cpu_throttle::factor(p);
                    throttles.push(i);
                }
                Fault::PacketLoss(p) => {
                    let s = packet_loss::stall(p, &mut self.rng);
                    if !s.is_zero() {
                        stall += s;
                        w.affected += 1;
                    }
                }
                _ => {}
            }
        }
        let extra = cpu_throttle::extra(elapsed, factor);
        if !extra.is_zero() {
            for i in throttles {
                self.open[i].affected += 1;
            }
        }
        extra + stall
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use shakedown_sql::{ClassifyOptions, SqlEventType, classify};

    fn evs(sql: &str) -> Vec<SqlEvent> {
        classify(sql, &ClassifyOptions::default())
            .iter()
            .map(|c| SqlEvent::from_classification(SqlEventType::SqlReceived, c))
            .collect()
    }

    fn windows() -> Windows {
        Windows::new(StdRng::seed_from_u64(3))
    }

    #[tokio::test]
    async fn faults_combine_and_expire() {
        let mut w = windows();
        let now = Instant::now();
        let s = Duration::from_secs(1);
        w.open(
            1,
            Fault::Latency(Latency(Duration::from_millis(100))),
            Some(now + s),
        );
        w.open(
            2,
            Fault::Latency(Latency(Duration::from_millis(50))),
            Some(now + 2 * s),
        );
        w.open(3, Fault::DiskFull, Some(now + s));
        let e = w.effect(&evs("INSERT INTO t VALUES (1)"), now);
        assert_eq!(e.delay, Duration::from_millis(150));
        assert!(matches!(&e.verdict, Verdict::Reject(r) if r.sqlstate == "53100"));
        // Reads pass a full disk.
        let e = w.effect(&evs("SELECT 1"), now);
        assert_eq!(e.verdict, Verdict::Forward);
        // After the first second only the second latency remains.
        let e = w.effect(&evs("INSERT INTO t VALUES (1)"), now + s);
        assert_eq!(e.delay, Duration::from_millis(50));
        assert_eq!(e.verdict, Verdict::Forward);
        assert_eq!(w.close(1), Some(2));
        assert_eq!(w.close(3), Some(1));
        assert_eq!(w.close(3), None);
    }

    #[tokio::test]
    async fn a_one_shot_timeout_hits_one_statement_and_spares_control() {
        let mut w = windows();
        let now = Instant::now();
        let signal = w.open(7, Fault::Timeout(Timeout { once: true }), None);
        assert_eq!(w.effect(&evs("ROLLBACK"), now).verdict, Verdict::Forward);
        let e = w.effect(&evs("SELECT 1"), now);
        assert!(matches!(&e.verdict, Verdict::Reject(r) if r.sqlstate == "57014"));
        assert_eq!(w.effect(&evs("SELECT 1"), now).verdict, Verdict::Forward);
        // The permit is stored: the runner sees it even if it waits later.
        tokio::time::timeout(Duration::from_millis(1), signal.notified())
            .await
            .unwrap();
        assert_eq!(w.close(7), Some(1));
    }

    #[tokio::test]
    async fn partition_wins_over_errors_and_keeps_the_timeout() {
        let mut w = windows();
        let now = Instant::now();
        w.open(1, Fault::Timeout(Timeout { once: true }), None);
        w.open(
            2,
            Fault::Partition(PartitionMode::Blackhole),
            Some(now + Duration::from_secs(2)),
        );
        let e = w.effect(&evs("SELECT 1"), now + Duration::from_millis(500));
        assert_eq!(
            e.verdict,
            Verdict::Blackhole {
                duration: Some(Duration::from_millis(1500))
            }
        );
        // The timeout was not used up by the partitioned statement.
        w.close(2);
        let e = w.effect(&evs("SELECT 1"), now);
        assert!(matches!(&e.verdict, Verdict::Reject(r) if r.sqlstate == "57014"));
    }

    #[tokio::test]
    async fn responses_are_throttled_and_counted() {
        let mut w = windows();
        let now = Instant::now();
        w.open(1, Fault::CpuThrottle(75), None);
        let d = w.response_delay(Duration::from_millis(100), now);
        assert!((d.as_secs_f64() - 0.3).abs() < 1e-6, "{d:?}");
        assert_eq!(w.close(1), Some(1));
        assert!(w.response_delay(Duration::from_millis(100), now).is_zero());
        assert!(w.is_empty());
    }
}
