//! Reads taken in pages. A protocol portal executed with a row limit (asyncpg's
//! `cursor.fetch(n)`, pg-cursor, pgjdbc's `setFetchSize`) becomes a cursor of the server's
//! own on one backend, so mdbd holds one page at a time instead of the whole result.
//!
//! A cursor is a read: it runs where the session's reads run (inside a transaction that
//! wrote, on the transaction's reading member, so that it sees the writes; else on one
//! backend, the session's catalog backend when it has one) and never takes the write turn.
//! Declared inside the backend's transaction it ends with it; declared outside one it is
//! `WITH HOLD` (the server keeps its rows past the statement's own commit). The session
//! keeps the cursor's connection until the cursor is closed, and closes every cursor
//! opened inside its transaction when the transaction ends, as the protocol's portals end
//! with theirs. Engines without cursors ([`Dialect::declare_cursor`] gives `None`) and
//! statements that are not plain queries run whole as before.
//!
//! [`Dialect::declare_cursor`]: crate::backend::Dialect::declare_cursor

use super::session::to_client;
use super::{ClusterError, ClusterSession, Kind};
use crate::backend::{Backend, Outcome, ResultSet, Session};
use crate::log::Value;
use std::sync::Arc;

/// A cursor the session holds open on one backend.
pub(super) struct Cursor {
    /// Its name on the backend (the session's own, or the client's: `sql_cursor.rs`).
    pub(super) name: String,
    /// The backend whose connection holds it.
    pub(super) backend: String,
    /// Declared inside the backend's transaction: it is gone when that ends.
    in_backend_txn: bool,
    /// Opened inside the session's transaction: closed when that ends.
    in_session_txn: bool,
}

impl Cursor {
    pub(super) fn new(
        name: String,
        backend: String,
        in_backend_txn: bool,
        in_session_txn: bool,
    ) -> Cursor {
        Cursor {
            name,
            backend,
            in_backend_txn,
            in_session_txn,
        }
    }
}

/// A cursor of the session, as [`ClusterSession::open_cursor`] returns it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CursorId(String);

impl ClusterSession {
    /// Opens `sql` (a query) as a cursor to be read in pages with
    /// [`fetch_cursor`](Self::fetch_cursor); `None` when the engine has no cursors or `sql`
    /// is not a plain query (the caller runs it whole).
    pub async fn open_cursor(
        &mut self,
        sql: &[u8],
        params: &[Value],
    ) -> Result<Option<CursorId>, ClusterError> {
        if !self.plain_query(&String::from_utf8_lossy(sql)) {
            return Ok(None);
        }
        let (backend, in_backend_txn) = self.cursor_home()?;
        self.next_cursor += 1;
        let name = format!("mdbd_cursor_{}", self.next_cursor);
        let Some(declare) = self
            .cluster
            .dialect()
            .declare_cursor(&name, sql, !in_backend_txn)
        else {
            return Ok(None);
        };
        self.request_starts().await;
        let result = match self.conn(&backend).await {
            Ok(conn) => conn.execute_bytes(&declare, params).await,
            Err(e) => Err(e),
        };
        let result = match result {
            Ok(_) => {
                self.cursors.push(Cursor::new(
                    name.clone(),
                    backend.name().to_string(),
                    in_backend_txn,
                    self.txn.is_some(),
                ));
                Ok(Some(CursorId(name)))
            }
            Err(e) => Err(self.failed_read(backend.name(), e)),
        };
        self.after_request();
        result
    }

    /// Where a new cursor goes: the backend the session's reads go to, and whether its
    /// connection is inside the session's transaction there (the cursor then sees the
    /// transaction's writes and ends with it).
    pub(super) fn cursor_home(&self) -> Result<(Arc<dyn Backend>, bool), ClusterError> {
        self.refuse_if_aborted()?;
        let backend = self.one_backend()?;
        let in_backend_txn = self
            .txn
            .as_ref()
            .is_some_and(|t| t.members.iter().any(|m| m == backend.name()));
        Ok((backend, in_backend_txn))
    }

