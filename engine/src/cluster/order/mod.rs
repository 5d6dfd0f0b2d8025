//! Who may write when: the one seam for write ordering.
//!
//! Every decision about the order in which writes reach the backends is taken here, and
//! nowhere else holds a lock for it. Two kinds of grant exist:
//!
//! - a [`WriteTurn`], taken by a write transaction before its first statement is sent to
//!   any backend and held until it has committed or rolled back on every backend (and its
//!   log record, if any, is appended). While a transaction holds its turn, no transaction
//!   it could conflict with writes: every backend therefore meets conflicting transactions
//!   in one order, and that order is the order of their LSNs, so replaying the log serially
//!   reproduces every backend (`../shared/design/method.md`, *Ordering modes*);
//! - a [`Quiesced`], taken by the join's cut, its switch-over, a replay that ends in a
//!   switch-over and every control record of the log: while it is held no write
//!   transaction holds a turn, so no write falls between "caught up" and "active" and a
//!   snapshot's LSN cuts the one order of writes cleanly. It waits for the turns granted
//!   before it to end, and holds back every turn asked for after it.
//!
//! Both are released by dropping them; both waits are fair (first come, first served), so
//! a steady stream of writers never starves a switch-over. What a mode may run together is
//! its own business:
//!
//! - [`Consistency::Serial`] ([`serial`]): one write transaction at a time across the
//!   cluster; a turn and a quiesce are the same exclusive grant.
//! - [`Consistency::Keyed`] ([`keyed`]): a turn holds nothing at first; each statement
//!   takes its footprint's locks ([`WriteTurn::acquire`]) before it goes to any backend,
//!   and commits go to the backends in LSN order ([`sequencer`]); a quiesce is the global
//!   lock in X.
//!
//! The time spent waiting for and holding each kind of grant is kept in histograms
//! ([`OrderStats`]), which `GET /metrics` exports.

pub mod footprint;
mod keyed;
pub mod locks;
mod sequencer;
mod serial;
mod stats;

pub use footprint::Flavor;
pub use locks::LockError;
pub use sequencer::CommitSlot;
pub use stats::{Histogram, HistogramSnapshot, OrderStats};

