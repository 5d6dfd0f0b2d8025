//! PostgreSQL backends through tokio-postgres.
//!
//! - Values: `convert.rs` between tokio-postgres and the engine's types; `binary.rs`
//!   PostgreSQL's binary forms of the types mdbd holds as text (numeric, dates, uuid, ...),
//!   both ways (dates and times in `datetime.rs`); `text.rs` the server's text output of what mdbd holds in binary (floats,
//!   arrays, intervals), for front ends that owe a client the server's own bytes.
//! - `dialect.rs`: a failed statement aborts the transaction, PostgreSQL's error codes,
//!   clock functions rewritten to one instant, `$tag$` quoting, cursors for paged reads.
//! - `inbox.rs`: each connection's I/O task, which queues the notices and notifications
//!   the server sends for the session to take.
//! - TLS as the connection string's `sslmode` asks (`tls.rs`: `require` and `verify-full`
//!   check the certificate and the host name, `verify-ca` the chain).
//!
//! - The applied-LSN marker is a one-row table (`mdbd_state`, or `schema.table` as
//!   configured) updated in the same transaction as each logged write.
//! - Session settings logged with a write (`search_path`, `TimeZone`, ...) are applied
//!   with `set_config(name, value, true)`: local to the replay transaction.
//! - Statements PostgreSQL refuses inside a transaction block (`CREATE INDEX
//!   CONCURRENTLY`, `VACUUM`, `CREATE DATABASE`, ...) cannot share a transaction with the
//!   marker. The closest safe behaviour: such a statement must be alone in its logged
//!   write; it runs on its own and the marker moves right after. A crash between the two
//!   replays it: `VACUUM`-like statements are harmless to repeat, and a repeated `CREATE
//!   ... CONCURRENTLY` that fails with "already exists" (42P07) counts as applied.
//! - Snapshot: a `REPEATABLE READ` transaction exports its snapshot and reads the marker;
//!   `pg_dump --snapshot=<id> -Fc -Z0` dumps exactly that snapshot (uncompressed: the
//!   snapshot codec compresses), so the dump and its LSN agree. Restore: `pg_restore
//!   --single-transaction --exit-on-error` from the stream, into a database emptied by
//!   [`Backend::reset`].

mod binary;
mod catalog;
mod convert;
mod datetime;
mod dialect;
pub mod fuzzing;
mod inbox;
mod replay;
mod session;
mod text;
mod tls;

pub use dialect::Postgres;
pub use session::PgSession;

/// A value in PostgreSQL's binary format as mdbd holds it: native for booleans, numbers
/// and bytea, PostgreSQL's own text for numeric, dates, timestamps, uuid, json(b) and
/// `"char"`, raw bytes for other types. The one decoder of PostgreSQL's binary forms, for
/// rows from the servers and binary parameters from clients alike.
pub fn binary_value(
    ty: &postgres_types::Type,
    raw: &[u8],
) -> Result<mdbd_engine::log::Value, Box<dyn std::error::Error + Sync + Send>> {
    <convert::PgValue as postgres_types::FromSql>::from_sql(ty, raw).map(|v| v.0)
}

pub use binary::binary_form;
pub use text::{float_text, has_text_form, text_form};

use crate::tool::Tool;
use mdbd_engine::backend::{
    Backend, BackendError, Outcome, SnapshotInfo, TableChecksum, TableHasher, DEFAULT_MARKER_TABLE,
};
use mdbd_engine::log::{Lsn, Value, WriteTxn};
use session::{connect, execute};
use std::path::PathBuf;
use tokio::io::{AsyncRead, AsyncWrite};

/// Content type of PostgreSQL snapshots.
pub const CONTENT_TYPE: &str = "pg_dump/custom";

/// Options of a PostgreSQL backend.
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// libpq-style connection string (`host=... port=... user=... dbname=...`).
    pub conninfo: String,
    /// Marker table, optionally schema-qualified. Default `mdbd_state`.
    pub marker_table: String,
    /// `pg_dump` to run. Default `pg_dump` from `PATH`.
    pub pg_dump: PathBuf,
    /// `pg_restore` to run. Default `pg_restore` from `PATH`.
    pub pg_restore: PathBuf,
    /// `lock_timeout` of every session mdbd opens (`keyed` ordering sets it short: a
    /// wait mdbd did not foresee must end in an error, not in a wait across backends).
    pub lock_timeout: Option<std::time::Duration>,
}

