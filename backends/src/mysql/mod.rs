//! MySQL/MariaDB backends through mysql_async.
//!
//! - The applied-LSN marker is a one-row InnoDB table with an extra `pending` column.
//! - **DDL commits implicitly** in MySQL, so it can never share a transaction with the
//!   marker. The closest safe behaviour: a statement that commits implicitly (`CREATE`,
//!   `ALTER`, `DROP`, `RENAME`, `TRUNCATE`, `GRANT`, ...) must be alone in its logged write;
//!   replay first records `pending = lsn` (committed), runs the statement, then sets
//!   `lsn = lsn, pending = NULL`. After a crash between the two, the statement is run
//!   again; an "already exists"/"does not exist" error then counts as applied **only** when
//!   `pending` names this LSN, so a genuine error is never swallowed.
//! - Session settings logged with a write are applied with `SET SESSION name = value`
//!   before it. MySQL has no COPY: the COPY path carries `LOAD DATA LOCAL INFILE`, whose
//!   file is held until whole and given to the server when it asks (`session.rs`), on
//!   replay too (the log keeps the file). `dialect.rs`: implicit commits, MySQL's error
//!   codes, the clock pinned by `SET timestamp`. `json.rs`: MariaDB's JSON columns, from
//!   their check constraints, for front ends that tell clients.
//! - Snapshot: `mariadb-dump --single-transaction --routines --triggers --events
//!   --hex-blob` of the database (path configurable): one consistent InnoDB snapshot,
//!   marker row included, so it may be taken while the donor serves (`online` joins); the
//!   restored marker says which writes it holds. DDL during the dump makes mysqldump fail
//!   (the join is then aborted, never restored from an inconsistent dump). Restore: the
//!   `mariadb` client into the database emptied by [`Backend::reset`]; DDL commits as it
//!   goes, so a failed restore leaves a partial database, and the next attempt resets it.

mod catalog;
mod convert;
mod dialect;
mod json;
mod session;

pub use dialect::{Mysql, CLOCK_SETTING};
pub use session::MysqlSession;

use crate::tool::Tool;
use mdbd_engine::backend::{
    Backend, BackendError, Outcome, SnapshotInfo, TableChecksum, TableHasher, DEFAULT_MARKER_TABLE,
};
use mdbd_engine::log::{Lsn, Value, WriteTxn};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};
use session::execute;
use std::path::PathBuf;
use tokio::io::{AsyncRead, AsyncWrite};

/// Content type of MySQL snapshots.
pub const CONTENT_TYPE: &str = "mysqldump/sql";

/// Server errors that, for a statement replayed after a crash while `pending` named it,
/// mean it had already been applied.
const ALREADY_APPLIED: [u16; 14] = [
    1007, 1008, 1050, 1051, 1060, 1061, 1091, 1146, 1304, 1305, 1359, 1360, 1537, 1539,
];

/// Options of a MySQL/MariaDB backend.
#[derive(Clone, Debug)]
pub struct MysqlOptions {
    /// `mysql://user:password@host:port/database`.
    pub url: String,
    /// Marker table name. Default `mdbd_state`.
    pub marker_table: String,
    /// Dump tool. Default `mariadb-dump`.
    pub dump: PathBuf,
    /// Client used for restores. Default `mariadb`.
    pub client: PathBuf,
    /// `keyed` ordering: every session runs its transactions at READ COMMITTED (each
    /// statement reads after the locks mdbd granted it, and InnoDB takes no gap locks
    /// mdbd could not foresee) and waits at most this long for a lock in the server
    /// (`innodb_lock_wait_timeout` and `lock_wait_timeout`, whole seconds, at least one),
    /// so such a wait ends in an error instead of a stall. `None`: the server's defaults.
    pub keyed_lock_timeout: Option<std::time::Duration>,
}

impl MysqlOptions {
    /// Options with defaults for everything but the URL.
    pub fn new(url: &str) -> Self {
        MysqlOptions {
            url: url.into(),
            marker_table: DEFAULT_MARKER_TABLE.into(),
            dump: "mariadb-dump".into(),
            client: "mariadb".into(),
            keyed_lock_timeout: None,
        }
    }
}

/// A MySQL/MariaDB database as a backend.
pub struct MysqlBackend {
    name: String,
    options: MysqlOptions,
    opts: Opts,
    database: String,
    replay: tokio::sync::Mutex<Option<Conn>>,
    /// Its JSON columns, as its sessions found them (see `json.rs`).
    json: json::JsonColumns,
}

/// Statements MySQL commits implicitly.
pub fn implicit_commit(sql: &str) -> bool {
    let first = sql
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    matches!(
        first.as_str(),
        "CREATE"
            | "ALTER"
            | "DROP"
            | "RENAME"
            | "TRUNCATE"
            | "GRANT"
            | "REVOKE"
            | "ANALYZE"
            | "OPTIMIZE"
            | "REPAIR"
            | "LOCK"
            | "UNLOCK"
            | "FLUSH"
    )
}

