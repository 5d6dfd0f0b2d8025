//! The traits every database engine implements, so the rest of mdbd is blind to which
//! engine a cluster runs.
//!
//! A cluster is homogeneous: all its backends are PostgreSQL, or MySQL/MariaDB, or SQLite.
//! The `mdbd-backends` crate implements these traits with real drivers; the engine only
//! ever holds `dyn Backend` and `dyn Session`. What differs between the engines' SQL
//! (transaction behaviour, error codes, the pinned clock) is each backend's [`Dialect`]
//! (`dialect.rs`), which the cluster and the front ends ask instead of an engine kind.
//!
//! # The applied-LSN marker
//! Every backend keeps, inside its own database, a one-row table (default `mdbd_state`)
//! holding the LSN of the last logged write it applied. Applying a logged write moves the
//! marker **in the same database transaction** as the write, so after any crash the marker
//! says exactly which writes the database holds, and replay is exactly-once. A snapshot
//! carries the marker too, so a restored joiner knows where its replay starts.

pub mod catalog;
mod checksum;
pub mod dialect;
mod outcome;

pub use catalog::Catalog;
pub use checksum::{TableChecksum, TableHasher};
pub use dialect::{Dialect, OwnError};
pub use outcome::strip_leading_comments;
pub use outcome::{
    command_tag, has_database_types, Column, ColumnMeta, DbError, ErrorFields, Notification,
    Outcome, ResultSet,
};

use crate::log::{Lsn, Value, WriteTxn};
use crate::snapshot::BackendKind;
use async_trait::async_trait;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};

/// Default name of the applied-LSN marker table.
pub const DEFAULT_MARKER_TABLE: &str = "mdbd_state";

/// Why a backend operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The database refused the statement; the error is kept verbatim for the client.
    #[error("{0}")]
    Db(DbError),
    /// The server could not be reached or the connection broke: the backend is unhealthy.
    #[error("backend {backend} unreachable: {reason}")]
    Connection { backend: String, reason: String },
    /// A dump or restore tool failed.
    #[error("{tool} failed ({status}): {stderr}")]
    Tool {
        tool: String,
        status: String,
        stderr: String,
    },
    /// The snapshot stream was rejected.
    #[error("snapshot: {0}")]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    /// Local I/O (temporary files, pipes).
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The backend's configuration is wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// The marker table is missing, holds no row, or holds something else than an LSN.
    #[error("applied-LSN marker: {0}")]
    Marker(String),
}

impl BackendError {
    /// True when the database itself answered (as opposed to an unreachable server).
    pub fn is_db_error(&self) -> bool {
        matches!(self, BackendError::Db(_))
    }

    /// True for the engine's "too many connections" (PostgreSQL 53300, MySQL 1040),
    /// from the server or from mdbd's own pool: the server is up but full.
    pub fn is_too_many_connections(&self) -> bool {
        matches!(self, BackendError::Db(db) if db.sqlstate == "53300" || db.code == "1040")
    }
}

/// Where a streamed read's result goes ([`Session::stream`]): its columns once, then its
/// rows in order. Infallible for the backend: a sink whose client went away keeps its
/// error and drops what follows.
#[async_trait]
pub trait RowSink: Send {
    /// The result's columns, before any row; called once per result set.
    async fn columns(&mut self, columns: &[Column]);
    /// The next row.
    async fn row(&mut self, row: Vec<Value>);
    /// True once `columns` was called (nothing of the result can be taken back).
    fn started(&self) -> bool;
}

/// One connection to one backend, used by one client session (or by replay).
///
/// Statements run in autocommit mode unless [`begin`](Self::begin) was called.
#[async_trait]
pub trait Session: Send {
    /// Runs one statement with positional parameters (`$1`, `$2`, ...), its text exactly
    /// as the client sent it (see [`Sql`](crate::log::Sql): not necessarily UTF-8). Not
    /// durable by itself inside a transaction; in autocommit mode, durable when it returns
    /// `Ok` (as durable as the database's own commit). An engine whose driver takes only
    /// UTF-8 refuses other bytes with [`utf8_statement`]'s database error.
    async fn execute_bytes(
        &mut self,
        sql: &[u8],
        params: &[Value],
    ) -> Result<Outcome, BackendError>;

