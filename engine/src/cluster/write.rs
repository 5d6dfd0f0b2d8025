//! The write path of a session: taking the write turn, running a write on every active
//! backend at once, and the vote on their outcomes.

use super::pin_time::pin_time;
use super::session::{to_client, Txn};
use super::{vote, ClusterError, ClusterSession, DetachCause, DetachReason, Verdict};
use crate::backend::{BackendError, Outcome, Session};
use crate::log::{Payload, Record, Sql, Statement, Value, WriteTxn};
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

/// Runs `$call` on the connection of every backend named in `$members`, all at once, and
/// collects `(name, result)` in member order; a member without a connection counts as
/// unreachable.
macro_rules! on_members {
    ($conns:expr, $members:expr, |$conn:ident| $call:expr) => {{
        let members: &[String] = $members;
        let running = $conns
            .iter_mut()
            .filter(|(name, _)| members.contains(name))
            .map(|(name, $conn)| async move { (name.clone(), $call.await) });
        let mut results: Vec<(String, Result<_, BackendError>)> =
            futures_util::future::join_all(running).await;
        for name in members {
            if !results.iter().any(|(n, _)| n == name) {
                results.push((
                    name.clone(),
                    Err(BackendError::Connection {
                        backend: name.clone(),
                        reason: "no connection".into(),
                    }),
                ));
            }
        }
        // Configuration order: with no majority, the first configured backend's side wins.
        results.sort_by_key(|(n, _)| members.iter().position(|m| m == n));
        results
    }};
}
pub(super) use on_members;

pub(super) fn aborted() -> ClusterError {
    ClusterError::State(
        "current transaction is aborted, commands ignored until end of transaction block".into(),
    )
}

impl ClusterSession {
    /// Whether a statement's error aborts the whole transaction (PostgreSQL) or only the
    /// statement (MySQL, SQLite).
    pub(super) fn error_aborts_transaction(&self) -> bool {
        self.cluster.dialect().error_aborts_transaction()
    }

    /// Refuses a statement of a transaction a failed statement aborted.
    pub(super) fn refuse_if_aborted(&self) -> Result<(), ClusterError> {
        match &self.txn {
            Some(txn) if txn.aborted => Err(aborted()),
            _ => Ok(()),
        }
    }

    /// A write in a failed transaction: `ROLLBACK TO SAVEPOINT` runs on every member and,
    /// once they agree it succeeded, the transaction goes on (the statement is logged with
    /// the others, so a replay undoes the same work); anything else is refused as
    /// PostgreSQL refuses it. A `ROLLBACK TO` that fails leaves the transaction failed.
    pub(super) async fn write_in_failed_transaction(
        &mut self,
        sql: &[u8],
        text: &str,
        params: &[Value],
    ) -> Result<Outcome, ClusterError> {
        if !super::classify::rolls_back_to_savepoint(text) {
            return Err(aborted());
        }
        if let Some(txn) = self.txn.as_mut() {
            txn.aborted = false;
        }
        let outcome = self.write(sql, params).await?;
        self.log_sequence_positions_in_transaction().await;
        Ok(outcome)
    }

    /// Takes the write turn (once per transaction), waiting while the write order holds
    /// this transaction back (see [`super::order`]).
    async fn take_turn(&mut self) -> super::order::WriteTurn {
        let waited = Instant::now();
        let turn = self.cluster.order().write_turn().await;
        self.cluster
            .counters()
            .turn_wait_micros
            .fetch_add(waited.elapsed().as_micros() as u64, Ordering::Relaxed);
        turn
    }

    /// Opens a connection to every active backend that lacks one; returns the names of
    /// those that have one. A backend that cannot be reached is detached (never the last
    /// one); a database answer (a connection limit, a setting the server refuses) is the
    /// client's error and detaches nothing.
    async fn connect_active(&mut self) -> Result<Vec<String>, ClusterError> {
        let mut names = Vec::new();
        for backend in self.cluster.active() {
            match self.conn(&backend).await {
                Ok(_) => names.push(backend.name().to_string()),
                Err(e) if e.is_db_error() => return Err(to_client(e)),
                Err(e) => {
                    self.conns.remove(backend.name());
                    let out = self.cluster.take_out(
                        backend.name(),
                        DetachReason::new(
                            DetachCause::Unreachable,
                            format!("could not connect: {e}"),
                        ),
                    )?;
                    if !out {
                        return Err(to_client(e));
                    }
                }
            }
        }
        Ok(names)
    }

