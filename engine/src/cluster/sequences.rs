//! Sequences drawn by statements the log will not hold.
//!
//! A sequence is not transactional: an insert that draws a value and then rolls back has
//! still moved it, on every backend. The log holds committed transactions only, so a
//! server replayed from it (a joiner's catch-up, a rebuild) would draw different values
//! for every later insert. So:
//! - when a transaction that may have drawn from sequences rolls back, while it still
//!   holds them, their positions are read from one member and logged as a small
//!   transaction of its own (`SELECT setval(...)`, as the engine words it), committed
//!   everywhere with its marker like any other. On the live backends it changes nothing;
//!   in a replay it moves each sequence exactly as far;
//! - when a transaction goes on after a failed write (`ROLLBACK TO SAVEPOINT`), the same
//!   statements are logged inside it at that point, for a replay only.
//!
//! Which sequences: `keyed`, those the transaction holds in X (every one when it held
//! the global lock); `serial`, which does not look at statements, every sequence.

use super::{ClusterSession, DetachCause, DetachReason};
use crate::backend::{Backend, BackendError, Outcome, Session};
use crate::log::{Payload, Record, Statement, Value, WriteTxn};
use std::sync::Arc;

impl ClusterSession {
    /// Statements that set every sequence `txn` may have drawn from to where it stands
    /// now, read from one of its live members; `None` when there are none (or the
    /// engine cannot say, or the read failed: logged as a warning).
    async fn sequence_positions(&mut self, txn: &super::session::Txn) -> Option<Vec<Statement>> {
        let turn = txn.turn.as_ref()?;
        let sequences = turn.drawn_sequences();
        if sequences.as_ref().is_some_and(|s| s.is_empty()) {
            return None;
        }
        let query = self
            .cluster
            .dialect()
            .sequence_positions(sequences.as_deref())?;
        let reader = txn
            .members
            .iter()
            .find(|n| self.cluster.is_active(n) && self.conns.contains_key(*n))?
            .clone();
        let conn = self.conns.get_mut(&reader)?;
        match generator_positions(conn, &query).await {
            Ok(positions) => {
                (!positions.is_empty()).then(|| positions.into_iter().map(Statement::new).collect())
            }
            Err(e) => {
                tracing::warn!(session = self.id(), ?sequences, error = %e, "could not read the positions of sequences a failed statement or a rolled-back transaction drew from; a replay of the log may draw other values");
                None
            }
        }
    }

    /// A transaction goes on after a failed write (`ROLLBACK TO SAVEPOINT`, or an engine
    /// whose errors undo the statement alone): the failed statement is not logged, but
    /// what it drew is gone on the live backends, so the positions of the sequences are
    /// logged with the transaction at this point (a replay sets them where they stand
    /// here; the live backends need nothing).
    pub(super) async fn log_sequence_positions_in_transaction(&mut self) {
        let Some(mut txn) = self.txn.take() else {
            return;
        };
        if std::mem::take(&mut txn.failed_write) {
            if let Some(statements) = self.sequence_positions(&txn).await {
                txn.writes.extend(statements);
            }
        }
        self.txn = Some(txn);
    }

    /// Logs and commits the positions of the sequences `txn` drew from (see the module
    /// docs); call after its members rolled back, before its turn is released.
    pub(super) async fn keep_sequence_positions(&mut self, txn: &super::session::Txn) {
        let Some(statements) = self.sequence_positions(txn).await else {
            return;
        };
        let live: Vec<String> = txn
            .members
            .iter()
            .filter(|n| self.cluster.is_active(n) && self.conns.contains_key(*n))
            .cloned()
            .collect();
        let record = Record::now(
            self.id(),
            Payload::Write(WriteTxn {
                settings: Vec::new(),
                statements: statements.clone(),
            }),
        );
        let cluster = Arc::clone(&self.cluster);
        let range = match cluster.log().append(std::slice::from_ref(&record)).await {
            Ok(range) => range,
            Err(e) => {
                tracing::warn!(session = self.id(), error = %e, "could not log the positions of sequences a rolled-back transaction drew from");
                return;
            }
        };
        let _slot = cluster.order().commit_slot(range).await;
        let lsn = range.start;
        let statements = &statements;
        let applied = super::write::on_members!(self.conns, &live, |conn| async {
            conn.begin().await?;
            for s in statements {
                conn.execute_bytes(s.sql.as_bytes(), &[]).await?;
            }
            conn.commit(Some(lsn)).await
        });
        for (name, result) in applied {
            if let Err(e) = result {
                self.conns.remove(&name);
                let _ = cluster.detach_behind(
                    &name,
                    DetachReason::new(
                        DetachCause::CommitFailed,
                        format!("sequence positions at LSN {lsn} failed: {e}"),
                    ),
                );
            }
        }
    }
}

