//! A session on PostgreSQL: one tokio-postgres connection.

use super::convert::{self, PgParam, PgValue};
use mdbd_engine::backend::{BackendError, Column, Outcome, ResultSet, Session};
use mdbd_engine::log::{Lsn, Value};
use postgres_types::ToSql;
use tokio_postgres::{Client, NoTls};

/// Connects, running the connection's I/O on its own task.
pub async fn connect(backend: &str, conninfo: &str) -> Result<Client, BackendError> {
    let (client, connection) = tokio_postgres::connect(conninfo, NoTls)
        .await
        .map_err(|e| convert::error(backend, e))?;
    let name = backend.to_string();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(backend = %name, error = %e, "postgres connection ended");
        }
    });
    Ok(client)
}

/// Runs one statement: a result set when it has columns, a command tag otherwise.
pub async fn execute(
    backend: &str,
    client: &Client,
    sql: &str,
    params: &[Value],
) -> Result<Outcome, BackendError> {
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
    let columns: Vec<Column> = stmt
        .columns()
        .iter()
        .map(|c| Column {
            name: c.name().to_string(),
            type_name: c.type_().name().to_string(),
        })
        .collect();
    let rows = client
        .query(&stmt, &refs)
        .await
        .map_err(|e| convert::error(backend, e))?;
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

/// One client (or replay) session on a PostgreSQL backend.
pub struct PgSession {
    pub(super) backend: String,
    pub(super) client: Client,
    pub(super) marker: String,
}

#[async_trait::async_trait]
impl Session for PgSession {
    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<Outcome, BackendError> {
        execute(&self.backend, &self.client, sql, params).await
    }

    async fn begin(&mut self) -> Result<(), BackendError> {
        self.client
            .batch_execute("BEGIN")
            .await
            .map_err(|e| convert::error(&self.backend, e))
    }

    async fn commit(&mut self, marker: Option<Lsn>) -> Result<(), BackendError> {
        if let Some(lsn) = marker {
            let sql = format!("UPDATE {} SET lsn = $1 WHERE id = 1", self.marker);
            let n = self
                .client
                .execute(&sql, &[&(lsn.get() as i64)])
                .await
                .map_err(|e| convert::error(&self.backend, e))?;
            if n != 1 {
                return Err(BackendError::Marker(format!(
                    "table {} has no row to update",
                    self.marker
                )));
            }
        }
        self.client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| convert::error(&self.backend, e))
    }

    async fn rollback(&mut self) -> Result<(), BackendError> {
        self.client
            .batch_execute("ROLLBACK")
            .await
            .map_err(|e| convert::error(&self.backend, e))
    }
}
