//! The cluster: its members, the one global order of writes, and the write path.
//!
//! Consistency mode `serial`: one write transaction at a time across the cluster. A
//! transaction takes the **write turn** at its first write and holds it until COMMIT or
//! ROLLBACK, so every backend applies writes in exactly the same order. At COMMIT (or for
//! an autocommit write) the transaction's statements are appended to the delta log
//! **durably before any backend commits**, then committed on every active backend together
//! with its applied-LSN marker, then answered.
//!
//! Every write runs on every active backend and their outcomes are compared: when they
//! disagree, the majority wins (with no majority, the first configured backend's side) and
//! each backend in the minority is detached with the reason; a backend that fails with a
//! connection error is detached; the client gets the normal answer from the others. If
//! every backend returns the same database error, that error goes to the client and nothing
//! is detached.
//!
//! On start, every active backend whose marker is behind the end of the log is brought up
//! to it from the log before anything is served.

mod cancel;
mod classify;
mod commit;
mod copy;
mod counters;
mod cursor;
mod health;
pub mod join;
mod listen;
mod members;
pub mod order;
mod pin_time;
mod pool;
mod read;
mod repair;
mod schema;
mod sequences;
mod session;
mod settings;
mod sql_cursor;
mod vote;
pub(crate) use vote::{vote, Verdict};
mod watch;
mod write;

pub use classify::{
    is_query, outside_transaction, pins_session, reads_client_file, Classifier, Kind,
    DEFAULT_WRITE_FUNCTIONS,
};
pub use counters::Counters;
pub use cursor::CursorId;
pub use health::HealthOptions;
pub use join::{DonorMode, JoinError, JoinOptions, JoinView, Phase};
pub use members::{DetachCause, DetachReason, JoinRole, MemberState};
pub use order::{Consistency, WriteOrder};
pub use pin_time::{pin_time, utc_parts, with_clock};
pub use pool::{ConnectionLimits, PoolCounters};
pub use session::SessionCanceller;
pub use session::{ClusterSession, TransactionState};
pub use watch::{spawn_watch, SessionLimits, TxnExpiry};

use crate::backend::{Backend, BackendError, DbError};
use crate::log::{DeltaLog, LogError, Payload};
pub(crate) use pool::Conn;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use thiserror::Error;

/// A member as the status page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberStatus {
    /// Backend name.
    pub name: String,
    /// Its state.
    pub state: MemberState,
}

