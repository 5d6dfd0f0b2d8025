//! Counters for metrics (`GET /metrics`): monotonically increasing since start, except
//! the gauges their docs name.

use super::DetachCause;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters for metrics: monotonically increasing since start.
#[derive(Debug, Default)]
pub struct Counters {
    /// Statements answered by one backend.
    pub reads: AtomicU64,
    /// Statements run on every active backend.
    pub writes: AtomicU64,
    /// Write transactions logged and committed.
    pub commits: AtomicU64,
    /// Backends detached.
    pub detaches: AtomicU64,
    /// Backends detached, per [`DetachCause`] (in the order of `DetachCause::ALL`).
    pub detaches_by_cause: [AtomicU64; 8],
    /// Detaches refused because the backend was the last active one.
    pub detaches_refused_last: AtomicU64,
    /// Health checks that failed (a backend is detached only after several in a row).
    pub health_failures: AtomicU64,
    /// Transactions ended by `idle_in_transaction_timeout`.
    pub idle_timeouts: AtomicU64,
    /// Transactions ended by `write_turn_timeout`.
    pub turn_hold_timeouts: AtomicU64,
    /// `keyed`: transactions chosen as a deadlock's victim by mdbd's lock manager.
    pub lock_deadlocks: AtomicU64,
    /// `keyed`: statements whose locks were not granted within `lock_wait_timeout`.
    pub lock_timeouts: AtomicU64,
    /// `keyed`: transactions rolled back because a backend waited on a lock mdbd did not
    /// foresee (the backends could otherwise have met them in different orders).
    pub unexpected_backend_waits: AtomicU64,
    /// Cancel requests carried out (statements asked to stop on the backends).
    pub cancels: AtomicU64,
    /// Client requests refused because a session setting was invalid.
    pub settings_refused: AtomicU64,
    /// Client connections refused before login (bad startup, login timeout).
    pub startup_refused: AtomicU64,
    /// Logins refused: wrong password, unknown user, wrong database, TLS required.
    pub logins_failed: AtomicU64,
    /// Client connections refused because `max_client_connections` were open.
    pub clients_over_limit: AtomicU64,
    /// Client connections holding one of the `max_client_connections` slots now (from
    /// accept to close, logged in or not).
    pub client_connections: AtomicU64,
    /// Microseconds spent waiting for the write turn, in total.
    pub turn_wait_micros: AtomicU64,
    /// Client sessions open now.
    pub open_sessions: AtomicU64,
    /// Bytes of `COPY ... FROM STDIN` data received.
    pub copy_bytes: AtomicU64,
    /// Servers made active by a join's switch-over.
    pub switchovers: AtomicU64,
    /// Microseconds writers were held at switch-overs, in total.
    pub switch_pause_micros: AtomicU64,
    /// The longest switch-over pause, in microseconds.
    pub switch_pause_max_micros: AtomicU64,
    /// Joins finished / aborted.
    pub joins_finished: AtomicU64,
    pub joins_aborted: AtomicU64,
}

impl Counters {
    pub(crate) fn count_detach(&self, cause: DetachCause) {
        if let Some(i) = DetachCause::ALL.iter().position(|c| *c == cause) {
            self.detaches_by_cause[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Detaches so far per cause, by the cause's name.
    pub fn detaches_by_cause(&self) -> Vec<(&'static str, u64)> {
        DetachCause::ALL
            .iter()
            .zip(&self.detaches_by_cause)
            .map(|(c, n)| (c.as_str(), n.load(Ordering::Relaxed)))
            .collect()
    }
}
