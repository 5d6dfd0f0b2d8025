//! Replay of logged writes into a PostgreSQL backend: each write (or a run of them) in one
//! transaction with the applied-LSN marker, on a connection kept between writes.
//!
//! A replay transaction is two round trips: `BEGIN` with the marker's locked read (one
//! simple query), then the statements, the marker's update and `COMMIT`, **pipelined**:
//! each statement without parameters or COPY data is sent as one Parse/Bind/Describe/
//! Execute/Sync request as soon as the one before it is sent, and the answers are read
//! afterwards, in order. The server runs them one after the other exactly as it would one
//! at a time (a connection's requests are executed in the order received); the first
//! error is the one returned, every later request fails on the aborted transaction, and
//! the pipelined `COMMIT` of an aborted transaction rolls it back. A statement with
//! parameters or COPY data waits for every answer before it and runs alone. Few round
//! trips matter most at a join's switch-over, where the writers wait while the last
//! records replay.

use super::session::execute;
use super::PgBackend;
use futures_util::stream::FuturesOrdered;
use futures_util::StreamExt;
use mdbd_engine::backend::BackendError;
use mdbd_engine::log::{Lsn, Statement, WriteTxn};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// A statement sent and not yet answered.
type Answer<'a> = Pin<Box<dyn Future<Output = Result<(), BackendError>> + Send + 'a>>;

/// The connection replay uses, kept between writes (catch-up applies thousands).
pub(super) struct ReplayConn {
    client: tokio_postgres::Client,
    /// A replay transaction may be open on it (one failed, or was cut off): it is not
    /// used again; the next replay opens a new connection, and the server rolls the old
    /// one's transaction back when it goes.
    open: bool,
}

