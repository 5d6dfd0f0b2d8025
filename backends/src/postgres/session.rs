//! A session on PostgreSQL: one tokio-postgres connection.

use super::convert::{self, PgParam, PgValue};
use super::inbox::{self, Inbox};
use super::tls::Target;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use mdbd_engine::backend::{BackendError, Column, Outcome, ResultSet, Session};
use mdbd_engine::backend::{CopyOut, Description};
use mdbd_engine::backend::{DbError, Notification};
use mdbd_engine::log::{Lsn, Value};
use postgres_types::ToSql;
use std::pin::Pin;
use std::sync::Arc;
use tokio_postgres::{Client, CopyInSink, NoTls};

/// Connects (over TLS when the target says so), running the connection's I/O on its
/// own task.
pub async fn connect(backend: &str, target: &Target) -> Result<Client, BackendError> {
    connect_with_notices(backend, target)
        .await
        .map(|(client, _)| client)
}

/// [`connect`], keeping the notices and notifications the server sends for the session
/// to take.
pub async fn connect_with_notices(
    backend: &str,
    target: &Target,
) -> Result<(Client, Inbox), BackendError> {
    let notices = Inbox::default();
    let client = match &target.tls {
        None => {
            let (client, connection) = target
                .config
                .connect(NoTls)
                .await
                .map_err(|e| convert::error(backend, e))?;
            tokio::spawn(inbox::drive(
                connection,
                backend.to_string(),
                notices.clone(),
            ));
            client
        }
        Some(tls) => {
            let (client, connection) = target
                .config
                .connect(tls.clone())
                .await
                .map_err(|e| convert::error(backend, e))?;
            tokio::spawn(inbox::drive(
                connection,
                backend.to_string(),
                notices.clone(),
            ));
            client
        }
    };
    Ok((client, notices))
}

/// Runs one statement: a result set when it has columns, a command tag otherwise.
pub async fn execute(
    backend: &str,
    client: &Client,
    sql: &str,
    params: &[Value],
) -> Result<Outcome, BackendError> {
    if params.is_empty() {
        if let Some(outcome) = execute_unprepared(backend, client, sql).await? {
            return Ok(outcome);
        }
        // It ran and returned no rows: only its columns are missing. Described, not run
        // again (a second run would repeat whatever else it did).
        let stmt = client
            .prepare(sql)
            .await
            .map_err(|e| convert::error(backend, e))?;
        return Ok(Outcome::Rows(ResultSet {
            columns: columns_of(stmt.columns()),
            rows: Vec::new(),
        }));
    }
    let stmt = client
        .prepare(sql)
        .await
        .map_err(|e| convert::error(backend, e))?;
    let args: Vec<PgParam<'_>> = params.iter().map(PgParam).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    if stmt.params().len() != refs.len() {
        return Err(BackendError::Db(mdbd_engine::backend::DbError {
            code: "08P01".into(),
            sqlstate: "08P01".into(),
            message: format!(
                "bind message supplies {} parameters, but prepared statement requires {}",
                refs.len(),
                stmt.params().len()
            ),
            ..Default::default()
        }));
    }
    if stmt.columns().is_empty() {
        let rows = client
            .execute(&stmt, &refs)
            .await
            .map_err(|e| convert::error(backend, e))?;
        return Ok(Outcome::Command {
            tag: mdbd_engine::backend::command_tag(sql, rows),
            rows,
            last_insert_id: None,
        });
    }
    let columns = columns_of(stmt.columns());
    let rows = client
        .query(&stmt, &refs)
        .await
        .map_err(|e| convert::error(backend, e))?;
    result_set(backend, columns, rows)
}

fn columns_of(columns: &[tokio_postgres::Column]) -> Vec<Column> {
    columns
        .iter()
        .map(|c| {
            let mut column = Column::new(c.name(), c.type_().name());
            // An enum's values are text in both formats, so mdbd can announce it as the
            // backend did; its oid is that backend's (equal on backends that ran the same
            // DDL in the same order).
            if let tokio_postgres::types::Kind::Enum(_) = c.type_().kind() {
                column.meta.type_oid = Some(c.type_().oid());
            }
            column
        })
        .collect()
}

fn result_set(
    backend: &str,
    columns: Vec<Column>,
    rows: Vec<tokio_postgres::Row>,
) -> Result<Outcome, BackendError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut values = Vec::with_capacity(columns.len());
        for i in 0..columns.len() {
            let v: PgValue = row.try_get(i).map_err(|e| convert::error(backend, e))?;
            values.push(v.0);
        }
        out.push(values);
    }
    Ok(Outcome::Rows(ResultSet { columns, rows: out }))
}

