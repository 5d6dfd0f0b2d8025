//! Backend connections: a bounded pool per backend, and a deadline on every operation.
//!
//! **The pool.** Each backend has at most `max_connections` connections open for client
//! sessions (replay, health checks and joins use their own). A session checks a
//! connection out when it needs one and gives it back as soon as it is between
//! transactions, unless it holds session state that must stay on that connection
//! (settings, temporary tables, session locks, cursors, SQL prepared statements): then it
//! keeps it, as a session pooler would. A session that finds the pool exhausted waits up
//! to `pool_timeout`; then the server is probed: one that answers is full, and the session
//! gets the engine's "too many connections" error (PostgreSQL 53300, MySQL 1040: a limit is
//! a limit, never a reason to detach a backend; a read tries another backend first), one
//! that does not is unreachable (its connections are all stuck on a hung server).
//!
//! **The deadline.** Every operation on a checked-out connection runs under
//! `backend_timeout`. When it passes, the backend is asked, on a fresh connection, whether
//! it is alive: a server that answers (even with an error such as "too many clients") is
//! merely slow, and the operation goes on waiting; one that does not answer within the
//! half that deadline is reported unreachable, so the cluster detaches it (never the last one)
//! and the write completes on the others. A slow statement is not a dead server.

use crate::backend::{
    Backend, BackendError, CopyOut, DbError, Description, Dialect, Outcome, OwnError, Session,
};
use crate::log::{Lsn, Value};
use async_trait::async_trait;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Limits of backend connections and operations.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    /// Connections per backend for client sessions.
    pub max_connections: usize,
    /// How long a session waits for a free connection before its request is refused.
    pub pool_timeout: Duration,
    /// How long one backend operation may go unanswered before the server is probed.
    pub backend_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 40,
            pool_timeout: Duration::from_secs(5),
            backend_timeout: Duration::from_secs(5),
        }
    }
}

/// What the pool and deadlines report, for metrics.
#[derive(Debug, Default)]
pub struct PoolCounters {
    /// Connection requests that had to wait for a free connection.
    pub waits: AtomicU64,
    /// Connection requests refused after `pool_timeout`.
    pub exhausted: AtomicU64,
    /// Operations that passed `backend_timeout` on a server that still answered a probe.
    pub slow_operations: AtomicU64,
    /// Operations that passed `backend_timeout` on a server that answered no probe.
    pub deadline_misses: AtomicU64,
}

/// An idle connection and the thread it was opened on. A driver that runs a connection's
/// I/O on a task of its own spawns that task where the connection is opened; on the
/// daemon's single-threaded client loops it stays on that thread, so a session on the
/// same thread hands its requests over without waking another one (see
/// [`Pool::checkout`]).
struct Idle {
    session: Box<dyn Session>,
    home: Option<std::thread::ThreadId>,
}

/// The thread of a single-threaded runtime this task runs on (`None` on a multi-threaded
/// one, where a task has no fixed thread).
fn loop_thread() -> Option<std::thread::ThreadId> {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::CurrentThread) => Some(std::thread::current().id()),
        _ => None,
    }
}

/// The connections of one backend.
pub(crate) struct Pool {
    backend: Arc<dyn Backend>,
    limits: ConnectionLimits,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Idle>>,
    /// Woken when the backend leaves service: sessions waiting for room give up at once
    /// and go on with the other backends instead of waiting out `pool_timeout`.
    retired: tokio::sync::Notify,
    /// Sessions listening on this backend (LISTEN), woken too when it leaves service.
    listeners: Mutex<Vec<std::sync::Weak<tokio::sync::Notify>>>,
    counters: Arc<PoolCounters>,
    /// Milliseconds since `epoch` of the last operation the server answered.
    last_answer: AtomicU64,
    epoch: Instant,
}