impl MysqlBackend {
    /// A backend on the database the URL names.
    pub fn new(name: &str, options: MysqlOptions) -> Result<Self, BackendError> {
        convert::identifier(&options.marker_table)?;
        let opts = Opts::from_url(&options.url)
            .map_err(|e| BackendError::Config(format!("MySQL URL {:?}: {e}", options.url)))?;
        let database = opts.db_name().map(str::to_string).ok_or_else(|| {
            BackendError::Config(format!("MySQL URL {:?} names no database", options.url))
        })?;
        convert::identifier(&database)?;
        let opts = match options.keyed_lock_timeout {
            Some(timeout) => {
                let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
                let secs = secs.max(1);
                let mut init = opts.init().to_vec();
                init.extend([
                    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED".to_string(),
                    format!("SET SESSION innodb_lock_wait_timeout = {secs}"),
                    format!("SET SESSION lock_wait_timeout = {secs}"),
                ]);
                Opts::from(mysql_async::OptsBuilder::from_opts(opts).init(init))
            }
            None => opts,
        };
        Ok(MysqlBackend {
            name: name.into(),
            options,
            opts,
            database,
            replay: tokio::sync::Mutex::new(None),
            json: json::JsonColumns::default(),
        })
    }

    async fn conn(&self) -> Result<Conn, BackendError> {
        Conn::new(self.opts.clone())
            .await
            .map_err(|e| convert::error(&self.name, e))
    }

    fn marker(&self) -> String {
        convert::quote(&self.options.marker_table)
    }

    async fn marker_of(&self, conn: &mut Conn) -> Result<(Lsn, Option<Lsn>), BackendError> {
        let sql = format!("SELECT lsn, pending FROM {} WHERE id = 1", self.marker());
        let row: Option<(u64, Option<u64>)> = conn
            .query_first(sql)
            .await
            .map_err(|e| convert::error(&self.name, e))?;
        row.map(|(l, p)| (Lsn(l), p.map(Lsn))).ok_or_else(|| {
            BackendError::Marker(format!("table {} has no row", self.options.marker_table))
        })
    }

    async fn run(
        &self,
        conn: &mut Conn,
        sql: &[u8],
        params: &[Value],
    ) -> Result<Outcome, BackendError> {
        // Replay returns no rows to a client; a definition it changes is forgotten.
        self.json.after(sql);
        execute(&self.name, conn, sql, params, None).await
    }

