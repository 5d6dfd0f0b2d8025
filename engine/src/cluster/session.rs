//! A client session on the cluster: routing, the transaction and the write turn.

pub use super::cancel::SessionCanceller;
use super::{Cluster, ClusterError, Conn, Kind, TxnExpiry};
use crate::backend::{Backend, BackendError, Outcome, Session};
use crate::log::{Sql, Statement, Value};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// An open transaction of a session.
#[derive(Default)]
pub(super) struct Txn {
    /// Held from the first write to COMMIT/ROLLBACK (see [`super::order`]).
    pub(super) turn: Option<super::order::WriteTurn>,
    /// Backends with an open transaction for this session, in configuration order.
    pub(super) members: Vec<String>,
    /// Statements to log at COMMIT.
    pub(super) writes: Vec<Statement>,
    /// A statement failed in a PostgreSQL transaction: only ROLLBACK or ROLLBACK TO
    /// SAVEPOINT is possible now (see `read.rs` and `write.rs`).
    pub(super) aborted: bool,
    /// The instant current-time functions of its writes are pinned to.
    pub(super) time: Option<std::time::SystemTime>,
    /// Opened by the client (BEGIN), not by an autocommit write.
    pub(super) explicit: bool,
    /// A write statement of it failed: it may have drawn from sequences first, which a
    /// failure does not undo, while the log will not hold it. If the transaction goes
    /// on (`ROLLBACK TO SAVEPOINT`), where the sequences stand is logged with it (see
    /// `cluster::sequences`).
    pub(super) failed_write: bool,
}

/// Where a session's transaction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransactionState {
    /// No transaction.
    Idle,
    /// In a transaction.
    Open,
    /// In a transaction a failed statement aborted: only `ROLLBACK` (or `ROLLBACK TO
    /// SAVEPOINT`) is accepted.
    Failed,
}

/// One client connection's view of the cluster.
pub struct ClusterSession {
    pub(super) cluster: Arc<Cluster>,
    id: u64,
    /// Connections checked out of the backends' pools, by backend name.
    pub(super) conns: HashMap<String, Conn>,
    pub(super) txn: Option<Txn>,
    /// A `COPY ... FROM STDIN` in progress.
    pub(super) copy: Option<super::copy::CopyIn>,
    /// `SET` statements of this session, logged with every write so replay reproduces it.
    pub(super) settings: Vec<(String, String)>,
    /// The same settings as the client sent them, replayed verbatim on each new
    /// connection of this session.
    pub(super) set_statements: Vec<(String, Sql)>,
    /// Holds state that lives on its connections (see [`super::pins_session`]): it keeps
    /// them instead of giving them back between transactions.
    pub(super) pinned: bool,
    /// Cursors open on its connections (see `cursor.rs`), and how many it has opened.
    pub(super) cursors: Vec<super::cursor::Cursor>,
    pub(super) next_cursor: u64,
    /// The backend its `LISTEN`s ran on, and what wakes its front end for a notification
    /// (see `listen.rs`).
    pub(super) listening: Option<String>,
    pub(super) wake: Arc<tokio::sync::Notify>,
    /// The channels it listens to, to listen again elsewhere.
    pub(super) channels: Vec<String>,
    /// Since when the session has been waiting for its client inside a transaction.
    pub(super) idle_since: Option<Instant>,
    /// Its transaction was ended from outside (a timeout).
    pub(super) expired: Option<TxnExpiry>,
    /// Cancel handles of the connections it holds, reachable while a statement runs.
    cancel: SessionCanceller,
    /// The backend its catalog reads go to (see `read.rs`).
    pub(super) catalog_backend: Option<String>,
    /// Notices of its requests not yet taken by the front end (see `take_notices`).
    notices: Vec<crate::backend::DbError>,
    /// Every read goes to `catalog_backend`: the session met a type of the database's
    /// own (an enum), whose id is only that backend's.
    pub(super) reads_pinned: bool,
}

pub(super) fn command(tag: &str) -> Outcome {
    Outcome::Command {
        tag: tag.into(),
        rows: 0,
        last_insert_id: None,
    }
}

impl ClusterSession {
    pub(crate) fn new(cluster: Arc<Cluster>, id: u64) -> Self {
        let cluster_for_cancel = cluster.clone();
        ClusterSession {
            cluster,
            id,
            conns: HashMap::new(),
            txn: None,
            copy: None,
            settings: Vec::new(),
            set_statements: Vec::new(),
            pinned: false,
            cursors: Vec::new(),
            next_cursor: 0,
            listening: None,
            wake: Arc::default(),
            channels: Vec::new(),
            idle_since: None,
            expired: None,
            cancel: SessionCanceller::new(cluster_for_cancel),
            catalog_backend: None,
            reads_pinned: false,
            notices: Vec::new(),
        }
    }

