//! SQLite backends: each backend is one database file.
//!
//! - Sessions are rusqlite connections (WAL mode, a busy timeout) used from blocking tasks.
//! - The applied-LSN marker is a one-row table; [`Backend::apply`] updates it in the same
//!   `BEGIN IMMEDIATE` transaction as the write.
//! - Snapshot: `VACUUM INTO` a temporary file (one consistent read transaction, so the
//!   copy and the marker in it agree), then stream the file. Restore: write the stream to a
//!   temporary file next to the target, check it with `PRAGMA quick_check`, remove stale
//!   `-wal`/`-shm` files and rename it into place, atomically.
//! - Session settings of logged writes (`search_path`, time zones) have no SQLite
//!   equivalent and are ignored on replay; a client session's `SET` is remembered and
//!   answered by `SHOW` (`settings.rs`), for the drivers that set things when they
//!   connect; `COPY` is refused.
//! - PostgreSQL drivers on SQLite: `functions.rs` answers `version()`,
//!   `current_setting(...)` and `current_schema()`; `params.rs` types a parameter by the
//!   declared type of the column it meets (asyncpg encodes by it); BOOLEAN columns give
//!   booleans, and expression columns are typed by their first row (`session.rs`).
//! - `dialect.rs`: SQLite's clock keywords rewritten to UTC text; mdbd's own errors in
//!   PostgreSQL's codes (its clients speak PostgreSQL's protocol).
//! - The bundled SQLite enforces foreign keys by default (`SQLITE_DEFAULT_FOREIGN_KEYS=1`).

mod convert;
mod dialect;
mod functions;
mod params;
mod session;
mod settings;

pub use dialect::Sqlite;
pub use session::SqliteSession;

use mdbd_engine::backend::{
    Backend, BackendError, DbError, SnapshotInfo, TableChecksum, TableHasher, DEFAULT_MARKER_TABLE,
};
use mdbd_engine::log::{Lsn, WriteTxn};
use rusqlite::{Connection, OpenFlags};
use session::{execute, on_conn, set_marker};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// Content type of SQLite snapshots.
pub const CONTENT_TYPE: &str = "sqlite/database";

/// Options of a SQLite backend.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// Name of the applied-LSN marker table. Default `mdbd_state`.
    pub marker_table: String,
    /// How long a statement waits for another connection's lock. Default 5 s.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            marker_table: DEFAULT_MARKER_TABLE.into(),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// A SQLite database file as a backend.
pub struct SqliteBackend {
    name: String,
    path: PathBuf,
    options: SqliteOptions,
}

impl SqliteBackend {
    /// A backend on the file at `path` (created on first use).
    pub fn new(name: &str, path: &Path, options: SqliteOptions) -> Result<Self, BackendError> {
        convert::identifier(&options.marker_table)?;
        Ok(SqliteBackend {
            name: name.to_string(),
            path: path.to_path_buf(),
            options,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn connect(&self) -> Result<Connection, BackendError> {
        let conn = Connection::open(&self.path).map_err(|e| self.unreachable(e))?;
        conn.busy_timeout(self.options.busy_timeout)
            .map_err(convert::error)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(convert::error)?;
        Ok(conn)
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> BackendError {
        BackendError::Connection {
            backend: self.name.clone(),
            reason: format!("{}: {e}", self.path.display()),
        }
    }

    async fn with_conn<T, F>(&self, f: F) -> Result<T, BackendError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, BackendError> + Send + 'static,
    {
        let conn = Arc::new(Mutex::new(self.connect()?));
        on_conn(&conn, f).await
    }

    fn side_files(&self) -> [PathBuf; 2] {
        let p = self.path.as_os_str();
        let mut wal = p.to_owned();
        wal.push("-wal");
        let mut shm = p.to_owned();
        shm.push("-shm");
        [PathBuf::from(wal), PathBuf::from(shm)]
    }

    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }
}

fn read_marker(conn: &Connection, table: &str) -> Result<Lsn, BackendError> {
    let sql = format!("SELECT lsn FROM {} WHERE id = 1", convert::quote(table));
    match conn.query_row(&sql, [], |r| r.get::<_, i64>(0)) {
        Ok(v) if v >= 0 => Ok(Lsn(v as u64)),
        Ok(v) => Err(BackendError::Marker(format!("table {table} holds {v}"))),
        Err(rusqlite::Error::QueryReturnedNoRows) => {
            Err(BackendError::Marker(format!("table {table} has no row")))
        }
        Err(e) => Err(BackendError::Marker(format!("reading {table}: {e}"))),
    }
}

#[async_trait::async_trait]
impl Backend for SqliteBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn dialect(&self) -> &'static dyn mdbd_engine::backend::Dialect {
        &Sqlite
    }

    fn snapshot_content_type(&self) -> &'static str {
        CONTENT_TYPE
    }