/// Errors of the cluster layer.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The database refused the statement (all backends agreed); for the client, verbatim.
    #[error("{0}")]
    Db(DbError),
    /// No backend is active.
    #[error("no active backend: {0}")]
    NoActiveBackend(String),
    /// The delta log failed: the write was not acknowledged.
    #[error("delta log: {0}")]
    Log(#[from] LogError),
    /// A backend failed where no other could take over.
    #[error("backend: {0}")]
    Backend(#[from] BackendError),
    /// A statement the session cannot run in its state (e.g. COMMIT after a failure).
    #[error("{0}")]
    State(String),
    /// Cluster state read from the log's metadata does not parse: mdbd will not guess.
    #[error("corrupt cluster state under {key:?}: {reason}; restore the data directory from a copy, or remove the record with the daemon stopped")]
    Corrupt { key: String, reason: String },
}

/// How a cluster treats its backend connections and client sessions.
#[derive(Clone, Debug, Default)]
pub struct ClusterOptions {
    /// Backend connection pools and deadlines.
    pub connections: ConnectionLimits,
    /// Per-backend overrides of `connections.max_connections`, by backend name.
    pub max_connections: std::collections::HashMap<String, usize>,
    /// Timeouts that end one client's transaction.
    pub sessions: SessionLimits,
    /// How concurrent write transactions are ordered (see [`order`]).
    pub consistency: Consistency,
    /// `keyed`: how long a statement waits for a lock before it fails (55P03 / 1205);
    /// zero for the default (5 s).
    pub lock_wait: std::time::Duration,
}

/// The default of [`ClusterOptions::lock_wait`].
pub const DEFAULT_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub(crate) struct Member {
    pub backend: Arc<dyn Backend>,
    pub state: MemberState,
    /// Reads this backend is serving right now: the load the donor choice compares.
    pub load: Arc<AtomicUsize>,
    /// Its connections for client sessions.
    pub pool: Arc<pool::Pool>,
    /// Health checks failed in a row.
    pub failed_checks: u32,
    /// A logged write failed to commit on it while it was the last active backend: it
    /// must replay the log before it takes another write.
    pub behind: bool,
}

impl Member {
    pub(crate) fn new(
        backend: Arc<dyn Backend>,
        state: MemberState,
        options: &ClusterOptions,
        counters: &Arc<PoolCounters>,
    ) -> Self {
        Member {
            pool: pool::Pool::new(
                backend.clone(),
                ConnectionLimits {
                    max_connections: options
                        .max_connections
                        .get(backend.name())
                        .copied()
                        .unwrap_or(options.connections.max_connections),
                    ..options.connections.clone()
                },
                counters.clone(),
            ),
            backend,
            state,
            load: Arc::default(),
            failed_checks: 0,
            behind: false,
        }
    }
}

/// Counts one read in flight on a backend for as long as it lives.
pub(crate) struct LoadGuard(Arc<AtomicUsize>);

impl Drop for LoadGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A cluster of identical backends behind one delta log.
pub struct Cluster {
    log: DeltaLog,
    members: RwLock<Vec<Member>>,
    order: WriteOrder,
    classifier: Classifier,
    /// The ways of the engine every backend runs.
    dialect: &'static dyn crate::backend::Dialect,
    next_read: AtomicUsize,
    next_session: AtomicU64,
    counters: Counters,
    pool_counters: Arc<PoolCounters>,
    options: ClusterOptions,
    joins: join::Joins,
}

impl Cluster {
    /// Starts the cluster: creates markers, restores the persisted member states, and
    /// brings every active backend up to the end of the log.
    pub async fn start(
        log: DeltaLog,
        backends: Vec<Arc<dyn Backend>>,
        classifier: Classifier,
    ) -> Result<Arc<Self>, ClusterError> {
        Self::start_with(log, backends, classifier, ClusterOptions::default()).await
    }

    /// [`Cluster::start`] with connection limits and session timeouts.
    pub async fn start_with(
        log: DeltaLog,
        backends: Vec<Arc<dyn Backend>>,
        classifier: Classifier,
        options: ClusterOptions,
    ) -> Result<Arc<Self>, ClusterError> {
        let dialect = backends
            .first()
            .map(|b| b.dialect())
            .ok_or_else(|| ClusterError::State("a cluster needs at least one backend".into()))?;
        let order = match options.consistency {
            Consistency::Serial => WriteOrder::serial(),
            Consistency::Keyed => {
                let flavor = dialect.keyed_flavor().ok_or_else(|| {
                    ClusterError::State(format!(
                        "consistency = \"keyed\" is not available on {:?} backends; use \"serial\"",
                        dialect.kind()
                    ))
                })?;
                let lock_wait = if options.lock_wait.is_zero() {
                    DEFAULT_LOCK_WAIT
                } else {
                    options.lock_wait
                };
                WriteOrder::keyed(order::KeyedOptions { flavor, lock_wait })
            }
        };
        let pool_counters = Arc::new(PoolCounters::default());
        let members = members::restore(&log, backends, &options, &pool_counters)?;
        let cluster = Arc::new(Cluster {
            log,
            members: RwLock::new(members),
            order,
            classifier,
            dialect,
            next_read: AtomicUsize::new(0),
            next_session: AtomicU64::new(1),
            counters: Counters::default(),
            pool_counters,
            options,
            joins: join::Joins::default(),
        });
        // Nothing is appended before this but by a quiesced control record, which passes.
        cluster.order.order_commits_from(cluster.log.end());
        if let Some(damage) = cluster.log_damage() {
            cluster.start_on_damaged_log(&damage).await?;
            cluster.refresh_catalog().await;
            cluster.resume_joins()?;
            return Ok(cluster);
        }
        let mut replayed = Vec::new();
        for backend in cluster.active() {
            match cluster.catch_up(&*backend).await {
                Ok(n) => replayed.push((backend, n)),
                Err(e) => {
                    cluster.detach(
                        backend.name(),
                        DetachReason::new(
                            DetachCause::CatchUpFailed,
                            format!("could not catch up at start: {e}"),
                        ),
                    )?;
                }
            }
        }
        cluster.align_caught_up(&replayed).await?;
        cluster.refresh_catalog().await;
        cluster.resume_joins()?;
        Ok(cluster)
    }

    /// Replays the log into `backend` from its marker to the end.
    async fn catch_up(&self, backend: &dyn Backend) -> Result<u64, ClusterError> {
        backend.ensure_marker().await?;
        let applied = backend.applied_lsn().await?;
        let end = self.log.end();
        if applied.get() + 1 >= end.get() {
            if applied.get() + 1 > end.get() {
                return Err(ClusterError::State(format!(
                    "its marker {applied} is ahead of the log (ends before {end})"
                )));
            }
            return Ok(0);
        }
        let mut replayed = 0;
        for item in self.log.read_from(applied.next())? {
            let logged = item?;
            if let Payload::Write(txn) = &logged.record.payload {
                if backend.apply(logged.lsn, txn).await? {
                    replayed += 1;
                }
            }
        }
        tracing::info!(backend = backend.name(), from = %applied, replayed, "backend brought up to the end of the log");
        Ok(replayed)
    }

    /// The delta log.
    pub fn log(&self) -> &DeltaLog {
        &self.log
    }

    /// A new client session.
    pub fn session(self: &Arc<Self>) -> ClusterSession {
        self.counters.open_sessions.fetch_add(1, Ordering::Relaxed);
        ClusterSession::new(
            self.clone(),
            self.next_session.fetch_add(1, Ordering::Relaxed),
        )
    }

    /// Counters for metrics.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Counters of the backend connection pools and deadlines.
    pub fn pool_counters(&self) -> &PoolCounters {
        &self.pool_counters
    }

    /// Connections checked out by client sessions per backend (idle pooled ones not
    /// counted), in configuration order.
    pub fn pool_sizes(&self) -> Vec<(String, usize)> {
        self.members()
            .iter()
            .map(|m| (m.backend.name().to_string(), m.pool.in_use()))
            .collect()
    }

    /// The options the cluster runs with.
    pub fn options(&self) -> &ClusterOptions {
        &self.options
    }

    /// The connection pool of `name`.
    pub(crate) fn pool(&self, name: &str) -> Option<Arc<pool::Pool>> {
        self.members()
            .iter()
            .find(|m| m.backend.name() == name)
            .map(|m| m.pool.clone())
    }

    /// Every member and its state, in configuration order.
    pub fn status(&self) -> Vec<MemberStatus> {
        self.members()
            .iter()
            .map(|m| MemberStatus {
                name: m.backend.name().into(),
                state: m.state.clone(),
            })
            .collect()
    }

    fn members(&self) -> std::sync::RwLockReadGuard<'_, Vec<Member>> {
        self.members.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The backend named `name`, whatever its state.
    pub fn backend(&self, name: &str) -> Option<Arc<dyn Backend>> {
        self.members()
            .iter()
            .find(|m| m.backend.name() == name)
            .map(|m| m.backend.clone())
    }

    /// The active backends, in configuration order.
    pub fn active(&self) -> Vec<Arc<dyn Backend>> {
        self.members()
            .iter()
            .filter(|m| m.state == MemberState::Active)
            .map(|m| m.backend.clone())
            .collect()
    }

    pub(crate) fn is_active(&self, name: &str) -> bool {
        self.members()
            .iter()
            .any(|m| m.backend.name() == name && m.state == MemberState::Active)
    }

    /// The next backend to serve a read (round robin over the active ones).
    pub(crate) fn read_backend(&self) -> Option<Arc<dyn Backend>> {
        self.read_backend_counted(&[]).map(|(backend, _)| backend)
    }

    /// Like [`Cluster::read_backend`], with a guard that counts the read in the backend's
    /// load until it is dropped.
    /// Backends named in `skip` are passed over.
    pub(crate) fn read_backend_counted(
        &self,
        skip: &[String],
    ) -> Option<(Arc<dyn Backend>, LoadGuard)> {
        let members = self.members();
        let active: Vec<&Member> = members
            .iter()
            .filter(|m| m.state == MemberState::Active)
            .filter(|m| !skip.iter().any(|s| s == m.backend.name()))
            .collect();
        if active.is_empty() {
            return None;
        }
        let m = active[self.next_read.fetch_add(1, Ordering::Relaxed) % active.len()];
        m.load.fetch_add(1, Ordering::Relaxed);
        Some((m.backend.clone(), LoadGuard(m.load.clone())))
    }

    /// Backend `name` for a read, counted like [`Cluster::read_backend_counted`]; `None`
    /// unless it is active.
    pub(crate) fn read_backend_named(&self, name: &str) -> Option<(Arc<dyn Backend>, LoadGuard)> {
        let members = self.members();
        let m = members
            .iter()
            .find(|m| m.state == MemberState::Active && m.backend.name() == name)?;
        m.load.fetch_add(1, Ordering::Relaxed);
        Some((m.backend.clone(), LoadGuard(m.load.clone())))
    }

    /// Reads in flight per active backend, in configuration order.
    pub(crate) fn active_loads(&self) -> Vec<(String, usize)> {
        self.members()
            .iter()
            .filter(|m| m.state == MemberState::Active)
            .map(|m| (m.backend.name().to_string(), m.load.load(Ordering::Relaxed)))
            .collect()
    }

    /// The engine every backend of this cluster runs.
    pub fn kind(&self) -> crate::snapshot::BackendKind {
        self.dialect.kind()
    }

    /// The ways of that engine (see [`crate::backend::Dialect`]).
    pub fn dialect(&self) -> &'static dyn crate::backend::Dialect {
        self.dialect
    }

    pub(crate) fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// Who may write when: the one seam every write and every quiesce goes through.
    pub fn order(&self) -> &WriteOrder {
        &self.order
    }
}