/// True for statements that return a result set even when it is empty.
fn returns_rows(sql: &str) -> bool {
    let head = mdbd_engine::backend::command_tag(sql, 0);
    matches!(
        head.split_whitespace().next().unwrap_or(""),
        "SELECT" | "WITH" | "VALUES" | "SHOW" | "TABLE" | "EXPLAIN" | "FETCH"
    ) || sql.to_ascii_lowercase().contains("returning")
}

/// A statement without parameters in one round trip (Parse/Bind/Describe/Execute/Sync of
/// an unnamed statement) instead of a separate prepare. `None` when it returned no rows
/// but is a query: the caller describes it to learn the columns of the empty result.
async fn execute_unprepared(
    backend: &str,
    client: &Client,
    sql: &str,
) -> Result<Option<Outcome>, BackendError> {
    use futures_util::TryStreamExt;
    let no_params: [(&(dyn ToSql + Sync), postgres_types::Type); 0] = [];
    let stream = client
        .query_typed_raw(sql, no_params)
        .await
        .map_err(|e| convert::error(backend, e))?;
    futures_util::pin_mut!(stream);
    let mut rows = Vec::new();
    while let Some(row) = stream
        .try_next()
        .await
        .map_err(|e| convert::error(backend, e))?
    {
        rows.push(row);
    }
    let affected = stream.rows_affected().unwrap_or(0);
    let Some(first) = rows.first() else {
        if returns_rows(sql) {
            return Ok(None);
        }
        return Ok(Some(Outcome::Command {
            tag: mdbd_engine::backend::command_tag(sql, affected),
            rows: affected,
            last_insert_id: None,
        }));
    };
    let columns = columns_of(first.columns());
    Ok(Some(result_set(backend, columns, rows)?))
}

/// One client (or replay) session on a PostgreSQL backend.
pub struct PgSession {
    pub(super) backend: String,
    pub(super) client: Client,
    /// For cancel requests, which go over TLS when the connection does.
    pub(super) tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    pub(super) marker: String,
    /// `begin` was called; BEGIN goes out with the next statement.
    pub(super) begin_pending: bool,
    /// A `COPY ... FROM STDIN` in progress.
    pub(super) copy: Option<Pin<Box<CopyInSink<Bytes>>>>,
    /// What the server noticed or notified, for the client (see `Session::take_notices`,
    /// `Session::take_notifications`).
    pub(super) notices: Inbox,
}

