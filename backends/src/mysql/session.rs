//! A session on MySQL/MariaDB: one mysql_async connection.

use super::convert;
use super::json::JsonColumns;
use mdbd_engine::backend::{
    command_tag, BackendError, Description, Outcome, ResultSet, RowSink, Session,
};
use mdbd_engine::log::{Lsn, Value};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

/// Runs one statement: the text protocol without parameters (everything can run that
/// way), the binary protocol (a prepared statement) with them. `sql` goes to the server as
/// the very bytes the client sent: they need not be UTF-8 (binary literals).
pub async fn execute(
    backend: &str,
    conn: &mut Conn,
    sql: &[u8],
    params: &[Value],
    json: Option<&JsonColumns>,
) -> Result<Outcome, BackendError> {
    if let Some(json) = json {
        json.after(sql);
    }
    let err = |e| convert::error(backend, e);
    let (columns, rows, affected, last_id) = if params.is_empty() {
        let mut result = conn.query_iter(sql).await.map_err(err)?;
        let columns = result.columns().map(|c| c.to_vec()).unwrap_or_default();
        let rows: Vec<mysql_async::Row> = result.collect().await.map_err(err)?;
        (
            columns,
            rows,
            result.affected_rows(),
            result.last_insert_id(),
        )
    } else {
        let args: Vec<mysql_async::Value> = params.iter().map(convert::param).collect();
        let mut result = conn
            .exec_iter(sql, mysql_async::Params::Positional(args))
            .await
            .map_err(err)?;
        let columns = result.columns().map(|c| c.to_vec()).unwrap_or_default();
        let rows: Vec<mysql_async::Row> = result.collect().await.map_err(err)?;
        (
            columns,
            rows,
            result.affected_rows(),
            result.last_insert_id(),
        )
    };
    if columns.is_empty() {
        return Ok(command(sql, affected, last_id));
    }
    let mut out_columns: Vec<_> = columns.iter().map(convert::column).collect();
    if let Some(json) = json {
        json.mark(conn, &columns, &mut out_columns).await;
    }
    let rows = rows
        .into_iter()
        .map(|row| convert::row(row, &columns))
        .collect();
    Ok(Outcome::Rows(ResultSet {
        columns: out_columns,
        rows,
    }))
}

/// A statement's outcome without a result set.
fn command(sql: &[u8], affected: u64, last_insert_id: Option<u64>) -> Outcome {
    Outcome::Command {
        tag: command_tag(&String::from_utf8_lossy(sql), affected),
        rows: affected,
        last_insert_id: last_insert_id.filter(|&id| id > 0),
    }
}

/// A result's rows to `sink` as the server sends them (see `Session::stream`). The JSON
/// columns of tables not looked up yet are looked up over a connection of their own (the
/// result holds the session's), with the backend's `opts`.
async fn rows_to<P: mysql_async::prelude::Protocol>(
    mut result: mysql_async::QueryResult<'_, '_, P>,
    sql: &[u8],
    (json, opts): (&JsonColumns, &mysql_async::Opts),
    sink: &mut dyn RowSink,
) -> Result<Outcome, mysql_async::Error> {
    let columns = result.columns().map(|c| c.to_vec()).unwrap_or_default();
    if columns.is_empty() {
        let outcome = command(sql, result.affected_rows(), result.last_insert_id());
        result.drop_result().await?;
        return Ok(outcome);
    }
    let mut out: Vec<_> = columns.iter().map(convert::column).collect();
    let unknown = json.mark_known(&columns, &mut out);
    if !unknown.is_empty() {
        match mysql_async::Conn::new(opts.clone()).await {
            Ok(mut side) => {
                json.learn(&mut side, unknown).await;
                let _ = side.disconnect().await;
                json.mark_known(&columns, &mut out);
            }
            Err(e) => tracing::debug!(error = %e, "no connection to look up JSON columns"),
        }
    }
    sink.columns(&out).await;
    while let Some(row) = result.next().await? {
        sink.row(convert::row(row, &columns)).await;
    }
    // A statement with more result sets (a procedure's): only the first is the read's.
    result.drop_result().await?;
    Ok(Outcome::Rows(ResultSet {
        columns: out,
        rows: Vec::new(),
    }))
}