impl Pool {
    pub(crate) fn new(
        backend: Arc<dyn Backend>,
        limits: ConnectionLimits,
        counters: Arc<PoolCounters>,
    ) -> Arc<Self> {
        Arc::new(Pool {
            permits: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            backend,
            limits,
            idle: Mutex::new(Vec::new()),
            retired: tokio::sync::Notify::new(),
            listeners: Mutex::new(Vec::new()),
            counters,
            last_answer: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    /// True when the server answered an operation within the last `within`.
    pub(crate) fn answered_within(&self, within: Duration) -> bool {
        let last = self.last_answer.load(Ordering::Relaxed);
        last != 0 && self.epoch.elapsed().as_millis() as u64 <= last + within.as_millis() as u64
    }

    fn answered(&self) {
        let now = (self.epoch.elapsed().as_millis() as u64).max(1);
        self.last_answer.store(now, Ordering::Relaxed);
    }

    /// Closes every idle connection: the backend left service or a connection to it broke,
    /// so the others are suspect too (a restarted server leaves them all dead).
    pub(crate) fn clear_idle(&self) {
        let dropped = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        if !dropped.is_empty() {
            tracing::debug!(
                backend = self.backend.name(),
                closed = dropped.len(),
                "idle connections closed"
            );
        }
    }

    /// The backend left service: idle connections close, and every session waiting for a
    /// connection gets a connection error now (the backend is out, so it moves on without
    /// it) rather than a "too many connections" error after `pool_timeout`.
    pub(crate) fn retire(&self) {
        self.clear_idle();
        self.retired.notify_waiters();
        let listeners =
            std::mem::take(&mut *self.listeners.lock().unwrap_or_else(|p| p.into_inner()));
        for wake in listeners.iter().filter_map(std::sync::Weak::upgrade) {
            wake.notify_one();
        }
    }

    /// Wakes `wake` when the backend leaves service (a session listening on it moves).
    pub(crate) fn wake_when_retired(&self, wake: &Arc<tokio::sync::Notify>) {
        let mut listeners = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        listeners.retain(|w| w.strong_count() > 0);
        listeners.push(Arc::downgrade(wake));
    }

    /// Connections checked out right now.
    pub(crate) fn in_use(&self) -> usize {
        self.limits.max_connections.max(1) - self.permits.available_permits()
    }

    /// A connection: an idle one, else a new one, waiting up to `pool_timeout` for room.
    pub(crate) async fn checkout(self: &Arc<Self>) -> Result<Conn, BackendError> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                self.counters.waits.fetch_add(1, Ordering::Relaxed);
                let retired = self.retired.notified();
                let waited = tokio::select! {
                    waited = tokio::time::timeout(
                        self.limits.pool_timeout,
                        self.permits.clone().acquire_owned(),
                    ) => waited,
                    () = retired => {
                        return Err(BackendError::Connection {
                            backend: self.backend.name().to_string(),
                            reason: "left service while this session waited for a connection"
                                .into(),
                        });
                    }
                };
                match waited {
                    Ok(Ok(p)) => p,
                    _ => {
                        // Every connection is taken: by busy sessions on a live server
                        // (a limit), or by operations hung on a server that stopped
                        // answering. A probe tells which; the latter is unreachable.
                        if let Some(reason) = self.unanswered_probe().await {
                            return Err(BackendError::Connection {
                                backend: self.backend.name().to_string(),
                                reason: format!(
                                    "every pooled connection is taken and the server answers no probe: {reason}"
                                ),
                            });
                        }
                        self.counters.exhausted.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            backend = self.backend.name(),
                            max_connections = self.limits.max_connections,
                            "connection pool exhausted; request refused"
                        );
                        return Err(too_many_connections(
                            self.backend.dialect(),
                            self.backend.name(),
                            self.limits.max_connections,
                            self.limits.pool_timeout,
                        ));
                    }
                }
            }
        };
        let here = loop_thread();
        loop {
            let reused = {
                let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
                match here {
                    // On a multi-threaded runtime tasks move between threads: the most
                    // recently used connection.
                    None => idle.pop(),
                    // The most recently used one opened on this thread; failing that, a
                    // new one while the pool has room for it beside the idle ones (so that
                    // connections settle on the threads that use them); else the most
                    // recently used one from another thread, rather than wait.
                    Some(_) => match idle.iter().rposition(|c| c.home == here) {
                        Some(i) => Some(idle.remove(i)),
                        None if self.in_use() + idle.len() <= self.limits.max_connections => None,
                        None => idle.pop(),
                    },
                }
            };
            match reused {
                Some(idle) if idle.session.is_closed() => continue,
                Some(idle) => return Ok(self.conn(idle.session, idle.home, permit)),
                None => break,
            }
        }
        let session = self.guard(self.backend.open_session()).await?;
        Ok(self.conn(session, here, permit))
    }

    fn conn(
        self: &Arc<Self>,
        session: Box<dyn Session>,
        home: Option<std::thread::ThreadId>,
        permit: OwnedSemaphorePermit,
    ) -> Conn {
        Conn {
            session: Some(session),
            pool: self.clone(),
            _permit: permit,
            broken: false,
            home,
        }
    }

    /// Asks the server, on a fresh connection, whether it is alive, within half the
    /// backend timeout: `None` when it answered (even with an error such as "too many
    /// clients"), else what went wrong.
    async fn unanswered_probe(&self) -> Option<String> {
        let probe = self.limits.backend_timeout / 2;
        match tokio::time::timeout(probe, self.backend.health()).await {
            Ok(Ok(())) | Ok(Err(BackendError::Db(_))) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("no answer".into()),
        }
    }

    /// Runs `op` under the backend deadline (see the module docs).
    async fn guard<T>(
        &self,
        op: impl Future<Output = Result<T, BackendError>>,
    ) -> Result<T, BackendError> {
        let deadline = self.limits.backend_timeout;
        // A live server answers a trivial probe far faster than a statement; half the
        // deadline (see `unanswered_probe`) keeps the whole detach within 1.5 x
        // backend_timeout.
        tokio::pin!(op);
        loop {
            match tokio::time::timeout(deadline, &mut op).await {
                Ok(result) => {
                    if result.as_ref().is_ok_and(|_| true)
                        || result.as_ref().is_err_and(BackendError::is_db_error)
                    {
                        self.answered();
                    }
                    return result;
                }
                Err(_) => match self.unanswered_probe().await {
                    None => {
                        self.counters
                            .slow_operations
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::info!(
                            backend = self.backend.name(),
                            ?deadline,
                            "slow operation on a live server; still waiting"
                        );
                    }
                    Some(probe) => {
                        self.counters
                            .deadline_misses
                            .fetch_add(1, Ordering::Relaxed);
                        return Err(BackendError::Connection {
                            backend: self.backend.name().to_string(),
                            reason: format!(
                                "no answer within the backend timeout ({deadline:?}); probe: {probe}"
                            ),
                        });
                    }
                },
            }
        }
    }
}