/// The statements `query` (a [`crate::backend::Dialect::key_generators`] or
/// `sequence_positions` query: one statement of text per row) answers on `session`.
async fn generator_positions(
    session: &mut dyn Session,
    query: &str,
) -> Result<Vec<String>, BackendError> {
    match session.execute(query, &[]).await? {
        Outcome::Rows(rs) => Ok(rs
            .rows
            .into_iter()
            .filter_map(|row| match row.into_iter().next() {
                Some(Value::Text(sql)) => Some(sql),
                _ => None,
            })
            .collect()),
        Outcome::Command { .. } => Ok(Vec::new()),
    }
}

/// What setting one server's key generators to another's needs, opened ahead of the
/// moment it runs (a switch-over's quiesce, where opening two connections would double
/// the writers' pause).
pub(crate) struct KeyAlignment {
    query: String,
    source: String,
    target: String,
    from: Box<dyn Session>,
    to: Box<dyn Session>,
}

impl KeyAlignment {
    /// Sets every key generator (sequence, `AUTO_INCREMENT` counter) of the target, a
    /// server just brought to the end of the log by replay, to where the source's stands;
    /// run with no write in flight (a switch-over's quiesce, or before the cluster
    /// serves). A replay gives every row the keys the live backends gave it, but a
    /// generator moved by work the log does not hold (a rolled-back MySQL insert) would
    /// otherwise make the server's next inserts draw other keys than the others. Returns
    /// how many it set.
    pub(crate) async fn run(mut self) -> Result<usize, BackendError> {
        let want = self.source_positions().await?;
        self.run_with(want).await
    }

    /// Runs the query once on both sessions, discarding the answers: a new session's
    /// first catalog query loads the server's catalog caches (about a millisecond on
    /// PostgreSQL, more under load), which a switch-over's writers would otherwise wait
    /// for.
    pub(crate) async fn warm(&mut self) -> Result<(), BackendError> {
        let (from, to) = tokio::join!(
            generator_positions(&mut *self.from, &self.query),
            generator_positions(&mut *self.to, &self.query)
        );
        from.and(to).map(drop)
    }

    /// Where the source's generators stand: read once no write can move them (the
    /// writers quiesced), possibly while the target is still replaying.
    pub(crate) async fn source_positions(&mut self) -> Result<Vec<String>, BackendError> {
        generator_positions(&mut *self.from, &self.query).await
    }

    /// [`Self::run`] with the source's positions read already ([`Self::source_positions`]);
    /// the target's are read now (it must be at the end of the log).
    pub(crate) async fn run_with(mut self, want: Vec<String>) -> Result<usize, BackendError> {
        if want.is_empty() {
            // Nothing the target could lack: its own need not be read.
            return Ok(0);
        }
        let have = generator_positions(&mut *self.to, &self.query).await?;
        self.set(want, have).await
    }

    /// Runs on the target the statements of `want` it does not have.
    async fn set(mut self, want: Vec<String>, have: Vec<String>) -> Result<usize, BackendError> {
        let mut set = 0;
        for statement in want.iter().filter(|s| !have.contains(s)) {
            self.to.execute(statement, &[]).await?;
            set += 1;
        }
        if set > 0 {
            tracing::info!(
                backend = self.target,
                from = self.source,
                set,
                "key generators set to an active member's"
            );
        }
        Ok(set)
    }
}

impl super::Cluster {
    /// Opens the sessions a [`KeyAlignment`] of `target` with `source` needs; `None` when
    /// the engine's keys need none (see [`crate::backend::Dialect::key_generators`]).
    pub(crate) async fn prepare_key_alignment(
        &self,
        source: &dyn Backend,
        target: &dyn Backend,
    ) -> Result<Option<KeyAlignment>, BackendError> {
        let Some(query) = self.dialect().key_generators() else {
            return Ok(None);
        };
        Ok(Some(KeyAlignment {
            query,
            source: source.name().to_string(),
            target: target.name().to_string(),
            from: source.open_session().await?,
            to: target.open_session().await?,
        }))
    }

    /// [`Self::prepare_key_alignment`] and [`KeyAlignment::run`] at once.
    pub(crate) async fn align_key_generators(
        &self,
        source: &dyn Backend,
        target: &dyn Backend,
    ) -> Result<usize, BackendError> {
        match self.prepare_key_alignment(source, target).await? {
            Some(alignment) => alignment.run().await,
            None => Ok(0),
        }
    }
}

impl super::Cluster {
    /// At start, after every active backend caught up (`replayed`: each with how many
    /// records it replayed): those that replayed take the key generators of one that was
    /// at the end of the log already; one that cannot is detached (it would draw other
    /// keys). With none at the end, nothing is known better than each one's own.
    pub(super) async fn align_caught_up(
        &self,
        replayed: &[(Arc<dyn Backend>, u64)],
    ) -> Result<(), super::ClusterError> {
        let Some((source, _)) = replayed.iter().find(|(_, n)| *n == 0) else {
            return Ok(());
        };
        for (backend, _) in replayed.iter().filter(|(_, n)| *n > 0) {
            if let Err(e) = self.align_key_generators(&**source, &**backend).await {
                self.detach(
                    backend.name(),
                    DetachReason::new(
                        DetachCause::CatchUpFailed,
                        format!("could not set its key generators at start: {e}"),
                    ),
                )?;
            }
        }
        Ok(())
    }
}