    /// [`execute_bytes`](Self::execute_bytes) of a read whose rows go to `sink` as they
    /// arrive, so that neither the backend nor the cluster holds the result (a client's
    /// unbuffered read of a large result). A result set comes back as `Rows` with its
    /// columns and no rows (the sink had them); anything else as `execute_bytes` returns
    /// it, the sink untouched. By default the whole result is read first, then given to
    /// the sink.
    async fn stream(
        &mut self,
        sql: &[u8],
        params: &[Value],
        sink: &mut dyn RowSink,
    ) -> Result<Outcome, BackendError> {
        match self.execute_bytes(sql, params).await? {
            Outcome::Rows(rs) => {
                sink.columns(&rs.columns).await;
                for row in rs.rows {
                    sink.row(row).await;
                }
                Ok(Outcome::Rows(ResultSet {
                    columns: rs.columns,
                    rows: Vec::new(),
                }))
            }
            other => Ok(other),
        }
    }

    /// [`execute_bytes`](Self::execute_bytes) for text mdbd itself wrote.
    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<Outcome, BackendError> {
        self.execute_bytes(sql.as_bytes(), params).await
    }

    /// Starts a transaction.
    async fn begin(&mut self) -> Result<(), BackendError>;

    /// Starts a transaction whose current-time functions read `at`, for engines whose
    /// clock a session can fix (MySQL's `SET timestamp`, which also covers column
    /// defaults); the clock is real again once the transaction ends. The others start a
    /// plain transaction: the cluster rewrites their statements instead
    /// (`cluster::pin_time`).
    async fn begin_at(&mut self, at: std::time::SystemTime) -> Result<(), BackendError> {
        let _ = at;
        self.begin().await
    }

    /// Commits the open transaction; with `marker`, moves the applied-LSN marker to it in
    /// the same transaction first. Atomic: after a crash, either the writes and the marker
    /// are both there or neither is. Durable when it returns `Ok`.
    async fn commit(&mut self, marker: Option<Lsn>) -> Result<(), BackendError>;

    /// Rolls the open transaction back; nothing of it remains.
    async fn rollback(&mut self) -> Result<(), BackendError>;

    /// The value of session setting `name` as the server holds it (after a `SET`), in
    /// the form the engine's replay of logged settings takes; `None` where the engine
    /// has no such reading (then the value as the client wrote it is logged).
    async fn setting(&mut self, name: &str) -> Result<Option<String>, BackendError> {
        let _ = name;
        Ok(None)
    }

    /// The parameter types and result columns of `sql`, without running it (the
    /// extended query protocol's Describe). Parameter types are the engine's type names;
    /// where an engine cannot infer one (SQLite, beyond the columns parameters meet) it
    /// says `text`. SQLite may run a read-only statement without parameters once, to type
    /// its expression columns by their first row.
    async fn describe(&mut self, sql: &str) -> Result<Description, BackendError>;

    /// Starts `COPY ... FROM STDIN` (`sql`; on MySQL, `LOAD DATA LOCAL INFILE`, whose
    /// file is the data); the data follows through [`copy_data`](Self::copy_data) and
    /// ends with [`copy_finish`](Self::copy_finish). Engines without COPY refuse with a
    /// database error, which every backend of the cluster then agrees on.
    async fn copy_start(&mut self, sql: &str) -> Result<(), BackendError> {
        let _ = sql;
        Err(copy_unsupported())
    }

    /// Sends the next piece of COPY data, in the client's format, as it arrives.
    async fn copy_data(&mut self, data: bytes::Bytes) -> Result<(), BackendError> {
        let _ = data;
        Err(copy_unsupported())
    }