/// The error a session gets when a backend's pool stays exhausted: the engine's own
/// "too many connections".
pub(crate) fn too_many_connections(
    dialect: &dyn Dialect,
    backend: &str,
    max: usize,
    waited: Duration,
) -> BackendError {
    let message = format!(
        "too many connections: all {max} connections to backend {backend} are in use \
         (waited {waited:?}; see max_connections and pool_timeout)"
    );
    let (code, sqlstate) = dialect.error_code(OwnError::TooManyConnections);
    BackendError::Db(DbError {
        code: code.into(),
        sqlstate: sqlstate.into(),
        message,
        ..Default::default()
    })
}

/// A connection checked out of a backend's pool: every operation runs under the
/// deadline. Dropped, it closes (the server rolls back whatever was open); given back
/// with [`Conn::release`], it serves the next session.
pub(crate) struct Conn {
    session: Option<Box<dyn Session>>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
    /// An operation failed without a database answer: never reuse it.
    broken: bool,
    /// The thread it was opened on (see [`Idle`]).
    home: Option<std::thread::ThreadId>,
}

impl Conn {
    /// Gives the connection back for other sessions; it must be outside any transaction.
    pub(crate) fn release(mut self) {
        if self.broken {
            return;
        }
        if let Some(mut session) = self.session.take() {
            // Notices and notifications of this session are not the next session's.
            drop(session.take_notices());
            session.wake_on_notification(None);
            drop(session.take_notifications());
            if !session.is_closed() {
                self.pool
                    .idle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Idle {
                        session,
                        home: self.home,
                    });
            }
        }
    }

    async fn run<'a, T>(
        &'a mut self,
        op: impl FnOnce(
            &'a mut Box<dyn Session>,
        )
            -> std::pin::Pin<Box<dyn Future<Output = Result<T, BackendError>> + Send + 'a>>,
    ) -> Result<T, BackendError> {
        let Some(session) = self.session.as_mut() else {
            return Err(BackendError::Config("connection already released".into()));
        };
        let result = self.pool.guard(op(session)).await;
        if result.as_ref().is_err_and(|e| !e.is_db_error()) {
            self.broken = true;
            self.pool.clear_idle();
        }
        result
    }
}