/// Runs `LOAD DATA LOCAL INFILE` (`sql`) with `data` as the file: the server asks this
/// connection for the file and gets `data`, whatever name it asks for. Returns the rows
/// loaded. The client's file came to mdbd through its own connection (see the MySQL
/// front end); replay passes the logged copy.
pub async fn load_local(
    backend: &str,
    conn: &mut Conn,
    sql: &str,
    data: bytes::Bytes,
) -> Result<u64, BackendError> {
    conn.set_infile_handler(async move {
        let chunks: mysql_async::InfileData =
            Box::pin(futures_util::stream::once(async move { Ok(data) }));
        Ok(chunks)
    });
    conn.query_drop(sql)
        .await
        .map_err(|e| convert::error(backend, e))?;
    Ok(conn.affected_rows())
}

/// One client (or replay) session on a MySQL/MariaDB backend.
pub struct MysqlSession {
    pub(super) backend: String,
    pub(super) conn: Conn,
    pub(super) marker: String,
    /// The open transaction runs under `SET timestamp` (see `begin_at`).
    pub(super) clock_pinned: bool,
    /// How to reach the server again (for `KILL QUERY`).
    pub(super) opts: mysql_async::Opts,
    /// A `LOAD DATA LOCAL INFILE` taking the client's file (`copy_start`..`copy_finish`):
    /// the statement and the file so far, sent when the file is whole.
    pub(super) infile: Option<(String, Vec<u8>)>,
    /// The backend's JSON columns (see `json.rs`).
    pub(super) json: JsonColumns,
}

impl MysqlSession {
    /// Runs `sql` (which ends the transaction), then frees the clock if it was pinned,
    /// in one round trip.
    async fn end(&mut self, sql: &str) -> Result<(), BackendError> {
        let text = if self.clock_pinned {
            format!("{sql}; SET timestamp = DEFAULT")
        } else {
            sql.to_string()
        };
        self.clock_pinned = false;
        self.conn
            .query_drop(text)
            .await
            .map_err(|e| convert::error(&self.backend, e))
    }
}

#[async_trait::async_trait]
impl Session for MysqlSession {
    fn canceller(&self) -> Option<std::sync::Arc<dyn mdbd_engine::backend::Canceller>> {
        Some(std::sync::Arc::new(MysqlCanceller {
            backend: self.backend.clone(),
            opts: self.opts.clone(),
            id: self.conn.id(),
        }))
    }

    async fn execute_bytes(
        &mut self,
        sql: &[u8],
        params: &[Value],
    ) -> Result<Outcome, BackendError> {
        execute(&self.backend, &mut self.conn, sql, params, Some(&self.json)).await
    }

    async fn stream(
        &mut self,
        sql: &[u8],
        params: &[Value],
        sink: &mut dyn RowSink,
    ) -> Result<Outcome, BackendError> {
        self.json.after(sql);
        let backend = self.backend.clone();
        let err = |e| convert::error(&backend, e);
        let json = (&self.json, &self.opts);
        if params.is_empty() {
            let result = self.conn.query_iter(sql).await.map_err(err)?;
            rows_to(result, sql, json, sink).await.map_err(err)
        } else {
            let args: Vec<mysql_async::Value> = params.iter().map(convert::param).collect();
            let result = self
                .conn
                .exec_iter(sql, mysql_async::Params::Positional(args))
                .await
                .map_err(err)?;
            rows_to(result, sql, json, sink).await.map_err(err)
        }
    }

