//! How a client session's transaction ends: commit (log first, then every member with
//! the marker), rollback, the end of a departing client's session, and the abort of a
//! transaction for an error of mdbd's own ordering.

use super::session::{command, ClusterSession, Txn};
use super::{ClusterError, DetachCause, DetachReason};
use crate::backend::{BackendError, Outcome, Session};
use crate::log::{Lsn, Payload, Record, WriteTxn};
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl ClusterSession {
    /// Logs the transaction's writes durably, then commits them everywhere with the marker.
    pub(super) async fn commit(&mut self) -> Result<Outcome, ClusterError> {
        let Some(mut txn) = self.txn.take() else {
            return Ok(command("COMMIT"));
        };
        if txn.aborted {
            self.txn = Some(txn);
            self.rollback().await;
            return Ok(command("ROLLBACK"));
        }
        if txn.writes.is_empty() {
            for conn in self.conns.values_mut() {
                let _ = conn.rollback().await;
            }
            return Ok(command("COMMIT"));
        }
        let record = Record::now(
            self.id(),
            Payload::Write(WriteTxn {
                settings: super::pin_time::with_clock(
                    &self.settings,
                    self.cluster.dialect(),
                    txn.time,
                ),
                statements: std::mem::take(&mut txn.writes),
            }),
        );
        let range = match self
            .cluster
            .log()
            .append(std::slice::from_ref(&record))
            .await
        {
            Ok(range) => range,
            Err(e) => {
                // Not logged, so not acknowledged: undo it everywhere.
                self.txn = Some(txn);
                self.rollback().await;
                return Err(e.into());
            }
        };
        let lsn: Lsn = range.start;
        // In LSN order on the backends (`keyed`; at once in `serial`), so each marker
        // stays exact; the slot passes this LSN when dropped, whatever happens below.
        let cluster = Arc::clone(&self.cluster);
        let slot = cluster.order().commit_slot(range).await;
        // Detached meanwhile (by another session's failure): it gets nothing more.
        let (live, gone): (Vec<String>, Vec<String>) = txn
            .members
            .iter()
            .cloned()
            .partition(|n| self.cluster.is_active(n));
        for name in gone {
            if let Some(mut conn) = self.conns.remove(&name) {
                let _ = conn.rollback().await;
            }
        }
        let committing = self
            .conns
            .iter_mut()
            .filter(|(name, _)| live.contains(name))
            .map(|(name, conn)| async move {
                let result = conn.commit(Some(lsn)).await;
                (name.clone(), result)
            });
        let committed: Vec<(String, Result<(), BackendError>)> =
            futures_util::future::join_all(committing).await;
        for name in &live {
            let failure = match committed.iter().find(|(n, _)| n == name) {
                Some((_, Ok(()))) => continue,
                Some((_, Err(e))) => e.to_string(),
                None => "no connection".to_string(),
            };
            // The write is logged: the backend is now behind and must catch up.
            self.conns.remove(name);
            self.cluster.detach_behind(
                name,
                DetachReason::new(
                    DetachCause::CommitFailed,
                    format!("commit of LSN {lsn} failed: {failure}"),
                ),
            )?;
        }
        drop(slot);
        if txn.turn.as_ref().is_some_and(|t| t.holds_everything()) {
            // It may have changed the schema: footprints must see the new one before
            // any other writer runs (`keyed`; nothing to do in `serial`).
            self.cluster.refresh_catalog().await;
        }
        drop(txn.turn.take());
        self.cluster
            .counters()
            .commits
            .fetch_add(1, Ordering::Relaxed);
        Ok(command("COMMIT"))
    }

    /// Rolls the transaction back on every member at once (one hung member costs one
    /// deadline, not one per member); a member whose rollback fails loses its connection,
    /// which rolls back on the server when it closes.
    pub(super) async fn rollback(&mut self) {
        if let Some(txn) = self.txn.take() {
            let results =
                super::write::on_members!(self.conns, &txn.members, |conn| conn.rollback());
            for (name, result) in results {
                if result.is_err() {
                    self.conns.remove(&name);
                }
            }
            self.keep_sequence_positions(&txn).await;
        }
    }

    /// Ends the session when its client leaves: an open transaction is rolled back on
    /// every backend now, with what a rollback logs (`keyed`: the positions of the
    /// sequences it drew from), instead of by each server when its connection closes.
    pub async fn end(&mut self) {
        self.rollback().await;
    }

    /// Rolls the transaction back everywhere for an error of mdbd's own ordering (a
    /// deadlock, a lock wait past its limit, an unforeseen backend wait) and releases what
    /// it held. A client's explicit transaction then stays open but failed where its
    /// engine aborts a transaction on an error (PostgreSQL): its later statements are
    /// refused until ROLLBACK, and none of them runs outside the transaction the client
    /// believes it is in.
    pub(super) async fn abort_transaction(&mut self) {
        let explicit = self.txn.as_ref().is_some_and(|t| t.explicit);
        self.rollback().await;
        if explicit && self.error_aborts_transaction() {
            self.txn = Some(Txn {
                explicit: true,
                aborted: true,
                ..Txn::default()
            });
        }
    }
}