    /// A handle that cancels this session's running statement from another task.
    pub fn canceller(&self) -> SessionCanceller {
        self.cancel.clone()
    }

    /// A request that runs statements begins: cancel requests already on their way have
    /// landed, and from now on a cancel request reaches its connections.
    pub(super) async fn request_starts(&mut self) {
        self.cancel.settled().await;
        self.cancel.running(true);
    }

    /// Forgets the cancel handles of connections the session no longer holds.
    pub(super) fn cancel_handles_cleared(&mut self) {
        self.cancel.set(&self.conns);
    }

    /// True once the client is known to have disconnected.
    pub(super) fn client_is_gone(&self) -> bool {
        self.cancel.is_gone()
    }

    /// Gives the session's connections back to their pools when nothing ties them to it
    /// (no transaction, no COPY, no session state on them).
    pub(super) fn release_idle(&mut self) {
        if self.txn.is_some()
            || self.copy.is_some()
            || self.pinned
            || !self.set_statements.is_empty()
            || !self.cursors.is_empty()
        {
            return;
        }
        for (_, conn) in self.conns.drain() {
            conn.release();
        }
        self.cancel.set(&self.conns);
    }

    /// This session's id (logged with its writes).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// True inside an explicit transaction.
    pub fn in_transaction(&self) -> bool {
        self.txn.is_some()
    }

    /// Where the session's transaction stands, as the client is told after each request
    /// (PostgreSQL's ReadyForQuery status).
    pub fn transaction_state(&self) -> TransactionState {
        match &self.txn {
            None => TransactionState::Idle,
            Some(t) if t.aborted => TransactionState::Failed,
            Some(_) => TransactionState::Open,
        }
    }

    /// The session's connection to `backend`, checked out of its pool (with the session's
    /// settings replayed on it) when it has none. A database error here (the pool or the
    /// server at its connection limit, a setting the server refuses) is the client's;
    /// only a connection error says the backend is unreachable.
    pub(super) async fn conn(
        &mut self,
        backend: &Arc<dyn Backend>,
    ) -> Result<&mut Conn, BackendError> {
        let name = backend.name().to_string();
        if !self.conns.contains_key(&name) {
            let pool = self
                .cluster
                .pool(&name)
                .ok_or_else(|| BackendError::Connection {
                    backend: name.clone(),
                    reason: "not a member of the cluster".into(),
                })?;
            let mut conn = pool.checkout().await?;
            for (_, statement) in &self.set_statements {
                conn.execute_bytes(statement.as_bytes(), &[]).await?;
            }
            self.conns.insert(name.clone(), conn);
            self.cancel.set(&self.conns);
        }
        self.conns
            .get_mut(&name)
            .ok_or_else(|| BackendError::Config("session vanished".into()))
    }

    /// The backend a read-only request goes to: inside a transaction that wrote, the
    /// session's own first member (it sees the transaction's writes); else the next one.
    pub(super) fn one_backend(&self) -> Result<Arc<dyn Backend>, ClusterError> {
        let home = self
            .catalog_backend
            .as_deref()
            .filter(|n| self.cluster.is_active(n));
        match self.txn.as_ref().and_then(|t| self.reading_member(t)) {
            Some(name) => self.cluster.backend(&name),
            None => home
                .and_then(|n| self.cluster.backend(n))
                .or_else(|| self.cluster.read_backend()),
        }
        .ok_or_else(|| ClusterError::NoActiveBackend("nothing to read from".into()))
    }

    pub(super) fn backend(&self, name: &str) -> Option<Arc<dyn Backend>> {
        self.cluster.active().into_iter().find(|b| b.name() == name)
    }

    fn drop_detached(&mut self) {
        let cluster = self.cluster.clone();
        self.conns.retain(|name, _| cluster.is_active(name));
    }

    /// Runs one statement and returns the one normal answer.
    pub async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<Outcome, ClusterError> {
        self.execute_bytes(sql.as_bytes(), params).await
    }

    /// [`execute`](Self::execute) for a statement exactly as the client sent it, which need
    /// not be UTF-8 (see [`Sql`]): it is classified by its text (every keyword mdbd looks
    /// for is ASCII) and runs, and is logged, as the same bytes.
    pub async fn execute_bytes(
        &mut self,
        sql: &[u8],
        params: &[Value],
    ) -> Result<Outcome, ClusterError> {
        self.request(sql, params, None).await
    }

    /// [`execute_bytes`](Self::execute_bytes) with a read's rows going to `sink` as the
    /// backend sends them (a client's unbuffered read: mdbd holds none of the result). A
    /// read's result set comes back as `Rows` without rows once the sink had them
    /// ([`RowSink::started`](crate::backend::RowSink::started)); any other statement's
    /// outcome comes back whole, the sink untouched.
    pub async fn execute_streaming(
        &mut self,
        sql: &[u8],
        params: &[Value],
        sink: &mut dyn crate::backend::RowSink,
    ) -> Result<Outcome, ClusterError> {
        self.request(sql, params, Some(sink)).await
    }