impl PgOptions {
    /// Options with defaults for everything but the connection string.
    pub fn new(conninfo: &str) -> Self {
        PgOptions {
            conninfo: conninfo.into(),
            marker_table: DEFAULT_MARKER_TABLE.into(),
            pg_dump: "pg_dump".into(),
            pg_restore: "pg_restore".into(),
            lock_timeout: None,
        }
    }
}

/// A PostgreSQL database as a backend.
pub struct PgBackend {
    name: String,
    options: PgOptions,
    /// The connection string read, with its TLS.
    target: tls::Target,
    /// The connection replay uses, kept between writes (catch-up applies thousands).
    replay: tokio::sync::Mutex<Option<replay::ReplayConn>>,
}

impl PgBackend {
    /// A backend on the database `options.conninfo` names.
    pub fn new(name: &str, options: PgOptions) -> Result<Self, BackendError> {
        convert::qualified_identifier(&options.marker_table)?;
        let mut target = tls::Target::parse(&options.conninfo)?;
        if let Some(timeout) = options.lock_timeout {
            // After the connection string's own options, so this one wins.
            let own = target.config.get_options().unwrap_or_default().to_string();
            let set = format!("-c lock_timeout={}ms", timeout.as_millis().max(1));
            target.config.options(format!("{own} {set}").trim());
        }
        Ok(PgBackend {
            name: name.into(),
            target,
            options,
            replay: tokio::sync::Mutex::new(None),
        })
    }

    async fn client(&self) -> Result<tokio_postgres::Client, BackendError> {
        connect(&self.name, &self.target).await
    }

    fn err(&self, e: tokio_postgres::Error) -> BackendError {
        convert::error(&self.name, e)
    }

    async fn marker_of(&self, client: &tokio_postgres::Client) -> Result<Lsn, BackendError> {
        let rows = client
            .query(
                &format!("SELECT lsn FROM {} WHERE id = 1", self.options.marker_table),
                &[],
            )
            .await
            .map_err(|e| self.err(e))?;
        match rows.first().map(|r| r.try_get::<_, i64>(0)) {
            Some(Ok(v)) if v >= 0 => Ok(Lsn(v as u64)),
            Some(Ok(v)) => Err(BackendError::Marker(format!(
                "{} holds {v}",
                self.options.marker_table
            ))),
            Some(Err(e)) => Err(BackendError::Marker(e.to_string())),
            None => Err(BackendError::Marker(format!(
                "{} has no row",
                self.options.marker_table
            ))),
        }
    }
}

