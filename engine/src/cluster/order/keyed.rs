//! `keyed`: write transactions that touch different rows run at the same time. Before a
//! statement of a write transaction is sent to any backend, the transaction takes the
//! statement's footprint ([`super::footprint`]) in the lock manager ([`super::locks`]) and
//! keeps every lock until it has ended everywhere (strict two-phase locking); a quiesce is
//! the global resource in X. docs/architecture.md, *Write ordering*, has the argument.
//!
//! Footprints are computed from the schema catalog the cluster reads from a backend at
//! start and again after each transaction that took the global lock (DDL is one). A
//! transaction that computed a footprint from a catalog that changed while it waited
//! computes it again with the new one and takes what more it needs.

use super::footprint::{footprint, Flavor};
use super::locks::{LockError, LockManager, Mode, Resource, TxnId};
use crate::backend::Catalog;
use crate::log::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Longer than anything waits: a quiesce waits for the writers ahead of it, however long.
const FOREVER: Duration = Duration::from_secs(365 * 24 * 3600);

pub(super) struct Keyed {
    locks: Arc<LockManager>,
    next_txn: AtomicU64,
    flavor: Flavor,
    lock_wait: Duration,
    /// The catalog and its version (bumped by every refresh).
    catalog: RwLock<(u64, Arc<Catalog>)>,
    /// Statements that took the global lock for want of understanding them.
    pub(super) global_statements: AtomicU64,
}

/// A transaction's locks, released when dropped.
pub(super) struct Grant {
    txn: TxnId,
    locks: Arc<LockManager>,
    /// It holds the global resource in X (the catalog may have changed under it).
    pub(super) global: bool,
}

impl Grant {
    /// The sequences it holds in X: those its statements drew from.
    pub(super) fn drawn_sequences(&self) -> Vec<String> {
        self.locks
            .held_by(self.txn)
            .into_iter()
            .filter_map(|(r, m)| match r {
                Resource::Sequence(name) if m == Mode::Exclusive => Some(name.to_string()),
                _ => None,
            })
            .collect()
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        self.locks.release_all(self.txn);
    }
}

impl Keyed {
    pub(super) fn new(flavor: Flavor, lock_wait: Duration) -> Self {
        Keyed {
            locks: Arc::default(),
            next_txn: AtomicU64::new(1),
            flavor,
            lock_wait,
            catalog: RwLock::new((0, Arc::default())),
            global_statements: AtomicU64::new(0),
        }
    }

    /// A new transaction's grant, holding nothing yet.
    pub(super) fn begin(&self) -> Grant {
        Grant {
            txn: self.next_txn.fetch_add(1, Ordering::Relaxed),
            locks: Arc::clone(&self.locks),
            global: false,
        }
    }

    /// Every writer held back: the global resource in X.
    pub(super) async fn exclusive(&self) -> Grant {
        let mut grant = self.begin();
        // Alone, it holds nothing another waits for: no cycle can run through it, and it
        // waits as long as the writers ahead of it run.
        let _ = self
            .locks
            .lock(grant.txn, &Resource::Global, Mode::Exclusive, FOREVER)
            .await;
        grant.global = true;
        grant
    }

    /// Takes `sql`'s footprint for `grant`'s transaction.
    pub(super) async fn acquire(
        &self,
        grant: &mut Grant,
        sql: &str,
        params: &[Value],
    ) -> Result<(), LockError> {
        loop {
            let (version, catalog) = self.catalog();
            let fp = footprint(sql, self.flavor, &catalog, params);
            if let Some(why) = &fp.global_because {
                self.global_statements.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(why, "statement takes the global lock");
            }
            for (resource, mode) in &fp.locks {
                self.locks
                    .lock(grant.txn, resource, *mode, self.lock_wait)
                    .await?;
                if *resource == Resource::Global && *mode == Mode::Exclusive {
                    grant.global = true;
                }
            }
            if self.catalog().0 == version {
                return Ok(());
            }
        }
    }

    pub(super) fn set_catalog(&self, catalog: Catalog) {
        let mut c = self.catalog.write().unwrap_or_else(|p| p.into_inner());
        *c = (c.0 + 1, Arc::new(catalog));
    }

    fn catalog(&self) -> (u64, Arc<Catalog>) {
        let c = self.catalog.read().unwrap_or_else(|p| p.into_inner());
        (c.0, Arc::clone(&c.1))
    }
}
