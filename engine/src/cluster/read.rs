//! The read path of a session (and Describe, which goes where its reads go). Outside a
//! transaction that wrote, a read goes to one backend, the least loaded (the next when one
//! is unreachable); inside one, to one of the transaction's own connections, so that it
//! sees the transaction's writes.
//!
//! On PostgreSQL a read's database error inside a transaction aborts the transaction on
//! the backend that ran it. The session's transaction is marked failed at once: every
//! later statement is refused with 25P02 until `ROLLBACK` or `ROLLBACK TO SAVEPOINT`
//! (which runs on every member, see `write.rs`). Were it not, the next write would fail
//! on that backend alone and the vote would detach a healthy server.

use super::session::to_client;
use super::write::aborted;
use super::{ClusterError, ClusterSession, DetachCause, DetachReason};
use crate::backend::{BackendError, Description, Outcome, RowSink, Session};
use crate::log::Value;
use std::sync::atomic::Ordering;

impl ClusterSession {
    /// Runs a read where the session's transaction (if any) can see it; `catalog` for a
    /// read of the system catalogs (see [`read_anywhere`](Self::read_anywhere)).
    /// With a `sink`, the rows go there as they arrive (see [`Session::stream`]).
    pub(super) async fn read(
        &mut self,
        sql: &[u8],
        params: &[Value],
        catalog: bool,
        sink: Option<&mut dyn RowSink>,
    ) -> Result<Outcome, ClusterError> {
        let Some(txn) = &self.txn else {
            return self.read_anywhere(sql, params, catalog, sink).await;
        };
        if txn.aborted {
            return Err(aborted());
        }
        // A read of a transaction that wrote takes its footprint too (`keyed`: nothing
        // for a plain read, the rows or tables of a locking one, the global lock for one
        // not understood).
        if let Some(mut txn) = self.txn.take_if(|t| t.turn.is_some()) {
            let acquired = self.acquire(&mut txn, sql, params).await;
            self.txn = Some(txn);
            if let Err(e) = acquired {
                self.abort_transaction().await;
                return Err(e);
            }
        }
        let Some(txn) = &self.txn else {
            return self.read_anywhere(sql, params, catalog, sink).await;
        };
        let result = match self.reading_member(txn) {
            Some(name) => self.read_in_transaction(&name, sql, params, sink).await,
            None => self.read_anywhere(sql, params, catalog, sink).await,
        };
        if matches!(result, Err(ClusterError::Db(_))) && self.error_aborts_transaction() {
            if let Some(txn) = self.txn.as_mut() {
                txn.aborted = true;
            }
        }
        result
    }

    /// The member of `txn` its reads go to: the session's catalog backend when it is one
    /// (so object and type ids agree with its catalog reads), else the first.
    pub(super) fn reading_member(&self, txn: &super::session::Txn) -> Option<String> {
        self.catalog_backend
            .as_ref()
            .filter(|n| txn.members.contains(n))
            .or_else(|| txn.members.first())
            .cloned()
    }

    /// On the transaction's connection to backend `name`.
    async fn read_in_transaction(
        &mut self,
        name: &str,
        sql: &[u8],
        params: &[Value],
        sink: Option<&mut dyn RowSink>,
    ) -> Result<Outcome, ClusterError> {
        let backend = self
            .backend(name)
            .ok_or_else(|| ClusterError::NoActiveBackend(name.to_string()))?;
        let conn = self.conn(&backend).await?;
        run(conn, sql, params, sink).await.map_err(to_client)
    }

