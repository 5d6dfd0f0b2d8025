//! The lock manager `keyed` mode is built on (not yet used by any mode; see
//! docs/architecture.md, *Write ordering*): strict two-phase locks that a write
//! transaction takes before a statement is sent to any backend and keeps until it has
//! ended everywhere.
//!
//! Resources form a hierarchy: the [`Resource::Global`] resource, then tables and
//! sequences, then rows of a table. A lock on a resource first takes the matching
//! intention lock (IS for S, IX for X, ...) on each resource above it, so a table lock and
//! a row lock in that table meet on the table, and a global X (a quiesce, or a statement
//! mdbd does not understand) meets everything. Modes and their compatibility are the
//! classic ones (Gray et al.): IS, IX, S, SIX, X.
//!
//! Waiting is fair: a request that cannot be granted queues behind the requests before it
//! on that resource, except a holder's upgrade, which goes to the front (it cannot be
//! granted after a waiter that waits for the holder itself). Each wait adds edges to a
//! wait-for graph; a request that would close a cycle is refused at once with
//! [`LockError::Deadlock`] (its transaction is the victim), and one that waits longer than
//! the limit given gets [`LockError::Timeout`]. Both leave the locks the transaction
//! already holds in place: the caller rolls it back and calls [`LockManager::release_all`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::oneshot;

/// A write transaction, as the lock manager knows it.
pub type TxnId = u64;

/// Something a transaction can lock.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Everything: held in X, nothing else runs.
    Global,
    /// A whole table (by its qualified name).
    Table(Arc<str>),
    /// A sequence or an `AUTO_INCREMENT` counter (by its qualified name).
    Sequence(Arc<str>),
    /// One key of a table: the primary key's or a unique index's value, encoded by the
    /// caller (the index name is part of `key`, so keys of two indexes never collide).
    Row { table: Arc<str>, key: Vec<u8> },
}

impl Resource {
    /// The resource directly above this one, if any.
    fn parent(&self) -> Option<Resource> {
        match self {
            Resource::Global => None,
            Resource::Table(_) | Resource::Sequence(_) => Some(Resource::Global),
            Resource::Row { table, .. } => Some(Resource::Table(Arc::clone(table))),
        }
    }
}

/// Lock modes, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// Intention to take S below.
    IntentShared,
    /// Intention to take X below.
    IntentExclusive,
    /// Read.
    Shared,
    /// Read the whole, write below.
    SharedIntentExclusive,
    /// Write.
    Exclusive,
}

use Mode::{
    Exclusive as X, IntentExclusive as IX, IntentShared as IS, Shared as S,
    SharedIntentExclusive as SIX,
};

impl Mode {
    /// Whether a lock in `self` and one in `other`, held by two transactions, can coexist.
    pub fn compatible(self, other: Mode) -> bool {
        match (self, other) {
            (X, _) | (_, X) => false,
            (IS, _) | (_, IS) => true,
            (IX, IX) => true,
            (S, S) => true,
            _ => false,
        }
    }

    /// The weakest mode that grants both `self` and `other` (an upgrade's target).
    pub fn join(self, other: Mode) -> Mode {
        match (self, other) {
            (a, b) if a == b => a,
            (X, _) | (_, X) => X,
            (SIX, _) | (_, SIX) => SIX,
            (S, IX) | (IX, S) => SIX,
            (S, IS) | (IS, S) => S,
            (IX, IS) | (IS, IX) => IX,
            _ => X,
        }
    }

    /// Whether holding `self` already grants `wanted`.
    pub fn covers(self, wanted: Mode) -> bool {
        self.join(wanted) == self
    }

    /// The intention mode the resources above need.
    fn intention(self) -> Mode {
        match self {
            IS | S => IS,
            IX | SIX | X => IX,
        }
    }
}

/// Why a lock was not granted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LockError {
    /// Waiting would close a cycle of transactions waiting for each other; this
    /// transaction is the victim.
    #[error("deadlock detected: transaction {txn} waits for a lock on {resource:?} in a cycle")]
    Deadlock { txn: TxnId, resource: Resource },
    /// The lock was not granted within the wait limit.
    #[error("lock on {resource:?} not granted within {waited:?}")]
    Timeout {
        resource: Resource,
        waited: Duration,
    },
}

struct Waiter {
    txn: TxnId,
    mode: Mode,
    /// An upgrade of a lock `txn` already holds on the resource.
    upgrade: bool,
    grant: oneshot::Sender<()>,
}

#[derive(Default)]
struct Entry {
    granted: HashMap<TxnId, Mode>,
    waiting: VecDeque<Waiter>,
}

#[derive(Default)]
struct State {
    entries: HashMap<Resource, Entry>,
    /// What each transaction holds (to release it all at the end).
    held: HashMap<TxnId, HashSet<Resource>>,
    /// The one resource each waiting transaction waits on.
    waits_on: HashMap<TxnId, Resource>,
}

/// Strict two-phase locks with intention modes and deadlock detection (module docs).
#[derive(Default)]
pub struct LockManager {
    state: Mutex<State>,
}

impl LockManager {
    /// Locks `resource` in `mode` for `txn`, with the intention locks above it, waiting at
    /// most `wait` for each.
    pub async fn lock(
        &self,
        txn: TxnId,
        resource: &Resource,
        mode: Mode,
        wait: Duration,
    ) -> Result<(), LockError> {
        let mut path = vec![(resource.clone(), mode)];
        while let Some(parent) = path.last().and_then(|(r, _)| r.parent()) {
            path.push((parent, mode.intention()));
        }
        // Top down, as hierarchical locking requires.
        for (r, m) in path.into_iter().rev() {
            self.lock_one(txn, r, m, wait).await?;
        }
        Ok(())
    }