    async fn estimated_size(&self) -> Option<u64> {
        tokio::fs::metadata(&self.path).await.ok().map(|m| m.len())
    }

    async fn open_session(&self) -> Result<Box<dyn mdbd_engine::backend::Session>, BackendError> {
        let conn = self.connect()?;
        let settings = Arc::new(std::sync::Mutex::new(Default::default()));
        functions::register(&conn, Arc::clone(&settings)).map_err(convert::error)?;
        Ok(Box::new(SqliteSession {
            conn: Arc::new(Mutex::new(conn)),
            marker: self.options.marker_table.clone(),
            settings,
        }))
    }

    async fn health(&self) -> Result<(), BackendError> {
        self.with_conn(|c| {
            c.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(convert::error)
        })
        .await
    }

    async fn ensure_marker(&self) -> Result<(), BackendError> {
        let t = convert::quote(&self.options.marker_table);
        self.with_conn(move |c| {
            c.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS {t} (id INTEGER PRIMARY KEY CHECK (id = 1), lsn INTEGER NOT NULL);
                 INSERT OR IGNORE INTO {t} (id, lsn) VALUES (1, 0);"
            ))
            .map_err(convert::error)
        })
        .await
    }

    async fn applied_lsn(&self) -> Result<Lsn, BackendError> {
        let table = self.options.marker_table.clone();
        self.with_conn(move |c| read_marker(c, &table)).await
    }

    async fn apply(&self, lsn: Lsn, txn: &WriteTxn) -> Result<bool, BackendError> {
        let (table, txn) = (self.options.marker_table.clone(), txn.clone());
        self.with_conn(move |c| {
            if let [only] = txn.statements.as_slice() {
                let sql = mdbd_engine::backend::utf8_statement(only.sql.as_bytes())?;
                if mdbd_engine::cluster::outside_transaction(sql) {
                    // VACUUM refuses a transaction; it changes no content, so running it
                    // again after a crash between it and the marker is harmless.
                    if read_marker(c, &table)? >= lsn {
                        return Ok(false);
                    }
                    execute(c, sql, &only.params)?;
                    set_marker(c, &table, lsn)?;
                    return Ok(true);
                }
            }
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(convert::error)?;
            if read_marker(&tx, &table)? >= lsn {
                return Ok(false);
            }
            for stmt in &txn.statements {
                run_logged(&tx, stmt)?;
            }
            set_marker(&tx, &table, lsn)?;
            tx.commit().map_err(convert::error)?;
            Ok(true)
        })
        .await
    }

    async fn apply_batch(&self, batch: &[(Lsn, &WriteTxn)]) -> Result<u64, BackendError> {
        let alone = |t: &WriteTxn| {
            t.statements
                .iter()
                .any(|s| mdbd_engine::cluster::outside_transaction(&s.sql.text()))
        };
        if batch.len() <= 1 || batch.iter().any(|(_, t)| alone(t)) {
            let mut applied = 0;
            for (lsn, txn) in batch {
                applied += u64::from(self.apply(*lsn, txn).await?);
            }
            return Ok(applied);
        }
        // One transaction (one sync) for the run, the marker moved once to the last.
        let table = self.options.marker_table.clone();
        let batch: Vec<(Lsn, WriteTxn)> = batch.iter().map(|(l, t)| (*l, (*t).clone())).collect();
        self.with_conn(move |c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(convert::error)?;
            let current = read_marker(&tx, &table)?;
            let mut last = None;
            for (lsn, txn) in &batch {
                if *lsn <= current {
                    continue;
                }
                for stmt in &txn.statements {
                    run_logged(&tx, stmt)?;
                }
                last = Some(*lsn);
            }
            let applied = batch.iter().filter(|(l, _)| *l > current).count() as u64;
            if let Some(lsn) = last {
                set_marker(&tx, &table, lsn)?;
                tx.commit().map_err(convert::error)?;
            }
            Ok(applied)
        })
        .await
    }

    async fn snapshot(
        &self,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<SnapshotInfo, BackendError> {
        let copy = tempfile::Builder::new()
            .prefix(".mdbd-snapshot-")
            .tempfile_in(self.dir())?
            .into_temp_path();
        let copy_path = copy.to_path_buf();
        let table = self.options.marker_table.clone();
        let lsn = self
            .with_conn(move |c| {
                c.execute("VACUUM INTO ?1", [copy_path.to_string_lossy().as_ref()])
                    .map_err(convert::error)?;
                let snap =
                    Connection::open_with_flags(&copy_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
                        .map_err(convert::error)?;
                read_marker(&snap, &table)
            })
            .await?;
        let mut file = tokio::fs::File::open(&copy).await?;
        let bytes = tokio::io::copy(&mut file, out).await?;
        out.flush().await?;
        Ok(SnapshotInfo {
            content_type: CONTENT_TYPE.into(),
            lsn,
            bytes,
        })
    }

    async fn restore(
        &self,
        content_type: &str,
        input: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<(), BackendError> {
        if content_type != CONTENT_TYPE {
            return Err(BackendError::Config(format!(
                "cannot restore {content_type:?} into a SQLite backend"
            )));
        }
        let incoming = tempfile::Builder::new()
            .prefix(".mdbd-restore-")
            .tempfile_in(self.dir())?;
        let (file, path) = incoming.into_parts();
        let mut file = tokio::fs::File::from_std(file);
        tokio::io::copy(input, &mut file).await?;
        file.sync_all().await?;
        drop(file);
        let check_path = path.to_path_buf();
        tokio::task::spawn_blocking(move || -> Result<(), BackendError> {
            let c = Connection::open_with_flags(&check_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(convert::error)?;
            let verdict: String = c
                .query_row("PRAGMA quick_check", [], |r| r.get(0))
                .map_err(convert::error)?;
            if verdict != "ok" {
                return Err(BackendError::Config(format!(
                    "restored SQLite file fails quick_check: {verdict}"
                )));
            }
            Ok(())
        })
        .await
        .map_err(|e| BackendError::Io(std::io::Error::other(e.to_string())))??;
        // A stale WAL would be replayed onto the new file: remove it first.
        for side in self.side_files() {
            match std::fs::remove_file(&side) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        path.persist(&self.path)
            .map_err(|e| BackendError::Io(e.error))?;
        std::fs::File::open(self.dir())?.sync_all()?;
        Ok(())
    }

    async fn reset(&self) -> Result<(), BackendError> {
        for file in std::iter::once(self.path.clone()).chain(self.side_files()) {
            match std::fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }

    async fn checksums(&self) -> Result<Vec<TableChecksum>, BackendError> {
        let marker = self.options.marker_table.clone();
        self.with_conn(move |c| {
            let mut out = Vec::new();
            // The schema itself: tables, indexes, views, triggers.
            let mut schema = TableHasher::new("(schema)");
            if let Outcome::Rows(rs) = execute(c, "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_autoindex%' ORDER BY type, name", &[])? {
                rs.rows.iter().for_each(|r| schema.row(r));
            }
            out.push(schema.finish());
            let tables: Vec<String> = {
                let mut stmt = c
                    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND (name NOT LIKE 'sqlite_%' OR name = 'sqlite_sequence') ORDER BY name")
                    .map_err(convert::error)?;
                let names = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(convert::error)?;
                names.collect::<Result<_, _>>().map_err(convert::error)?
            };
            for table in tables.into_iter().filter(|t| *t != marker) {
                let quoted = convert::quote(&table);
                let ncols = c.prepare(&format!("SELECT * FROM {quoted}")).map_err(convert::error)?.column_count();
                let order: Vec<String> = (1..=ncols).map(|i| i.to_string()).collect();
                let sql = format!("SELECT * FROM {quoted} ORDER BY {}", order.join(", "));
                let mut h = TableHasher::new(&table);
                if let Outcome::Rows(rs) = execute(c, &sql, &[])? {
                    rs.rows.iter().for_each(|r| h.row(r));
                }
                out.push(h.finish());
            }
            Ok(out)
        })
        .await
    }
}

use mdbd_engine::backend::Outcome;

/// Runs one logged statement inside a replay transaction (SQLite has no COPY).
fn run_logged(
    tx: &rusqlite::Transaction<'_>,
    stmt: &mdbd_engine::log::Statement,
) -> Result<(), BackendError> {
    if stmt.copy_data.is_some() {
        return Err(BackendError::Db(DbError {
            code: "MDBD_COPY".into(),
            sqlstate: "0A000".into(),
            message: "COPY is not supported by SQLite backends".into(),
            ..Default::default()
        }));
    }
    let sql = mdbd_engine::backend::utf8_statement(stmt.sql.as_bytes())?;
    execute(tx, sql, &stmt.params)?;
    Ok(())
}