    /// Outside a transaction: one backend, in turn; an unreachable one is detached (never
    /// the last) and the next answers. A catalog read (`catalog`) goes to the backend of
    /// the session's earlier catalog reads while it is active: object ids differ between
    /// backends, and a tool's second query (`psql`'s `\d t`: first the table's oid, then
    /// its columns by that oid) must meet the first one's ids. A session whose result had
    /// a type of the database's own (an enum, announced by its oid) keeps all its reads
    /// on that one backend, as pgpool-II keeps a session's reads on one node.
    async fn read_anywhere(
        &mut self,
        sql: &[u8],
        params: &[Value],
        catalog: bool,
        mut sink: Option<&mut dyn RowSink>,
    ) -> Result<Outcome, ClusterError> {
        self.cluster
            .counters()
            .reads
            .fetch_add(1, Ordering::Relaxed);
        // Try each active backend in turn: a broken one is detached and the next answers;
        // a full one (its pool, or the server, out of connections) is passed over.
        let mut full: Vec<String> = Vec::new();
        let mut last_full = None;
        for _ in 0..self.cluster.active().len().max(1) {
            let sticky = match &self.catalog_backend {
                Some(name) if (catalog || self.reads_pinned) && !full.contains(name) => {
                    self.cluster.read_backend_named(name)
                }
                _ => None,
            };
            let Some((backend, _load)) =
                sticky.or_else(|| self.cluster.read_backend_counted(&full))
            else {
                break;
            };
            if catalog {
                self.catalog_backend = Some(backend.name().to_string());
            }
            let result = match self.conn(&backend).await {
                Ok(conn) => run(conn, sql, params, sink.as_deref_mut()).await,
                Err(e) => Err(e),
            };
            if sink.as_ref().is_some_and(|s| s.started()) {
                // Part of the result is with the client: no other backend can answer.
                return result.map_err(to_client);
            }
            match result {
                Err(e) if e.is_too_many_connections() => {
                    full.push(backend.name().to_string());
                    last_full = Some(e);
                }
                Err(e) if !e.is_db_error() => {
                    self.conns.remove(backend.name());
                    let out = self.cluster.take_out(
                        backend.name(),
                        DetachReason::new(DetachCause::Unreachable, format!("read failed: {e}")),
                    )?;
                    if !out {
                        return Err(to_client(e));
                    }
                }
                Ok(Outcome::Rows(rs)) if crate::backend::has_database_types(&rs.columns) => {
                    // Type ids of the database's own (enums) differ between backends: the
                    // session's reads stay on one backend from here on, and one whose
                    // catalog reads went elsewhere reads this again there.
                    let here = backend.name();
                    self.reads_pinned = true;
                    let home = self.catalog_backend.as_deref().filter(|n| {
                        *n != here && self.cluster.is_active(n) && !full.iter().any(|f| f == n)
                    });
                    if home.is_some() {
                        continue;
                    }
                    self.catalog_backend = Some(here.to_string());
                    return Ok(Outcome::Rows(rs));
                }
                other => return other.map_err(to_client),
            }
        }
        if let Some(e) = last_full {
            return Err(to_client(e));
        }
        Err(ClusterError::NoActiveBackend(
            "every backend failed the read".into(),
        ))
    }

    /// The parameter types and result columns of `sql`, from one backend.
    pub async fn describe(&mut self, sql: &str) -> Result<Description, ClusterError> {
        let in_txn = self.txn.as_ref().is_some_and(|t| !t.members.is_empty());
        let mut described = Err(ClusterError::NoActiveBackend(
            "nothing to describe on".into(),
        ));
        // Like a read: an unreachable backend is detached and the next one answers
        // (inside a transaction that wrote, only the session's own connection will do).
        let cursor = self
            .cursor_backend(sql)
            .and_then(|name| self.cluster.backend(&name));
        for _ in 0..self.cluster.active().len().max(1) {
            let backend = match &cursor {
                // A FETCH of a cursor of the session's: where the cursor is.
                Some(backend) => backend.clone(),
                None => self.one_backend()?,
            };
            let result = match self.conn(&backend).await {
                Ok(conn) => conn.describe(sql).await,
                Err(e) => Err(e),
            };
            match result {
                Err(e) if !e.is_db_error() && !in_txn => {
                    self.conns.remove(backend.name());
                    let out = self.cluster.take_out(
                        backend.name(),
                        DetachReason::new(
                            DetachCause::Unreachable,
                            format!("describe failed: {e}"),
                        ),
                    )?;
                    described = Err(to_client(e));
                    if !out {
                        break;
                    }
                }
                other => {
                    let typed = other
                        .as_ref()
                        .is_ok_and(|d| crate::backend::has_database_types(&d.columns));
                    if typed && self.catalog_backend.is_none() {
                        // Its type ids are this backend's: the session's reads stay here.
                        self.catalog_backend = Some(backend.name().to_string());
                        self.reads_pinned = true;
                    }
                    described = other.map_err(to_client);
                    break;
                }
            }
        }
        // Between transactions the connection goes straight back: a session must not sit
        // on a pooled connection while it waits for the write turn.
        self.release_idle();
        self.cancel_handles_cleared();
        described
    }
}

/// A statement on `conn`, its rows to `sink` when there is one.
async fn run<'s>(
    conn: &mut super::Conn,
    sql: &[u8],
    params: &[Value],
    sink: Option<&mut (dyn RowSink + 's)>,
) -> Result<Outcome, BackendError> {
    match sink {
        Some(sink) => conn.stream(sql, params, sink).await,
        None => conn.execute_bytes(sql, params).await,
    }
}
