//! Timeouts that end one client's transaction, never the cluster's writes.
//!
//! In `serial` mode a write transaction holds the write turn until its client commits, so
//! a client that stops talking (asleep, its host gone) would stall every writer. A watch
//! task per client session ends such a transaction: rolled back on every backend, the
//! turn released, the client told at its next request with the error its database would
//! give (PostgreSQL 25P03 / 25P04) and its connection closed by the front end.
//!
//! The watch only acts while the session is idle between statements (it takes the
//! session's lock with `try_lock`, which a running statement holds); a running statement
//! is bounded by the backend deadline and the server's own `statement_timeout`.

use super::ClusterSession;
use crate::backend::{DbError, Dialect, OwnError};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Timeouts of client transactions; `None` disables one.
#[derive(Clone, Debug)]
pub struct SessionLimits {
    /// A transaction whose client sends nothing for this long is ended.
    pub idle_in_transaction_timeout: Option<Duration>,
    /// The longest a transaction may hold the write turn, checked between its statements.
    pub write_turn_timeout: Option<Duration>,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            idle_in_transaction_timeout: Some(Duration::from_secs(30)),
            write_turn_timeout: Some(Duration::from_secs(60)),
        }
    }
}

/// Why a session's transaction was ended from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxnExpiry {
    /// Its client sent nothing for `idle_in_transaction_timeout`.
    IdleInTransaction(Duration),
    /// It held the write turn longer than `write_turn_timeout`.
    TurnHeld(Duration),
}

impl TxnExpiry {
    /// The error the client gets, as its database would word it.
    pub fn error(self, dialect: &dyn Dialect) -> DbError {
        let (what, why) = match self {
            TxnExpiry::IdleInTransaction(d) => (
                OwnError::IdleInTransaction,
                format!("idle_in_transaction_timeout {d:?}"),
            ),
            TxnExpiry::TurnHeld(d) => (
                OwnError::TurnHeld,
                format!("it held the write turn longer than write_turn_timeout ({d:?})"),
            ),
        };
        dialect.own_error(what, &why)
    }
}

impl ClusterSession {
    /// Ends the open transaction if a limit has passed while the client was idle; returns
    /// why. The client's next request then fails with [`TxnExpiry::error`].
    pub async fn expire_if_due(&mut self) -> Option<TxnExpiry> {
        let limits = self.cluster.options().sessions.clone();
        let txn = self.txn.as_ref()?;
        let idle = self.idle_since?.elapsed();
        let expiry = if let Some(limit) = limits
            .idle_in_transaction_timeout
            .filter(|limit| idle >= *limit)
        {
            TxnExpiry::IdleInTransaction(limit)
        } else if let Some(limit) = limits.write_turn_timeout.filter(|limit| {
            txn.turn
                .as_ref()
                .is_some_and(|t| t.since().elapsed() >= *limit)
        }) {
            TxnExpiry::TurnHeld(limit)
        } else {
            return None;
        };
        let counters = self.cluster.counters();
        match expiry {
            TxnExpiry::IdleInTransaction(_) => &counters.idle_timeouts,
            TxnExpiry::TurnHeld(_) => &counters.turn_hold_timeouts,
        }
        .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            session = self.id(),
            ?expiry,
            idle_ms = idle.as_millis() as u64,
            "ending a client's transaction"
        );
        // Closing its connections rolls the transaction back on every server at once,
        // without waiting on one that may be hung; the turn goes with the transaction.
        self.conns.clear();
        self.cursors.clear();
        self.listening = None;
        self.txn = None;
        self.cancel_handles_cleared();
        self.expired = Some(expiry);
        Some(expiry)
    }

    /// Why this session's transaction was ended from outside, if it was: the front end
    /// answers with the error and closes the connection.
    pub fn expired(&self) -> Option<TxnExpiry> {
        self.expired
    }
}

/// Watches `session` until it is dropped, ending its transaction when a limit passes.
pub fn spawn_watch(
    session: &Arc<tokio::sync::Mutex<ClusterSession>>,
) -> tokio::task::JoinHandle<()> {
    let weak: Weak<tokio::sync::Mutex<ClusterSession>> = Arc::downgrade(session);
    tokio::spawn(async move {
        loop {
            let tick = {
                let Some(session) = weak.upgrade() else {
                    return;
                };
                let Ok(mut s) = session.try_lock() else {
                    drop(session);
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                };
                if s.expire_if_due().await.is_some() {
                    return;
                }
                tick_for(&s)
            };
            tokio::time::sleep(tick).await;
        }
    })
}

/// How long until the next check is worth making.
fn tick_for(s: &ClusterSession) -> Duration {
    let limits = &s.cluster.options().sessions;
    let shortest = [
        limits.idle_in_transaction_timeout,
        limits.write_turn_timeout,
    ]
    .into_iter()
    .flatten()
    .min()
    .unwrap_or(Duration::from_secs(5));
    (shortest / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
}