#[async_trait::async_trait]
impl Backend for PgBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn dialect(&self) -> &'static dyn mdbd_engine::backend::Dialect {
        &Postgres
    }

    fn snapshot_content_type(&self) -> &'static str {
        CONTENT_TYPE
    }

    async fn estimated_size(&self) -> Option<u64> {
        // The dump holds table data without indexes or free space: the table sizes are
        // the closer estimate.
        let client = self.client().await.ok()?;
        let row = client
            .query_one(
                "SELECT coalesce(sum(pg_table_size(c.oid)), 0)::int8 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
                &[],
            )
            .await
            .ok()?;
        u64::try_from(row.get::<_, i64>(0)).ok()
    }

    async fn open_session(&self) -> Result<Box<dyn mdbd_engine::backend::Session>, BackendError> {
        let (client, notices) = session::connect_with_notices(&self.name, &self.target).await?;
        Ok(Box::new(PgSession {
            backend: self.name.clone(),
            client,
            tls: self.target.tls.clone(),
            marker: self.options.marker_table.clone(),
            begin_pending: false,
            copy: None,
            notices,
        }))
    }

    async fn health(&self) -> Result<(), BackendError> {
        self.client()
            .await?
            .simple_query("SELECT 1")
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn ensure_marker(&self) -> Result<(), BackendError> {
        let t = &self.options.marker_table;
        self.client()
            .await?
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {t} (id int PRIMARY KEY CHECK (id = 1), lsn bigint NOT NULL);
                 INSERT INTO {t} (id, lsn) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;"
            ))
            .await
            .map_err(|e| self.err(e))
    }

    async fn applied_lsn(&self) -> Result<Lsn, BackendError> {
        self.marker_of(&self.client().await?).await
    }

    async fn apply(&self, lsn: Lsn, txn: &WriteTxn) -> Result<bool, BackendError> {
        self.apply_one(lsn, txn).await
    }

    async fn apply_batch(&self, batch: &[(Lsn, &WriteTxn)]) -> Result<u64, BackendError> {
        self.apply_many(batch).await
    }

    async fn snapshot(
        &self,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<SnapshotInfo, BackendError> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|e| self.err(e))?;
        let snapshot_id: String = tx
            .query_one("SELECT pg_export_snapshot()", &[])
            .await
            .map_err(|e| self.err(e))?
            .get(0);
        let lsn = self.marker_of(tx.client()).await?;
        let dump = Tool {
            program: &self.options.pg_dump,
            args: [
                "--format=custom",
                "--compress=0",
                "--no-owner",
                "--no-privileges",
                "--snapshot",
                &snapshot_id,
                "--dbname",
                &self.options.conninfo,
            ]
            .map(String::from)
            .to_vec(),
            env: Vec::new(),
        };
        let bytes = dump.dump(out).await;
        // The exporting transaction must outlive pg_dump's use of its snapshot.
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(SnapshotInfo {
            content_type: CONTENT_TYPE.into(),
            lsn,
            bytes: bytes?,
        })
    }

    async fn restore(
        &self,
        content_type: &str,
        input: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<(), BackendError> {
        if content_type != CONTENT_TYPE {
            return Err(BackendError::Config(format!(
                "cannot restore {content_type:?} into a PostgreSQL backend"
            )));
        }
        // One transaction: a failed or cut-off restore leaves nothing behind.
        let restore = Tool {
            program: &self.options.pg_restore,
            args: [
                "--single-transaction",
                "--exit-on-error",
                "--no-owner",
                "--no-privileges",
                "--dbname",
                &self.options.conninfo,
            ]
            .map(String::from)
            .to_vec(),
            env: Vec::new(),
        };
        restore.restore(input).await
    }

    async fn reset(&self) -> Result<(), BackendError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'", &[])
            .await
            .map_err(|e| self.err(e))?;
        let mut sql = String::new();
        for row in rows {
            let schema: String = row.get(0);
            sql.push_str(&format!(
                "DROP SCHEMA \"{}\" CASCADE;",
                schema.replace('"', "\"\"")
            ));
        }
        sql.push_str("CREATE SCHEMA public;");
        client.batch_execute(&sql).await.map_err(|e| self.err(e))
    }

    async fn checksums(&self) -> Result<Vec<TableChecksum>, BackendError> {
        let client = self.client().await?;
        let q = |sql: &'static str| execute(&self.name, &client, sql, &[]);
        let mut out = Vec::new();
        let mut schema = TableHasher::new("(schema)");
        for sql in [
            "SELECT table_schema, table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, ordinal_position",
            "SELECT schemaname, indexname, indexdef FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2",
            "SELECT schemaname, viewname, definition FROM pg_views WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2",
        ] {
            if let Outcome::Rows(rs) = q(sql).await? {
                rs.rows.iter().for_each(|r| schema.row(r));
            }
        }
        out.push(schema.finish());
        let marker = self
            .options
            .marker_table
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_string();
        let Outcome::Rows(tables) = q("SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2").await? else {
            return Ok(out);
        };
        for row in tables.rows {
            let (Value::Text(schema_name), Value::Text(table)) = (&row[0], &row[1]) else {
                continue;
            };
            if *table == marker {
                continue;
            }
            let qualified = format!(
                "\"{}\".\"{}\"",
                schema_name.replace('"', "\"\""),
                table.replace('"', "\"\"")
            );
            let n = client
                .prepare(&format!("SELECT * FROM {qualified}"))
                .await
                .map_err(|e| self.err(e))?
                .columns()
                .len();
            let order: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
            let sql = if n == 0 {
                format!("SELECT count(*) FROM {qualified}")
            } else {
                format!("SELECT * FROM {qualified} ORDER BY {}", order.join(", "))
            };
            let mut h = TableHasher::new(&format!("{schema_name}.{table}"));
            if let Outcome::Rows(rs) = execute(&self.name, &client, &sql, &[]).await? {
                rs.rows.iter().for_each(|r| h.row(r));
            }
            out.push(h.finish());
        }
        // Sequences: their position is part of the content.
        let Outcome::Rows(seqs) =
            q("SELECT schemaname, sequencename, last_value FROM pg_sequences ORDER BY 1, 2")
                .await?
        else {
            return Ok(out);
        };
        let mut h = TableHasher::new("(sequences)");
        seqs.rows.iter().for_each(|r| h.row(r));
        out.push(h.finish());
        Ok(out)
    }

    async fn catalog(&self) -> Result<mdbd_engine::backend::Catalog, BackendError> {
        let client = self.client().await?;
        catalog::read(&client, &self.name).await
    }
}