    /// The session's transaction, holding the write turn and what `statement` needs (its
    /// footprint in `keyed` mode), begun on every active backend. On an error before
    /// anything is written the session's transaction is left as it was; when the locks
    /// are refused (a deadlock, a lock wait past its limit) the whole transaction is
    /// rolled back everywhere.
    pub(super) async fn begin_write(
        &mut self,
        statement: &[u8],
        params: &[Value],
    ) -> Result<Txn, ClusterError> {
        let mut txn = self.txn.take().unwrap_or_default();
        if txn.aborted {
            self.txn = Some(txn);
            return Err(aborted());
        }
        let first = txn.turn.is_none();
        if first {
            txn.turn = Some(self.take_turn().await);
        }
        // `keyed`: a statement's locks come before anything is sent, and the first one's
        // before the members are chosen. A switch-over quiesces the writers; a transaction
        // that chose its members before one and ran its statement after would miss the
        // server just made active.
        if let Err(e) = self.acquire(&mut txn, statement, params).await {
            self.txn = Some(txn);
            self.abort_transaction().await;
            return Err(e);
        }
        if first {
            let begun = if self.client_is_gone() {
                // Its client left while it waited for the turn: it must not run now.
                Err(super::session::client_gone())
            } else {
                self.begin_everywhere(&mut txn).await
            };
            if let Err(e) = begun {
                // Nothing was written yet: give the turn back and leave the session as it was.
                for name in std::mem::take(&mut txn.members) {
                    if let Some(conn) = self.conns.get_mut(&name) {
                        let _ = conn.rollback().await;
                    }
                }
                txn.turn = None;
                if txn.writes.is_empty() && txn.time.is_none() && !txn.explicit {
                    self.txn = None;
                } else {
                    self.txn = Some(txn);
                }
                return Err(e);
            }
        }
        txn.time.get_or_insert_with(SystemTime::now);
        self.cluster
            .counters()
            .writes
            .fetch_add(1, Ordering::Relaxed);
        Ok(txn)
    }

