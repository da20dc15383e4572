//! The undo stack: every applied action, with what it takes to put things back. An action
//! whose time is up takes its own entry out and undoes it; when the script ends (shutdown,
//! halt, or the runtime dropped) the rest are undone newest first, so stacked changes unwind
//! in reverse order. Whoever takes an entry out undoes it and reports it, so nothing is undone
//! twice.
//!
//! Claims keep two active actions off the same role, column or index: stacked changes of one
//! object would make the undo depend on the order durations end in.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shakedown_sql::chaos::ChaosAction;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Inner;
use super::change_column_type::Changed;
use super::drop_index::Dropped;
use super::error::ChaosError;
use super::lock_table::Held;
use super::rename_column::Renamed;
use super::revoke_credentials::Revoked;
use super::runner::Origin;

/// Undo attempts for a retryable failure (a lock timeout, a broken connection).
const UNDO_ATTEMPTS: u32 = 3;
/// Pause between undo attempts.
const UNDO_RETRY_PAUSE: Duration = Duration::from_millis(200);

/// An object a database-side action changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    Role(String),
    /// Table OID and attribute number.
    Column(u32, i16),
    /// `schema.index`.
    Index(String),
}

/// The objects active actions hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct Claims(Arc<Mutex<HashSet<Target>>>);

impl Claims {
    /// Claims `target` (described as `label` in the error) until the [`Claim`] is dropped.
    pub(crate) fn claim(&self, target: Target, label: String) -> Result<Claim, ChaosError> {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if !held.insert(target.clone()) {
            return Err(ChaosError::Busy(label));
        }
        Ok(Claim {
            claims: self.clone(),
            target,
        })
    }
}

/// A held claim; released on drop (after the undo, or when applying failed).
#[derive(Debug)]
pub(crate) struct Claim {
    claims: Claims,
    target: Target,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut held = self.claims.0.lock().unwrap_or_else(|p| p.into_inner());
        held.remove(&self.target);
    }
}

/// How to put one action's change back.
#[derive(Debug)]
pub(crate) enum Undo {
    /// Close a wire-side fault window.
    Window(u64),
    Lock(Held),
    Login(Revoked),
    Rename(Renamed),
    Retype(Changed),
    Index(Dropped),
}

impl Undo {
    /// Undoes, retrying lock timeouts and broken connections a few times. Returns how many
    /// statements a window changed.
    pub(crate) async fn revert(&self, inner: &Inner) -> Result<Option<u64>, ChaosError> {
        if let Undo::Window(id) = self {
            return Ok(inner.windows().close(*id));
        }
        // Database-side actions cannot have been applied without an admin connection.
        let Some(admin) = inner.admin.as_ref() else {
            return Ok(None);
        };
        let mut attempt = 1;
        loop {
            let result = match self {
                Undo::Window(_) => Ok(()),
                Undo::Lock(h) => h.revert().await,
                Undo::Login(r) => r.revert(admin).await,
                Undo::Rename(r) => r.revert(admin).await,
                Undo::Retype(c) => c.revert(admin).await,
                Undo::Index(d) => d.revert(admin).await,
            };
            match result {
                Err(e) if e.retryable() && attempt < UNDO_ATTEMPTS => {
                    tracing::warn!(error = %e, attempt, "chaos undo failed; retrying");
                    attempt += 1;
                    tokio::time::sleep(UNDO_RETRY_PAUSE).await;
                }
                other => return other.map(|()| None),
            }
        }
    }
}

/// What the `chaos_completed` event needs to know about an applied action.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub(crate) id: u64,
    pub(crate) trigger: String,
    /// Who fired it.
    pub(crate) origin: Origin,
    pub(crate) action: ChaosAction,
    /// Cancelled once `chaos_triggered` is sent: `chaos_completed` waits for it, so a window
    /// opened and used up before its task ran still reports in order.
    pub(crate) announced: CancellationToken,
}

/// One applied action.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) meta: Meta,
    /// When it took effect.
    pub(crate) applied: Instant,
    pub(crate) undo: Undo,
}

#[derive(Debug, Default)]
struct State {
    entries: Vec<Entry>,
    closed: bool,
}

/// The applied actions, oldest first.
#[derive(Debug, Default)]
pub(crate) struct UndoStack(Mutex<State>);

impl UndoStack {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an applied action; once the script has ended the entry comes back, to be
    /// undone by the caller at once.
    pub(crate) fn push(&self, entry: Entry) -> Result<(), Box<Entry>> {
        let mut s = self.state();
        if s.closed {
            return Err(Box::new(entry));
        }
        s.entries.push(entry);
        Ok(())
    }

    /// Takes action `id` out, if nobody else has.
    pub(crate) fn take(&self, id: u64) -> Option<Entry> {
        let mut s = self.state();
        let i = s.entries.iter().position(|e| e.meta.id == id)?;
        Some(s.entries.remove(i))
    }

    /// Ends the script: no more entries are accepted, and every entry left is returned
    /// newest first.
    pub(crate) fn close(&self) -> Vec<Entry> {
        let mut s = self.state();
        s.closed = true;
        let mut all = std::mem::take(&mut s.entries);
        all.reverse();
        all
    }

    /// Takes every entry out, newest first, and keeps accepting new ones (the guardian's
    /// halt, which can be lifted).
    pub(crate) fn drain(&self) -> Vec<Entry> {
        let mut all = std::mem::take(&mut self.state().entries);
        all.reverse();
        all
    }

    /// How many actions are applied right now.
    pub(crate) fn len(&self) -> usize {
        self.state().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64) -> Entry {
        Entry {
            meta: Meta {
                id,
                trigger: format!("t{id}"),
                origin: Origin::default(),
                action: ChaosAction::DiskFull {
                    duration: Duration::from_secs(1),
                },
                announced: CancellationToken::new(),
            },
            applied: Instant::now(),
            undo: Undo::Window(id),
        }
    }

    #[tokio::test]
    async fn the_stack_unwinds_newest_first_and_once() {
        let s = UndoStack::default();
        for id in 1..=3 {
            s.push(entry(id)).unwrap();
        }
        assert_eq!(s.take(2).map(|e| e.meta.id), Some(2));
        assert!(s.take(2).is_none());
        let ids: Vec<u64> = s.close().iter().map(|e| e.meta.id).collect();
        assert_eq!(ids, [3, 1]);
        // After the end, a late action is handed back to be undone by its owner.
        assert_eq!(s.push(entry(4)).map_err(|e| e.meta.id), Err(4));
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn claims_exclude_and_release() {
        let c = Claims::default();
        let a = c.claim(Target::Column(1, 2), "column t.a".into()).unwrap();
        let err = c
            .claim(Target::Column(1, 2), "column t.b".into())
            .unwrap_err();
        assert!(err.to_string().contains("column t.b"), "{err}");
        assert!(c.claim(Target::Column(1, 3), "x".into()).is_ok());
        drop(a);
        assert!(c.claim(Target::Column(1, 2), "column t.a".into()).is_ok());
    }
}