    async fn lock_one(
        &self,
        txn: TxnId,
        resource: Resource,
        mode: Mode,
        wait: Duration,
    ) -> Result<(), LockError> {
        let granted = {
            let mut state = self.state();
            let entry = state.entries.entry(resource.clone()).or_default();
            let held = entry.granted.get(&txn).copied();
            if held.is_some_and(|h| h.covers(mode)) {
                return Ok(());
            }
            let wanted = held.map_or(mode, |h| h.join(mode));
            let others_allow = entry
                .granted
                .iter()
                .all(|(t, m)| *t == txn || m.compatible(wanted));
            // Fair: a new request does not pass the queue; an upgrade does.
            if others_allow && (held.is_some() || entry.waiting.is_empty()) {
                entry.granted.insert(txn, wanted);
                state.held.entry(txn).or_default().insert(resource);
                return Ok(());
            }
            let (grant, granted) = oneshot::channel();
            let waiter = Waiter {
                txn,
                mode: wanted,
                upgrade: held.is_some(),
                grant,
            };
            if held.is_some() {
                let at = entry.waiting.iter().take_while(|w| w.upgrade).count();
                entry.waiting.insert(at, waiter);
            } else {
                entry.waiting.push_back(waiter);
            }
            state.waits_on.insert(txn, resource.clone());
            if state.closes_cycle(txn) {
                state.forget_waiter(txn, &resource);
                return Err(LockError::Deadlock { txn, resource });
            }
            granted
        };
        // The receiver outlives the timeout, so a grant sent as it fires is not lost.
        let mut granted = granted;
        match tokio::time::timeout(wait, &mut granted).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) => {
                let mut state = self.state();
                if state.forget_waiter(txn, &resource) {
                    Err(LockError::Timeout {
                        resource,
                        waited: wait,
                    })
                } else {
                    // Granted as the timeout fired: keep it (release_all frees it).
                    Ok(())
                }
            }
        }
    }

    /// Releases every lock `txn` holds (at its commit or rollback, once it has ended on
    /// every backend) and grants what then can be granted.
    pub fn release_all(&self, txn: TxnId) {
        let mut state = self.state();
        let Some(resources) = state.held.remove(&txn) else {
            return;
        };
        for resource in resources {
            if let Some(entry) = state.entries.get_mut(&resource) {
                entry.granted.remove(&txn);
            }
            state.grant_waiters(&resource);
        }
    }

    /// The modes `txn` holds, by resource (for tests and diagnostics).
    pub fn held_by(&self, txn: TxnId) -> HashMap<Resource, Mode> {
        let state = self.state();
        let mut out = HashMap::new();
        for r in state.held.get(&txn).into_iter().flatten() {
            if let Some(m) = state.entries.get(r).and_then(|e| e.granted.get(&txn)) {
                out.insert(r.clone(), *m);
            }
        }
        out
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding it leaves plain data behind: keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    /// Grants the waiters at the front of `resource`'s queue while they are compatible
    /// with what is granted.
    fn grant_waiters(&mut self, resource: &Resource) {
        let Some(entry) = self.entries.get_mut(resource) else {
            return;
        };
        while let Some(w) = entry.waiting.front() {
            let fits = entry
                .granted
                .iter()
                .all(|(t, m)| *t == w.txn || m.compatible(w.mode));
            if !fits {
                break;
            }
            let Some(w) = entry.waiting.pop_front() else {
                break;
            };
            if w.grant.send(()).is_err() {
                continue; // it gave up (timed out) in the meantime
            }
            entry.granted.insert(w.txn, w.mode);
            self.waits_on.remove(&w.txn);
            self.held.entry(w.txn).or_default().insert(resource.clone());
        }
        if entry.granted.is_empty() && entry.waiting.is_empty() {
            self.entries.remove(resource);
        }
    }

    /// Removes `txn`'s request from `resource`'s queue; false if it was no longer there
    /// (it had been granted).
    fn forget_waiter(&mut self, txn: TxnId, resource: &Resource) -> bool {
        self.waits_on.remove(&txn);
        let Some(entry) = self.entries.get_mut(resource) else {
            return false;
        };
        let before = entry.waiting.len();
        entry.waiting.retain(|w| w.txn != txn);
        let removed = entry.waiting.len() != before;
        // Those behind it may fit now.
        self.grant_waiters(resource);
        removed
    }

    /// The transactions `txn`'s request waits for: the holders it is incompatible with
    /// and the requests queued before it.
    fn blockers(&self, txn: TxnId) -> Vec<TxnId> {
        let Some(entry) = self.waits_on.get(&txn).and_then(|r| self.entries.get(r)) else {
            return Vec::new();
        };
        let Some(pos) = entry.waiting.iter().position(|w| w.txn == txn) else {
            return Vec::new();
        };
        let mode = entry.waiting[pos].mode;
        let holders = entry
            .granted
            .iter()
            .filter(|(t, m)| **t != txn && !m.compatible(mode))
            .map(|(t, _)| *t);
        // The queue is strict: every request ahead is granted first, compatible or not.
        let ahead = entry
            .waiting
            .iter()
            .take(pos)
            .filter(|w| w.txn != txn)
            .map(|w| w.txn);
        holders.chain(ahead).collect()
    }

    /// Whether `txn`, now waiting, waits (through others) for itself.
    fn closes_cycle(&self, txn: TxnId) -> bool {
        let mut seen = HashSet::new();
        let mut stack = self.blockers(txn);
        while let Some(t) = stack.pop() {
            if t == txn {
                return true;
            }
            if seen.insert(t) {
                stack.extend(self.blockers(t));
            }
        }
        false
    }
}

#[cfg(test)]
#[path = "locks_tests.rs"]
mod tests;