    /// Takes what `statement` needs under the transaction's turn (see
    /// [`super::order::WriteTurn::acquire`]); a refusal is the client's error, worded by
    /// its engine.
    pub(super) async fn acquire(
        &mut self,
        txn: &mut Txn,
        statement: &[u8],
        params: &[Value],
    ) -> Result<(), ClusterError> {
        let Some(turn) = txn.turn.as_mut() else {
            return Ok(());
        };
        if !turn.takes_locks() {
            return Ok(()); // `serial`: the turn is everything; no text to read
        }
        let text = String::from_utf8_lossy(statement);
        let Err(refused) = turn.acquire(&text, params).await else {
            return Ok(());
        };
        let (what, counter) = match refused {
            super::order::LockError::Deadlock { .. } => (
                crate::backend::OwnError::Deadlock,
                &self.cluster.counters().lock_deadlocks,
            ),
            _ => (
                crate::backend::OwnError::LockTimeout,
                &self.cluster.counters().lock_timeouts,
            ),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        tracing::info!(session = self.id(), %refused, "keyed lock refused; transaction rolled back");
        Err(ClusterError::Db(
            self.cluster.dialect().own_error(what, &refused.to_string()),
        ))
    }

    /// Under the turn: brings any backend left behind by a failed commit up to the log's
    /// end, connects to every active backend and begins the transaction on each.
    async fn begin_everywhere(&mut self, txn: &mut Txn) -> Result<(), ClusterError> {
        self.cluster.catch_up_behind().await?;
        let names = self.connect_active().await?;
        let at = *txn.time.get_or_insert_with(SystemTime::now);
        let begun = on_members!(self.conns, &names, |conn| conn.begin_at(at));
        for (name, result) in begun {
            match result {
                Ok(()) => txn.members.push(name),
                Err(e) if e.is_db_error() => return Err(to_client(e)),
                Err(e) => {
                    self.conns.remove(&name);
                    let out = self.cluster.take_out(
                        &name,
                        DetachReason::new(
                            DetachCause::Unreachable,
                            format!("could not begin: {e}"),
                        ),
                    )?;
                    if !out {
                        return Err(to_client(e));
                    }
                }
            }
        }
        if txn.members.is_empty() {
            return Err(ClusterError::NoActiveBackend(
                "no backend could begin the write".into(),
            ));
        }
        Ok(())
    }

    /// Votes on the members' results: each dissenter is rolled back and detached with the
    /// reason; returns the winning result.
    pub(super) async fn settle(
        &mut self,
        txn: &mut Txn,
        mut results: Vec<(String, Verdict)>,
    ) -> Result<Verdict, ClusterError> {
        let (winner, dissent) = vote(&results);
        for (name, reason) in &dissent {
            if let Some(mut conn) = self.conns.remove(name) {
                // An unreachable backend's connection is just closed (its server rolls
                // back): waiting on it again would stall the write a second time.
                if reason.cause != DetachCause::Unreachable {
                    let _ = conn.rollback().await;
                }
            }
            txn.members.retain(|m| m != name);
            match reason.cause {
                DetachCause::Disagreed => self.cluster.detach_diverged(name, &reason.detail)?,
                _ => self.cluster.detach(name, reason.clone())?,
            };
        }
        match winner {
            Some(w) => Ok(results.swap_remove(w).1),
            None => Err(ClusterError::NoActiveBackend(
                "every backend failed the write".into(),
            )),
        }
    }

    /// Ends one write statement: a success joins the transaction's log record (and an
    /// autocommit write commits); an error every backend agreed on goes to the client.
    pub(super) async fn conclude(
        &mut self,
        mut txn: Txn,
        autocommit: bool,
        statement: Statement,
        verdict: Result<Verdict, ClusterError>,
    ) -> Result<Outcome, ClusterError> {
        match verdict {
            Err(e) => {
                self.txn = Some(txn);
                self.rollback().await;
                Err(e)
            }
            Ok(Ok(outcome)) => {
                match self.cluster.dialect().replay_generated_keys(&outcome) {
                    Some([before, after]) => {
                        txn.writes.push(Statement::new(before));
                        txn.writes.push(statement);
                        txn.writes.push(Statement::new(after));
                    }
                    None => txn.writes.push(statement),
                }
                self.txn = Some(txn);
                if autocommit {
                    self.commit().await?;
                }
                Ok(outcome)
            }
            Ok(Err(e)) => {
                // PostgreSQL aborts the transaction; the others undo the statement alone.
                txn.aborted = self.error_aborts_transaction();
                txn.failed_write = true;
                let goes_on = !txn.aborted;
                self.txn = Some(txn);
                if autocommit {
                    self.rollback().await;
                } else if goes_on {
                    self.log_sequence_positions_in_transaction().await;
                }
                Err(to_client(e))
            }
        }
    }

    /// `keyed`: some backends gave up waiting for a lock (or broke a deadlock) and others
    /// did not. mdbd let the statement run beside another it did not see conflict with,
    /// and the backends may have met the two in different orders: not a disagreement to
    /// vote on, but a transaction to roll back everywhere and retry (40001 / 1213).
    fn unforeseen_wait(
        &self,
        results: &[(String, Result<Outcome, BackendError>)],
    ) -> Option<ClusterError> {
        if self.cluster.order().consistency() != super::Consistency::Keyed {
            return None;
        }
        let dialect = self.cluster.dialect();
        let waited: Vec<&str> = results
            .iter()
            .filter(|(_, r)| matches!(r, Err(BackendError::Db(e)) if dialect.is_lock_failure(e)))
            .map(|(name, _)| name.as_str())
            .collect();
        if waited.is_empty() || waited.len() == results.len() {
            return None;
        }
        self.cluster
            .counters()
            .unexpected_backend_waits
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(session = self.id(), backends = ?waited, "a lock wait mdbd did not foresee; transaction rolled back everywhere");
        Some(ClusterError::Db(dialect.own_error(
            crate::backend::OwnError::SerializationFailure,
            &format!(
                "could not serialize access: {} waited on a lock the others did not",
                waited.join(", ")
            ),
        )))
    }

    /// Runs a write on every active backend, inside this session's transaction on each.
    pub(super) async fn write(
        &mut self,
        sql: &[u8],
        params: &[Value],
    ) -> Result<Outcome, ClusterError> {
        let autocommit = self.txn.is_none();
        let mut txn = self.begin_write(sql, params).await?;
        let at = txn.time.unwrap_or_else(SystemTime::now);
        let sql = match std::str::from_utf8(sql) {
            Ok(text) => Sql::from(pin_time(text, self.cluster.dialect(), at)),
            // Only MySQL takes such bytes, and its clock is pinned by `SET timestamp`
            // (`begin_at`), not by rewriting; the other engines refuse them.
            Err(_) => Sql::from(sql),
        };
        let members = txn.members.clone();
        let bytes = sql.as_bytes();
        let results = on_members!(self.conns, &members, |conn| conn
            .execute_bytes(bytes, params));
        if let Some(e) = self.unforeseen_wait(&results) {
            self.txn = Some(txn);
            self.abort_transaction().await;
            return Err(e);
        }
        let verdict = self.settle(&mut txn, results).await;
        let statement = Statement {
            sql,
            params: params.to_vec(),
            copy_data: None,
        };
        self.conclude(txn, autocommit, statement, verdict).await
    }

    /// Runs a statement that refuses a transaction block (`VACUUM`, `CREATE INDEX
    /// CONCURRENTLY`) under the write turn, in autocommit on every backend; once it has
    /// succeeded everywhere it is logged and each marker moves past it. Nothing is logged
    /// for an error every backend agreed on. (Were mdbd to die between the statement and
    /// its log append, the backends would hold an effect the log lacks; these statements
    /// change no rows, so only an index or a database could be left over.)
    pub(super) async fn write_alone(&mut self, sql: &[u8]) -> Result<Outcome, ClusterError> {
        // Alone: every other writer is held back, whatever the mode.
        let cluster = std::sync::Arc::clone(&self.cluster);
        let _alone = cluster.order().quiesce().await;
        if self.client_is_gone() {
            return Err(super::session::client_gone());
        }
        self.cluster
            .counters()
            .writes
            .fetch_add(1, Ordering::Relaxed);
        let members = self.connect_active().await?;
        let results = on_members!(self.conns, &members, |conn| conn.execute_bytes(sql, &[]));
        let mut txn = Txn {
            members,
            ..Txn::default()
        };
        let outcome = self.settle(&mut txn, results).await?.map_err(to_client)?;
        let record = Record::now(
            self.id(),
            Payload::Write(WriteTxn {
                settings: self.settings.clone(),
                statements: vec![Statement {
                    sql: sql.into(),
                    params: Vec::new(),
                    copy_data: None,
                }],
            }),
        );
        let range = self
            .cluster
            .log()
            .append(std::slice::from_ref(&record))
            .await?;
        let lsn = range.start;
        let _slot = cluster.order().commit_slot(range).await;
        let marked = on_members!(self.conns, &txn.members, |conn| async {
            conn.begin().await?;
            conn.commit(Some(lsn)).await
        });
        for (name, result) in marked {
            if let Err(e) = result {
                self.conns.remove(&name);
                self.cluster.detach_behind(
                    &name,
                    DetachReason::new(
                        DetachCause::CommitFailed,
                        format!("marker move to LSN {lsn} failed: {e}"),
                    ),
                )?;
            }
        }
        self.cluster
            .counters()
            .commits
            .fetch_add(1, Ordering::Relaxed);
        Ok(outcome)
    }
}