    async fn describe(&mut self, sql: &str) -> Result<Description, BackendError> {
        let stmt = self
            .conn
            .prep(sql)
            .await
            .map_err(|e| convert::error(&self.backend, e))?;
        let mut columns: Vec<_> = stmt.columns().iter().map(convert::column).collect();
        self.json
            .mark(&mut self.conn, stmt.columns(), &mut columns)
            .await;
        let params = stmt
            .params()
            .iter()
            .map(|c| convert::type_name(c.column_type()))
            .collect();
        // The server keeps prepared statements until they are closed.
        let _ = self.conn.close(stmt).await;
        Ok(Description { params, columns })
    }

    /// Only `LOAD DATA LOCAL INFILE`: MySQL has no COPY. The file is held until it is
    /// whole (the server asks for it only once the statement runs).
    async fn copy_start(&mut self, sql: &str) -> Result<(), BackendError> {
        if !mdbd_engine::cluster::reads_client_file(sql) {
            return Err(mdbd_engine::backend::copy_unsupported());
        }
        self.infile = Some((sql.to_string(), Vec::new()));
        Ok(())
    }

    async fn copy_data(&mut self, data: bytes::Bytes) -> Result<(), BackendError> {
        match &mut self.infile {
            Some((_, file)) => {
                file.extend_from_slice(&data);
                Ok(())
            }
            None => Err(mdbd_engine::backend::copy_unsupported()),
        }
    }

    async fn copy_finish(&mut self) -> Result<u64, BackendError> {
        let (sql, file) = self
            .infile
            .take()
            .ok_or_else(mdbd_engine::backend::copy_unsupported)?;
        load_local(&self.backend, &mut self.conn, &sql, file.into()).await
    }

    async fn begin(&mut self) -> Result<(), BackendError> {
        self.conn
            .query_drop("START TRANSACTION")
            .await
            .map_err(|e| convert::error(&self.backend, e))
    }

    /// `SET timestamp` fixes `NOW()`, `CURRENT_TIMESTAMP`, `CURDATE()`, `UNIX_TIMESTAMP()`
    /// and column defaults for the transaction (MySQL's statement-based replication does
    /// the same); `SYSDATE()` stays the real clock unless the server runs with
    /// `--sysdate-is-now`.
    async fn begin_at(&mut self, at: std::time::SystemTime) -> Result<(), BackendError> {
        let since = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        self.clock_pinned = true;
        self.conn
            .query_drop(format!(
                "SET timestamp = {}.{:06}; START TRANSACTION",
                since.as_secs(),
                since.subsec_micros()
            ))
            .await
            .map_err(|e| convert::error(&self.backend, e))
    }

    async fn commit(&mut self, marker: Option<Lsn>) -> Result<(), BackendError> {
        if let Some(lsn) = marker {
            let sql = format!(
                "UPDATE {} SET lsn = ? WHERE id = 1",
                convert::quote(&self.marker)
            );
            self.conn
                .exec_drop(sql, (lsn.get(),))
                .await
                .map_err(|e| convert::error(&self.backend, e))?;
            if self.conn.affected_rows() != 1 {
                return Err(BackendError::Marker(format!(
                    "table {} has no row to update",
                    self.marker
                )));
            }
        }
        self.end("COMMIT").await
    }

    async fn rollback(&mut self) -> Result<(), BackendError> {
        self.end("ROLLBACK").await
    }
}

/// `KILL QUERY <id>` for one connection, sent on a connection of its own.
struct MysqlCanceller {
    backend: String,
    opts: mysql_async::Opts,
    id: u32,
}

#[async_trait::async_trait]
impl mdbd_engine::backend::Canceller for MysqlCanceller {
    async fn cancel(&self) -> Result<(), BackendError> {
        use mysql_async::prelude::Queryable;
        let mut conn = Conn::new(self.opts.clone())
            .await
            .map_err(|e| convert::error(&self.backend, e))?;
        let killed = conn
            .query_drop(format!("KILL QUERY {}", self.id))
            .await
            .map_err(|e| convert::error(&self.backend, e));
        let _ = conn.disconnect().await;
        killed
    }
}