    /// A query a cursor can hold: a read (no `FOR UPDATE`, no data-modifying `WITH`) that
    /// starts as a query does.
    pub(super) fn plain_query(&self, sql: &str) -> bool {
        matches!(
            self.cluster.classifier().classify(sql),
            Kind::Read | Kind::CatalogRead
        ) && super::classify::is_query(sql)
    }

    /// The next at most `rows` rows of cursor `id`; fewer when it reached its end.
    pub async fn fetch_cursor(
        &mut self,
        id: &CursorId,
        rows: usize,
    ) -> Result<ResultSet, ClusterError> {
        self.refuse_if_aborted()?;
        let Some(cursor) = self.cursors.iter().find(|c| c.name == id.0) else {
            return Err(ClusterError::State(format!(
                "cursor \"{}\" does not exist",
                id.0
            )));
        };
        let backend = cursor.backend.clone();
        let fetch = self.cluster.dialect().fetch_cursor(&id.0, rows);
        self.request_starts().await;
        let result = match self.conns.get_mut(&backend) {
            Some(conn) => conn.execute_bytes(fetch.as_bytes(), &[]).await,
            None => {
                self.after_request();
                return Err(ClusterError::NoActiveBackend(format!(
                    "the connection to {backend} holding the cursor is gone"
                )));
            }
        };
        let result = match result {
            Ok(Outcome::Rows(rs)) => {
                if crate::backend::has_database_types(&rs.columns) && !self.reads_pinned {
                    // Its type ids are this backend's: the session's reads stay here.
                    self.reads_pinned = true;
                    self.catalog_backend = Some(backend);
                }
                Ok(rs)
            }
            Ok(_) => Err(ClusterError::State(
                "a cursor's FETCH returned no rows description".into(),
            )),
            Err(e) => Err(self.failed_read(&backend, e)),
        };
        self.after_request();
        result
    }

    /// Closes cursor `id` (its portal was closed, bound anew, or its transaction ended).
    /// A cursor the backend cannot close keeps the session on its connections, which close
    /// with it, so no pooled connection carries another session's cursor.
    pub async fn close_cursor(&mut self, id: &CursorId) {
        let Some(at) = self.cursors.iter().position(|c| c.name == id.0) else {
            return;
        };
        let cursor = self.cursors.remove(at);
        self.close(cursor).await;
        self.release_idle();
    }

    /// Closes the cursors opened inside the session's transaction, which is ending.
    pub(super) async fn close_cursors_of_transaction(&mut self) {
        let (ending, kept): (Vec<Cursor>, Vec<Cursor>) = std::mem::take(&mut self.cursors)
            .into_iter()
            .partition(|c| c.in_session_txn);
        self.cursors = kept;
        for cursor in ending {
            self.close(cursor).await;
        }
    }

    async fn close(&mut self, cursor: Cursor) {
        let closed = if cursor.in_backend_txn && self.txn.is_none() {
            // Gone with the backend's transaction.
            true
        } else {
            let close = self.cluster.dialect().close_cursor(&cursor.name);
            match self.conns.get_mut(&cursor.backend) {
                Some(conn) => conn.execute_bytes(close.as_bytes(), &[]).await.is_ok(),
                None => true,
            }
        };
        if !closed {
            tracing::debug!(session = self.id(), cursor = %cursor.name, "a cursor could not be closed; the session keeps its connections");
            self.pinned = true;
        }
    }

    /// The error of a statement that ran on `backend` alone (a cursor's, a `LISTEN`): a
    /// database error aborts the session's transaction where the engine says so; any
    /// other loses the connection and its cursors (the health checks judge the backend).
    pub(super) fn failed_read(
        &mut self,
        backend: &str,
        e: crate::backend::BackendError,
    ) -> ClusterError {
        if e.is_db_error() {
            if self.error_aborts_transaction() {
                if let Some(txn) = self.txn.as_mut() {
                    txn.aborted = true;
                }
            }
        } else {
            self.conns.remove(backend);
            self.cursors.retain(|c| c.backend != backend);
        }
        to_client(e)
    }
}