    /// A command-line tool connected to this server (the password goes in the
    /// environment, not in arguments `ps` shows).
    fn tool<'a>(&self, program: &'a std::path::Path) -> Tool<'a> {
        Tool {
            program,
            args: vec![
                "--no-defaults".into(),
                format!("--host={}", self.opts.ip_or_hostname()),
                format!("--port={}", self.opts.tcp_port()),
                format!("--user={}", self.opts.user().unwrap_or("root")),
                "--default-character-set=utf8mb4".into(),
            ],
            env: self
                .opts
                .pass()
                .map(|p| vec![("MYSQL_PWD", p.to_string())])
                .unwrap_or_default(),
        }
    }

    /// The statement that sets the replay connection's clock for a logged write: the
    /// instant pinned for it (`timestamp` setting), or the real clock when it has none.
    fn clock(settings: &[(String, String)]) -> Result<String, BackendError> {
        let Some((_, v)) = settings.iter().find(|(k, _)| k == CLOCK_SETTING) else {
            return Ok("SET timestamp = DEFAULT".into());
        };
        let (secs, micros) = v.split_once('.').unwrap_or((v.as_str(), "0"));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !(digits(secs) && digits(micros)) {
            return Err(BackendError::Config(format!(
                "logged timestamp {v:?} is not seconds.micros"
            )));
        }
        Ok(format!("SET timestamp = {secs}.{micros}"))
    }

    /// Applies a logged write's other session settings with `SET SESSION name = value`.
    async fn apply_settings(
        &self,
        conn: &mut Conn,
        settings: &[(String, String)],
    ) -> Result<(), BackendError> {
        for (name, value) in settings.iter().filter(|(k, _)| k != CLOCK_SETTING) {
            convert::identifier(name)?;
            conn.exec_drop(format!("SET SESSION {name} = ?"), (value.as_str(),))
                .await
                .map_err(|e| convert::error(&self.name, e))?;
        }
        Ok(())
    }

    async fn apply_alone(
        &self,
        conn: &mut Conn,
        lsn: Lsn,
        sql: &[u8],
    ) -> Result<bool, BackendError> {
        let (applied, pending) = self.marker_of(conn).await?;
        if applied >= lsn {
            return Ok(false);
        }
        let marker = self.marker();
        conn.exec_drop(
            format!("UPDATE {marker} SET pending = ? WHERE id = 1"),
            (lsn.get(),),
        )
        .await
        .map_err(|e| convert::error(&self.name, e))?;
        if let Err(e) = self.run(conn, sql, &[]).await {
            let replayed = pending == Some(lsn)
                && convert::server_code(&e).is_some_and(|c| ALREADY_APPLIED.contains(&c));
            if !replayed {
                conn.query_drop(format!("UPDATE {marker} SET pending = NULL WHERE id = 1"))
                    .await
                    .map_err(|e| convert::error(&self.name, e))?;
                return Err(e);
            }
            tracing::info!(backend = %self.name, %lsn, error = %e, "statement had been applied before a crash");
        }
        conn.exec_drop(
            format!("UPDATE {marker} SET lsn = ?, pending = NULL WHERE id = 1"),
            (lsn.get(),),
        )
        .await
        .map_err(|e| convert::error(&self.name, e))?;
        Ok(true)
    }

    async fn apply_in_transaction(
        &self,
        conn: &mut Conn,
        lsn: Lsn,
        txn: &WriteTxn,
    ) -> Result<bool, BackendError> {
        let marker = self.marker();
        let err = |e| convert::error(&self.name, e);
        // The clock in the same round trip as the transaction's start.
        let clock = Self::clock(&txn.settings)?;
        conn.query_drop(format!("{clock}; START TRANSACTION"))
            .await
            .map_err(err)?;
        let result: Result<bool, BackendError> = async {
            let current: Option<u64> = conn
                .query_first(format!("SELECT lsn FROM {marker} WHERE id = 1 FOR UPDATE"))
                .await
                .map_err(err)?;
            if current.is_some_and(|c| c >= lsn.get()) {
                return Ok(false);
            }
            self.apply_settings(conn, &txn.settings).await?;
            for stmt in &txn.statements {
                if let Some(file) = &stmt.copy_data {
                    // `LOAD DATA LOCAL INFILE` with the client's file, as logged.
                    let sql = stmt.sql.text();
                    session::load_local(&self.name, conn, &sql, file.clone().into()).await?;
                    continue;
                }
                if implicit_commit(&stmt.sql.text()) {
                    return Err(BackendError::Config(format!(
                        "{:?} commits implicitly; log it as a write of its own",
                        stmt.sql
                    )));
                }
                self.run(conn, stmt.sql.as_bytes(), &stmt.params).await?;
            }
            conn.exec_drop(
                format!("UPDATE {marker} SET lsn = ? WHERE id = 1"),
                (lsn.get(),),
            )
            .await
            .map_err(err)?;
            Ok(true)
        }
        .await;
        match result {
            Ok(true) => {
                conn.query_drop("COMMIT").await.map_err(err)?;
                Ok(true)
            }
            other => {
                let _ = conn.query_drop("ROLLBACK").await;
                other
            }
        }
    }
}