    /// Ends the COPY; returns the rows it loaded. Not durable before the commit.
    async fn copy_finish(&mut self) -> Result<u64, BackendError> {
        Err(copy_unsupported())
    }

    /// Runs `COPY ... TO STDOUT` and streams its data, piece by piece.
    async fn copy_out(&mut self, sql: &str) -> Result<CopyOut<'_>, BackendError> {
        let _ = sql;
        Err(copy_unsupported())
    }

    /// The notices the server sent since the last call, oldest first (PostgreSQL's
    /// NoticeResponse: `RAISE NOTICE`, "table ... does not exist, skipping"). They belong
    /// to the client whose request caused them; a connection given to another session
    /// has them taken and dropped first. Engines without notices have none.
    fn take_notices(&mut self) -> Vec<DbError> {
        Vec::new()
    }

    /// The notifications the server sent since the last call (PostgreSQL's LISTEN/NOTIFY),
    /// oldest first. They arrive while the connection is idle too: `wake` (see
    /// [`wake_on_notification`](Self::wake_on_notification)) is woken for each. Engines
    /// without notifications have none.
    fn take_notifications(&mut self) -> Vec<Notification> {
        Vec::new()
    }

    /// From now on, a notification's arrival wakes `wake` (the session's front end waits
    /// on it while its client is idle); `None` stops it (the connection goes back to a
    /// pool).
    fn wake_on_notification(&mut self, wake: Option<std::sync::Arc<tokio::sync::Notify>>) {
        let _ = wake;
    }

    /// True when the connection is known to be closed (the server went away or it broke):
    /// a pool never hands it out again. Cheap; no round trip.
    fn is_closed(&self) -> bool {
        false
    }

    /// A handle that cancels the statement running on this connection from elsewhere
    /// (PostgreSQL's CancelRequest, MySQL's `KILL QUERY`); `None` when the engine cannot.
    fn canceller(&self) -> Option<std::sync::Arc<dyn Canceller>> {
        None
    }
}

/// Cancels whatever statement one backend connection is running, from another task.
#[async_trait]
pub trait Canceller: Send + Sync {
    /// Asks the server to stop the connection's current statement; nothing happens when
    /// it runs none. The statement then fails with the engine's "canceled" error.
    async fn cancel(&self) -> Result<(), BackendError>;
}

/// `sql` as text, for engines whose drivers take only UTF-8. Other bytes are the client's
/// error, with PostgreSQL's own SQLSTATE and message for them, and never a lossy guess.
pub fn utf8_statement(sql: &[u8]) -> Result<&str, BackendError> {
    std::str::from_utf8(sql).map_err(|e| {
        let at = e.valid_up_to();
        let bad = &sql[at..at + e.error_len().unwrap_or(sql.len() - at).min(4)];
        let shown: Vec<String> = bad.iter().map(|b| format!("0x{b:02x}")).collect();
        BackendError::Db(DbError {
            code: "22021".into(),
            sqlstate: "22021".into(),
            message: format!(
                "invalid byte sequence for encoding \"UTF8\": {}",
                shown.join(" ")
            ),
            ..Default::default()
        })
    })
}

/// What a statement takes and returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Description {
    /// One type name per parameter (`$1`, `$2`, ...).
    pub params: Vec<String>,
    /// The result columns; empty for a statement without a result set.
    pub columns: Vec<Column>,
}

/// The data of a `COPY ... TO STDOUT`, as the database sends it.
pub type CopyOut<'a> = futures_util::stream::BoxStream<'a, Result<bytes::Bytes, BackendError>>;

/// The database error an engine without COPY answers with.
pub fn copy_unsupported() -> BackendError {
    BackendError::Db(DbError {
        code: "0A000".into(),
        sqlstate: "0A000".into(),
        message: "COPY is not supported by this database engine".into(),
        ..Default::default()
    })
}