    async fn request(
        &mut self,
        sql: &[u8],
        params: &[Value],
        sink: Option<&mut dyn crate::backend::RowSink>,
    ) -> Result<Outcome, ClusterError> {
        if let Some(expiry) = self.expired {
            return Err(ClusterError::Db(expiry.error(self.cluster.dialect())));
        }
        if self.cancel.is_gone() {
            return Err(client_gone());
        }
        self.idle_since = None;
        let text = String::from_utf8_lossy(sql);
        if super::pins_session(&text) {
            self.pinned = true;
        }
        if super::classify::reads_client_file(&text) {
            // The server would ask mdbd's backend driver for a file on the client's
            // machine, which it cannot reach; refused before any backend sees it.
            return Err(ClusterError::Db(super::classify::client_file_refused(
                self.cluster.dialect(),
            )));
        }
        self.request_starts().await;
        let result = self.dispatch(sql, &text, params, sink).await;
        self.after_request();
        result
    }

    /// The notices the backends sent while running the client's requests since the last
    /// call, oldest first: one backend's (a write's members send the same ones). A front
    /// end that has no use for them need not call: the oldest go past a hundred.
    pub fn take_notices(&mut self) -> Vec<crate::backend::DbError> {
        std::mem::take(&mut self.notices)
    }

    /// Bookkeeping after each client request: the request's notices are kept, idle time
    /// starts, free connections go back.
    pub(super) fn after_request(&mut self) {
        // Every connection's are taken; those of the first backend by name are kept.
        let mut kept: Option<(&str, Vec<crate::backend::DbError>)> = None;
        for (name, conn) in self.conns.iter_mut() {
            let notices = conn.take_notices();
            if !notices.is_empty() && kept.as_ref().is_none_or(|(k, _)| name.as_str() < *k) {
                kept = Some((name, notices));
            }
        }
        if let Some((_, notices)) = kept {
            self.notices.extend(notices);
        }
        const KEPT: usize = 100;
        if self.notices.len() > KEPT {
            let extra = self.notices.len() - KEPT;
            self.notices.drain(..extra);
        }
        self.cancel.running(false);
        if self.txn.is_some() {
            self.idle_since = Some(Instant::now());
        }
        self.release_idle();
        self.cancel.set(&self.conns);
    }

    async fn dispatch(
        &mut self,
        sql: &[u8],
        text: &str,
        params: &[Value],
        sink: Option<&mut dyn crate::backend::RowSink>,
    ) -> Result<Outcome, ClusterError> {
        self.drop_detached();
        if let Some(result) = self.sql_cursor(sql, text, params).await {
            return result;
        }
        match self.cluster.classifier().classify(text) {
            Kind::Begin => {
                if self.txn.is_none() {
                    self.txn = Some(Txn {
                        explicit: true,
                        ..Txn::default()
                    });
                }
                Ok(command("BEGIN"))
            }
            Kind::Commit => {
                let committed = self.commit().await;
                self.close_cursors_of_transaction().await;
                committed
            }
            Kind::Rollback => {
                self.rollback().await;
                self.close_cursors_of_transaction().await;
                Ok(command("ROLLBACK"))
            }
            Kind::Set => self.set(sql).await,
            Kind::Listen => self.listen(sql, text).await,
            Kind::Read => self.read(sql, params, false, sink).await,
            Kind::CatalogRead => self.read(sql, params, true, sink).await,
            Kind::Write if self.txn.as_ref().is_some_and(|t| t.aborted) => {
                self.write_in_failed_transaction(sql, text, params).await
            }
            Kind::Write if super::outside_transaction(text) && self.txn.is_none() => {
                self.write_alone(sql).await
            }
            Kind::Write => self.write(sql, params).await,
        }
    }
}

impl Drop for ClusterSession {
    fn drop(&mut self) {
        self.cluster
            .counters()
            .open_sessions
            .fetch_sub(1, Ordering::Relaxed);
        // An open transaction is rolled back by each backend when its connection closes;
        // the write turn is released with the guard.
        if self.txn.as_ref().is_some_and(|t| t.turn.is_some()) {
            tracing::info!(
                session = self.id,
                "client left mid-transaction; rolled back everywhere"
            );
        }
    }
}

/// The error of a request whose client has disconnected (nobody reads it).
pub(super) fn client_gone() -> ClusterError {
    ClusterError::State("the client disconnected".into())
}

pub(super) fn to_client(e: BackendError) -> ClusterError {
    match e {
        BackendError::Db(db) => ClusterError::Db(db),
        other => ClusterError::Backend(other),
    }
}
