//! Commits in LSN order, for modes in which write transactions overlap.
//!
//! Each backend's applied-LSN marker is one row saying "every LSN up to here is applied".
//! With transactions running concurrently their log appends still take dense LSNs, but
//! their commits could reach a backend in another order, and a crash between two such
//! commits would leave the marker lying. So a transaction sends its marker update and
//! COMMIT only once every smaller LSN has committed on every backend (or was never to
//! commit anywhere: control records, which [`CommitSequencer::passed`] at once).
//!
//! Every LSN the log assigns while the sequencer is on must pass it: an LSN left unpassed
//! stalls every later commit. A [`CommitSlot`] passes its LSNs when dropped, whatever
//! happened to the commit.

use crate::log::{Lsn, LsnRange};
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::sync::Notify;

#[derive(Default)]
pub(super) struct CommitSequencer {
    state: Mutex<State>,
    moved: Notify,
}

#[derive(Default)]
struct State {
    /// The next LSN to commit; `None` until [`CommitSequencer::start_at`].
    next: Option<u64>,
    /// Ranges done out of order: start -> end.
    done: BTreeMap<u64, u64>,
}

/// The right to commit one LSN range; passes it when dropped.
pub struct CommitSlot<'a> {
    sequencer: Option<&'a CommitSequencer>,
    range: LsnRange,
}

impl CommitSlot<'_> {
    /// A slot of a mode that does not order commits.
    pub(super) fn free(range: LsnRange) -> Self {
        CommitSlot {
            sequencer: None,
            range,
        }
    }
}

impl Drop for CommitSlot<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.sequencer {
            s.passed(self.range);
        }
    }
}

impl CommitSequencer {
    /// Commits are ordered from `next` (the log's end when the cluster starts serving).
    pub(super) fn start_at(&self, next: Lsn) {
        let mut state = self.state();
        state.next = Some(next.get());
        state.done.clear();
    }

    /// Waits until every LSN before `range` has passed.
    pub(super) async fn slot(&self, range: LsnRange) -> CommitSlot<'_> {
        loop {
            let notified = self.moved.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next = self.state().next;
            match next {
                Some(next) if next < range.start.get() => notified.await,
                // Not started (serial mode), its turn, or past it (a restart).
                _ => {
                    return CommitSlot {
                        sequencer: Some(self),
                        range,
                    }
                }
            }
        }
    }

    /// Marks `range` done (committed everywhere, or never to commit anywhere).
    pub(super) fn passed(&self, range: LsnRange) {
        let mut state = self.state();
        let Some(mut next) = state.next else {
            return;
        };
        if range.end.get() <= next {
            return;
        }
        state.done.insert(range.start.get(), range.end.get());
        while let Some(end) = state.done.remove(&next) {
            next = end;
        }
        state.next = Some(next);
        drop(state);
        self.moved.notify_waiters();
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