impl PgSession {
    /// Sends a deferred BEGIN on its own (for requests that cannot carry it).
    async fn send_pending_begin(&mut self) -> Result<(), BackendError> {
        if std::mem::take(&mut self.begin_pending) {
            self.client
                .batch_execute("BEGIN")
                .await
                .map_err(|e| convert::error(&self.backend, e))?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Session for PgSession {
    fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    fn take_notices(&mut self) -> Vec<DbError> {
        self.notices.take_notices()
    }

    fn take_notifications(&mut self) -> Vec<Notification> {
        self.notices.take_notifications()
    }

    fn wake_on_notification(&mut self, wake: Option<Arc<tokio::sync::Notify>>) {
        self.notices.wake_on_notification(wake);
    }

    fn canceller(&self) -> Option<std::sync::Arc<dyn mdbd_engine::backend::Canceller>> {
        Some(std::sync::Arc::new(PgCanceller {
            backend: self.backend.clone(),
            token: self.client.cancel_token(),
            tls: self.tls.clone(),
        }))
    }

    async fn execute_bytes(
        &mut self,
        sql: &[u8],
        params: &[Value],
    ) -> Result<Outcome, BackendError> {
        let sql = mdbd_engine::backend::utf8_statement(sql)?;
        if std::mem::take(&mut self.begin_pending) {
            // Both requests go out before either answer is awaited (tokio-postgres sends
            // in the order the futures are first polled): one round trip, not two.
            let (begun, result) = tokio::join!(
                self.client.batch_execute("BEGIN"),
                execute(&self.backend, &self.client, sql, params)
            );
            begun.map_err(|e| convert::error(&self.backend, e))?;
            return result;
        }
        execute(&self.backend, &self.client, sql, params).await
    }

    async fn begin(&mut self) -> Result<(), BackendError> {
        // Sent with the transaction's first statement, in the same round trip.
        self.begin_pending = true;
        Ok(())
    }

    async fn commit(&mut self, marker: Option<Lsn>) -> Result<(), BackendError> {
        let pending = std::mem::take(&mut self.begin_pending);
        if pending && marker.is_none() {
            return Ok(()); // nothing was sent: nothing to commit
        }
        let begin = if pending { "BEGIN; " } else { "" };
        let Some(lsn) = marker else {
            return self
                .client
                .batch_execute("COMMIT")
                .await
                .map_err(|e| convert::error(&self.backend, e));
        };
        // The marker update and COMMIT in one round trip. The LSN is an integer and the
        // table name a checked identifier, so the text is safe to build.
        let sql = format!(
            "{begin}UPDATE {} SET lsn = {} WHERE id = 1; COMMIT",
            self.marker,
            lsn.get()
        );
        let replies = self
            .client
            .simple_query(&sql)
            .await
            .map_err(|e| convert::error(&self.backend, e))?;
        // Replies: [BEGIN,] UPDATE n, COMMIT.
        let completes: Vec<u64> = replies
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::CommandComplete(n) => Some(*n),
                _ => None,
            })
            .collect();
        let updated = completes.len().checked_sub(2).map(|i| completes[i]);
        if updated != Some(1) {
            // Committed without the marker: the caller detaches this backend, whose
            // marker can no longer be trusted.
            return Err(BackendError::Marker(format!(
                "table {} has no row to update",
                self.marker
            )));
        }
        Ok(())
    }

    /// `current_setting(name)`: the canonical text `set_config` takes back.
    async fn setting(&mut self, name: &str) -> Result<Option<String>, BackendError> {
        let row = self
            .client
            .query_one("SELECT current_setting($1)", &[&name])
            .await
            .map_err(|e| convert::error(&self.backend, e))?;
        row.try_get(0).map_err(|e| convert::error(&self.backend, e))
    }

    async fn describe(&mut self, sql: &str) -> Result<Description, BackendError> {
        let stmt = self
            .client
            .prepare(sql)
            .await
            .map_err(|e| convert::error(&self.backend, e))?;
        Ok(Description {
            params: stmt.params().iter().map(|t| t.name().to_string()).collect(),
            columns: columns_of(stmt.columns()),
        })
    }

    async fn copy_start(&mut self, sql: &str) -> Result<(), BackendError> {
        self.send_pending_begin().await?;
        let sink = self
            .client
            .copy_in::<_, Bytes>(sql)
            .await
            .map_err(|e| convert::error(&self.backend, e))?;
        self.copy = Some(Box::pin(sink));
        Ok(())
    }

    async fn copy_data(&mut self, data: Bytes) -> Result<(), BackendError> {
        let sink = self.copy.as_mut().ok_or_else(no_copy)?;
        sink.send(data)
            .await
            .map_err(|e| convert::error(&self.backend, e))
    }

    async fn copy_finish(&mut self) -> Result<u64, BackendError> {
        let mut sink = self.copy.take().ok_or_else(no_copy)?;
        sink.as_mut()
            .finish()
            .await
            .map_err(|e| convert::error(&self.backend, e))
    }

    async fn copy_out(&mut self, sql: &str) -> Result<CopyOut<'_>, BackendError> {
        self.send_pending_begin().await?;
        let backend = self.backend.clone();
        let stream = self
            .client
            .copy_out(sql)
            .await
            .map_err(|e| convert::error(&self.backend, e))?;
        Ok(stream
            .map(move |r| r.map_err(|e| convert::error(&backend, e)))
            .boxed())
    }

    async fn rollback(&mut self) -> Result<(), BackendError> {
        // A COPY abandoned half-way is aborted by dropping its sink.
        self.copy = None;
        if std::mem::take(&mut self.begin_pending) {
            return Ok(());
        }
        self.client
            .batch_execute("ROLLBACK")
            .await
            .map_err(|e| convert::error(&self.backend, e))
    }
}

fn no_copy() -> BackendError {
    BackendError::Config("no COPY FROM STDIN is in progress on this connection".into())
}

/// PostgreSQL's CancelRequest for one connection (a new connection carrying its key).
struct PgCanceller {
    backend: String,
    token: tokio_postgres::CancelToken,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

#[async_trait::async_trait]
impl mdbd_engine::backend::Canceller for PgCanceller {
    async fn cancel(&self) -> Result<(), BackendError> {
        let sent = match &self.tls {
            None => self.token.cancel_query(NoTls).await,
            Some(tls) => self.token.cancel_query(tls.clone()).await,
        };
        sent.map_err(|e| convert::error(&self.backend, e))
    }
}