impl PgBackend {
    /// The replay connection, (re)connected when missing, closed or left in a
    /// transaction.
    async fn replay_conn<'a>(
        &self,
        slot: &'a mut Option<ReplayConn>,
    ) -> Result<&'a mut ReplayConn, BackendError> {
        if slot.as_ref().is_none_or(|c| c.open || c.client.is_closed()) {
            *slot = Some(ReplayConn {
                client: self.client().await?,
                open: false,
            });
        }
        slot.as_mut().ok_or_else(|| BackendError::Connection {
            backend: self.name.clone(),
            reason: "no replay connection".into(),
        })
    }

    /// Starts a replay transaction on `conn` and reads its marker, locked (a concurrent
    /// replay of the same server waits): one round trip.
    async fn begin_at_marker(&self, conn: &mut ReplayConn) -> Result<i64, BackendError> {
        conn.open = true;
        let messages = conn
            .client
            .simple_query(&format!(
                "BEGIN; SELECT lsn FROM {} WHERE id = 1 FOR UPDATE",
                self.options.marker_table
            ))
            .await
            .map_err(|e| self.err(e))?;
        let lsn = messages.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(row.get(0)),
            _ => None,
        });
        match lsn {
            Some(Some(text)) => text.parse().map_err(|_| {
                BackendError::Marker(format!("{} holds {text:?}", self.options.marker_table))
            }),
            _ => Err(BackendError::Marker(format!(
                "{} has no row",
                self.options.marker_table
            ))),
        }
    }

    /// Runs `statements`, moves the marker to `lsn` and commits, in one pipeline: the
    /// writes and the marker together. When a statement fails, PostgreSQL turns the
    /// pipelined COMMIT of the aborted transaction into a rollback, and the failure is
    /// what is returned.
    async fn run_mark_and_commit<'s>(
        &self,
        conn: &mut ReplayConn,
        statements: impl IntoIterator<Item = &'s Statement>,
        lsn: Lsn,
    ) -> Result<(), BackendError> {
        let marker = Statement::new(self.marker_update(lsn));
        let commit = Statement::new("COMMIT");
        let mut all: Vec<&Statement> = statements.into_iter().collect();
        all.push(&marker);
        all.push(&commit);
        self.run_statements(&conn.client, all).await?;
        conn.open = false;
        Ok(())
    }

    /// Ends a replay transaction that had nothing to do.
    async fn end_unchanged(&self, conn: &mut ReplayConn) -> Result<(), BackendError> {
        conn.client
            .batch_execute("ROLLBACK")
            .await
            .map_err(|e| self.err(e))?;
        conn.open = false;
        Ok(())
    }

    /// The statement that moves the marker to `lsn`.
    fn marker_update(&self, lsn: Lsn) -> String {
        format!(
            "UPDATE {} SET lsn = {} WHERE id = 1",
            self.options.marker_table,
            lsn.get()
        )
    }

    /// [`Backend::apply`](mdbd_engine::backend::Backend::apply).
    pub(super) async fn apply_one(&self, lsn: Lsn, txn: &WriteTxn) -> Result<bool, BackendError> {
        let mut replay = self.replay.lock().await;
        let conn = self.replay_conn(&mut replay).await?;
        if let [only] = txn.statements.as_slice() {
            let sql = mdbd_engine::backend::utf8_statement(only.sql.as_bytes())?;
            if mdbd_engine::cluster::outside_transaction(sql) {
                let client = &conn.client;
                if self.marker_of(client).await? >= lsn {
                    return Ok(false);
                }
                match client.batch_execute(sql).await {
                    Ok(()) => {}
                    Err(e) if e.as_db_error().is_some_and(|d| d.code().code() == "42P07") => {
                        tracing::info!(backend = %self.name, %lsn, "non-transactional statement already applied before a crash");
                    }
                    Err(e) => return Err(self.err(e)),
                }
                client
                    .batch_execute(&self.marker_update(lsn))
                    .await
                    .map_err(|e| self.err(e))?;
                return Ok(true);
            }
        }
        if self.begin_at_marker(conn).await? >= lsn.get() as i64 {
            self.end_unchanged(conn).await?;
            return Ok(false);
        }
        for (name, value) in &txn.settings {
            conn.client
                .query_typed(
                    "SELECT set_config($1, $2, true)",
                    &[
                        (name, postgres_types::Type::TEXT),
                        (value, postgres_types::Type::TEXT),
                    ],
                )
                .await
                .map_err(|e| self.err(e))?;
        }
        self.run_mark_and_commit(conn, &txn.statements, lsn).await?;
        Ok(true)
    }

    /// [`Backend::apply_batch`](mdbd_engine::backend::Backend::apply_batch).
    pub(super) async fn apply_many(&self, batch: &[(Lsn, &WriteTxn)]) -> Result<u64, BackendError> {
        let groupable = batch.len() > 1
            && batch.iter().all(|(_, t)| {
                t.settings.is_empty()
                    && !t
                        .statements
                        .iter()
                        .any(|s| mdbd_engine::cluster::outside_transaction(&s.sql.text()))
            });
        if groupable {
            return self.apply_grouped(batch).await;
        }
        let mut applied = 0;
        for (lsn, txn) in batch {
            applied += u64::from(self.apply_one(*lsn, txn).await?);
        }
        Ok(applied)
    }

    /// Applies a run of logged writes without settings in one transaction, the marker
    /// moved once to the last: one commit instead of one per write, so a joining server
    /// catches up faster than clients write.
    async fn apply_grouped(&self, batch: &[(Lsn, &WriteTxn)]) -> Result<u64, BackendError> {
        let mut replay = self.replay.lock().await;
        let conn = self.replay_conn(&mut replay).await?;
        let current = self.begin_at_marker(conn).await?;
        let todo: Vec<&(Lsn, &WriteTxn)> = batch
            .iter()
            .filter(|(lsn, _)| lsn.get() as i64 > current)
            .collect();
        let Some(&&(last, _)) = todo.last() else {
            self.end_unchanged(conn).await?;
            return Ok(0);
        };
        self.run_mark_and_commit(conn, todo.iter().flat_map(|(_, txn)| &txn.statements), last)
            .await?;
        Ok(todo.len() as u64)
    }

    /// Runs logged statements in order on `client`, pipelining those that are one request
    /// each (see the module docs); a statement with parameters or COPY data waits for every
    /// answer before it and runs alone.
    async fn run_statements<'s>(
        &self,
        client: &tokio_postgres::Client,
        statements: impl IntoIterator<Item = &'s Statement>,
    ) -> Result<(), BackendError> {
        let mut sent: FuturesOrdered<Answer<'_>> = FuturesOrdered::new();
        for stmt in statements {
            let sql = self.checked(stmt)?;
            if stmt.copy_data.is_some() || !stmt.params.is_empty() {
                while let Some(answer) = sent.next().await {
                    answer?;
                }
                self.run_logged(client, sql, stmt).await?;
                continue;
            }
            let mut answer: Answer<'_> = Box::pin(run_unprepared(&self.name, client, sql));
            // The first poll sends the request: polled here, requests leave in the log's
            // order whatever order the answers are then awaited in.
            let first = std::future::poll_fn(|cx| Poll::Ready(answer.as_mut().poll(cx))).await;
            match first {
                Poll::Ready(result) => {
                    // Answered at once (only when it could not be sent): the answers
                    // before it come first.
                    while let Some(answer) = sent.next().await {
                        answer?;
                    }
                    result?;
                }
                Poll::Pending => sent.push_back(answer),
            }
        }
        while let Some(answer) = sent.next().await {
            answer?;
        }
        Ok(())
    }

    /// A logged statement's text, refused when it cannot share a transaction with the
    /// marker.
    fn checked<'s>(&self, stmt: &'s Statement) -> Result<&'s str, BackendError> {
        let sql = mdbd_engine::backend::utf8_statement(stmt.sql.as_bytes())?;
        if mdbd_engine::cluster::outside_transaction(sql) {
            return Err(BackendError::Config(format!(
                "{sql:?} cannot run inside a transaction; log it as a write of its own"
            )));
        }
        Ok(sql)
    }

    /// Runs one logged statement (its text `sql`, [`Self::checked`]) inside a replay
    /// transaction, waiting for its answer.
    async fn run_logged(
        &self,
        client: &tokio_postgres::Client,
        sql: &str,
        stmt: &Statement,
    ) -> Result<(), BackendError> {
        match &stmt.copy_data {
            Some(data) => {
                let sink = client
                    .copy_in::<_, bytes::Bytes>(sql)
                    .await
                    .map_err(|e| self.err(e))?;
                futures_util::pin_mut!(sink);
                use futures_util::SinkExt;
                for chunk in data.chunks(1 << 20) {
                    sink.send(bytes::Bytes::copy_from_slice(chunk))
                        .await
                        .map_err(|e| self.err(e))?;
                }
                sink.finish().await.map_err(|e| self.err(e))?;
            }
            None => {
                execute(&self.name, client, sql, &stmt.params).await?;
            }
        }
        Ok(())
    }
}

/// One statement without parameters as a single request; its rows, if any, are dropped
/// unread (replay only needs it to have run), so no type of theirs is looked up.
async fn run_unprepared(
    backend: &str,
    client: &tokio_postgres::Client,
    sql: &str,
) -> Result<(), BackendError> {
    client
        .execute_typed(sql, &[])
        .await
        .map(drop)
        .map_err(|e| super::convert::error(backend, e))
}