/// What a snapshot's raw content is and which LSN it is consistent with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// e.g. `sqlite/database`, `pg_dump/custom`, `mysqldump/sql`.
    pub content_type: String,
    /// The applied-LSN marker inside the snapshot as far as the backend knows it (the
    /// marker the restored server then holds is authoritative; see
    /// [`SnapshotHeader::lsn`](crate::snapshot::SnapshotHeader::lsn)).
    pub lsn: Lsn,
    /// Raw content bytes written.
    pub bytes: u64,
}

/// One database server (or file) of the cluster.
#[async_trait]
pub trait Backend: Send + Sync {
    /// The configured name.
    fn name(&self) -> &str;

    /// The ways of this backend's SQL engine.
    fn dialect(&self) -> &'static dyn Dialect;

    /// Which engine this is.
    fn kind(&self) -> BackendKind {
        self.dialect().kind()
    }

    /// Opens a new session (connection).
    async fn open_session(&self) -> Result<Box<dyn Session>, BackendError>;

    /// Checks that the backend answers a trivial query.
    async fn health(&self) -> Result<(), BackendError>;

    /// Creates the marker table (LSN 0: nothing applied) if it does not exist.
    async fn ensure_marker(&self) -> Result<(), BackendError>;

    /// The applied-LSN marker: the last logged write applied (`Lsn(0)`: none).
    async fn applied_lsn(&self) -> Result<Lsn, BackendError>;

    /// Applies the logged write `txn` at `lsn` in one transaction together with the
    /// marker update. Returns `false` without doing anything when the marker is already
    /// at or past `lsn` (exactly-once replay). A database error rolls everything back.
    async fn apply(&self, lsn: Lsn, txn: &WriteTxn) -> Result<bool, BackendError>;

    /// Applies consecutive logged writes in LSN order, each exactly once, as
    /// [`apply`](Self::apply) would one by one; returns how many it applied. An engine may
    /// group them in one transaction with the marker moved to the last (atomic: after a
    /// crash the marker still says exactly which are there), so that replay outpaces
    /// clients. The default applies them one by one.
    async fn apply_batch(&self, batch: &[(Lsn, &WriteTxn)]) -> Result<u64, BackendError> {
        let mut applied = 0;
        for (lsn, txn) in batch {
            applied += u64::from(self.apply(*lsn, txn).await?);
        }
        Ok(applied)
    }

    /// What [`snapshot`](Self::snapshot) writes, e.g. `pg_dump/custom`; known before the
    /// snapshot starts, because the stream's header names it.
    fn snapshot_content_type(&self) -> &'static str;

    /// About how many bytes a snapshot of this backend will be, for progress and ETA;
    /// `None` when the engine cannot tell cheaply.
    async fn estimated_size(&self) -> Option<u64> {
        None
    }

    /// Writes a snapshot's raw content to `out`, consistent with one LSN (the marker it
    /// contains). The caller frames it with the snapshot codec.
    async fn snapshot(
        &self,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<SnapshotInfo, BackendError>;

    /// Replaces the database with the snapshot content read from `input` (already checked
    /// by the codec up to what it has read; the caller aborts on a codec error). The old
    /// content stays in place until the new one is complete.
    async fn restore(
        &self,
        content_type: &str,
        input: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<(), BackendError>;

    /// Empties the database (before a restore, or to re-join from scratch).
    async fn reset(&self) -> Result<(), BackendError>;

    /// A checksum per user table (the marker table excluded), in table-name order, for
    /// checking that backends hold identical content.
    async fn checksums(&self) -> Result<Vec<TableChecksum>, BackendError>;

    /// The schema's tables with their keys, foreign keys, columns drawn from sequences and
    /// whatever makes a write do more than its text says (see [`catalog`]): what `keyed`
    /// ordering computes footprints from. Engines without `keyed` mode refuse.
    async fn catalog(&self) -> Result<Catalog, BackendError> {
        Err(BackendError::Config(format!(
            "{}: this engine has no catalog for keyed ordering",
            self.name()
        )))
    }
}
