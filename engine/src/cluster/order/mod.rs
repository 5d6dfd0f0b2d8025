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
//!
//! The time spent waiting for and holding each kind of grant is kept in histograms
//! ([`OrderStats`]), which `GET /metrics` exports.

pub mod footprint;
pub mod locks;
mod serial;
mod stats;

pub use stats::{Histogram, HistogramSnapshot, OrderStats};

use std::sync::Arc;
use std::time::Instant;

/// How concurrent write transactions are ordered (`[server] consistency`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Consistency {
    /// One write transaction at a time: it takes the write turn at its first write and
    /// holds it until COMMIT or ROLLBACK.
    #[default]
    Serial,
}

impl Consistency {
    /// The name in the configuration file.
    pub fn name(self) -> &'static str {
        match self {
            Consistency::Serial => "serial",
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
}

enum Mode {
    Serial(serial::Serial),
}

/// What a grant holds until it is dropped.
enum Held {
    Serial(#[expect(dead_code, reason = "held only to be released when dropped")] serial::Grant),
}

impl WriteOrder {
    /// The order of a cluster run in `consistency` mode.
    pub fn new(consistency: Consistency) -> Self {
        let mode = match consistency {
            Consistency::Serial => Mode::Serial(serial::Serial::default()),
        };
        WriteOrder {
            inner: Arc::new(Inner {
                mode,
                stats: OrderStats::default(),
            }),
        }
    }

    /// The mode this order was made for.
    pub fn consistency(&self) -> Consistency {
        match self.inner.mode {
            Mode::Serial(_) => Consistency::Serial,
        }
    }

    /// Waits for a write transaction's turn (see the module docs); hold it until the
    /// transaction has ended on every backend.
    pub async fn write_turn(&self) -> WriteTurn {
        let asked = Instant::now();
        let held = match &self.inner.mode {
            Mode::Serial(serial) => Held::Serial(serial.exclusive().await),
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