#[async_trait::async_trait]
impl Backend for MysqlBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn dialect(&self) -> &'static dyn mdbd_engine::backend::Dialect {
        &Mysql
    }

    fn snapshot_content_type(&self) -> &'static str {
        CONTENT_TYPE
    }

    async fn estimated_size(&self) -> Option<u64> {
        let mut conn = self.conn().await.ok()?;
        let size: Option<u64> = conn
            .query_first("SELECT CAST(coalesce(sum(DATA_LENGTH), 0) AS UNSIGNED) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")
            .await
            .ok()?;
        size
    }

    async fn open_session(&self) -> Result<Box<dyn mdbd_engine::backend::Session>, BackendError> {
        Ok(Box::new(MysqlSession {
            backend: self.name.clone(),
            conn: self.conn().await?,
            marker: self.options.marker_table.clone(),
            clock_pinned: false,
            opts: self.opts.clone(),
            infile: None,
            json: self.json.clone(),
        }))
    }

    async fn health(&self) -> Result<(), BackendError> {
        self.conn()
            .await?
            .ping()
            .await
            .map_err(|e| convert::error(&self.name, e))
    }

    async fn ensure_marker(&self) -> Result<(), BackendError> {
        let t = self.marker();
        let mut conn = self.conn().await?;
        conn.query_drop(format!("CREATE TABLE IF NOT EXISTS {t} (id INT PRIMARY KEY, lsn BIGINT UNSIGNED NOT NULL, pending BIGINT UNSIGNED NULL) ENGINE=InnoDB"))
            .await
            .map_err(|e| convert::error(&self.name, e))?;
        conn.query_drop(format!("INSERT IGNORE INTO {t} (id, lsn) VALUES (1, 0)"))
            .await
            .map_err(|e| convert::error(&self.name, e))
    }

    async fn applied_lsn(&self) -> Result<Lsn, BackendError> {
        Ok(self.marker_of(&mut self.conn().await?).await?.0)
    }

    async fn apply(&self, lsn: Lsn, txn: &WriteTxn) -> Result<bool, BackendError> {
        let mut replay = self.replay.lock().await;
        if replay.is_none() {
            *replay = Some(self.conn().await?);
        }
        let conn = replay.as_mut().ok_or_else(|| BackendError::Connection {
            backend: self.name.clone(),
            reason: "no replay connection".into(),
        })?;
        let result = match txn.statements.as_slice() {
            [only] if implicit_commit(&only.sql.text()) => {
                // The session's settings (sql_mode, ...) shape DDL too; SET commits nothing.
                conn.query_drop(Self::clock(&txn.settings)?)
                    .await
                    .map_err(|e| convert::error(&self.name, e))?;
                self.apply_settings(conn, &txn.settings).await?;
                self.apply_alone(conn, lsn, only.sql.as_bytes()).await
            }
            _ => self.apply_in_transaction(conn, lsn, txn).await,
        };
        if matches!(result, Err(BackendError::Connection { .. })) {
            *replay = None;
        }
        result
    }

    async fn snapshot(
        &self,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<SnapshotInfo, BackendError> {
        let before = self.applied_lsn().await?;
        let mut dump = self.tool(&self.options.dump);
        dump.args.extend(
            [
                "--single-transaction",
                "--routines",
                "--triggers",
                "--events",
                "--hex-blob",
                "--skip-dump-date",
            ]
            .map(String::from),
        );
        dump.args.push(self.database.clone());
        // `--single-transaction` dumps one consistent InnoDB snapshot, marker included, so
        // the restored marker says exactly which writes the dump holds even when writes ran
        // meanwhile (`before` is then only a lower bound). DDL during the dump breaks the
        // snapshot: mysqldump fails with "table definition has changed" and the join is
        // aborted rather than restored from an inconsistent dump.
        let bytes = dump.dump(out).await?;
        Ok(SnapshotInfo {
            content_type: CONTENT_TYPE.into(),
            lsn: before,
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
                "cannot restore {content_type:?} into a MySQL backend"
            )));
        }
        *self.replay.lock().await = None;
        let mut client = self.tool(&self.options.client);
        client.args.push(self.database.clone());
        client.restore(input).await
    }

    async fn reset(&self) -> Result<(), BackendError> {
        *self.replay.lock().await = None;
        let db = convert::quote(&self.database);
        let mut conn = self.conn().await?;
        conn.query_drop(format!("DROP DATABASE IF EXISTS {db}"))
            .await
            .map_err(|e| convert::error(&self.name, e))?;
        conn.query_drop(format!("CREATE DATABASE {db}"))
            .await
            .map_err(|e| convert::error(&self.name, e))
    }

    async fn checksums(&self) -> Result<Vec<TableChecksum>, BackendError> {
        let mut conn = self.conn().await?;
        let mut out = Vec::new();
        let mut schema = TableHasher::new("(schema)");
        for sql in [
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION",
            "SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 2, 3",
            "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1",
        ] {
            if let Outcome::Rows(rs) = self.run(&mut conn, sql.as_bytes(), &[]).await? {
                rs.rows.iter().for_each(|r| schema.row(r));
            }
        }
        out.push(schema.finish());
        let Outcome::Rows(tables) = self
            .run(&mut conn, "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1".as_bytes(), &[])
            .await?
        else {
            return Ok(out);
        };
        let mut auto = TableHasher::new("(auto_increment)");
        for row in &tables.rows {
            auto.row(row);
            let Value::Text(table) = &row[0] else {
                continue;
            };
            if *table == self.options.marker_table {
                continue;
            }
            let quoted = convert::quote(table);
            let Outcome::Rows(cols) = self
                .run(
                    &mut conn,
                    format!("SELECT * FROM {quoted} LIMIT 0").as_bytes(),
                    &[],
                )
                .await?
            else {
                continue;
            };
            let order: Vec<String> = (1..=cols.columns.len()).map(|i| i.to_string()).collect();
            let mut h = TableHasher::new(table);
            if let Outcome::Rows(rs) = self
                .run(
                    &mut conn,
                    format!("SELECT * FROM {quoted} ORDER BY {}", order.join(", ")).as_bytes(),
                    &[],
                )
                .await?
            {
                rs.rows.iter().for_each(|r| h.row(r));
            }
            out.push(h.finish());
        }
        out.push(auto.finish());
        Ok(out)
    }

    async fn catalog(&self) -> Result<mdbd_engine::backend::Catalog, BackendError> {
        let mut conn = self.conn().await?;
        let catalog = catalog::read(&mut conn, &self.name).await;
        let _ = conn.disconnect().await;
        catalog
    }
}