#[async_trait]
impl Session for Conn {
    async fn execute_bytes(
        &mut self,
        sql: &[u8],
        params: &[Value],
    ) -> Result<Outcome, BackendError> {
        self.run(|s| s.execute_bytes(sql, params)).await
    }

    async fn stream(
        &mut self,
        sql: &[u8],
        params: &[Value],
        sink: &mut dyn crate::backend::RowSink,
    ) -> Result<Outcome, BackendError> {
        self.run(|s| s.stream(sql, params, sink)).await
    }

    async fn begin(&mut self) -> Result<(), BackendError> {
        self.run(|s| s.begin()).await
    }

    async fn begin_at(&mut self, at: std::time::SystemTime) -> Result<(), BackendError> {
        self.run(move |s| s.begin_at(at)).await
    }

    async fn commit(&mut self, marker: Option<Lsn>) -> Result<(), BackendError> {
        self.run(move |s| s.commit(marker)).await
    }

    async fn rollback(&mut self) -> Result<(), BackendError> {
        self.run(|s| s.rollback()).await
    }

    async fn describe(&mut self, sql: &str) -> Result<Description, BackendError> {
        self.run(|s| s.describe(sql)).await
    }

    async fn setting(&mut self, name: &str) -> Result<Option<String>, BackendError> {
        self.run(|s| s.setting(name)).await
    }

    async fn copy_start(&mut self, sql: &str) -> Result<(), BackendError> {
        self.run(|s| s.copy_start(sql)).await
    }

    async fn copy_data(&mut self, data: bytes::Bytes) -> Result<(), BackendError> {
        self.run(move |s| s.copy_data(data)).await
    }

    async fn copy_finish(&mut self) -> Result<u64, BackendError> {
        self.run(|s| s.copy_finish()).await
    }

    async fn copy_out(&mut self, sql: &str) -> Result<CopyOut<'_>, BackendError> {
        // The stream's pieces are the client's to wait for; the start is guarded.
        let pool = self.pool.clone();
        let Some(session) = self.session.as_mut() else {
            return Err(BackendError::Config("connection already released".into()));
        };
        pool.guard(session.copy_out(sql)).await
    }

    fn is_closed(&self) -> bool {
        self.broken || self.session.as_ref().is_none_or(|s| s.is_closed())
    }

    fn take_notices(&mut self) -> Vec<DbError> {
        self.session
            .as_mut()
            .map(|s| s.take_notices())
            .unwrap_or_default()
    }

    fn take_notifications(&mut self) -> Vec<crate::backend::Notification> {
        self.session
            .as_mut()
            .map(|s| s.take_notifications())
            .unwrap_or_default()
    }

    fn wake_on_notification(&mut self, wake: Option<Arc<tokio::sync::Notify>>) {
        if let Some(s) = self.session.as_mut() {
            s.wake_on_notification(wake);
        }
    }

    fn canceller(&self) -> Option<Arc<dyn crate::backend::Canceller>> {
        self.session.as_ref().and_then(|s| s.canceller())
    }
}
