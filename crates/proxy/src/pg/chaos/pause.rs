//! The guardian's halt of a running script, which — unlike the end of the script — can be
//! lifted. Actions started between two halts belong to one *epoch*: halting cancels the
//! epoch's token (actions waiting out their delay give up, actions in force leave their undo
//! to the halt) and closes its tracker, so the halt can wait until every action of the epoch
//! has let go before it undoes what is left. Resuming opens a fresh epoch.

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

#[derive(Debug, Clone)]
struct Epoch {
    paused: bool,
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Epoch {
    fn fresh() -> Self {
        Self {
            paused: false,
            token: CancellationToken::new(),
            tracker: TaskTracker::new(),
        }
    }
}

/// A job's membership in its epoch: the token that says the epoch was halted, and a tracker
/// token the halt waits for.
#[derive(Debug)]
pub(crate) struct Enlisted {
    pub(crate) halted: CancellationToken,
    _member: TaskTrackerToken,
}

/// Whether the script is halted, and the current epoch.
#[derive(Debug)]
pub(crate) struct Pause(watch::Sender<Epoch>);

impl Default for Pause {
    fn default() -> Self {
        Self(watch::Sender::new(Epoch::fresh()))
    }
}

impl Pause {
    /// Whether the guardian's halt is in force.
    pub(crate) fn is_paused(&self) -> bool {
        self.0.borrow().paused
    }

    /// Joins the current epoch; `None` while halted (nothing may start).
    pub(crate) fn enlist(&self) -> Option<Enlisted> {
        let e = self.0.borrow();
        (!e.paused).then(|| Enlisted {
            halted: e.token.clone(),
            _member: e.tracker.token(),
        })
    }

    /// Halts: the epoch's token is cancelled and its tracker closed, to be waited on. `None`
    /// when already halted.
    pub(crate) fn pause(&self) -> Option<TaskTracker> {
        let mut ended = None;
        self.0.send_if_modified(|e| {
            if e.paused {
                return false;
            }
            e.paused = true;
            e.token.cancel();
            e.tracker.close();
            ended = Some(e.tracker.clone());
            true
        });
        ended
    }

    /// Lifts the halt with a fresh epoch; `false` when not halted.
    pub(crate) fn resume(&self) -> bool {
        self.0.send_if_modified(|e| {
            if !e.paused {
                return false;
            }
            *e = Epoch::fresh();
            true
        })
    }

    /// Resolves while not halted, or once the halt is lifted.
    pub(crate) async fn running(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives as long as `self`, so this cannot fail while borrowed.
        let _ = rx.wait_for(|e| !e.paused).await;
    }

    /// Resolves once halted.
    pub(crate) async fn paused(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|e| e.paused).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn halting_ends_the_epoch_and_resuming_opens_a_fresh_one() {
        let p = Pause::default();
        let job = p.enlist().expect("running");
        let tracker = p.pause().expect("was running");
        assert!(p.pause().is_none(), "already halted");
        assert!(p.is_paused() && p.enlist().is_none());
        assert!(job.halted.is_cancelled());
        // The halt waits for the job to let go.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), tracker.wait())
                .await
                .is_err()
        );
        drop(job);
        tokio::time::timeout(Duration::from_secs(1), tracker.wait())
            .await
            .unwrap();
        assert!(p.resume() && !p.resume());
        let next = p.enlist().expect("running again");
        assert!(!next.halted.is_cancelled(), "a fresh epoch");
        tokio::time::timeout(Duration::from_secs(1), p.running())
            .await
            .unwrap();
    }
}