use crate::backend::Catalog;
use crate::log::{LsnRange, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How concurrent write transactions are ordered (`[server] consistency`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Consistency {
    /// One write transaction at a time: it takes the write turn at its first write and
    /// holds it until COMMIT or ROLLBACK.
    #[default]
    Serial,
    /// Write transactions that touch different rows run at the same time; conflicting
    /// ones are ordered by row, table and global locks (see [`keyed`]).
    Keyed,
}

impl Consistency {
    /// The name in the configuration file.
    pub fn name(self) -> &'static str {
        match self {
            Consistency::Serial => "serial",
            Consistency::Keyed => "keyed",
        }
    }
}

/// The cluster's write order (cheap to clone: every clone is the same order).
#[derive(Clone)]
pub struct WriteOrder {
    inner: Arc<Inner>,
}

struct Inner {
    mode: Mode,
    stats: OrderStats,
    sequencer: sequencer::CommitSequencer,
}

enum Mode {
    Serial(serial::Serial),
    Keyed(keyed::Keyed),
}

/// What a grant holds until it is dropped.
enum Held {
    Serial(#[expect(dead_code, reason = "held only to be released when dropped")] serial::Grant),
    Keyed(keyed::Grant),
}

/// Options of `keyed` mode.
#[derive(Clone, Copy, Debug)]
pub struct KeyedOptions {
    /// The SQL its statements are written in.
    pub flavor: Flavor,
    /// How long a statement waits for a lock before it fails (55P03 / 1205).
    pub lock_wait: Duration,
}

impl WriteOrder {
    /// A `serial` order.
    pub fn serial() -> Self {
        Self::with_mode(Mode::Serial(serial::Serial::default()))
    }

    /// A `keyed` order; footprints use the catalog given by [`Self::set_catalog`].
    pub fn keyed(options: KeyedOptions) -> Self {
        Self::with_mode(Mode::Keyed(keyed::Keyed::new(
            options.flavor,
            options.lock_wait,
        )))
    }

    fn with_mode(mode: Mode) -> Self {
        WriteOrder {
            inner: Arc::new(Inner {
                mode,
                stats: OrderStats::default(),
                sequencer: sequencer::CommitSequencer::default(),
            }),
        }
    }

    /// The mode this order was made for.
    pub fn consistency(&self) -> Consistency {
        match self.inner.mode {
            Mode::Serial(_) => Consistency::Serial,
            Mode::Keyed(_) => Consistency::Keyed,
        }
    }

    /// The schema footprints are computed from (`keyed`; ignored otherwise).
    pub fn set_catalog(&self, catalog: Catalog) {
        if let Mode::Keyed(k) = &self.inner.mode {
            k.set_catalog(catalog);
        }
    }

    /// Statements that took the global lock for want of understanding them (`keyed`).
    pub fn global_statements(&self) -> u64 {
        match &self.inner.mode {
            Mode::Keyed(k) => k.global_statements.load(Ordering::Relaxed),
            Mode::Serial(_) => 0,
        }
    }

    /// From now on commits go to the backends in LSN order from `next` (modes whose
    /// transactions overlap; see [`sequencer`]). Every LSN the log assigns from here must
    /// be committed through [`Self::commit_slot`] or [`Self::passed`].
    pub fn order_commits_from(&self, next: crate::log::Lsn) {
        if matches!(self.inner.mode, Mode::Keyed(_)) {
            self.inner.sequencer.start_at(next);
        }
    }

    /// Waits until `range` may commit on the backends; the slot passes it when dropped.
    pub async fn commit_slot(&self, range: LsnRange) -> CommitSlot<'_> {
        match self.inner.mode {
            // One writer at a time: nothing to wait for, nothing to pass.
            Mode::Serial(_) => CommitSlot::free(range),
            Mode::Keyed(_) => self.inner.sequencer.slot(range).await,
        }
    }

    /// `range` commits nowhere (a control record): later commits need not wait for it.
    pub fn passed(&self, range: LsnRange) {
        self.inner.sequencer.passed(range);
    }

    /// Waits for a write transaction's turn (see the module docs); hold it until the
    /// transaction has ended on every backend.
    pub async fn write_turn(&self) -> WriteTurn {
        let asked = Instant::now();
        let held = match &self.inner.mode {
            Mode::Serial(serial) => Held::Serial(serial.exclusive().await),
            // Nothing yet: each statement takes its footprint (`WriteTurn::acquire`).
            Mode::Keyed(keyed) => Held::Keyed(keyed.begin()),
        };
        let since = Instant::now();
        self.inner.stats.turn_wait.record(since - asked);
        WriteTurn {
            _held: held,
            since,
            inner: Arc::clone(&self.inner),
        }
    }

    /// Waits until no write transaction holds a turn and holds every later one back until
    /// the returned grant is dropped.
    pub async fn quiesce(&self) -> Quiesced {
        let asked = Instant::now();
        let held = match &self.inner.mode {
            Mode::Serial(serial) => Held::Serial(serial.exclusive().await),
            Mode::Keyed(keyed) => Held::Keyed(keyed.exclusive().await),
        };
        let since = Instant::now();
        self.inner.stats.quiesce_wait.record(since - asked);
        Quiesced {
            _held: held,
            since,
            inner: Arc::clone(&self.inner),
        }
    }

    /// Waiting and holding times of the grants given so far.
    pub fn stats(&self) -> &OrderStats {
        &self.inner.stats
    }
}

/// A write transaction's right to send its statements to the backends; released when
/// dropped.
pub struct WriteTurn {
    _held: Held,
    since: Instant,
    inner: Arc<Inner>,
}

impl WriteTurn {
    /// When it was granted (`write_turn_timeout` counts from here).
    pub fn since(&self) -> Instant {
        self.since
    }

    /// Takes what `sql` needs before it is sent to any backend: nothing more in `serial`
    /// (the turn is everything), its footprint in `keyed`. On an error the transaction
    /// must be rolled back everywhere; what it holds is released when the turn is dropped.
    pub async fn acquire(&mut self, sql: &str, params: &[Value]) -> Result<(), LockError> {
        let Held::Keyed(grant) = &mut self._held else {
            return Ok(());
        };
        let Mode::Keyed(keyed) = &self.inner.mode else {
            return Ok(());
        };
        keyed.acquire(grant, sql, params).await
    }

    /// The sequences it may have drawn from, whose positions a rollback must log (see
    /// `cluster::sequences`): `keyed`, those it holds in X, or `None` (every sequence)
    /// when it holds everything (a statement not understood, a trigger, may draw from
    /// any). `serial` does not know what its statements touch: every sequence.
    pub fn drawn_sequences(&self) -> Option<Vec<String>> {
        match &self._held {
            Held::Keyed(grant) if grant.global => None,
            Held::Keyed(grant) => Some(grant.drawn_sequences()),
            Held::Serial(_) => None,
        }
    }

    /// Whether statements take locks of their own under it (`keyed`), so
    /// [`Self::acquire`] has work to do.
    pub fn takes_locks(&self) -> bool {
        matches!(self._held, Held::Keyed(_))
    }

    /// Whether it holds every writer back (a statement not understood, DDL): the schema
    /// may have changed, so the catalog is read again before it is released.
    pub fn holds_everything(&self) -> bool {
        match &self._held {
            Held::Serial(_) => true,
            Held::Keyed(grant) => grant.global,
        }
    }
}

impl Drop for WriteTurn {
    fn drop(&mut self) {
        self.inner.stats.turn_hold.record(self.since.elapsed());
    }
}

/// No write transaction holds a turn while this is held; released when dropped.
pub struct Quiesced {
    _held: Held,
    since: Instant,
    inner: Arc<Inner>,
}

impl Quiesced {
    /// When it was granted.
    pub fn since(&self) -> Instant {
        self.since
    }
}

impl Drop for Quiesced {
    fn drop(&mut self) {
        self.inner.stats.quiesce_hold.record(self.since.elapsed());
    }
}

#[cfg(test)]
mod tests;
